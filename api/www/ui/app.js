// The execlog web console: a hash router (#/executions, #/executions/{id},
// #/messages/{id}, #/flows/{id}, #/tail, #/find/{q}, #/node) over views that read the
// HTTP API with the token and tenant chosen in the header. Each view gets an
// AbortSignal that fires when the user navigates away, which also ends the
// live tail's stream. Nothing here is fetched from anywhere but this server.

import {h, badge, execLink} from './dom.js';
import {Problem, getJSON, getToken, setToken, getTenant, setTenant} from './api.js';
import {bars, percentileBars} from './charts.js';
import {STATUSES, main, noteTenants, fillTenants, problemBox, execTable, kv, section, hashOf} from './parts.js';
import {viewExecution} from './execution.js';
import {viewTail} from './tail.js';
import {viewNode} from './service.js';

const MAX_AUDIT_ID = 2 ** 53 - 1;
let current = null; // AbortController of the view on screen

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
