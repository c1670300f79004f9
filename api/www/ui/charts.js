// The console's drawings, as inline SVG built here (no library): the lineage
// graph (retries left to right, children below their parent attempt), bars
// (duration percentiles, counts by status) and the tasks of an execution on a
// time axis. Colours come from console.css through the st-<status> classes.

import {s, fmtDuration} from './dom.js';

const NODE_W = 200, NODE_H = 60, GAP_X = 46, GAP_Y = 34, PAD = 12;

function node(item, x, y, kind, current) {
  const st = item.status || 'none';
  const cls = `node ${kind} ns-${st}${current ? ' current' : ''}`;
  const lines = [`#${item.audit_id}`, item.flow_id || '',
    `${item.status || '?'} · ${item.retries ? `retry ${item.retries} · ` : ''}${fmtDuration(item.duration_ms)}`];
  return s('a', {href: `#/executions/${item.audit_id}`, class: 'lineage-node', dataset: {auditId: item.audit_id, kind,
    status: st}},
    s('title', {}, `${kind} ${item.audit_id}: ${st}`),
    s('rect', {x, y, width: NODE_W, height: NODE_H, rx: 6, class: cls}),
    s('rect', {x: x + 1, y: y + 1, width: 6, height: NODE_H - 2, rx: 3, class: `stripe st-${st}`}),
    lines.map((t, i) => s('text', {x: x + 14, y: y + 17 + i * 17, class: i === 0 ? 'id' : 'sub'},
      t.length > 28 ? `${t.slice(0, 27)}…` : t)));
}

/**
 * The lineage of an execution (GET /v1/executions/{id}/lineage) as an SVG:
 * one node per attempt in creation order, an arrow from each attempt to the
 * retry of it, and the children in a column under the attempt that started
 * them (dashed edges). current: the audit ID whose page this is.
 */
export function lineageGraph(lin, current) {
  const attempts = lin.attempts || [], children = lin.children || [];
  const col = new Map(attempts.map((a, i) => [a.audit_id, i]));
  const below = new Map(); // attempt column -> children placed under it
  const orphans = [];
  for (const c of children) {
    const i = col.get(c.parent_execution_id);
    if (i === undefined) orphans.push(c);
    else below.set(i, (below.get(i) || []).concat([c]));
  }
  const ncols = Math.max(1, attempts.length + (orphans.length ? 1 : 0));
  const nrows = 1 + Math.max(0, orphans.length, ...[...below.values()].map(v => v.length));
  const width = PAD * 2 + ncols * NODE_W + (ncols - 1) * GAP_X;
  const height = PAD * 2 + nrows * NODE_H + (nrows - 1) * GAP_Y;
  const xOf = i => PAD + i * (NODE_W + GAP_X), yOf = r => PAD + r * (NODE_H + GAP_Y);
  const edges = [], nodes = [];
  attempts.forEach((a, i) => {
    nodes.push(node(a, xOf(i), yOf(0), 'attempt', a.audit_id === current));
    const p = col.get(a.parent_audit_id);
    if (p !== undefined) {
      const x1 = xOf(p) + NODE_W, x2 = xOf(i), y = yOf(0) + NODE_H / 2;
      const d = p === i - 1 ? `M${x1},${y} L${x2 - 2},${y}`
        : `M${x1 - NODE_W / 2},${yOf(0)} C${x1 - NODE_W / 2},${yOf(0) - 10} ${x2 + NODE_W / 2},${yOf(0) - 10} ${x2 + NODE_W / 2},${yOf(0) - 2}`;
      edges.push(s('path', {d, class: 'edge retry', 'marker-end': 'url(#arrow)'}));
    }
  });
  for (const [i, list] of below) {
    list.forEach((c, r) => {
      nodes.push(node(c, xOf(i), yOf(r + 1), 'child', c.audit_id === current));
      const x = xOf(i) + 24;
      edges.push(s('path', {d: `M${x},${yOf(r) + NODE_H} L${x},${yOf(r + 1) - 2}`, class: 'edge child',
        'marker-end': 'url(#arrow)'}));
    });
  }
  orphans.forEach((c, r) => nodes.push(node(c, xOf(ncols - 1), yOf(r + 1), 'child', c.audit_id === current)));
  return s('svg', {class: 'lineage', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': `lineage: ${attempts.length} attempts, ${children.length} children`},
    s('defs', {}, s('marker', {id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7,
      orient: 'auto-start-reverse'}, s('path', {d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead'}))),
    edges, nodes);
}

/**
 * Horizontal bars: rows [{label, value, cls, text}], scaled to the largest
 * value. A row whose value is null gets no bar and its text (or an en dash).
 */
export function bars(rows, {klass = 'bars', width = 520, unit = v => String(v)} = {}) {
  const LABEL = 96, VALUE = 110, ROW = 26, max = Math.max(0, ...rows.map(r => r.value || 0));
  const span = width - LABEL - VALUE;
  const height = rows.length * ROW + 4;
  return s('svg', {class: klass, width, height, viewBox: `0 0 ${width} ${height}`, role: 'img'},
    rows.map((r, i) => {
      const y = 2 + i * ROW, w = r.value && max ? Math.max(2, (r.value / max) * span) : 0;
      return s('g', {class: 'bar', dataset: {label: r.label, value: r.value === null ? '' : r.value}},
        s('text', {x: 0, y: y + 16, class: 'label'}, r.label),
        s('rect', {x: LABEL, y: y + 3, width: w, height: ROW - 8, rx: 3, class: r.cls || 'fill'}),
        s('text', {x: LABEL + w + 6, y: y + 16, class: 'value'}, r.value === null ? (r.text || '–') : unit(r.value)));
    }));
}

/** The duration percentiles of a flow summary ({"p50","p95","p99"}) as bars. */
export function percentileBars(d) {
  return bars(['p50', 'p95', 'p99'].map(k => ({label: k, value: d && d[k] !== undefined ? d[k] : null, cls: `fill ${k}`})),
    {klass: 'bars percentiles', unit: fmtDuration});
}

/** The tasks of an execution ([{name,status,started,ended}]) on one time axis from t0 to t1. */
export function taskChart(tasks, t0, t1) {
  const LABEL = 140, ROW = 24, width = 640, span = width - LABEL - 10;
  const lo = Math.min(t0, ...tasks.map(t => t.started || t0));
  const hi = Math.max(t1, lo + 1, ...tasks.map(t => t.ended || t.started || lo));
  const x = v => LABEL + ((v - lo) / (hi - lo)) * span;
  const height = tasks.length * ROW + 22;
  return s('svg', {class: 'tasks', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img'},
    tasks.map((t, i) => {
      const y = i * ROW, a = x(t.started || lo), b = x(t.ended || hi);
      return s('g', {class: 'task', dataset: {task: t.name}},
        s('title', {}, `${t.name}: ${t.status}, ${fmtDuration(t.duration_ms)}`),
        s('text', {x: 0, y: y + 16, class: 'label'}, t.name.length > 20 ? `${t.name.slice(0, 19)}…` : t.name),
        s('rect', {x: a, y: y + 4, width: Math.max(3, b - a), height: ROW - 8, rx: 3, class: `st-${t.status}`}));
    }),
    s('text', {x: LABEL, y: height - 4, class: 'axis'}, '0'),
    s('text', {x: width - 10, y: height - 4, class: 'axis', 'text-anchor': 'end'}, fmtDuration(hi - lo)));
}
