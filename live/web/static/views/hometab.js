// The app's live tab on the home page (GET /v1/live): what is live now across the communities I
// belong to or follow ("Mine") or every public one ("Everyone"), and what is coming up.

import { api, withQuery } from '../api.js';
import { describeError, h, replace, userName } from '../dom.js';
import { t, tx } from '../i18n.js';
import { upcomingList } from './upcoming.js';


export function renderHomeTab(app) {
  let scope = 'mine';
  const list = h('ul', { class: 'cards lives', 'data-testid': 'home-lives' });
  const empty = h('p', { class: 'muted', 'data-testid': 'home-no-lives' });
  const upcoming = upcomingList(app.me, { showCommunity: true });
  const upcomingHead = h('h3', { hidden: true }, t('home.upcoming'));
  const buttons = ['mine', 'public'].map((s) => {
    const b = h('button', { type: 'button', class: 'secondary small', 'data-scope': s, 'aria-pressed': String(s === scope) },
      s === 'mine' ? t('home.mine') : t('home.everyone'));
    b.addEventListener('click', () => { scope = s; buttons.forEach((x) => x.setAttribute('aria-pressed', String(x === b))); load(); });
    return b;
  });

  function card(live) {
    return h('li', { class: 'card live-card', 'data-testid': 'home-live', dataset: { id: live.id } },
      h('a', { href: `#/live/${live.id}`, class: 'live-link' },
        h('span', { class: 'live-badge' }, t('live.badge')), ' ',
        h('strong', { dir: 'auto', class: 'live-title' }, live.title)),
      h('p', { class: 'muted small' }, tx('home.host_in', { name: userName(live.host), community: h('bdi', {}, live.community?.name || '') }),
        t('common.sep'), t('live.watching', { count: live.viewer_count ?? 0 })));
  }

  async function load() {
    try {
      const [now, soon] = await Promise.all([
        api.get(withQuery('/v1/live', { scope, limit: 12 })),
        api.get(withQuery('/v1/live', { scope, status: 'scheduled', limit: 12 })),
      ]);
      replace(list, (now.items || []).map(card));
      empty.textContent = now.items?.length ? '' : t(`home.none_${scope}`);
      upcoming.set(soon.items || []);
      upcomingHead.hidden = upcoming.size === 0;
    } catch (err) {
      empty.textContent = describeError(err);
    }
  }

  const el = h('section', { class: 'panel', 'data-testid': 'home-tab' },
    h('div', { class: 'row spread' }, h('h2', {}, t('home.title')), h('div', { class: 'row', role: 'group', 'aria-label': t('home.scope') }, ...buttons)),
    empty, list, upcomingHead, upcoming.el);
  const offs = ['live.started', 'live.ended', 'live.scheduled'].map((t) => app.gateway.on(t, () => load()));
  const offNote = app.notifications.on((n) => { if (n.kind.startsWith('live.')) load(); });
  load();
  return { el, stop: () => { upcoming.stop(); offs.forEach((off) => off()); offNote(); } };
}
