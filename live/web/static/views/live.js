// A live: the host's studio or a viewer's seat, on one page.
//
// Everyone: video tiles of the host and the guests on stage (one media.subscribe each, recvonly),
// chat, reactions, viewer count. The host publishes the camera (media.publish, sendonly), sees
// stage requests (accept, remove) and can end the live. A viewer may ask to join the stage; once
// accepted they publish too. Media sessions renegotiate after a reconnect, a media.restart, or a
// failed peer connection.
//
// A viewer whose WebRTC connection to the host keeps failing, or who picks "data saver", plays the
// host over HLS instead (hlsplayer.js; guests on stage are WebRTC only). An ended live's page plays
// its recording as VOD from the same playlist.

import { api, webConfig } from '../api.js';
import { busy, describeError, h, replace, toast, userName } from '../dom.js';
import { confirmDialog } from '../dialogs.js';
import { num, t, tx } from '../i18n.js';
import { STAFF } from '../roles.js';
import { chatSettings } from './chatsettings.js';
import { renderEnded } from './liveended.js';
import { pinnedMessage } from './pinned.js';
import { playHls } from '../hlsplayer.js';
import { openCamera, publish, subscribe } from '../rtc.js';
import { createChat } from './chat.js';

export const REACTIONS = [
  ['heart', '❤️'],
  ['clap', '👏'],
  ['laugh', '😂'],
  ['wow', '😮'],
  ['fire', '🔥'],
];

const ON_STAGE = new Set(['host', 'guest', 'speaker', 'on_stage', 'accepted']);
const REQUESTED = new Set(['requested', 'request', 'pending']);
const INVITED = new Set(['invited', 'invite']);
const RETRY_MS = [1000, 2000, 4000, 8000];
const DATA_SAVER_KEY = 'live.dataSaver';
const FALLBACK_AFTER = 2; // failed WebRTC attempts at the host's media before HLS takes over
const CONNECT_MS = 5000; // a connection still not up after this counts as failed (ICE can hang)

// The camera opened on the go-live page, handed to the live page without asking again.
let pendingStream = null;
export function handOver(liveId, stream) { pendingStream = { liveId, stream }; }

function hostOf(live) {
  const host = live.host;
  if (!host) return { id: live.host_id, name: live.host_id };
  return typeof host === 'string' ? { id: host, name: host } : host;
}

