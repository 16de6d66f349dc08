// The single page: hash routes, the signed-in user, one gateway connection for the whole tab.

import { api, onUnauthorized, session, webConfig } from './api.js';
import { formatUntil, h, notice, replace, toast, userName } from './dom.js';
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
  get me() { return session.user; },
  config: null,
  communities: new Map(), // id -> last community object seen (names for notices)
  navigate(hash) { if (location.hash === hash) route(); else location.hash = hash; },
  signedIn(token, user) {
    session.save(token, user);
    gateway.stop();
    gateway.start();
    webConfig(true).then((c) => { app.config = c; });
    renderNav();
    notifications.refresh();
  },
  signOut() {
    session.clear();
    gateway.stop();
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
  [/^#\/c\/([^/]+)(?:\/(live|posts|groups|moderation))?$/, renderCommunity, true],
  [/^#\/live\/([^/]+)$/, renderLive, true],
  [/^#\/notifications$/, renderInbox, true],
  [/^#\/settings\/notifications$/, renderNotifySettings, true],
  [/^#\/me\/time$/, renderUsage, true],
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
  } catch (err) {
    if (mine !== generation) return;
    console.error(err);
    replace(main, h('section', { class: 'panel' }, h('h1', {}, 'Something went wrong'), h('p', {}, err.message || String(err))));
  } finally {
    if (mine === generation) main.removeAttribute('aria-busy');
  }
}

function notFound() {
  return h('section', { class: 'panel' }, h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/' }, 'Back to discover')));
}

function renderNav() {
  const me = session.user;
  if (!me || !session.token) {
    replace(nav, h('a', { href: '#/signin' }, 'Sign in'));
    return;
  }
  replace(nav,
    h('a', { href: '#/' }, 'Discover'),
    h('a', { href: '#/me/time', 'data-testid': 'your-time' }, 'Your time'),
    notifications.link,
    h('span', { class: 'me', 'data-testid': 'me' }, userName(me)),
    h('button', { type: 'button', class: 'secondary small', onclick: () => app.signOut() }, 'Sign out'));
}

const STATUS_TEXT = {
  connecting: 'connecting…', reconnecting: 'offline: reconnecting…', open: '', idle: '',
  replaced: 'disconnected: open in too many other tabs or devices (reload to use this one)',
};
gateway.on('status', ({ status }) => {
  net.textContent = STATUS_TEXT[status] ?? '';
  net.dataset.status = status;
});

gateway.on('unauthorized', () => {
  toast('Your session has expired: please sign in again.', 'error');
  app.signOut();
});
onUnauthorized(() => {
  if (!session.token) return;
  toast('Your session has expired: please sign in again.', 'error');
  app.signOut();
});

const NOTICE_TEXT = {
  ban: 'You were banned from',
  mute: 'You were muted in',
  timeout: 'You were timed out in',
  kick: 'You were removed from',
  delete: 'A moderator removed something you wrote in',
  unban: 'Your ban was lifted in',
  unmute: 'Your mute was lifted in',
};

// No silent sanctions: whatever a moderator does to you is said here, with the reason.
gateway.on('moderation.notice', (msg) => {
  if (msg.scope === 'platform') {  // an operator's suspension of the account, or its lifting
    const lead = msg.action === 'suspend' ? `Your account was suspended (${formatUntil(msg.until)})` : 'Your account is no longer suspended';
    notice([`${lead}. Reason: `, h('bdi', {}, msg.reason || 'none given')], 'warn', 'moderation-notice');
    document.dispatchEvent(new CustomEvent('live:moderation', { detail: msg }));
    return;
  }
  const community = app.communities.get(msg.community_id);
  const where = community ? h('bdi', {}, community.name) : 'a community';
  const lead = NOTICE_TEXT[msg.action] || `A moderator acted (${msg.action}) in`;
  const timed = ['ban', 'mute', 'timeout'].includes(msg.action) ? ` (${formatUntil(msg.until)})` : '';
  notice([`${lead} `, where, `${timed}. Reason: `, h('bdi', {}, msg.reason || 'none given')], 'warn', 'moderation-notice');
  document.dispatchEvent(new CustomEvent('live:moderation', { detail: msg }));
});

window.addEventListener('hashchange', route);

async function boot() {
  renderNav();
  app.config = await webConfig();
  if (session.token) {
    // A stale token is found out here rather than by the first view.
    try {
      const me = await api.get('/v1/me');
      session.save(session.token, { id: me.id, name: me.name });
      renderNav();
      gateway.start();
    } catch (err) {
      if (err.code !== 'unauthorized') gateway.start();
    }
  }
  await route();
}

boot();
