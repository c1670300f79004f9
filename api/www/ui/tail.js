// The live tail: /v1/stream read with fetch() (EventSource cannot send the
// token), newest line first, resumed with Last-Event-ID when the connection
// drops, ended when the page is left (its signal aborts the fetch).

import {h, fmtTime, badge, execLink, flowLink} from './dom.js';
import {Problem, readStream, getTenant} from './api.js';
import {main, noteTenants, problemBox, hashOf} from './parts.js';

const TAIL_KEEP = 500; // lines the live tail keeps on the page

function tailLine(d) {
  return h('li', {class: 'tail-line', dataset: {auditId: d.audit_id, type: d.type, feedSeq: d.feed_seq}},
    h('span', {class: 'time'}, fmtTime(d.ingest_time || d.time)), ' ', h('span', {class: 'etype'}, d.type), ' ',
    badge(d.status), ' ', flowLink(d.flow_id), ' ', execLink(d.audit_id),
    d.task ? h('span', {class: 'task'}, ` task ${d.task}`) : null, d.message ? h('span', {class: 'msg'}, ` ${d.message}`) : null,
    d.error ? h('span', {class: 'err'}, ` ${d.error.class || ''}: ${d.error.message || ''}`) : null);
}

export async function viewTail(_m, params, signal) {
  const form = h('form', {class: 'filters', id: 'tail-filters'},
    h('label', {}, 'Flow ', h('input', {name: 'flow_id', value: params.get('flow_id') || '', placeholder: 'any flow'})),
    h('label', {}, 'Event types ', h('input', {name: 'type', value: params.get('type') || '',
      placeholder: 'e.g. failed,succeeded'})),
    h('button', {type: 'submit'}, 'Apply'));
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    const f = new FormData(form);
    location.hash = hashOf('/tail', {flow_id: f.get('flow_id').trim(), type: f.get('type').replace(/\s+/g, '')});
  });
  const state = h('span', {id: 'tail-state', class: 'tail-state'}, 'connecting');
  const lines = h('ol', {id: 'tail-lines', class: 'tail'});
  const errBox = h('div', {});
  main.replaceChildren(h('h1', {}, 'Live tail ', state), form,
    h('p', {class: 'note'}, 'Every new event as it is projected, newest first; the stream starts now.'), errBox, lines);
  const query = {flow_id: params.get('flow_id'), type: params.get('type'), tenant_id: getTenant()};
  let last = null;
  while (!signal.aborted) {
    try {
      await readStream('/v1/stream', query, {signal, lastEventId: last,
        onOpen: () => {
          state.textContent = 'live';
          state.dataset.state = 'live';
          state.dataset.opens = Number(state.dataset.opens || 0) + 1; // how often it (re)connected
          errBox.replaceChildren();
        },
        onEvent: e => {
          if (e.event === 'error' || !e.data || typeof e.data !== 'object') return;
          if (e.id) last = e.id;
          noteTenants([e.data]);
          lines.prepend(tailLine(e.data));
          while (lines.childElementCount > TAIL_KEEP) lines.lastElementChild.remove();
        }});
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof Problem) {
        state.textContent = 'stopped';
        state.dataset.state = 'stopped';
        errBox.replaceChildren(problemBox(err));
        return;
      }
    }
    if (signal.aborted) return;
    state.textContent = 'reconnecting';
    state.dataset.state = 'reconnecting';
    await new Promise(r => setTimeout(r, 2000));
  }
}