export async function renderLive(main, [lid], app) {
  let live;
  try {
    live = await api.get(`/v1/live/${lid}`);
  } catch (err) {
    replace(main, h('section', { class: 'panel' }, h('h1', {}, t('live.unavailable')), h('p', {}, describeError(err)), h('p', {}, h('a', { href: '#/' }, t('common.back_to_discover')))));
    return undefined;
  }
  let community = app.communities.get(live.community_id) || null;
  try {
    community = await api.get(`/v1/communities/${live.community_id}`);
    app.communities.set(community.id, community);
  } catch { /* a public live of a community we cannot read fully */ }
  const me = app.me;
  const host = hostOf(live);
  const isHost = me && host.id === me.id;
  const role = () => community?.my_role || null;
  const room = live.room || `live:${lid}`;
  const names = new Map([[host.id, host.name || host.id]]);
  const config = await webConfig();
  const iceServers = config.ice_servers || [];

  if (live.status === 'ended') {
    return renderEnded(main, live, community, app);
  }

  // -- layout -----------------------------------------------------------------------------------
  const grid = h('div', { class: 'video-grid', 'data-testid': 'video-grid' });
  const viewerCount = h('span', { 'data-testid': 'live-viewers', dataset: { n: String(live.viewer_count ?? 0) } }, num(live.viewer_count ?? 0));
  const watchingLine = h('span', {});
  function setViewers(n) {
    viewerCount.dataset.n = String(n);
    viewerCount.textContent = num(n);
    replace(watchingLine, tx('live.watching_n', { count: n, n: h('strong', {}, viewerCount) }));
  }
  setViewers(live.viewer_count ?? 0);
  const titleEl = h('h1', { dir: 'auto', class: 'live-title' }, live.title || t('live.untitled'));
  const canManage = () => isHost || STAFF.includes(role());
  const pinned = pinnedMessage({ lid, canManage });
  const pin = (msg) => pinned.pin(msg);
  // Slow mode and the word filter, for moderators and up, beside the chat they govern.
  const settingsBox = community && STAFF.includes(role()) ? chatSettings({ community, onSaved: (c) => { community = { ...community, ...c }; } }) : null;
  const banner = h('div', { class: 'live-banner', role: 'status', 'data-testid': 'live-status' });
  const controls = h('div', { class: 'row wrap controls' });
  const stagePanel = h('section', { class: 'stage-panel', 'aria-label': t('live.stage'), 'data-testid': 'stage-panel' });
  const reactionLayer = h('div', { class: 'reaction-layer', 'aria-hidden': 'true', 'data-testid': 'reaction-layer' });
  const reactionTotals = new Map();
  const reactionBar = h('div', { class: 'row reactions', role: 'group', 'aria-label': t('live.reactions') },
    REACTIONS.map(([kind, emoji]) => {
      const label = t(`live.reaction.${kind}`);
      const count = h('span', { class: 'count', 'data-testid': `reaction-count-${kind}` }, '');
      reactionTotals.set(kind, { count, total: 0 });
      const b = h('button', { type: 'button', class: 'reaction secondary', 'aria-label': label, 'data-testid': `react-${kind}`, title: label }, emoji, count);
      b.addEventListener('click', () => app.gateway.request('reaction.send', { room, kind }).catch((err) => toast(describeError(err), 'error')));
      return b;
    }));

  const chat = createChat({
    app, room, cid: live.community_id, role, label: t('live.chat'), pin, canPin: canManage,
    onJoin: (reply, info) => onJoined(reply, info),
    onEvent: (msg) => onEvent(msg),
    onError: (err) => onRefused(err),
  });

  replace(main, h('section', { class: 'live-page', 'data-testid': isHost ? 'host-view' : 'viewer-view' },
    h('div', { class: 'stage-area' },
      h('div', { class: 'video-wrap' }, grid, reactionLayer),
      h('div', { class: 'live-meta' },
        h('span', { class: 'live-badge' }, t('live.badge')),
        titleEl,
        h('p', { class: 'muted' }, community
          ? tx('live.host_in', { name: userName(host), community: h('a', { href: `#/c/${community.id}/live` }, h('bdi', {}, community.name)) })
          : tx('live.with_host', { name: userName(host) }),
        t('common.sep'), watchingLine)),
      banner, controls, reactionBar, stagePanel),
    h('aside', { class: 'side' }, h('h2', { class: 'sr-only' }, t('live.chat')), pinned.el, settingsBox, chat.el)));

  // -- media ------------------------------------------------------------------------------------
  const tiles = new Map(); // user id -> {fig, video, waiting, session, tries, timer}
  let local = null; // {stream, session, fig}
  let localPending = false;
  let ended = false;
  let stage = [];
  // The host over HLS: {player, reason: 'data-saver' | 'fallback'} or null (WebRTC).
  let hls = null;
  let hlsStarting = false;
  let dataSaver = !isHost && localStorage.getItem(DATA_SAVER_KEY) === '1';

  function tile(userId, label) {
    let tl = tiles.get(userId);
    if (tl) return tl;
    const video = h('video', { autoplay: true, playsinline: true, muted: true, 'data-testid': 'remote-video', dataset: { user: userId } });
    const waiting = h('p', { class: 'waiting' }, t('live.waiting_video'));
    const fig = h('figure', { class: 'tile', dataset: { user: userId } }, video, waiting,
      h('figcaption', {}, userName({ id: userId, name: names.get(userId) || userId }), label ? `${t('common.sep')}${t(`live.role.${label}`)}` : ''));
    tl = { fig, video, waiting, session: null, tries: 0, timer: null, userId };
    tiles.set(userId, tl);
    if (userId === host.id) grid.prepend(fig); else grid.append(fig);
    return tl;
  }

  function dropTile(userId) {
    const tl = tiles.get(userId);
    if (!tl) return;
    clearTimeout(tl.timer);
    clearTimeout(tl.connectTimer);
    tl.session?.close();
    tl.fig.remove();
    tiles.delete(userId);
  }

  async function watch(userId) {
    if (ended || (me && userId === me.id)) return;
    if (userId === host.id && (hls || dataSaver)) { if (!hls) startHls(dataSaver ? 'data-saver' : 'fallback'); return; }
    const tl = tile(userId, userId === host.id ? 'host' : 'guest');
    if (tl.negotiating) { tl.again = true; return; }
    clearTimeout(tl.timer);
    tl.negotiating = true;
    tl.session?.close();
    tl.session = null;
    try {
      tl.session = await subscribe(app.gateway, room, userId, {
        iceServers,
        onStream: (stream) => {
          if (tl.video.srcObject !== stream) tl.video.srcObject = stream;
          tl.video.play().catch(() => {});
          tl.waiting.hidden = true;
        },
        onState: (state, session) => {
          if (state === 'connected') tl.failures = 0;
          if ((state === 'failed' || state === 'closed') && tl.session === session && !ended) {
            tl.failures = (tl.failures || 0) + 1;
            retry(tl);
          }
        },
      });
      tl.tries = 0;
      const session = tl.session;
      clearTimeout(tl.connectTimer);
      tl.connectTimer = setTimeout(() => {
        if (tl.session === session && session.state !== 'connected' && !ended) {
          tl.failures = (tl.failures || 0) + 1;
          retry(tl);
        }
      }, CONNECT_MS);
    } catch (err) {
      // Most often the publisher has not started sending yet: media.published will call again.
      const waiting = err.code === 'not_found' || err.code === 'conflict';
      if (!waiting) tl.failures = (tl.failures || 0) + 1;
      tl.waiting.textContent = waiting ? t('live.waiting_video') : t('live.video_unavailable', { why: describeError(err) });
      retry(tl);
    } finally {
      tl.negotiating = false;
      // Asked again meanwhile (media.published during a refused attempt): try now, not later.
      if (tl.again && !tl.session && tiles.get(userId) === tl) { tl.again = false; tl.tries = 0; watch(userId); }
      tl.again = false;
    }
  }

  function retry(tl) {
    if (ended || !tiles.has(tl.userId)) return;
    if (tl.userId === host.id && (tl.failures || 0) >= FALLBACK_AFTER) { startHls('fallback'); return; }
    clearTimeout(tl.timer);
    const delay = RETRY_MS[Math.min(tl.tries, RETRY_MS.length - 1)];
    tl.tries += 1;
    tl.waiting.hidden = false;
    tl.timer = setTimeout(() => { if (app.gateway.status === 'open') watch(tl.userId); else retry(tl); }, delay);
  }

  async function goOnAir() {
    if (ended || localPending) return;
    localPending = true;
    try {
      if (!local) {
        let stream = null;
        if (pendingStream && pendingStream.liveId === lid) { stream = pendingStream.stream; pendingStream = null; }
        if (!stream || stream.getTracks().every((tl) => tl.readyState === 'ended')) stream = await openCamera();
        const video = h('video', { autoplay: true, playsinline: true, muted: true, 'data-testid': 'local-video' });
        video.srcObject = stream;
        const fig = h('figure', { class: 'tile local', dataset: { user: me.id } }, video,
          h('figcaption', {}, t('live.you'), `${t('common.sep')}${t(isHost ? 'live.role.host' : 'live.role.guest')}`));
        if (isHost) grid.prepend(fig); else grid.append(fig);
        local = { stream, session: null, fig, video, tries: 0 };
        renderControls();
      }
      local.session?.close();
      local.session = await publish(app.gateway, room, local.stream, {
        iceServers,
        onState: (state, session) => {
          if ((state === 'failed' || state === 'closed') && local?.session === session && !ended) republishSoon();
          banner.textContent = state === 'connected' ? '' : banner.textContent;
        },
      });
      local.tries = 0;
      banner.textContent = '';
    } catch (err) {
      banner.textContent = t('live.send_failed', { why: describeError(err) });
      republishSoon();
    } finally {
      localPending = false;
    }
  }

  function republishSoon() {
    if (!local || ended) return;
    clearTimeout(local.timer);
    const delay = RETRY_MS[Math.min(local.tries, RETRY_MS.length - 1)];
    local.tries += 1;
    local.timer = setTimeout(() => { if (app.gateway.status === 'open') goOnAir(); else republishSoon(); }, delay);
  }

  function offAir() {
    if (!local) return;
    clearTimeout(local.timer);
    local.session?.close();
    local.stream.getTracks().forEach((tl) => tl.stop());
    local.fig.remove();
    local = null;
    renderControls();
  }

  // -- the host over HLS -----------------------------------------------------------------------
  async function startHls(reason) {
    if (ended || hls || hlsStarting) return;
    hlsStarting = true;
    const tl = tile(host.id, 'host');
    try {
      const fresh = await api.get(`/v1/live/${lid}`);
      if (!fresh.hls_url) { tl.waiting.hidden = false; tl.waiting.textContent = t('live.waiting_video'); return; }
      clearTimeout(tl.timer);
      clearTimeout(tl.connectTimer);
      tl.session?.close();
      tl.session = null;
      tl.video.srcObject = null;
      const player = await playHls(tl.video, fresh.hls_url, {
        live: true,
        lowLatency: reason !== 'data-saver', // data saver: whole segments, fewer requests
        joined: true,
        onFatal: (what) => {
          console.warn('live: HLS playback failed:', what);
          tl.waiting.hidden = false;
          tl.waiting.textContent = t('live.video_unavailable', { why: t('errors.unavailable') });
        },
      });
      if (ended) { player.destroy(); return; }
      hls = { player, reason };
      tl.waiting.hidden = true;
      tl.fig.dataset.transport = 'hls';
      banner.textContent = reason === 'fallback' ? t('live.hls_fallback') : '';
      renderControls();
    } catch (err) {
      tl.waiting.hidden = false;
      tl.waiting.textContent = t('live.video_unavailable', { why: describeError(err) });
    } finally {
      hlsStarting = false;
    }
  }

  function stopHls() {
    if (!hls) return;
    hls.player.destroy();
    hls = null;
    const tl = tiles.get(host.id);
    if (tl) { delete tl.fig.dataset.transport; tl.failures = 0; }
    banner.textContent = '';
  }

  function setDataSaver(on) {
    dataSaver = on;
    localStorage.setItem(DATA_SAVER_KEY, on ? '1' : '0');
    if (on) { stopHls(); startHls('data-saver'); } else { stopHls(); watch(host.id); }
    renderControls();
  }

  // -- room events ------------------------------------------------------------------------------
  function onJoined(reply, info) {
    const state = reply.state || {};
    if (state.status === 'ended') { finish(t('live.ended')); return; }
    if (state.title) titleEl.textContent = state.title;
    if (typeof state.viewer_count === 'number') setViewers(state.viewer_count);
    if ('pinned' in state) pinned.show(state.pinned);
    if (Array.isArray(state.stage)) setStage(state.stage);
    if (isHost) {
      if (!local?.session || local.session.state !== 'connected' || info.rejoin) goOnAir();
    }
    for (const userId of publishers()) {
      const tl = tiles.get(userId);
      if (!tl?.session || tl.session.state !== 'connected' || info.rejoin) watch(userId);
    }
  }

  function publishers() {
    const ids = new Set([host.id]);
    for (const s of stage) if (ON_STAGE.has(s.role)) ids.add(s.user_id);
    if (me) ids.delete(me.id);
    return ids;
  }

  function onEvent(msg) {
    switch (msg.type) {
      case 'chat.message':
        if (msg.user) names.set(msg.user.id, msg.user.name);
        break;
      case 'room.viewers':
        setViewers(msg.count);
        break;
      case 'chat.pinned':
        pinned.show(msg.message);
        break;
      case 'chat.deleted':
        pinned.deleted(msg.seq);
        break;
      case 'reactions':
        showReactions(msg.counts || {});
        break;
      case 'stage.updated':
        setStage(msg.stage || []);
        break;
      case 'media.published':
        if (!me || msg.user_id !== me.id) { tiles.get(msg.user_id) && (tiles.get(msg.user_id).tries = 0); watch(msg.user_id); }
        break;
      case 'media.unpublished':
        if (msg.user_id === host.id) { const tl = tiles.get(host.id); if (tl) { tl.waiting.hidden = false; tl.waiting.textContent = t('live.host_paused'); } }
        else if (!me || msg.user_id !== me.id) dropTile(msg.user_id);
        break;
      case 'media.restart':
        if (!msg.publisher || (me && msg.publisher === me.id)) { if (local) goOnAir(); }
        if (!msg.publisher) for (const id of publishers()) watch(id);
        else if (!me || msg.publisher !== me.id) watch(msg.publisher);
        break;
      case 'room.closed':
        finish(msg.reason === 'kicked' ? t('live.removed') : t('live.ended'));
        break;
      case 'live.ended':
        finish(t('live.ended'), msg.live);
        break;
      default:
        break;
    }
  }

  function onRefused(err) {
    banner.textContent = t('live.refused', { why: describeError(err) });
    banner.classList.add('error');
    for (const id of [...tiles.keys()]) dropTile(id);
    offAir();
    reactionBar.hidden = true;
    stagePanel.replaceChildren();
    controls.replaceChildren(community ? h('a', { class: 'button secondary', href: '#/' }, t('common.back_to_discover')) : null);
  }

  function setStage(entries) {
    stage = entries;
    for (const s of entries) if (s.name) names.set(s.user_id, s.name);
    const mine = me && entries.find((s) => s.user_id === me.id);
    if (!isHost) {
      if (mine && ON_STAGE.has(mine.role) && !local) goOnAir();
      if ((!mine || !ON_STAGE.has(mine.role)) && local) offAir();
    }
    const onStage = publishers();
    for (const id of [...tiles.keys()]) if (!onStage.has(id)) dropTile(id);
    for (const id of onStage) if (!tiles.has(id)) watch(id);
    renderStage();
    renderControls();
  }

  function renderStage() {
    const canManage = isHost || STAFF.includes(role());
    const entries = stage.filter((s) => s.user_id !== host.id);
    if (!canManage) {
      const guests = entries.filter((s) => ON_STAGE.has(s.role));
      replace(stagePanel, guests.length
        ? h('p', { class: 'muted small' }, t('live.on_stage'), ' ', guests.map((s, i) => [i ? t('common.comma') : '', userName({ id: s.user_id, name: names.get(s.user_id) })]))
        : null);
      return;
    }
    const list = h('ul', { class: 'stage-list' }, entries.map((s) => {
      const actions = h('span', { class: 'row' });
      if (REQUESTED.has(s.role)) {
        const accept = h('button', { type: 'button', class: 'small', 'data-testid': 'stage-accept' }, t('live.stage_accept'));
        accept.addEventListener('click', () => busy(accept, () => app.gateway.request('stage.accept', { room, user_id: s.user_id })));
        actions.append(accept);
      }
      const remove = h('button', { type: 'button', class: 'secondary small', 'data-testid': 'stage-remove' }, REQUESTED.has(s.role) ? t('live.stage_decline') : t('live.stage_remove'));
      remove.addEventListener('click', () => busy(remove, () => app.gateway.request('stage.remove', { room, user_id: s.user_id })));
      actions.append(remove);
      const what = REQUESTED.has(s.role) ? 'live.stage_asks' : INVITED.has(s.role) ? 'live.stage_invited' : 'live.stage_on';
      return h('li', { 'data-testid': 'stage-entry', dataset: { user: s.user_id, role: s.role } },
        h('span', {}, tx(what, { name: userName({ id: s.user_id, name: names.get(s.user_id) }) })), actions);
    }));
    replace(stagePanel, h('h2', { class: 'small-head' }, t('live.stage')), entries.length ? list : h('p', { class: 'muted small' }, t('live.stage_none')));
  }

  function renderControls() {
    controls.replaceChildren();
    const unmute = h('button', { type: 'button', class: 'secondary', 'aria-pressed': 'false', 'data-testid': 'unmute' }, t('live.sound_on'));
    unmute.addEventListener('click', () => {
      const on = unmute.getAttribute('aria-pressed') !== 'true';
      unmute.setAttribute('aria-pressed', on ? 'true' : 'false');
      unmute.textContent = on ? t('live.sound_off') : t('live.sound_on');
      for (const tl of tiles.values()) { tl.video.muted = !on; if (on) tl.video.play().catch(() => {}); }
    });
    controls.append(unmute);
    if (!isHost) {
      const saver = h('button', { type: 'button', class: 'secondary', 'aria-pressed': dataSaver ? 'true' : 'false', 'data-testid': 'data-saver',
        title: t('live.data_saver_hint') }, dataSaver ? t('live.data_saver_on') : t('live.data_saver'));
      saver.addEventListener('click', () => setDataSaver(!dataSaver));
      controls.append(saver);
    }
    if (local) {
      const audio = local.stream.getAudioTracks()[0];
      const video = local.stream.getVideoTracks()[0];
      if (audio) controls.append(toggleTrack(audio, 'microphone'));
      if (video) controls.append(toggleTrack(video, 'camera'));
    }
    if (!isHost && me) {
      const mine = stage.find((s) => s.user_id === me.id);
      if (mine && ON_STAGE.has(mine.role)) {
        const leave = h('button', { type: 'button', class: 'secondary', 'data-testid': 'stage-leave' }, t('live.stage_leave'));
        leave.addEventListener('click', () => busy(leave, () => app.gateway.request('stage.remove', { room, user_id: me.id })));
        controls.append(leave);
      } else if (mine && INVITED.has(mine.role)) {
        const accept = h('button', { type: 'button', 'data-testid': 'stage-join' }, t('live.stage_join'));
        accept.addEventListener('click', () => busy(accept, () => app.gateway.request('stage.accept', { room, user_id: me.id })));
        controls.append(accept);
      } else if (mine && REQUESTED.has(mine.role)) {
        controls.append(h('span', { class: 'badge' }, t('live.stage_asked')));
      } else {
        const ask = h('button', { type: 'button', class: 'secondary', 'data-testid': 'stage-request' }, t('live.stage_request'));
        ask.addEventListener('click', () => busy(ask, async () => {
          await app.gateway.request('stage.request', { room });
          toast(t('live.stage_requested'));
        }));
        controls.append(ask);
      }
    }
    if (isHost || STAFF.includes(role())) {
      const end = h('button', { type: 'button', class: 'danger', 'data-testid': 'end-live' }, t('live.end'));
      end.addEventListener('click', () => busy(end, async () => {
        if (!isHost && !await confirmDialog({ title: t('live.end'), text: t('live.end_confirm'), confirmLabel: t('live.end') })) return;
        const res = await api.post(`/v1/live/${lid}/end`);
        finish(t('live.you_ended'), res);
      }));
      controls.append(end);
    }
  }

  function toggleTrack(track, which) {
    const b = h('button', { type: 'button', class: 'secondary', 'aria-pressed': track.enabled ? 'true' : 'false' }, t(`live.${which}_on`));
    b.addEventListener('click', () => {
      track.enabled = !track.enabled;
      b.setAttribute('aria-pressed', track.enabled ? 'true' : 'false');
      b.textContent = t(`live.${which}_${track.enabled ? 'on' : 'off'}`);
    });
    return b;
  }

  function showReactions(counts) {
    for (const [kind, n] of Object.entries(counts)) {
      const meta = REACTIONS.find(([k]) => k === kind);
      const entry = reactionTotals.get(kind);
      if (entry && n > 0) { entry.total += n; entry.count.textContent = ` ${entry.total}`; }
      for (let i = 0; i < Math.min(n, 8); i += 1) {
        const bubble = h('span', { class: 'reaction-float', 'data-testid': 'reaction-float', dataset: { kind } }, meta ? meta[1] : '✨');
        bubble.style.insetInlineStart = `${10 + Math.random() * 80}%`;
        bubble.style.animationDelay = `${i * 120}ms`;
        reactionLayer.append(bubble);
        setTimeout(() => bubble.remove(), 3500 + i * 120);
      }
    }
  }

  function finish(text, endedLive) {
    if (ended) return;
    ended = true;
    banner.textContent = text;
    banner.classList.add('ended');
    stopHls();
    for (const id of [...tiles.keys()]) dropTile(id);
    offAir();
    controls.replaceChildren(community ? h('a', { class: 'button secondary', href: `#/c/${community.id}/live` }, t('live.back_to_community')) : null);
    if (endedLive && typeof endedLive.peak_viewers === 'number') banner.append(' ', t('live.peak', { count: endedLive.peak_viewers }));
  }

  renderControls();
  renderStage();
  // The host's own tile is the local preview (goOnAir); viewers wait for the host's video.
  if (!isHost) tile(host.id, 'host');

  // For the browser tests and for people debugging: what the media path is doing.
  app.current = {
    lid,
    async stats() {
      const out = { subscriptions: {}, publication: null };
      for (const [id, tl] of tiles) {
        const s = tl.session ? await tl.session.videoStats() : null;
        const q = tl.video.getVideoPlaybackQuality ? tl.video.getVideoPlaybackQuality() : null;
        out.subscriptions[id] = {
          state: tl.session?.state || 'none',
          framesDecoded: s?.framesDecoded || 0,
          bytesReceived: s?.bytesReceived || 0,
          totalVideoFrames: q?.totalVideoFrames || 0,
          videoWidth: tl.video.videoWidth,
          currentTime: tl.video.currentTime,
          transport: id === host.id && hls ? 'hls' : 'webrtc',
          hls: id === host.id && hls ? hls.player.stats() : null,
        };
      }
      if (local?.session) out.publication = { state: local.session.state, ...(await local.session.videoStats()) };
      return out;
    },
  };

  return () => {
    ended = true;
    stopHls();
    chat.destroy();
    for (const id of [...tiles.keys()]) dropTile(id);
    offAir();
    if (pendingStream && pendingStream.liveId === lid) { pendingStream.stream.getTracks().forEach((tl) => tl.stop()); pendingStream = null; }
    if (app.current?.lid === lid) app.current = null;
  };
}
