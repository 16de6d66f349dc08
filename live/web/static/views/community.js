// A community: header (join, leave, invite, go live) and four tabs: Live, Posts, Groups,
// Moderation. While the page is open the tab is in the `community:{cid}` room, whose events
// (live.started / live.ended / room.viewers / announcement) keep the tabs current.

import { api } from '../api.js';
import { busy, describeError, field, h, replace, toast, userText } from '../dom.js';
import { formDialog } from '../dialogs.js';
import { dateTime, isRtl, t, tx } from '../i18n.js';
import { atLeast } from '../roles.js';
import { topics } from './discover.js';
import { renderLiveTab } from './livetab.js';
import { renderPosts } from './posts.js';
import { renderGroups } from './groups.js';
import { renderModLog } from './modlog.js';
import { renderRequests } from './requests.js';
import { renderReports } from './reports.js';
import { renderInsights } from './insights.js';
import { renderMembers } from './members.js';
import { renderCommunitySettings } from './commsettings.js';
import { invitesList } from './invites.js';

// [key, who sees the tab (a role at least, or null for everyone), render]
const TABS = [
  ['live', null, renderLiveTab],
  ['posts', null, renderPosts],
  ['groups', null, renderGroups],
  ['members', null, renderMembers],
  ['moderation', null, renderModLog],
  ['reports', 'moderator', renderReports],
  ['requests', 'moderator', renderRequests],
  ['insights', 'admin', renderInsights],
  ['settings', 'admin', renderCommunitySettings],
];

/** A tiny event hub for the tabs of one page. */
export class Hub {
  constructor() { this.fns = new Set(); }
  on(fn) { this.fns.add(fn); return () => this.fns.delete(fn); }
  emit(msg) { for (const fn of this.fns) { try { fn(msg); } catch (err) { console.error(err); } } }
}

export async function renderCommunity(main, [cid, tab], app) {
  let community;
  try {
    community = await api.get(`/v1/communities/${cid}`);
  } catch (err) {
    replace(main, h('section', { class: 'panel' }, h('h1', {}, t('community.unavailable')), h('p', {}, describeError(err)),
      h('p', {}, h('a', { href: '#/' }, t('common.back_to_discover')))));
    return undefined;
  }
  app.communities.set(cid, community);
  const hub = new Hub();
  const cleanups = [];
  const ctx = { app, community, hub, cid, cleanups, refresh: () => refreshHeader() };

  const header = h('section', { class: 'panel community-head' });
  function refreshHeader() {
    replace(header, ...headerContent(ctx, async () => {
      ctx.community = community = await api.get(`/v1/communities/${cid}`);
      app.communities.set(cid, community);
      refreshHeader();
      hub.emit({ type: 'local.community', community });
    }));
  }
  refreshHeader();

  const tablist = h('div', { class: 'tabs', role: 'tablist', 'aria-label': t('community.sections') });
  const panels = h('div', { class: 'tab-panels' });
  const rendered = new Map();
  const tabs = TABS.filter(([key, minimum]) => (!minimum || atLeast(community.my_role, minimum))
    && (key !== 'requests' || community.join_policy === 'invite'));
  const buttons = tabs.map(([key]) => h('button', {
    type: 'button', role: 'tab', id: `tab-${key}`, 'aria-controls': `panel-${key}`,
    'aria-selected': 'false', tabindex: '-1', 'data-tab': key,
  }, t(`community.tab.${key}`)));

  function select(key, focus = false) {
    for (const b of buttons) {
      const on = b.dataset.tab === key;
      b.setAttribute('aria-selected', on ? 'true' : 'false');
      b.tabIndex = on ? 0 : -1;
      if (on && focus) b.focus();
      // On a narrow screen the strip scrolls: keep the chosen tab in sight.
      if (on && b.scrollIntoView) b.scrollIntoView({ block: 'nearest', inline: 'nearest' });
    }
    for (const [k, panel] of rendered) panel.hidden = k !== key;
    if (!rendered.has(key)) {
      const [, , render] = tabs.find(([k]) => k === key);
      const panel = h('div', { role: 'tabpanel', id: `panel-${key}`, 'aria-labelledby': `tab-${key}`, class: 'tab-panel', tabindex: '0' });
      rendered.set(key, panel);
      panels.append(panel);
      render(panel, ctx);
    }
    // The hash names the tab (shareable), without a re-render of the page.
    history.replaceState(null, '', `#/c/${cid}/${key}`);
  }
  buttons.forEach((b, i) => {
    b.addEventListener('click', () => select(b.dataset.tab));
    b.addEventListener('keydown', (ev) => {
      // The tabs run from the inline start: right to left in Arabic, so the arrows swap.
      const step = (isRtl() ? { ArrowRight: -1, ArrowLeft: 1 } : { ArrowRight: 1, ArrowLeft: -1 })[ev.key];
      if (ev.key === 'Home' || ev.key === 'End' || step) {
        ev.preventDefault();
        const next = ev.key === 'Home' ? 0 : ev.key === 'End' ? buttons.length - 1 : (i + step + buttons.length) % buttons.length;
        select(buttons[next].dataset.tab, true);
      }
    });
  });
  tablist.append(...buttons);

  replace(main, header, h('section', { class: 'panel' }, tablist, panels));
  select(tabs.some(([k]) => k === tab) ? tab : 'live');

  const room = app.gateway.join(`community:${cid}`, {
    onJoin: (reply, info) => hub.emit({ type: 'local.joined', reply, info }),
    onEvent: (msg) => hub.emit(msg),
    onError: () => {},
  });
  // Events about lives of this community may arrive addressed to their own room (room.viewers).
  const offs = ['live.started', 'live.ended', 'live.scheduled', 'announcement'].map((type) => app.gateway.on(type, (msg) => {
    if (msg.community_id === cid && msg.room !== `community:${cid}`) hub.emit(msg);
  }));
  const offViewers = app.gateway.on('room.viewers', (msg) => {
    if (msg.room && msg.room.startsWith('live:')) hub.emit(msg);
  });
  const onModeration = (ev) => { if (ev.detail.community_id === cid) refreshAfterSanction(); };
  document.addEventListener('live:moderation', onModeration);
  async function refreshAfterSanction() {
    try {
      ctx.community = community = await api.get(`/v1/communities/${cid}`);
      refreshHeader();
    } catch { /* not visible any more */ }
  }

  return () => {
    room.leave();
    offs.forEach((off) => off());
    offViewers();
    document.removeEventListener('live:moderation', onModeration);
    cleanups.forEach((fn) => fn());
  };
}

