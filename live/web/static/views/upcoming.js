// Upcoming (scheduled) lives: cards with a live countdown and a "Remind me" toggle. Used by a
// community's live tab and by the home page's live tab; the countdown ticks once a second.

import { api } from '../api.js';
import { busy, h, replace, userName } from '../dom.js';
import { countdown, dateTime, t, tx } from '../i18n.js';

/** A card for a scheduled live; `entry.tick()` refreshes its countdown. */
export function upcomingCard(live, me, { showCommunity = false } = {}) {
  const when = new Date(live.starts_at);
  const clock = h('span', { class: 'countdown', 'data-testid': 'countdown', role: 'timer' });
  const remind = h('button', { type: 'button', class: 'secondary small', 'data-testid': 'remind-me' });
  let on = Boolean(live.remind_me);
  function paint() {
    remind.textContent = on ? t('upcoming.reminding') : t('upcoming.remind');
    remind.setAttribute('aria-pressed', on ? 'true' : 'false');
  }
  paint();
  remind.addEventListener('click', () => busy(remind, async () => {
    if (on) await api.del(`/v1/live/${live.id}/reminder`);
    else await api.post(`/v1/live/${live.id}/reminder`);
    on = !on;
    paint();
  }));
  const actions = h('div', { class: 'row' }, remind);
  if (me && me.id === live.host?.id) {
    actions.append(h('a', { class: 'button small', href: `#/c/${live.community_id}/golive`, 'data-testid': 'start-scheduled' }, t('upcoming.start')));
  }
  const el = h('li', { class: 'card upcoming-card', 'data-testid': 'upcoming-card', dataset: { id: live.id } },
    h('h3', { dir: 'auto', class: 'live-title' }, live.title),
    h('p', { class: 'muted small' }, showCommunity && live.community
      ? tx('home.host_in', { name: userName(live.host), community: h('bdi', {}, live.community.name) })
      : tx('live.with_host', { name: userName(live.host) })),
    h('p', {}, h('time', { datetime: live.starts_at, title: dateTime(when) }, t('upcoming.at', { when: dateTime(when) })), t('common.sep'), clock),
    actions);
  function tick() {
    const left = when.getTime() - Date.now();
    if (left > 0) clock.textContent = t('upcoming.starts_in', { time: countdown(left) });
    else clock.textContent = left > -5 * 60 * 1000 ? t('upcoming.starting_now') : t('upcoming.late');
  }
  tick();
  return { live, el, tick };
}

/** A list of upcoming cards kept ticking; returns {el, set(items), add(live), remove(id), stop()}. */
export function upcomingList(me, opts = {}) {
  const el = h('ul', { class: 'cards upcoming', 'data-testid': 'upcoming-list' });
  const cards = new Map();
  const timer = setInterval(() => cards.forEach((c) => c.tick()), 1000);
  function order() {
    const sorted = [...cards.values()].sort((a, b) => a.live.starts_at.localeCompare(b.live.starts_at));
    sorted.forEach((c, i) => { if (el.children[i] !== c.el) el.insertBefore(c.el, el.children[i] || null); });
  }
  return {
    el,
    get size() { return cards.size; },
    set(items) { replace(el); cards.clear(); items.forEach((l) => this.add(l)); },
    add(live) {
      if (cards.has(live.id)) cards.get(live.id).el.remove();
      const card = upcomingCard(live, me, opts);
      cards.set(live.id, card);
      el.append(card.el);
      order();
    },
    remove(id) { const c = cards.get(id); if (c) { c.el.remove(); cards.delete(id); } },
    stop() { clearInterval(timer); },
  };
}
