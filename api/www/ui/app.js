// The execlog web console: a hash router (#/executions, #/executions/{id},
// #/messages/{id}, #/flows/{id}, #/tail, #/find/{q}, #/node) over views that read the
// HTTP API with the token and tenant chosen in the header. Each view gets an
// AbortSignal that fires when the user navigates away, which also ends the
// live tail's stream. Nothing here is fetched from anywhere but this server.

import {h, fmtTime, fmtDuration, badge, execLink, flowLink} from './dom.js';
import {Problem, getJSON, getText, getReady, readStream, getToken, setToken, getTenant, setTenant} from './api.js';
import {lineageGraph, bars, percentileBars, taskChart} from './charts.js';

const STATUSES = ['queued', 'running', 'paused', 'cancelling', 'succeeded', 'warning', 'failed', 'cancelled'];
const MAX_AUDIT_ID = 2 ** 53 - 1;
const TAIL_KEEP = 500; // lines the live tail keeps on the page
const EVENTS_MAX = 5000; // events an execution's timeline loads

const main = document.getElementById('view');
let current = null; // AbortController of the view on screen

// ---- tenants seen, offered by the tenant selector -----------------------------------------------

function noteTenants(items) {
  const seen = new Set(JSON.parse(sessionStorage.getItem('execlog.tenants') || '[]'));
  const before = seen.size;
  for (const it of items || []) if (it && it.tenant_id) seen.add(it.tenant_id);
  if (seen.size === before) return;
  sessionStorage.setItem('execlog.tenants', JSON.stringify([...seen].sort()));
  fillTenants();
}

function fillTenants() {
  const list = document.getElementById('tenants');
  list.replaceChildren(...JSON.parse(sessionStorage.getItem('execlog.tenants') || '[]').map(t => h('option', {value: t})));
}

// ---- problems --------------------------------------------------------------------------------------

const HINTS = {
  401: 'Enter a valid bearer token in the Token field at the top of the page.',
  403: 'This token may not do this: its role is too low, or it is a tenant\'s token on a route that shows every tenant.',
};

/** A box that says what went wrong: the problem's status, title, detail and type. */
function problemBox(err) {
  if (!(err instanceof Problem)) {
    // fetch() rejects with a TypeError when there is no answer at all
    return h('div', {class: 'problem', role: 'alert', dataset: {status: 0}},
      h('strong', {class: 'problem-title'}, err instanceof TypeError ? 'Cannot reach execlogd' : 'Error'),
      h('p', {class: 'problem-detail'}, String(err && err.message || err)));
  }
  return h('div', {class: `problem status-${err.status}`, role: 'alert', dataset: {status: err.status}},
    h('strong', {class: 'problem-title'}, `${err.status} ${err.title}`),
    err.detail ? h('p', {class: 'problem-detail'}, err.detail) : null,
    err.errors.length ? h('ul', {}, err.errors.map(e => h('li', {}, `${e.field}: ${e.reason}`))) : null,
    HINTS[err.status] ? h('p', {class: 'hint'}, HINTS[err.status]) : null,
    err.type ? h('p', {class: 'problem-type'}, err.type) : null);
}

// ---- shared pieces ----------------------------------------------------------------------------------

function execTable(items) {
  if (!items.length) return h('p', {class: 'empty'}, 'No executions.');
  return h('table', {class: 'executions'},
    h('thead', {}, h('tr', {}, ['audit ID', 'flow', 'tenant', 'status', 'message ID', 'created', 'duration', 'retries']
      .map(c => h('th', {}, c)))),
    h('tbody', {}, items.map(e => h('tr', {class: 'exec-row', dataset: {auditId: e.audit_id}},
      h('td', {}, execLink(e.audit_id)), h('td', {}, flowLink(e.flow_id)), h('td', {}, e.tenant_id || '–'),
      h('td', {}, badge(e.status)),
      h('td', {}, e.message_id ? h('a', {href: `#/messages/${encodeURIComponent(e.message_id)}`}, e.message_id) : '–'),
      h('td', {class: 'time'}, fmtTime(e.created)), h('td', {class: 'num'}, fmtDuration(e.duration_ms)),
      h('td', {class: 'num'}, String(e.retries))))));
}

