// The console's client of the execlog HTTP API: every call carries the
// bearer token kept in sessionStorage (never in localStorage, never in a URL)
// and answers that are not 2xx become a Problem built from the RFC 9457 body.
// The live tail reads /v1/stream with fetch() and a ReadableStream rather
// than EventSource, which cannot send an Authorization header.

const TOKEN_KEY = 'execlog.token';
const TENANT_KEY = 'execlog.tenant';

export function getToken() { return sessionStorage.getItem(TOKEN_KEY) || ''; }
export function setToken(t) { t ? sessionStorage.setItem(TOKEN_KEY, t) : sessionStorage.removeItem(TOKEN_KEY); }
export function getTenant() { return sessionStorage.getItem(TENANT_KEY) || ''; }
export function setTenant(t) { t ? sessionStorage.setItem(TENANT_KEY, t) : sessionStorage.removeItem(TENANT_KEY); }

/** An answer that is not 2xx: status, and the problem document's members when it had one. */
export class Problem extends Error {
  constructor(status, body) {
    const b = body && typeof body === 'object' ? body : {};
    super(b.detail || b.title || `HTTP ${status}`);
    this.status = status;
    this.type = b.type || null;
    this.title = b.title || `HTTP ${status}`;
    this.detail = b.detail || null;
    this.errors = Array.isArray(b.errors) ? b.errors : [];
  }
}

function headers(extra) {
  const hd = Object.assign({}, extra);
  const t = getToken();
  if (t) hd.Authorization = `Bearer ${t}`;
  return hd;
}

/** path with its query: entries whose value is empty or null are left out. */
export function withQuery(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {}))
    if (v !== null && v !== undefined && v !== '') q.append(k, String(v));
  const qs = q.toString();
  return qs ? `${path}?${qs}` : path;
}

async function problemOf(res) {
  let body = null;
  try { body = await res.json(); } catch (_) { /* not JSON: the status says enough */ }
  return new Problem(res.status, body);
}

/** GET a JSON answer. @throws Problem (or a TypeError when the server cannot be reached). */
export async function getJSON(path, params, signal) {
  const res = await fetch(withQuery(path, params), {headers: headers({Accept: 'application/json'}), signal});
  if (!res.ok) throw await problemOf(res);
  return res.json();
}

/** GET a text answer (the Prometheus metrics). @throws Problem. */
export async function getText(path, signal) {
  const res = await fetch(path, {headers: headers({Accept: 'text/plain'}), signal});
  if (!res.ok) throw await problemOf(res);
  return res.text();
}

/** GET /readyz, whose 503 is an answer too: {status, body}. */
export async function getReady(signal) {
  const res = await fetch('/readyz', {signal, cache: 'no-store'});
  return {status: res.status, body: await res.json().catch(() => null)};
}

/**
 * Read Server-Sent Events from path (with the token) until signal aborts or
 * the server ends the stream: onOpen() once the answer is 200, onEvent({id,
 * event, data}) for each event (data parsed as JSON when it is JSON).
 * @throws Problem on a non-2xx answer.
 */
export async function readStream(path, params, {signal, lastEventId, onOpen, onEvent}) {
  const hd = headers({Accept: 'text/event-stream'});
  if (lastEventId) hd['Last-Event-ID'] = lastEventId;
  const res = await fetch(withQuery(path, params), {headers: hd, signal, cache: 'no-store'});
  if (!res.ok) throw await problemOf(res);
  if (onOpen) onOpen();
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '', cur = {};
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return;
    buf += value;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).replace(/\r$/, '');
      buf = buf.slice(nl + 1);
      if (line === '') {
        if (cur.data !== undefined) {
          try { cur.data = JSON.parse(cur.data); } catch (_) { /* kept as text */ }
          onEvent(cur);
        }
        cur = {};
      } else if (!line.startsWith(':')) {
        const c = line.indexOf(':');
        const name = c < 0 ? line : line.slice(0, c);
        const v = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
        if (name === 'data') cur.data = cur.data === undefined ? v : `${cur.data}\n${v}`;
        else if (name === 'id' || name === 'event') cur[name] = v;
      }
    }
  }
}
