// DOM building and formatting for the console. Text from the API only ever
// reaches the page as text nodes or attribute values, never as markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** An HTML element: h('a', {href: '#/x'}, 'text', child, [more]). */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** An SVG element, as h(). */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** Milliseconds since the epoch as "2026-12-03 01:02:03.456" (UTC), or an en dash. */
export function fmtTime(ms) {
  if (ms === null || ms === undefined) return '–';
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

/** A duration in ms, short: 850 ms, 12.5 s, 3 min 5 s, 2 h 0 min. */
export function fmtDuration(ms) {
  if (ms === null || ms === undefined) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** A status badge; the class gives its colour. */
export function badge(status) {
  return h('span', {class: `badge st-${status || 'none'}`}, status || '–');
}

/** A link to an execution's page. */
export function execLink(id) {
  return h('a', {href: `#/executions/${id}`, class: 'audit-id'}, String(id));
}

/** A link to a flow's summary. */
export function flowLink(flow) {
  if (flow === null || flow === undefined) return '–';
  return h('a', {href: `#/flows/${encodeURIComponent(flow)}`, class: 'flow-id'}, flow);
}
