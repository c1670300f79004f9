// An execution's page: its state, lineage graph, tasks and timeline of
// events, read in parallel; a part that cannot be read shows its problem.

import {h, fmtTime, fmtDuration, badge, execLink, flowLink} from './dom.js';
import {getJSON} from './api.js';
import {lineageGraph, taskChart} from './charts.js';
import {main, noteTenants, problemBox, kv, section} from './parts.js';

const EVENTS_MAX = 5000; // events an execution's timeline loads

async function loadEvents(id, signal) {
  const items = [];
  let after = 0, more = true;
  while (more && items.length < EVENTS_MAX) {
    const page = await getJSON(`/v1/executions/${id}/events`, {after_seq: after, limit: 1000}, signal);
    items.push(...page.items);
    more = page.has_more;
    after = page.next_after_seq;
  }
  return {items, more};
}

function timeline(ev, state) {
  const t0 = ev.items.length ? ev.items[0].time : state.created;
  return [
    h('table', {class: 'timeline'},
      h('thead', {}, h('tr', {}, ['seq', 'time (UTC)', '+', 'event', 'status after', 'task', 'message'].map(c => h('th', {}, c)))),
      h('tbody', {}, ev.items.map(e => h('tr', {class: `event-row type-${e.type}`, dataset: {seq: e.seq, type: e.type}},
        h('td', {class: 'num'}, String(e.seq)), h('td', {class: 'time'}, fmtTime(e.time)),
        h('td', {class: 'num'}, fmtDuration(e.time - t0)), h('td', {}, h('span', {class: 'etype'}, e.type)),
        h('td', {}, badge(e.status)), h('td', {}, e.task || ''),
        h('td', {}, [e.message || '', e.error ? h('span', {class: 'err'}, ` ${e.error.class || ''}: ${e.error.message || ''}`) : null,
          e.metrics && Object.keys(e.metrics).length ? h('span', {class: 'metrics'},
            ` ${Object.entries(e.metrics).map(([k, v]) => `${k}=${v}`).join(' ')}`) : null]))))),
    ev.more ? h('p', {class: 'note'}, `Only the first ${ev.items.length} events are shown.`) : null,
  ];
}

function tasksPart(state) {
  const tasks = state.tasks || [];
  if (!tasks.length) return h('p', {class: 'empty'}, 'No tasks.');
  const t1 = state.ended || state.updated || Date.now();
  return [taskChart(tasks, state.started || state.created, t1),
    h('table', {class: 'task-table'},
      h('thead', {}, h('tr', {}, ['task', 'status', 'started', 'ended', 'duration', 'attempts', 'message'].map(c => h('th', {}, c)))),
      h('tbody', {}, tasks.map(t => h('tr', {class: 'task-row', dataset: {task: t.name}},
        h('td', {}, t.name), h('td', {}, badge(t.status)), h('td', {class: 'time'}, fmtTime(t.started)),
        h('td', {class: 'time'}, fmtTime(t.ended)), h('td', {class: 'num'}, fmtDuration(t.duration_ms)),
        h('td', {class: 'num'}, String(t.attempts)), h('td', {}, t.message || '')))))];
}

export async function viewExecution(m, _params, signal) {
  const id = m[1];
  main.replaceChildren(h('h1', {}, `Execution ${id}`), h('p', {class: 'loading'}, 'Loading…'));
  const [st, lin, ev] = await Promise.allSettled([getJSON(`/v1/executions/${id}`, null, signal),
    getJSON(`/v1/executions/${id}/lineage`, null, signal), loadEvents(id, signal)]);
  if (st.status === 'rejected') throw st.reason;
  const e = st.value;
  noteTenants([e]);
  const idLink = v => (v ? execLink(v) : null);
  const out = h('div', {class: 'execution', dataset: {auditId: e.audit_id}},
    h('h1', {}, `Execution ${e.audit_id} `, badge(e.status),
      h('button', {type: 'button', class: 'refresh', onclick: () => window.dispatchEvent(new HashChangeEvent('hashchange'))}, 'Refresh')),
    section('State', kv([
      ['flow', [flowLink(e.flow_id), e.flow_name ? ` (${e.flow_name})` : '']], ['tenant', e.tenant_id],
      ['message ID', e.message_id ? h('a', {href: `#/messages/${encodeURIComponent(e.message_id)}`}, e.message_id) : null],
      ['status', badge(e.status)], ['created', fmtTime(e.created)], ['started', fmtTime(e.started)],
      ['ended', fmtTime(e.ended)], ['duration', fmtDuration(e.duration_ms)], ['updated', fmtTime(e.updated)],
      ['retries', String(e.retries)], ['retry of', idLink(e.parent_audit_id)], ['root', idLink(e.root_audit_id)],
      ['child of', idLink(e.parent_execution_id)], ['trigger', e.trigger_type], ['started by', e.started_by],
      ['events', String(e.events)], ['anomalies', String(e.anomalies)], ['message', e.message],
      ['position', e.position ? `${e.position.partition}:${e.position.offset}` : null]]),
    e.error ? h('div', {class: 'error-box'}, h('strong', {}, `${e.error.class || 'error'}: ${e.error.message || ''}`),
      e.error.stack ? h('pre', {}, e.error.stack) : null) : null,
    e.warnings && e.warnings.length ? h('div', {class: 'warnings'}, h('h3', {}, `Warnings (${e.warnings_total})`),
      h('ul', {}, e.warnings.map(w => h('li', {}, w)))) : null,
    e.metrics && Object.keys(e.metrics).length ? h('div', {}, h('h3', {}, 'Metrics'),
      kv(Object.entries(e.metrics).map(([k, v]) => [k, String(v)]))) : null,
    e.attributes && Object.keys(e.attributes).length ? h('div', {}, h('h3', {}, 'Attributes'),
      kv(Object.entries(e.attributes))) : null),
    section('Lineage', lin.status === 'fulfilled' ? [
      lin.value.parent_execution_id ? h('p', {}, 'Started as a child of ', execLink(lin.value.parent_execution_id)) : null,
      h('div', {class: 'graph'}, lineageGraph(lin.value, e.audit_id)),
      lin.value.truncated ? h('p', {class: 'note'}, 'The lineage is truncated.') : null] : problemBox(lin.reason)),
    section('Tasks', tasksPart(e)),
    section(`Timeline (${e.events} events)`, ev.status === 'fulfilled' ? timeline(ev.value, e) : problemBox(ev.reason)));
  main.replaceChildren(out);
}
