// "Your time" (#/me/time): minutes watching and hosting per day for the last 7 days as a bar
// chart, today against your daily limit, and messages sent (GET /v1/me/usage).

import { api } from '../api.js';
import { describeError, h, replace } from '../dom.js';
import { date, t, tx, unit } from '../i18n.js';

const minutes = (s) => Math.round(s / 60);
const min = (m) => unit(m, 'minute');

// Heights through the CSSOM: the page's CSP refuses inline style attributes.
function sized(cls, value, most) {
  const el = h('span', { class: cls });
  el.style.height = `${(100 * value) / most}%`;
  return el;
}

export async function renderUsage(main) {
  let data;
  try {
    data = await api.get('/v1/me/usage?days=7');
  } catch (err) {
    replace(main, h('section', { class: 'panel' }, h('h1', {}, t('usage.title')), h('p', {}, describeError(err))));
    return;
  }
  const today = data.today;
  const total = minutes(today.watching_seconds + today.hosting_seconds);
  const most = Math.max(1, ...data.days.map((d) => minutes(d.watching_seconds + d.hosting_seconds)), data.daily_limit_minutes || 0);
  const bars = h('ol', { class: 'bars', 'data-testid': 'usage-chart', 'aria-label': t('usage.chart') },
    data.days.map((d) => {
      const w = minutes(d.watching_seconds);
      const hst = minutes(d.hosting_seconds);
      const day = date(new Date(`${d.date}T12:00:00Z`), { weekday: 'short' });
      const full = date(new Date(`${d.date}T12:00:00Z`), { weekday: 'long', day: 'numeric', month: 'long' });
      return h('li', { class: 'bar-day', 'data-testid': 'usage-day', dataset: { date: d.date, minutes: String(w + hst) } },
        h('span', { class: 'sr-only' }, t('usage.day_label', { day: full, watching: min(w), hosting: min(hst) })),
        h('span', { class: 'bar-value', 'aria-hidden': 'true' }, min(w + hst)),
        h('span', { class: 'bar', 'aria-hidden': 'true' }, sized('bar-watch', w, most), sized('bar-host', hst, most)),
        h('span', { class: 'bar-label', 'aria-hidden': 'true' }, day));
    }));
  const limit = data.daily_limit_minutes;
  replace(main, h('section', { class: 'panel usage' },
    h('h1', {}, t('usage.title')),
    h('p', { class: 'muted' }, t('usage.intro')),
    h('p', { class: 'usage-today', 'data-testid': 'usage-today' },
      h('strong', {}, t('usage.today', { total: min(total) })), ' ',
      t('usage.today_detail', { watching: min(minutes(today.watching_seconds)), hosting: min(minutes(today.hosting_seconds)) }),
      t('common.sep'), t('usage.messages', { count: today.messages_sent })),
    h('p', { class: limit && total >= limit ? 'warn' : 'muted' },
      limit ? t('usage.limit', { limit: min(limit) }) : t('usage.no_limit'), ' ',
      h('a', { href: '#/settings/notifications' }, t('usage.set_limit'))),
    bars,
    h('p', { class: 'legend small' }, tx('usage.legend', {
      watch: [h('span', { class: 'key watch' }), t('usage.watching')],
      host: [h('span', { class: 'key host' }), t('usage.hosting')],
    }))));
}