function headerContent(ctx, reload) {
  const { community: c, app, cid } = ctx;
  const role = c.my_role;
  const actions = h('div', { class: 'row wrap actions' });
  if (!role) {
    if (c.join_policy === 'open') {
      const join = h('button', { type: 'button', 'data-testid': 'join' }, t('community.join'));
      join.addEventListener('click', () => busy(join, async () => {
        await api.post(`/v1/communities/${cid}/join`);
        toast(t('community.joined', { name: c.name }));
        await reload();
      }));
      actions.append(join);
    } else {
      const ask = h('button', { type: 'button', class: 'secondary', 'data-testid': 'ask-to-join' }, t('community.ask_to_join'));
      ask.addEventListener('click', () => askToJoin(cid, c));
      actions.append(h('span', { class: 'badge' }, t('community.invite_only')), ask);
    }
    if (c.read_policy === 'public') actions.append(followButton(ctx));
  } else {
    actions.append(h('a', { class: 'button', href: `#/c/${cid}/golive`, 'data-testid': 'go-live' }, t('community.go_live')));
    const invite = h('button', { type: 'button', class: 'secondary' }, t('community.invite'));
    const inviteOut = h('div', { class: 'invite-out' });
    invite.addEventListener('click', () => busy(invite, async () => {
      const inv = await api.post(`/v1/communities/${cid}/invites`, {});
      const link = `${location.origin}/#/invite/${inv.code}`;
      const input = h('input', { readonly: true, value: link, dir: 'ltr', 'aria-label': t('community.invite_link'), 'data-testid': 'invite-link' });
      const copy = h('button', { type: 'button', class: 'secondary small' }, t('community.copy'));
      copy.addEventListener('click', async () => {
        input.select();
        try { await navigator.clipboard.writeText(link); toast(t('community.copied')); } catch { toast(t('community.copy_by_hand')); }
      });
      const left = inv.invites_left === null || inv.invites_left === undefined ? '' : ` ${t('community.invites_left', { count: inv.invites_left })}`;
      replace(inviteOut, h('p', { class: 'small muted' }, t('community.invite_valid', { when: dateTime(inv.expires_at) }), left), h('div', { class: 'row' }, input, copy));
      input.focus();
      input.select();
    }));
    actions.append(invite);
    if (role !== 'owner') {
      const leave = h('button', { type: 'button', class: 'secondary' }, t('community.leave'));
      leave.addEventListener('click', () => busy(leave, async () => {
        await api.post(`/v1/communities/${cid}/leave`);
        toast(t('community.left', { name: c.name }));
        await reload();
      }));
      actions.append(leave);
    }
    actions.append(inviteOut, invitesList(cid));
  }
  actions.append(muteButton(ctx));
  return [
    h('h1', { dir: 'auto', 'data-testid': 'community-name' }, c.name),
    c.description ? userText(c.description) : null,
    topics(c.topics),
    h('p', { class: 'muted small' },
      t('community.members', { count: c.member_count }), t('common.sep'), c.join_policy === 'open' ? t('community.open') : t('community.invite_only'),
      t('common.sep'), c.read_policy === 'public' ? t('community.public') : t('community.members_only'),
      role ? [t('common.sep'), tx('community.you_are', { role: h('strong', { 'data-testid': 'my-role' }, t(`roles.${role}`)) })] : ''),
    c.rules ? h('details', {}, h('summary', {}, t('community.rules')), userText(c.rules)) : null,
    c.blocked_words?.length ? h('details', { 'data-testid': 'filtered-words' }, h('summary', {}, t('community.filtered_words', { count: c.blocked_words.length })),
      h('p', { class: 'small muted' }, t('community.filtered_words_why')),
      h('ul', { class: 'topics' }, c.blocked_words.map((w) => h('li', {}, h('span', { class: 'chip' }, h('bdi', {}, w)))))) : null,
    actions,
  ];
}