function kv(rows) {
  return h('dl', {class: 'kv'}, rows.filter(r => r).map(([k, v]) => [h('dt', {}, k),
    h('dd', {dataset: {field: k}}, v === null || v === undefined || v === '' ? '–' : v)]));
}

function section(title, ...body) {
  return h('section', {class: 'card'}, h('h2', {}, title), body);
}

function hashOf(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const qs = q.toString();
  return `#${path}${qs ? `?${qs}` : ''}`;
}

// ---- views ------------------------------------------------------------------------------------------

async function viewList(_m, params, signal) {
  const statuses = new Set((params.get('status') || '').split(',').filter(Boolean));
  const form = h('form', {class: 'filters', id: 'list-filters'},
    h('label', {}, 'Flow ', h('input', {name: 'flow_id', value: params.get('flow_id') || '', placeholder: 'any flow'})),
    h('fieldset', {}, h('legend', {}, 'Status'), STATUSES.map(st => h('label', {class: 'check'},
      h('input', {type: 'checkbox', name: 'status', value: st, checked: statuses.has(st)}), ` ${st}`))),
    h('label', {}, 'Per page ', h('select', {name: 'limit'}, ['20', '50', '100', '500'].map(n =>
      h('option', {value: n, selected: (params.get('limit') || '50') === n}, n)))),
    h('button', {type: 'submit'}, 'Apply'));
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    const f = new FormData(form);
    location.hash = hashOf('/executions', {flow_id: f.get('flow_id').trim(), status: f.getAll('status').join(','),
      limit: f.get('limit')});
  });
  const out = h('div', {}, h('h1', {}, 'Executions'), form);
  main.replaceChildren(out);
  const query = {flow_id: params.get('flow_id'), status: params.get('status'), limit: params.get('limit') || 50,
    tenant_id: getTenant(), page_token: params.get('page_token')};
  const page = await getJSON('/v1/executions', query, signal);
  noteTenants(page.items);
  const pageNo = Number(params.get('page') || 1);
  const nav = h('div', {class: 'pager'},
    pageNo > 1 ? h('a', {href: hashOf('/executions', {...Object.fromEntries(params), page_token: '', page: ''}),
      class: 'first'}, '« First page') : null,
    h('span', {class: 'page-no'}, `Page ${pageNo} · ${page.items.length} shown`),
    page.next_page_token ? h('a', {href: hashOf('/executions', {...Object.fromEntries(params),
      page_token: page.next_page_token, page: String(pageNo + 1)}), class: 'next', id: 'next-page'}, 'Next page »')
      : h('span', {class: 'end'}, 'last page'));
  out.append(execTable(page.items), nav);
}

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

async function viewExecution(m, _params, signal) {
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
      h('button', {type: 'button', class: 'refresh', onclick: () => route()}, 'Refresh')),
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

async function viewMessage(m, _params, signal) {
  const mid = decodeURIComponent(m[1]);
  main.replaceChildren(h('h1', {}, `Message ${mid}`));
  const j = await getJSON(`/v1/messages/${encodeURIComponent(mid)}`, {tenant_id: getTenant()}, signal);
  noteTenants(j.items);
  main.append(h('p', {}, `${j.items.length} execution${j.items.length === 1 ? '' : 's'}, newest attempt first.`),
    execTable(j.items), j.truncated ? h('p', {class: 'note'}, 'Only the first 1000 are listed.') : null);
}

