// Small charts drawn as inline SVG (no library, nothing fetched): a line or bar chart of one
// series per day, with its figures also in a visually hidden table for screen readers. In a
// right-to-left page time runs from the right, as the reader reads.

import { h } from './dom.js';
import { date, isRtl, num } from './i18n.js';

const NS = 'http://www.w3.org/2000/svg';
const W = 320;
const H = 140;
const PAD = { top: 12, bottom: 22, side: 34 };

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) if (c) el.append(c);
  return el;
}

/**
 * A chart of `points` ([{date: 'YYYY-MM-DD', value}]), `kind` 'line' or 'bar'; `format(value)`
 * writes a value (axis and table). Returns a <figure> with a caption and the table.
 */
export function dayChart({ title, points, kind = 'bar', format = num, testid, summary }) {
  const rtl = isRtl();
  const most = Math.max(1, ...points.map((p) => p.value));
  const inner = W - 2 * PAD.side;
  const step = points.length > 1 ? inner / (points.length - 1) : inner;
  const barW = Math.max(2, (inner / Math.max(points.length, 1)) * 0.7);
  const x = (i) => {
    const pos = points.length > 1 ? PAD.side + i * step : W / 2;
    return rtl ? W - pos : pos;
  };
  const y = (v) => PAD.top + (H - PAD.top - PAD.bottom) * (1 - v / most);
  const base = y(0);
  // Lines at zero, half and the most; figures at zero and the most (the half may not be whole).
  const grid = [0, most / 2, most].map((v) => svg('g', { class: 'grid' },
    svg('line', { x1: PAD.side, x2: W - PAD.side, y1: y(v), y2: y(v) }),
    v === most / 2 ? null : svg('text', { x: rtl ? W - PAD.side + 4 : PAD.side - 4, y: y(v) + 4, 'text-anchor': rtl ? 'start' : 'end' }, format(v))));
  let marks;
  if (kind === 'line') {
    const d = points.map((p, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(p.value).toFixed(1)}`).join(' ');
    marks = [svg('path', { class: 'series', d }), ...points.map((p, i) => svg('circle', { class: 'dot', cx: x(i), cy: y(p.value), r: 2.5 }))];
  } else {
    marks = points.map((p, i) => svg('rect', {
      class: 'series-bar', x: x(i) - barW / 2, y: y(p.value), width: barW, height: Math.max(0, base - y(p.value)), rx: 1.5,
    }));
  }
  const first = points[0];
  const last = points[points.length - 1];
  const labels = first ? [
    svg('text', { class: 'axis', x: x(0), y: H - 6, 'text-anchor': 'middle' }, date(`${first.date}T12:00:00Z`, { day: 'numeric', month: 'short' })),
    svg('text', { class: 'axis', x: x(points.length - 1), y: H - 6, 'text-anchor': 'middle' }, date(`${last.date}T12:00:00Z`, { day: 'numeric', month: 'short' })),
  ] : [];
  // The picture is for the eyes; screen readers get the table below.
  const picture = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: `chart ${kind}`, 'aria-hidden': 'true', focusable: 'false' },
    ...grid, ...marks, ...labels);
  const table = h('table', { class: 'sr-only' },
    h('caption', {}, title),
    h('tbody', {}, points.map((p) => h('tr', {}, h('th', { scope: 'row' }, date(`${p.date}T12:00:00Z`, { dateStyle: 'medium' })), h('td', {}, format(p.value))))));
  return h('figure', { class: 'chart-box', 'data-testid': testid },
    h('figcaption', {}, h('strong', {}, title), ' ', h('span', { class: 'muted small' }, summary ?? format(points.reduce((s, p) => s + p.value, 0)))),
    picture, table);
}
