// The web console in headless Chromium (Debian's /usr/bin/chromium through
// playwright-core), against the two execlogd that test_console.py started and
// seeded; its config file (argv[2]) has their URLs, the seeded audit IDs and
// the tokens. Writes made here (for the live tail) go through the API with
// Node's fetch. Prints one line per failed check, then
// "browser: N passed, N failed"; screenshots go to config.screenshots.

import {readFileSync} from 'node:fs';
import {join} from 'node:path';
import {createInterface} from 'node:readline';
import {chromium} from 'playwright-core';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const X = cfg.ids;
const WAIT = 15000; // ms for anything the page must show
let passed = 0, failed = 0, phase = 'start';

function ok(cond, what, detail) {
  if (cond) passed++;
  else {
    failed++;
    console.log(`FAIL [${phase}] ${what}${detail ? `: ${detail}` : ''}`);
  }
  return !!cond;
}
const eq = (got, want, what) => ok(JSON.stringify(got) === JSON.stringify(want), what,
  `got ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
const sameSet = (got, want, what) => eq([...got].map(String).sort(), [...want].map(String).sort(), what);

async function section(name, fn) {
  phase = name;
  try {
    await fn();
  } catch (e) {
    ok(false, 'exception', String(e && e.message || e).split('\n')[0]);
  }
}

// what only test_console.py can do (restart an execlogd): a line "@<request>" out, its answer in on stdin
const answers = createInterface({input: process.stdin});
let answered = null;
answers.on('line', l => { if (answered) { const a = answered; answered = null; a(l); } });
const control = request => new Promise(res => { answered = res; console.log(`@${request}`); });

/** One API call with Node's fetch: {status, json}. */
async function call(base, method, path, body, token) {
  const headers = {'content-type': 'application/json'};
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(base + path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  return {status: res.status, json: await res.json().catch(() => null)};
}

const shot = (page, name) => page.screenshot({path: join(cfg.screenshots, `${name}.png`), fullPage: true});
const ids = (page, sel) => page.$$eval(sel, els => els.map(e => e.dataset.auditId));
const go = (page, hash) => page.evaluate(h => { location.hash = h; }, hash);

async function find(page, q) {
  await page.fill('#find-q', q);
  await page.click('#find button');
}

// as root, without a sandbox; nothing in the background that would reach for the network
const browser = await chromium.launch({executablePath: '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run']});
const outside = [], errors = [];

function watch(page) {
  page.setDefaultTimeout(WAIT);
  page.on('request', r => {
    const u = r.url();
    if (!u.startsWith(`${cfg.open}/`) && !u.startsWith(`${cfg.secure}/`) && !u.startsWith('data:')) outside.push(u);
  });
  page.on('pageerror', e => errors.push(String(e)));
  return page;
}

// ---- the execlogd without tokens ---------------------------------------------------------------

const ctx = await browser.newContext({viewport: {width: 1280, height: 860}});
const page = watch(await ctx.newPage());
const everyId = Object.entries(X).filter(([k]) => !k.startsWith('s_')).map(([, v]) => v).concat(cfg.batch);
const flowIds = [X.e1, X.e2, X.e3, ...cfg.batch];

await section('load', async () => {
  await page.goto(`${cfg.open}/`);
  await page.waitForSelector('tr.exec-row');
  eq(new URL(page.url()).pathname, '/ui/', 'GET / ends on /ui/');
  eq(await page.title(), 'execlog console', 'title');
  const api = await call(cfg.open, 'GET', '/v1/executions?limit=50');
  const shown = await ids(page, 'tr.exec-row');
  eq(shown, api.json.items.map(i => String(i.audit_id)), 'the list is the API\'s first page, newest first');
  sameSet(shown, everyId, 'the list shows every seeded execution');
});

await section('find by audit ID', async () => {
  await find(page, String(X.e1));
  await page.waitForSelector(`.execution[data-audit-id="${X.e1}"]`);
  eq(new URL(page.url()).hash, `#/executions/${X.e1}`, 'URL of the execution page');
  eq(await page.textContent('h1 .badge'), 'warning', 'status badge (succeeded with a warning)');
  eq(await page.textContent('dd[data-field="duration"]'), '900 ms', 'duration');
  eq(await page.textContent('dd[data-field="message ID"]'), 'msg-e1', 'message ID');
  eq(await page.$$eval('.event-row', els => els.map(e => e.dataset.type)),
    ['created', 'started', 'task_started', 'task_finished', 'task_started', 'progress', 'task_finished', 'warning',
      'succeeded'], 'timeline: every event, in order');
  eq(await page.$$eval('.event-row', els => els.map(e => Number(e.dataset.seq))), [1, 2, 3, 4, 5, 6, 7, 8, 9],
    'timeline: seq 1..9');
  eq(await page.$$eval('.task-row', els => els.map(e => [e.dataset.task, e.querySelector('.badge').textContent])),
    [['extract', 'succeeded'], ['load', 'succeeded']], 'tasks and their status');
  eq(await page.$$eval('svg.tasks g.task', els => els.map(e => e.dataset.task)), ['extract', 'load'],
    'tasks drawn on the time axis');
  eq(await page.$$eval('.warnings li', els => els.map(e => e.textContent)), ['slow source'], 'warnings');
  await shot(page, 'execution');
  const w = await call(cfg.open, 'POST', `/v1/executions/${X.e1}/events`, {type: 'log', message: 'looked at'});
  eq(w.status, 202, 'a log event appended meanwhile');
  await page.click('button.refresh');
  await page.waitForFunction(() => document.querySelectorAll('.event-row').length === 10);
  eq(await page.$eval('.event-row:last-child', e => [e.dataset.seq, e.dataset.type, e.lastElementChild.textContent]),
    ['10', 'log', 'looked at'], 'Refresh reads the timeline again');
});