async function viewFlow(m, _params, signal) {
  const flow = decodeURIComponent(m[1]);
  main.replaceChildren(h('h1', {}, `Flow ${flow}`));
  const f = await getJSON(`/v1/flows/${encodeURIComponent(flow)}`, {tenant_id: getTenant()}, signal);
  const rate = f.success_rate === null ? '–' : `${(f.success_rate * 100).toFixed(1)} %`;
  main.append(h('div', {class: 'flow', dataset: {flow}},
    h('p', {}, h('a', {href: hashOf('/executions', {flow_id: flow})}, 'List its executions')),
    section('Summary', kv([['tenant', f.tenant_id || 'all tenants'], ['executions', String(f.total)],
      ['ended', String(f.ended)], ['succeeded', String(f.succeeded)], ['success rate', rate],
      ['latest', f.latest ? [execLink(f.latest.audit_id), ' ', badge(f.latest.status)] : null]])),
    section('Duration of ended executions', f.ended ? percentileBars(f.duration_ms)
      : h('p', {class: 'empty'}, 'Nothing has ended yet.')),
    section('By status', bars(STATUSES.map(st => ({label: st, value: (f.by_status || {})[st] || 0, cls: `st-${st}`})),
      {klass: 'bars by-status'}))));
}

async function viewFind(m, _params, signal) {
  const q = decodeURIComponent(m[1]).trim();
  main.replaceChildren(h('h1', {}, `Looking for ${q}`));
  if (/^[0-9]{1,16}$/.test(q) && Number(q) >= 1 && Number(q) <= MAX_AUDIT_ID) {
    try {
      await getJSON(`/v1/executions/${q}`, null, signal);
      location.replace(`#/executions/${q}`);
      return;
    } catch (err) {
      if (!(err instanceof Problem) || err.status !== 404) throw err;
    }
  }
  try {
    await getJSON(`/v1/messages/${encodeURIComponent(q)}`, {tenant_id: getTenant()}, signal);
    location.replace(`#/messages/${encodeURIComponent(q)}`);
  } catch (err) {
    if (!(err instanceof Problem) || err.status !== 404) throw err;
    main.append(h('p', {class: 'not-found'}, `No execution has the audit ID or the message ID ${q}.`));
  }
}

function tailLine(d) {
  return h('li', {class: 'tail-line', dataset: {auditId: d.audit_id, type: d.type, feedSeq: d.feed_seq}},
    h('span', {class: 'time'}, fmtTime(d.ingest_time || d.time)), ' ', h('span', {class: 'etype'}, d.type), ' ',
    badge(d.status), ' ', flowLink(d.flow_id), ' ', execLink(d.audit_id),
    d.task ? h('span', {class: 'task'}, ` task ${d.task}`) : null, d.message ? h('span', {class: 'msg'}, ` ${d.message}`) : null,
    d.error ? h('span', {class: 'err'}, ` ${d.error.class || ''}: ${d.error.message || ''}`) : null);
}

async function viewTail(_m, params, signal) {
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
        onOpen: () => { state.textContent = 'live'; state.dataset.state = 'live'; errBox.replaceChildren(); },
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

// the figures of GET /metrics the node page shows (unlabelled series), with what they mean
const NODE_METRICS = [
  ['execlog_projector_events_applied_total', 'events applied'],
  ['execlog_projector_apply_rate', 'events applied per second (~10 s)'],
  ['execlog_consumer_lag', 'consumer lag (events)'],
  ['execlog_consumer_lag_seconds', 'consumer lag (seconds)'],
  ['execlog_projector_failed', 'projector failed'],
  ['execlog_projector_stalled', 'projector stalled (store refuses writes)'],
  ['execlog_store_executions', 'executions stored (estimate)'],
  ['execlog_store_events', 'events stored (estimate)'],
  ['execlog_ingest_waiting', 'writes waiting for their acknowledgement'],
  ['execlog_sse_streams', 'open event streams'],
  ['execlog_long_polls', 'held long polls'],
];

/** The unlabelled samples of a Prometheus text answer, by name. */
function samples(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*) (\S+)$/);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

