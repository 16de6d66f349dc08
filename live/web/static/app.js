// The single page: the language, hash routes, the signed-in user, one gateway connection for the
// whole tab, and moderation notices (with their appeal).

import { api, onUnauthorized, session, webConfig } from './api.js';
import { formatUntil, h, notice, replace, toast, userName } from './dom.js';
import { LANGS, currentLang, preferredLang, rememberLang, t, tx, useLang } from './i18n.js';
import { appealDialog, blocks } from './safety.js';
import { Gateway } from './ws.js';
import { renderSignIn } from './views/signin.js';
import { renderDiscover } from './views/discover.js';
import { renderCommunity } from './views/community.js';
import { renderInvite } from './views/invite.js';
import { renderGoLive } from './views/golive.js';
import { renderLive } from './views/live.js';
import { renderInbox } from './views/inbox.js';
import { renderNotifySettings } from './views/notifysettings.js';
import { renderUsage } from './views/usage.js';
import { renderSettings } from './views/settings.js';
import { renderMyReports } from './views/myreports.js';
import { renderAdmin } from './views/admin.js';
import { Notifications } from './notify.js';

const gateway = new Gateway(() => session.token);
const notifications = new Notifications(gateway);
const main = document.getElementById('main');
const nav = document.getElementById('nav');
const net = document.getElementById('net');

/** What every view gets. */
const app = {
  gateway,
  notifications,
  blocks,
  get me() { return session.user; },
  config: null,
  account: null, // GET /v1/me/account: {operator, suspended, suspension}
  communities: new Map(), // id -> last community object seen (names for notices)
  navigate(hash) { if (location.hash === hash) route(); else location.hash = hash; },
  signedIn(token, user) {
    session.save(token, user);
    gateway.stop();
    gateway.start();
    webConfig(true).then((c) => { app.config = c; });
    renderNav();
    notifications.refresh();
    afterSignIn();
  },
  signOut() {
    session.clear();
    gateway.stop();
    app.account = null;
    blocks.ids = new Set();
    renderNav();
    app.navigate('#/signin');
  },
};

// A handle for people debugging in the console (and for the browser tests).
window.live = app;

