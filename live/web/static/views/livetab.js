// The live tab: who is live now in this community, most viewers first, kept current by the
// community room's events and, as a safety net for missed events, a slow refresh.

import { api, session } from '../api.js';
import { h, replace, userName } from '../dom.js';
import { num, t, tx } from '../i18n.js';
import { upcomingList } from './upcoming.js';

const REFRESH_MS = 10000;

export function renderLiveTab(panel, ctx) {
  const { cid, hub, cleanups, app } = ctx;
  const grid = h('ul', { class: 'cards lives', 'data-testid': 'live-list' });
  const empty = h('p', { class: 'muted', 'data-testid': 'no-lives' }, t('livetab.none'));
  const cards = new Map(); // live id -> {live, el}

  const goLive = ctx.community.my_role
    ? h('a', { class: 'button', href: `#/c/${cid}/golive` }, t('community.go_live'))
    : null;
  const upcoming = upcomingList(app.me);
  const upcomingHead = h('h2', { hidden: true }, t('livetab.upcoming'));
  replace(panel, h('div', { class: 'row spread' }, h('h2', {}, t('livetab.live_now')), goLive), empty, grid,
    upcomingHead, upcoming.el);

  async function refreshUpcoming() {
    try {
      const page = await api.get(`/v1/communities/${cid}/live?status=scheduled&limit=50`);
      upcoming.set(page.items || []);
      upcomingHead.hidden = upcoming.size === 0;
    } catch { /* keep what is shown */ }
  }

  function upsert(live) {
    if (!live || live.status === 'ended') { if (live) remove(live.id); return; }
    const existing = cards.get(live.id);
    if (existing) {
      existing.live = { ...existing.live, ...live };
      fill(existing);
    } else {
      const entry = { live, el: h('li', { class: 'card live-card', 'data-testid': 'live-card', dataset: { id: live.id } }) };
      cards.set(live.id, entry);
      fill(entry);
    }
    order();
  }

  // Built once, then only its texts change: a focused card keeps its focus while counts move.
  function fill(entry) {
    const { live } = entry;
    if (!entry.count) {
      entry.count = h('span', { 'data-testid': 'viewer-count' });
      entry.title = h('h3', { dir: 'auto', class: 'live-title' });
      entry.host = h('p', { class: 'muted small' });
      entry.thumb = h('div', { class: 'thumb-wrap' });
      entry.link = h('a', { href: `#/live/${live.id}`, class: 'live-link' },
        entry.thumb, entry.title);
      replace(entry.el, entry.link, entry.host);
    }
    if (!entry.thumb.firstChild) {
      entry.img = h('img', { alt: '', class: 'thumb', hidden: true, 'data-testid': 'live-thumbnail' });
      entry.placeholder = h('div', { class: 'thumb placeholder', 'aria-hidden': 'true' }, h('span', {}, '▶'));
      entry.watching = h('span', { class: 'viewers-badge' });
      replace(entry.thumb, entry.img, entry.placeholder, h('span', { class: 'live-badge' }, t('live.badge')), entry.watching);
    }
    if (live.thumbnail_url) loadThumbnail(entry, live.thumbnail_url);
    const n = live.viewer_count ?? 0;
    entry.count.textContent = num(n);
    entry.count.dataset.n = String(n);
    replace(entry.watching, tx('live.watching_n', { count: n, n: entry.count }));
    entry.title.textContent = live.title || t('live.untitled');
    entry.link.setAttribute('aria-label', t('livetab.watch_label', { title: live.title || t('live.untitled'), count: n }));
    replace(entry.host, tx('live.with_host', { name: userName(live.host) }));
  }

  // Thumbnails of members-only communities need the token, which an <img src> cannot send:
  // fetch with it and show the bytes through a blob: URL. The same URL is a newer picture every
  // few seconds, so it is fetched again on every refresh (at most one fetch in flight per card).
  async function loadThumbnail(entry, url) {
    if (entry.thumbLoading || (entry.thumbAt && Date.now() - entry.thumbAt < REFRESH_MS / 2)) return;
    entry.thumbLoading = true;
    try {
      const res = await fetch(url, { headers: session.token ? { Authorization: `Bearer ${session.token}` } : {} });
      if (!res.ok) return;
      const blob = await res.blob();
      if (!cards.has(entry.live.id)) return;
      const old = entry.img.src;
      entry.img.src = URL.createObjectURL(blob);
      if (old.startsWith('blob:')) URL.revokeObjectURL(old);
      entry.img.hidden = false;
      entry.placeholder.hidden = true;
      entry.thumbAt = Date.now();
    } catch { /* keep the previous picture */ } finally {
      entry.thumbLoading = false;
    }
  }

  function remove(id) {
    const entry = cards.get(id);
    if (!entry) return;
    if (entry.img?.src.startsWith('blob:')) URL.revokeObjectURL(entry.img.src);
    entry.el.remove();
    cards.delete(id);
    order();
  }

  function order() {
    const sorted = [...cards.values()].sort((a, b) => (b.live.viewer_count ?? 0) - (a.live.viewer_count ?? 0));
    // Moving only what is out of place keeps focus on a card that stays where it was.
    sorted.forEach((e, i) => { if (grid.children[i] !== e.el) grid.insertBefore(e.el, grid.children[i] || null); });
    empty.hidden = sorted.length > 0;
  }

  async function refresh() {
    try {
      const page = await api.get(`/v1/communities/${cid}/live`);
      const seen = new Set();
      for (const live of page.items || []) { seen.add(live.id); upsert(live); }
      for (const id of [...cards.keys()]) if (!seen.has(id)) remove(id);
    } catch (err) {
      if (!cards.size) empty.textContent = err.code === 'not_found' ? t('livetab.not_visible') : t('livetab.load_failed');
    }
  }

  const off = hub.on((msg) => {
    if (msg.type === 'live.started') { upsert(msg.live); upcoming.remove(msg.live?.id); upcomingHead.hidden = upcoming.size === 0; }
    else if (msg.type === 'live.scheduled') { upcoming.add(msg.live); upcomingHead.hidden = false; }
    else if (msg.type === 'live.ended') { remove(msg.live?.id); upcoming.remove(msg.live?.id); upcomingHead.hidden = upcoming.size === 0; }
    else if (msg.type === 'room.viewers' && msg.room?.startsWith('live:')) {
      const entry = cards.get(msg.room.slice(5));
      if (entry) { entry.live.viewer_count = msg.count; fill(entry); order(); }
    } else if (msg.type === 'local.joined' && msg.info.rejoin) { refresh(); refreshUpcoming(); }
  });
  const timer = setInterval(refresh, REFRESH_MS);
  cleanups.push(off, () => clearInterval(timer), () => { for (const id of [...cards.keys()]) remove(id); }, () => upcoming.stop());
  refresh();
  refreshUpcoming();
  void app;
}