await section('find by message ID', async () => {
  await find(page, 'msg-retry');
  await page.waitForFunction(() => location.hash === '#/messages/msg-retry' && document.querySelector('tr.exec-row'));
  eq(await ids(page, 'tr.exec-row'), [String(X.e3), String(X.e2)], 'msg-retry: both attempts, newest first');
  await find(page, 'msg-g1');
  await page.waitForFunction(() => location.hash === '#/messages/msg-g1' && document.querySelector('tr.exec-row'));
  eq(await ids(page, 'tr.exec-row'), [String(X.g1)], 'msg-g1: its execution');
  await find(page, '9007199254740991');
  await page.waitForSelector('.not-found');
  ok((await page.textContent('.not-found')).includes('9007199254740991'), 'an unknown ID: said so');
});

await section('lineage', async () => {
  await find(page, 'msg-retry');
  await page.waitForFunction(() => location.hash === '#/messages/msg-retry' && document.querySelector('tr.exec-row'));
  await page.click(`tr.exec-row[data-audit-id="${X.e3}"] a.audit-id`);
  await page.waitForSelector(`.execution[data-audit-id="${X.e3}"] svg.lineage`);
  const nodes = await page.$$eval('svg.lineage a.lineage-node', els => els.map(e => [e.dataset.auditId, e.dataset.kind]));
  eq(nodes, [[String(X.e2), 'attempt'], [String(X.e3), 'attempt'], [String(X.c2), 'child'], [String(X.c1), 'child']],
    'lineage nodes: the two attempts, then the children under e2 and e3');
  eq(await page.$$eval('svg.lineage rect.node.current', els => els.map(e => e.parentNode.dataset.auditId)), [String(X.e3)],
    'the page\'s execution is highlighted');
  eq(await page.$$eval('svg.lineage path.edge.retry', els => els.length), 1, 'one retry edge');
  eq(await page.$$eval('svg.lineage path.edge.child', els => els.length), 2, 'two child edges');
  eq(await page.$$eval('svg.lineage a.lineage-node', els => els.map(e => [e.dataset.status,
    e.querySelector('rect.stripe').getAttribute('class')])), [['failed', 'stripe st-failed'],
    ['succeeded', 'stripe st-succeeded'], ['running', 'stripe st-running'], ['succeeded', 'stripe st-succeeded']],
  'nodes by status, coloured by it');
  await shot(page, 'lineage');
  await page.click(`svg.lineage a.lineage-node[data-audit-id="${X.e2}"]`);
  await page.waitForSelector(`.execution[data-audit-id="${X.e2}"] .error-box`);
  ok((await page.textContent('.error-box')).includes('IOError: disk full'), 'a node opens its execution (e2, its error)');
});