/** Ask to join an invite-only community, with a word to the moderators. */
async function askToJoin(cid, c) {
  const message = h('textarea', { name: 'message', rows: 3, maxlength: 1000, dir: 'auto', 'data-testid': 'join-message' });
  await formDialog({
    title: t('community.ask_title', { name: c.name }),
    body: [h('p', { class: 'muted' }, t('community.ask_intro')), field(t('community.ask_message'), message, t('community.ask_message_hint'))],
    submitLabel: t('community.ask_send'),
    testid: 'join-request-dialog',
    submit: async () => {
      const req = await api.post(`/v1/communities/${cid}/join-requests`, message.value.trim() ? { message: message.value.trim() } : {});
      toast(t('community.ask_sent'));
      return req;
    },
  });
}

// Follow a public community without joining: its lives reach you (live.started, live.scheduled).
function followButton(ctx) {
  const { cid, community: c } = ctx;
  const button = h('button', { type: 'button', class: 'secondary', 'data-testid': 'follow' }, t('community.follow'));
  let on = false;
  const paint = () => {
    button.textContent = on ? t('community.following') : t('community.follow');
    button.setAttribute('aria-pressed', on ? 'true' : 'false');
  };
  api.get('/v1/me/following?limit=100').then((page) => {
    on = (page.items || []).some((f) => f.community.id === cid);
    paint();
  }).catch(() => {});
  button.addEventListener('click', () => busy(button, async () => {
    if (on) await api.del(`/v1/communities/${cid}/follow`);
    else { await api.post(`/v1/communities/${cid}/follow`); toast(t('community.followed', { name: c.name })); }
    on = !on;
    paint();
  }));
  paint();
  return button;
}

// Mute this community's pushes (notification settings' muted_communities).
function muteButton(ctx) {
  const { cid, app } = ctx;
  const button = h('button', { type: 'button', class: 'secondary small', 'data-testid': 'mute-community' });
  const paint = () => {
    const on = app.notifications.muted.has(cid);
    button.textContent = on ? t('community.unmute') : t('community.mute');
    button.setAttribute('aria-pressed', on ? 'true' : 'false');
  };
  paint();
  button.addEventListener('click', () => busy(button, async () => {
    const settings = await api.get('/v1/me/notification-settings');
    const muted = new Set(settings.muted_communities);
    if (muted.has(cid)) muted.delete(cid); else muted.add(cid);
    const body = { muted_communities: [...muted], timezone: settings.timezone, daily_limit_minutes: settings.daily_limit_minutes };
    if (settings.quiet_hours) body.quiet_hours = settings.quiet_hours;
    const saved = await api.put('/v1/me/notification-settings', body);
    app.notifications.muted = new Set(saved.muted_communities);
    toast(app.notifications.muted.has(cid) ? t('community.muted_done') : t('community.unmuted_done'));
    paint();
  }));
  return button;
}