const ROUTES = [
  [/^#\/signin$/, renderSignIn, false],
  [/^#\/invite\/([^/]+)$/, renderInvite, true],
  [/^#\/c\/([^/]+)\/golive$/, renderGoLive, true],
  [/^#\/c\/([^/]+)(?:\/(live|posts|groups|members|moderation|reports|requests|insights|settings))?$/, renderCommunity, true],
  [/^#\/live\/([^/]+)$/, renderLive, true],
  [/^#\/notifications$/, renderInbox, true],
  [/^#\/settings\/notifications$/, renderNotifySettings, true],
  [/^#\/settings$/, renderSettings, true],
  [/^#\/me\/time$/, renderUsage, true],
  [/^#\/me\/reports$/, renderMyReports, true],
  [/^#\/admin$/, renderAdmin, true],
  [/^#\/?$/, renderDiscover, true],
];

let cleanup = null;
let generation = 0;

async function route() {
  const hash = location.hash || '#/';
  const mine = ++generation;
  if (cleanup) {
    try { cleanup(); } catch (err) { console.error(err); }
    cleanup = null;
  }
  let match = null;
  let view = null;
  let needsAuth = true;
  for (const [pattern, render, auth] of ROUTES) {
    match = hash.match(pattern);
    if (match) { view = render; needsAuth = auth; break; }
  }
  if (!view) { replace(main, notFound()); return; }
  if (needsAuth && !session.token) {
    sessionStorage.setItem('live.after-signin', hash);
    app.navigate('#/signin');
    return;
  }
  main.replaceChildren();
  main.setAttribute('aria-busy', 'true');
  try {
    const result = await view(main, match.slice(1).map((p) => p && decodeURIComponent(p)), app);
    if (mine !== generation) { if (typeof result === 'function') result(); return; }
    cleanup = typeof result === 'function' ? result : null;
    arrived();
  } catch (err) {
    if (mine !== generation) return;
    console.error(err);
    replace(main, h('section', { class: 'panel' }, h('h1', {}, t('app.error_title')), h('p', {}, err.message || String(err))));
  } finally {
    if (mine === generation) main.removeAttribute('aria-busy');
  }
}

let firstView = true;

/**
 * After a view rendered: the tab's title names the page, and (after a navigation, not on load)
 * focus moves to its heading so that a screen reader says where the person arrived, unless the
 * view put focus somewhere itself (a form's first field).
 */
function arrived() {
  const heading = main.querySelector('h1');
  const name = heading?.textContent.trim();
  document.title = name && name !== t('app.title') ? `${name} · ${t('app.title')}` : t('app.title');
  if (firstView) { firstView = false; return; }
  if (heading && !main.contains(document.activeElement)) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }
}

function notFound() {
  return h('section', { class: 'panel' }, h('h1', {}, t('app.not_found')),
    h('p', {}, h('a', { href: '#/' }, t('common.back_to_discover'))));
}

/** The language switch: the languages in their own names; the choice is remembered. */
function languageSwitch(cls = 'lang') {
  const select = h('select', { class: cls, 'aria-label': t('app.language'), 'data-testid': 'language' },
    Object.entries(LANGS).map(([code, { name }]) => h('option', { value: code, lang: code, selected: code === currentLang() }, name)));
  select.addEventListener('change', () => {
    rememberLang(select.value);
    location.reload();
  });
  return select;
}

function renderNav() {
  const me = session.user;
  if (!me || !session.token) {
    replace(nav, h('a', { href: '#/signin' }, t('nav.sign_in')), languageSwitch());
    return;
  }
  replace(nav,
    h('a', { href: '#/' }, t('nav.discover')),
    h('a', { href: '#/me/time', class: 'wide-only', 'data-testid': 'your-time' }, t('nav.your_time')),
    app.account?.operator ? h('a', { href: '#/admin', 'data-testid': 'nav-admin' }, t('nav.admin')) : null,
    notifications.link,
    h('a', { href: '#/settings', class: 'me', 'data-testid': 'me', title: t('nav.settings') }, userName(me)),
    // On a phone these two are in Settings (one line of top bar): see style.css.
    languageSwitch('lang wide-only'),
    h('button', { type: 'button', class: 'secondary small wide-only', onclick: () => app.signOut() }, t('nav.sign_out')));
}

/** Read once signed in: the account (an operator? suspended?) and the people blocked. */
async function afterSignIn() {
  try {
    app.account = await api.get('/v1/me/account');
  } catch { app.account = null; }
  renderNav();
  await blocks.load();
}

gateway.on('status', ({ status }) => {
  net.textContent = ['connecting', 'reconnecting', 'replaced'].includes(status) ? t(`net.${status}`) : '';
  net.dataset.status = status;
});

function expired() {
  toast(t('app.session_expired'), 'error');
  app.signOut();
}
gateway.on('unauthorized', expired);
onUnauthorized(() => { if (session.token) expired(); });

const APPEALABLE = new Set(['ban', 'mute', 'timeout', 'kick', 'delete', 'suspend']);
const NOTICE_KEYS = new Set(['ban', 'mute', 'timeout', 'kick', 'delete', 'unban', 'unmute']);

/**
 * "Appeal" on a sanction's notice. A platform notice carries its action's id; a community's is
 * found in the user's own moderation record (GET /v1/me/moderation), newest first.
 */
function appealButton(msg) {
  if (!APPEALABLE.has(msg.action)) return null;
  const button = h('button', { type: 'button', class: 'secondary small', 'data-testid': 'appeal-notice' }, t('safety.appeal'));
  button.addEventListener('click', async () => {
    let actionId = msg.action_id;
    if (!actionId) {
      try {
        const page = await api.get('/v1/me/moderation?limit=20');
        actionId = (page.items || []).find((a) => a.community_id === msg.community_id && a.action === msg.action && !a.appeal)?.id;
      } catch { actionId = null; }
    }
    if (!actionId) { toast(t('safety.appeal_not_found'), 'error'); return; }
    const what = msg.reason ? tx('safety.appeal_what', { reason: h('bdi', {}, msg.reason) }) : null;
    const done = await appealDialog({ actionId, what });
    if (done) button.replaceWith(h('span', { class: 'badge', 'data-testid': 'appeal-pending' }, t('safety.appeal_pending')));
  });
  return button;
}

// No silent sanctions: whatever a moderator or an operator does to you is said here, with the
// reason, and can be appealed from here.
gateway.on('moderation.notice', (msg) => {
  const reason = h('bdi', {}, msg.reason || t('notice.no_reason'));
  if (msg.scope === 'platform') {
    const text = msg.action === 'suspend'
      ? tx('notice.suspended', { until: formatUntil(msg.until), reason })
      : tx('notice.unsuspended', { reason });
    notice(text, 'warn', 'moderation-notice', appealButton(msg));
    document.dispatchEvent(new CustomEvent('live:moderation', { detail: msg }));
    afterSignIn();
    return;
  }
  const community = app.communities.get(msg.community_id);
  const where = community ? h('bdi', {}, community.name) : t('notice.a_community');
  const key = NOTICE_KEYS.has(msg.action) ? msg.action : 'other';
  const until = ['ban', 'mute', 'timeout'].includes(msg.action) ? formatUntil(msg.until) : '';
  notice(tx(`notice.${key}`, { community: where, until, reason, action: msg.action }),
    'warn', 'moderation-notice', appealButton(msg));
  document.dispatchEvent(new CustomEvent('live:moderation', { detail: msg }));
});

async function boot() {
  await useLang(preferredLang());
  // Routes render texts: only once the language's catalog is there.
  window.addEventListener('hashchange', route);
  // The static page's few words, in the language.
  document.title = t('app.title');
  document.querySelector('.skip').textContent = t('app.skip');
  document.querySelector('.brand').setAttribute('aria-label', t('app.brand_label'));
  nav.setAttribute('aria-label', t('app.nav_label'));
  notifications.setUnread(0);
  Notifications.tellLanguage().catch(() => {});
  renderNav();
  app.config = await webConfig();
  const token = session.token;
  if (token) {
    // A stale token is found out here rather than by the first view. The answer counts only if
    // the session still holds that token: the person may have signed out (or in as someone else)
    // while it was on its way, and a cleared session must not come back as the token "null".
    try {
      const me = await api.get('/v1/me', { token });
      if (session.token === token) {
        session.save(token, { id: me.id, name: me.name });
        renderNav();
        gateway.start();
        afterSignIn();
      }
    } catch (err) {
      if (err.code !== 'unauthorized' && session.token === token) gateway.start();
    }
  }
  await route();
}

boot();