await section('list filters', async () => {
  await go(page, '#/executions');
  await page.waitForSelector('#list-filters');
  await page.fill('#list-filters input[name=flow_id]', cfg.flow);
  await page.check('#list-filters input[value=failed]');
  await page.click('#list-filters button');
  await page.waitForFunction(() => location.hash.includes('status=failed'));
  await page.waitForSelector('tr.exec-row');
  const failedIds = [X.e2, ...cfg.batch.filter((_, i) => i % 5 === 4)];
  sameSet(await ids(page, 'tr.exec-row'), failedIds, `flow ${cfg.flow}, status failed`);
  eq([...new Set(await page.$$eval('tr.exec-row .badge', els => els.map(e => e.textContent)))], ['failed'],
    'every row is failed');
  // every page of the flow, 20 a page
  await page.uncheck('#list-filters input[value=failed]');
  await page.selectOption('#list-filters select[name=limit]', '20');
  await page.click('#list-filters button');
  await page.waitForFunction(() => location.hash.includes('limit=20') && !location.hash.includes('status'));
  const walked = [];
  let pages = 0;
  for (;;) {
    await page.waitForSelector('.pager');
    pages++;
    walked.push(...await ids(page, 'tr.exec-row'));
    const next = await page.$('#next-page');
    if (!next || pages > 10) break;
    await next.click();
    await page.waitForFunction(n => document.querySelector('.page-no') &&
      document.querySelector('.page-no').textContent.startsWith(`Page ${n}`), pages + 1);
  }
  ok(pages >= 2, 'the flow takes more than one page of 20', `${pages} pages`);
  eq(walked.length, new Set(walked).size, 'no execution twice across pages');
  sameSet(walked, flowIds, 'the pages list every execution of the flow');
  // the tenant selector
  await go(page, '#/executions');
  await page.waitForSelector('tr.exec-row');
  await page.fill('#tenant', 'globex');
  await page.press('#tenant', 'Tab');
  await page.waitForFunction(id => {
    const rows = [...document.querySelectorAll('tr.exec-row')];
    return rows.length === 1 && rows[0].dataset.auditId === id;
  }, String(X.g1));
  eq(await page.evaluate(() => sessionStorage.getItem('execlog.tenant')), 'globex', 'the tenant is kept in sessionStorage');
  sameSet(await page.$$eval('#tenants option', els => els.map(e => e.value)), ['acme', 'globex'],
    'the tenant selector offers the tenants seen');
  await page.fill('#tenant', '');
  await page.press('#tenant', 'Tab');
  await page.waitForFunction(n => document.querySelectorAll('tr.exec-row').length === n, everyId.length);
});

await section('flow summary', async () => {
  await page.fill('#flow-q', cfg.flow);
  await page.click('#flow-find button');
  await page.waitForSelector(`.flow[data-flow="${cfg.flow}"] svg.percentiles`);
  const api = (await call(cfg.open, 'GET', `/v1/flows/${cfg.flow}`)).json;
  const bars = await page.$$eval('svg.percentiles g.bar', els => els.map(e => [e.dataset.label, Number(e.dataset.value),
    Number(e.querySelector('rect').getAttribute('width')), e.querySelector('text.value').textContent]));
  eq(bars.map(b => [b[0], b[1]]), [['p50', api.duration_ms.p50], ['p95', api.duration_ms.p95], ['p99', api.duration_ms.p99]],
    'percentile bars carry the API\'s p50, p95, p99');
  ok(api.duration_ms.p50 > 0 && bars[0][2] > 0 && bars[0][2] <= bars[1][2] && bars[1][2] <= bars[2][2],
    'bar widths grow from p50 to p99', JSON.stringify(bars));
  ok(bars.every(b => /[0-9]+(\.[0-9]+)? (ms|s)$/.test(b[3])), 'each bar is labelled with its duration', JSON.stringify(bars));
  const byStatus = Object.fromEntries(await page.$$eval('svg.by-status g.bar', els => els.map(e => [e.dataset.label,
    Number(e.dataset.value)])));
  eq(byStatus, api.by_status, 'the status bars carry the API\'s counts');
  eq([byStatus.succeeded, byStatus.warning, byStatus.failed], [17, 1, 5], 'succeeded, warning, failed of the seeded flow');
  eq(await page.textContent('dd[data-field="executions"]'), String(flowIds.length), 'executions of the flow');
  await shot(page, 'flow');
});