async function viewNode(_m, _params, signal) {
  main.replaceChildren(h('h1', {}, 'This execlogd'));
  const [info, ready, metrics] = await Promise.allSettled([getJSON('/v1/info', null, signal), getReady(signal),
    getText('/metrics', signal)]);
  const part = (r, fn) => (r.status === 'fulfilled' ? fn(r.value) : problemBox(r.reason));
  main.append(h('div', {class: 'node-page'},
    section('Service', part(info, i => kv([['version', i.version], ['role', i.role], ['topic', i.kafka && i.kafka.topic],
      ['embedded broker', i.kafka ? String(i.kafka.embedded) : null],
      ['bootstrap servers', i.kafka && i.kafka.bootstrap_servers || 'shown to admins of every tenant only'],
      ['event schema', i.schemas && i.schemas.execution_event_fingerprint],
      ['state schema', i.schemas && i.schemas.execution_state_fingerprint]]))),
    section('Readiness', part(ready, r => [h('p', {class: 'ready', dataset: {status: r.status}},
      h('span', {class: `badge st-${r.status === 200 ? 'succeeded' : 'failed'}`}, r.status === 200 ? 'ready' : 'not ready'),
      r.body && r.body.reason ? ` ${r.body.reason}` : ''),
      r.body ? kv([['applied', String(r.body.applied)], ['lag', String(r.body.lag)], ['max lag', String(r.body.max_lag)]])
        : null])),
    section('Metrics', part(metrics, text => {
      const got = samples(text);
      return h('table', {class: 'metrics-table'}, h('tbody', {}, NODE_METRICS.filter(([n]) => got.has(n)).map(([n, what]) =>
        h('tr', {class: 'metric', dataset: {name: n, value: got.get(n)}}, h('td', {}, what),
          h('td', {class: 'num'}, String(got.get(n))), h('td', {class: 'time'}, n)))));
    }))));
}

const ROUTES = [
  [/^\/?$/, viewList],
  [/^\/executions$/, viewList],
  [/^\/executions\/([0-9]+)$/, viewExecution],
  [/^\/messages\/(.+)$/, viewMessage],
  [/^\/flows\/(.+)$/, viewFlow],
  [/^\/find\/(.+)$/, viewFind],
  [/^\/tail$/, viewTail],
  [/^\/node$/, viewNode],
];

async function route() {
  if (current) current.abort();
  const ctl = current = new AbortController();
  const raw = location.hash.replace(/^#/, '');
  const qi = raw.indexOf('?');
  const path = qi < 0 ? raw : raw.slice(0, qi), params = new URLSearchParams(qi < 0 ? '' : raw.slice(qi + 1));
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', path.startsWith(a.dataset.view));
  for (const [re, view] of ROUTES) {
    const m = path.match(re);
    if (!m) continue;
    try {
      await view(m, params, ctl.signal);
    } catch (err) {
      if (ctl.signal.aborted) return;
      main.append(problemBox(err));
      if (err instanceof Problem && err.status === 401) document.getElementById('token').classList.add('bad');
    }
    return;
  }
  main.replaceChildren(h('h1', {}, 'Not found'), h('p', {}, `The console has no page ${path}.`));
}

// ---- the header: lookup, token, tenant ---------------------------------------------------------

function showToken() {
  const set = getToken() !== '';
  const st = document.getElementById('token-state');
  st.textContent = set ? 'token set' : 'no token';
  st.dataset.set = set;
  document.getElementById('token').classList.remove('bad');
}

function init() {
  document.getElementById('find').addEventListener('submit', ev => {
    ev.preventDefault();
    const q = document.getElementById('find-q').value.trim();
    if (q) location.hash = `#/find/${encodeURIComponent(q)}`;
  });
  document.getElementById('flow-find').addEventListener('submit', ev => {
    ev.preventDefault();
    const q = document.getElementById('flow-q').value.trim();
    if (q) location.hash = `#/flows/${encodeURIComponent(q)}`;
  });
  const token = document.getElementById('token');
  const tenant = document.getElementById('tenant');
  tenant.value = getTenant();
  // Enter in either field: a token typed is kept (an empty field keeps the one set), the tenant applies
  document.getElementById('auth').addEventListener('submit', ev => {
    ev.preventDefault();
    if (token.value.trim()) setToken(token.value.trim());
    token.value = '';
    setTenant(tenant.value.trim());
    showToken();
    route();
  });
  document.getElementById('forget').addEventListener('click', () => { setToken(''); showToken(); route(); });
  tenant.addEventListener('change', () => {
    if (tenant.value.trim() === getTenant()) return;
    setTenant(tenant.value.trim());
    route();
  });
  fillTenants();
  showToken();
  window.addEventListener('hashchange', route);
  route();
}

init();
