// "Your time" (#/me/time): minutes watching and hosting per day for the last 7 days as a bar
// chart, today against your daily limit, and messages sent (GET /v1/me/usage).

import { api } from '../api.js';
import { describeError, h, replace } from '../dom.js';

const TEXT = {
  title: 'Your time',
  intro: 'Time you spent in lives, watching and hosting, counted by the minute on every device.',
  today: 'Today',
  watching: 'Watching',
  hosting: 'Hosting',
  messages: 'messages sent',
  limit: (m) => `Your daily limit: ${m} min`,
  noLimit: 'No daily limit set.',
  setLimit: 'Set a limit',
  chart: 'Minutes per day, last 7 days',
  min: (m) => `${m} min`,
};

const minutes = (s) => Math.round(s / 60);

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
    replace(main, h('section', { class: 'panel' }, h('h1', {}, TEXT.title), h('p', {}, describeError(err))));
    return;
  }
  const today = data.today;
  const total = minutes(today.watching_seconds + today.hosting_seconds);
  const most = Math.max(1, ...data.days.map((d) => minutes(d.watching_seconds + d.hosting_seconds)), data.daily_limit_minutes || 0);
  const bars = h('ol', { class: 'bars', 'data-testid': 'usage-chart', 'aria-label': TEXT.chart },
    data.days.map((d) => {
      const w = minutes(d.watching_seconds);
      const hst = minutes(d.hosting_seconds);
      const day = new Date(`${d.date}T12:00:00Z`).toLocaleDateString(undefined, { weekday: 'short' });
      return h('li', { class: 'bar-day', 'data-testid': 'usage-day', dataset: { date: d.date, minutes: String(w + hst) } },
        h('span', { class: 'bar-value' }, TEXT.min(w + hst)),
        h('span', { class: 'bar', 'aria-hidden': 'true' }, sized('bar-watch', w, most), sized('bar-host', hst, most)),
        h('span', { class: 'bar-label' }, day));
    }));
  const limit = data.daily_limit_minutes;
  replace(main, h('section', { class: 'panel usage' },
    h('h1', {}, TEXT.title),
    h('p', { class: 'muted' }, TEXT.intro),
    h('p', { class: 'usage-today', 'data-testid': 'usage-today' },
      h('strong', {}, `${TEXT.today}: ${TEXT.min(total)}`),
      ` (${TEXT.watching.toLowerCase()} ${TEXT.min(minutes(today.watching_seconds))}, ${TEXT.hosting.toLowerCase()} ${TEXT.min(minutes(today.hosting_seconds))}) · ${today.messages_sent} ${TEXT.messages}`),
    h('p', { class: limit && total >= limit ? 'warn' : 'muted' },
      limit ? TEXT.limit(limit) : TEXT.noLimit, ' ', h('a', { href: '#/settings/notifications' }, TEXT.setLimit)),
    bars,
    h('p', { class: 'legend small' }, h('span', { class: 'key watch' }), TEXT.watching, ' ', h('span', { class: 'key host' }), TEXT.hosting)));
}