await section('live tail', async () => {
  await go(page, '#/tail?flow_id=live-flow');
  await page.waitForSelector('#tail-state[data-state=live]');
  const other = await call(cfg.open, 'POST', '/v1/executions', {flow_id: 'other-flow', tenant_id: 'acme'});
  const live = await call(cfg.open, 'POST', '/v1/executions', {flow_id: 'live-flow', tenant_id: 'acme', message_id: 'msg-live'});
  eq([other.status, live.status], [201, 201], 'writes made during the tail');
  const L = live.json.audit_id;
  const st = await call(cfg.open, 'POST', `/v1/executions/${L}/events`, {type: 'started', message: 'tail me'});
  eq(st.status, 202, 'append during the tail');
  await page.waitForSelector(`.tail-line[data-audit-id="${L}"][data-type=started]`);
  eq(await page.$$eval('.tail-line', els => els.map(e => [e.dataset.auditId, e.dataset.type])),
    [[String(L), 'started'], [String(L), 'created']], 'the tail shows the flow\'s events, newest first, and no other flow');
  ok((await page.textContent(`.tail-line[data-audit-id="${L}"][data-type=started]`)).includes('tail me'),
    'a tail line has the event\'s message');
  await shot(page, 'tail');
  // the server stops (SIGTERM ends the stream) and comes back; an execution made before the console reconnects
  // reaches it all the same, as it resumes after the last event it saw (Last-Event-ID)
  const lastSeen = await page.$eval('.tail-line', e => e.dataset.feedSeq);
  const asked = [];
  const onStream = r => { if (r.url().includes('/v1/stream')) asked.push(r.headers()['last-event-id'] || null); };
  page.on('request', onStream);
  const reply = await control('restart open');
  if (ok(reply.startsWith('@done '), 'execlogd restarted', reply)) {
    const R = reply.split(' ')[1];
    await page.waitForSelector(`.tail-line[data-audit-id="${R}"]`, {timeout: 30000});
    eq(await page.$eval('#tail-state', e => [e.dataset.state, e.dataset.opens]), ['live', '2'], 'the tail is live again');
    ok(asked.length >= 1 && asked.every(v => v === lastSeen), 'it reconnected with Last-Event-ID: the last id seen',
      `${JSON.stringify(asked)}, last seen ${lastSeen}`);
    eq(await page.$$eval('.tail-line', els => els.map(e => [e.dataset.auditId, e.dataset.type])),
      [[R, 'created'], [String(L), 'started'], [String(L), 'created']], 'after the restart: nothing lost, nothing twice');
  }
  page.off('request', onStream);
  // leaving the page ends the stream
  await go(page, '#/executions');
  let streams = -1;
  for (let i = 0; i < 50 && streams !== 0; i++) {
    const text = await (await fetch(`${cfg.open}/metrics`)).text();
    const m = text.match(/^execlog_sse_streams ([0-9]+)/m);
    streams = m ? Number(m[1]) : -1;
    if (streams !== 0) await new Promise(r => setTimeout(r, 100));
  }
  eq(streams, 0, 'leaving the tail closes its stream (execlog_sse_streams)');
});

await section('node page', async () => {
  await go(page, '#/node');
  await page.waitForSelector('.node-page tr.metric');
  const direct = await (await fetch(`${cfg.open}/metrics`)).text();
  const applied = Number(direct.match(/^execlog_projector_events_applied_total ([0-9]+)$/m)[1]);
  eq(await page.$eval('tr.metric[data-name=execlog_projector_events_applied_total]', e => Number(e.dataset.value)),
    applied, 'events applied: the value of /metrics');
  const stored = Number(direct.match(/^execlog_store_executions ([0-9]+)$/m)[1]);
  eq(await page.$eval('tr.metric[data-name=execlog_store_executions]', e => Number(e.dataset.value)), stored,
    'executions stored: the value of /metrics');
  ok(stored > 0 && applied > 0, 'the figures are this node\'s (executions stored, events applied since the restart)',
    `${stored}, ${applied}`);
  const info = (await call(cfg.open, 'GET', '/v1/info')).json;
  eq(await page.textContent('dd[data-field="version"]'), info.version, 'the version of /v1/info');
  eq(await page.textContent('dd[data-field="bootstrap servers"]'), info.kafka.bootstrap_servers,
    'the bootstrap list, shown to this admin');
  eq(await page.$eval('.ready', e => e.dataset.status), '200', 'ready');
});

