// The page about this execlogd: /v1/info, /readyz and a few figures of
// /metrics (which needs an all-tenant token: a tenant's gets its 403 there).

import {h} from './dom.js';
import {getJSON, getText, getReady} from './api.js';
import {main, problemBox, kv, section} from './parts.js';

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

export async function viewNode(_m, _params, signal) {
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
