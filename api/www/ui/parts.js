// What the console's pages share: the element they draw in, the problem box
// (an API error as the API words it), the tables and key-value lists, and the
// tenants seen so far (offered by the tenant selector). Builds DOM only.

import {h, fmtTime, fmtDuration, badge, execLink, flowLink} from './dom.js';
import {Problem} from './api.js';

export const STATUSES = ['queued', 'running', 'paused', 'cancelling', 'succeeded', 'warning', 'failed', 'cancelled'];

/** Where the page on screen is drawn. */
export const main = document.getElementById('view');

// ---- tenants seen, offered by the tenant selector -----------------------------------------------

export function noteTenants(items) {
  const seen = new Set(JSON.parse(sessionStorage.getItem('execlog.tenants') || '[]'));
  const before = seen.size;
  for (const it of items || []) if (it && it.tenant_id) seen.add(it.tenant_id);
  if (seen.size === before) return;
  sessionStorage.setItem('execlog.tenants', JSON.stringify([...seen].sort()));
  fillTenants();
}

export function fillTenants() {
  const list = document.getElementById('tenants');
  list.replaceChildren(...JSON.parse(sessionStorage.getItem('execlog.tenants') || '[]').map(t => h('option', {value: t})));
}

// ---- problems --------------------------------------------------------------------------------------

const HINTS = {
  401: 'Enter a valid bearer token in the Token field at the top of the page.',
  403: 'This token may not do this: its role is too low, or it is a tenant\'s token on a route that shows every tenant.',
};

/** A box that says what went wrong: the problem's status, title, detail and type. */
export function problemBox(err) {
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

export function execTable(items) {
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

export function kv(rows) {
  return h('dl', {class: 'kv'}, rows.filter(r => r).map(([k, v]) => [h('dt', {}, k),
    h('dd', {dataset: {field: k}}, v === null || v === undefined || v === '' ? '–' : v)]));
}

export function section(title, ...body) {
  return h('section', {class: 'card'}, h('h2', {}, title), body);
}

export function hashOf(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const qs = q.toString();
  return `#${path}${qs ? `?${qs}` : ''}`;
}