await ctx.close();

// ---- the execlogd with tokens -------------------------------------------------------------------

const sctx = await browser.newContext({viewport: {width: 1280, height: 700}});
const spage = watch(await sctx.newPage());

await section('no token', async () => {
  await spage.goto(`${cfg.secure}/ui/`);
  await spage.waitForSelector('.problem[data-status="401"]');
  eq(await spage.textContent('.problem-title'), '401 Authentication required', 'no token: the 401 title');
  ok((await spage.textContent('.problem .hint')).includes('token'), 'no token: the hint names the token');
  eq(await spage.textContent('#token-state'), 'no token', 'no token: said in the header');
});

await section('wrong token', async () => {
  await spage.fill('#token', 'wrong-token');
  await spage.click('#auth button[type=submit]');
  await spage.waitForSelector('.problem[data-status="401"] .problem-detail');
  eq(await spage.textContent('.problem-title'), '401 Invalid token', 'wrong token: the 401 title');
  eq(await spage.textContent('.problem-detail'), 'the bearer token is not known', 'wrong token: the 401 detail');
  eq(await spage.textContent('.problem-type'), 'urn:execlog:problem:unauthorized', 'wrong token: the problem type');
  ok(await spage.$eval('#token', e => e.classList.contains('bad')), 'wrong token: the token field is marked');
  eq(await spage.evaluate(() => [sessionStorage.getItem('execlog.token'), localStorage.length]), ['wrong-token', 0],
    'the token is kept in sessionStorage only');
  eq(await spage.inputValue('#token'), '', 'the token field is emptied once used');
  await shot(spage, 'unauthorized');
});

await section('tenant token', async () => {
  await spage.fill('#token', cfg.tokens.acme_r);
  await spage.click('#auth button[type=submit]');
  await spage.waitForSelector('tr.exec-row');
  eq(await ids(spage, 'tr.exec-row'), [String(X.s_acme)], 'an acme reader lists acme\'s executions only');
  eq(await spage.$$('.problem').then(l => l.length), 0, 'no problem shown');
  eq(await spage.textContent('#token-state'), 'token set', 'the header says a token is set');
  await go(spage, `#/executions/${X.s_globex}`);
  await spage.waitForSelector('.problem[data-status="404"]');
  ok(true, 'another tenant\'s execution is not found');
  await go(spage, '#/tail');
  await spage.waitForSelector('#tail-state[data-state=live]');
  const g = await call(cfg.secure, 'POST', `/v1/executions/${X.s_globex}/events`, {type: 'started'}, cfg.tokens.admin);
  const a = await call(cfg.secure, 'POST', `/v1/executions/${X.s_acme}/events`, {type: 'started'}, cfg.tokens.admin);
  eq([g.status, a.status], [202, 202], 'writes with the admin token');
  await spage.waitForSelector(`.tail-line[data-audit-id="${X.s_acme}"]`);
  eq(await ids(spage, '.tail-line'), [String(X.s_acme)], 'the tail streams with the token, acme\'s events only');
});

await section('forbidden', async () => {
  await go(spage, '#/node');
  await spage.waitForSelector('.problem[data-status="403"]');
  eq(await spage.textContent('.problem[data-status="403"] .problem-title'), '403 Forbidden',
    'a tenant\'s token on /metrics: the 403 title');
  ok((await spage.textContent('.problem[data-status="403"] .problem-detail')).includes('(*)'),
    'the 403 detail says an all-tenant token is needed');
  ok((await spage.textContent('.problem[data-status="403"] .hint')).includes('role'), 'the 403 hint');
  eq(await spage.textContent('dd[data-field="bootstrap servers"]'), 'shown to admins of every tenant only',
    'the bootstrap list is not shown to a tenant\'s reader');
  eq(await spage.$$eval('.problem', l => l.length), 1, 'only the metrics are refused');
  await shot(spage, 'forbidden');
});

await section('forget', async () => {
  await spage.click('#forget');
  await spage.waitForSelector('.problem[data-status="401"]');
  eq(await spage.evaluate(() => sessionStorage.getItem('execlog.token')), null, 'forget clears the token');
});

await section('the page', async () => {
  eq(outside, [], 'nothing was fetched from another origin');
  eq(errors, [], 'no script error');
});

await sctx.close();
await browser.close();
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
