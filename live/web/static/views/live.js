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
import { STAFF } from '../roles.js';
import { playHls } from '../hlsplayer.js';
import { openCamera, publish, subscribe } from '../rtc.js';
import { createChat } from './chat.js';

export const REACTIONS = [
  ['heart', '❤️', 'Love'],
  ['clap', '👏', 'Applause'],
  ['laugh', '😂', 'Funny'],
  ['wow', '😮', 'Wow'],
  ['fire', '🔥', 'Fire'],
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
    replace(main, h('section', { class: 'panel' }, h('h1', {}, 'Live unavailable'), h('p', {}, describeError(err)), h('p', {}, h('a', { href: '#/' }, 'Back to discover'))));
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
  const viewerCount = h('span', { 'data-testid': 'live-viewers' }, String(live.viewer_count ?? 0));
  const titleEl = h('h1', { dir: 'auto', class: 'live-title' }, live.title || 'Untitled live');
  const banner = h('div', { class: 'live-banner', role: 'status', 'data-testid': 'live-status' });
  const controls = h('div', { class: 'row wrap controls' });
  const stagePanel = h('section', { class: 'stage-panel', 'aria-label': 'Stage', 'data-testid': 'stage-panel' });
  const reactionLayer = h('div', { class: 'reaction-layer', 'aria-hidden': 'true', 'data-testid': 'reaction-layer' });
  const reactionTotals = new Map();
  const reactionBar = h('div', { class: 'row reactions', role: 'group', 'aria-label': 'Reactions' },
    REACTIONS.map(([kind, emoji, label]) => {
      const count = h('span', { class: 'count', 'data-testid': `reaction-count-${kind}` }, '');
      reactionTotals.set(kind, { count, total: 0 });
      const b = h('button', { type: 'button', class: 'reaction secondary', 'aria-label': label, 'data-testid': `react-${kind}`, title: label }, emoji, count);
      b.addEventListener('click', () => app.gateway.request('reaction.send', { room, kind }).catch((err) => toast(describeError(err), 'error')));
      return b;
    }));

  const chat = createChat({
    app, room, cid: live.community_id, role, label: 'Live chat',
    onJoin: (reply, info) => onJoined(reply, info),
    onEvent: (msg) => onEvent(msg),
    onError: (err) => onRefused(err),
  });

  replace(main, h('section', { class: 'live-page', 'data-testid': isHost ? 'host-view' : 'viewer-view' },
    h('div', { class: 'stage-area' },
      h('div', { class: 'video-wrap' }, grid, reactionLayer),
      h('div', { class: 'live-meta' },
        h('span', { class: 'live-badge' }, 'LIVE'),
        titleEl,
        h('p', { class: 'muted' }, 'with ', userName(host),
          community ? [' in ', h('a', { href: `#/c/${community.id}/live` }, h('bdi', {}, community.name))] : null,
          ' · ', h('strong', {}, viewerCount), ' watching')),
      banner, controls, reactionBar, stagePanel),
    h('aside', { class: 'side' }, h('h2', { class: 'sr-only' }, 'Chat'), chat.el)));

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
    let t = tiles.get(userId);
    if (t) return t;
    const video = h('video', { autoplay: true, playsinline: true, muted: true, 'data-testid': 'remote-video', dataset: { user: userId } });
    const waiting = h('p', { class: 'waiting' }, 'Waiting for video…');
    const fig = h('figure', { class: 'tile', dataset: { user: userId } }, video, waiting,
      h('figcaption', {}, userName({ id: userId, name: names.get(userId) || userId }), label ? ` · ${label}` : ''));
    t = { fig, video, waiting, session: null, tries: 0, timer: null, userId };
    tiles.set(userId, t);
    if (userId === host.id) grid.prepend(fig); else grid.append(fig);
    return t;
  }

  function dropTile(userId) {
    const t = tiles.get(userId);
    if (!t) return;
    clearTimeout(t.timer);
    clearTimeout(t.connectTimer);
    t.session?.close();
    t.fig.remove();
    tiles.delete(userId);
  }

  async function watch(userId) {
    if (ended || (me && userId === me.id)) return;
    if (userId === host.id && (hls || dataSaver)) { if (!hls) startHls(dataSaver ? 'data-saver' : 'fallback'); return; }
    const t = tile(userId, userId === host.id ? 'host' : 'guest');
    if (t.negotiating) { t.again = true; return; }
    clearTimeout(t.timer);
    t.negotiating = true;
    t.session?.close();
    t.session = null;
    try {
      t.session = await subscribe(app.gateway, room, userId, {
        iceServers,
        onStream: (stream) => {
          if (t.video.srcObject !== stream) t.video.srcObject = stream;
          t.video.play().catch(() => {});
          t.waiting.hidden = true;
        },
        onState: (state, session) => {
          if (state === 'connected') t.failures = 0;
          if ((state === 'failed' || state === 'closed') && t.session === session && !ended) {
            t.failures = (t.failures || 0) + 1;
            retry(t);
          }
        },
      });
      t.tries = 0;
      const session = t.session;
      clearTimeout(t.connectTimer);
      t.connectTimer = setTimeout(() => {
        if (t.session === session && session.state !== 'connected' && !ended) {
          t.failures = (t.failures || 0) + 1;
          retry(t);
        }
      }, CONNECT_MS);
    } catch (err) {
      // Most often the publisher has not started sending yet: media.published will call again.
      const waiting = err.code === 'not_found' || err.code === 'conflict';
      if (!waiting) t.failures = (t.failures || 0) + 1;
      t.waiting.textContent = waiting ? 'Waiting for video…' : `Video unavailable (${describeError(err)})`;
      retry(t);
    } finally {
      t.negotiating = false;
      // Asked again meanwhile (media.published during a refused attempt): try now, not later.
      if (t.again && !t.session && tiles.get(userId) === t) { t.again = false; t.tries = 0; watch(userId); }
      t.again = false;
    }
  }

  function retry(t) {
    if (ended || !tiles.has(t.userId)) return;
    if (t.userId === host.id && (t.failures || 0) >= FALLBACK_AFTER) { startHls('fallback'); return; }
    clearTimeout(t.timer);
    const delay = RETRY_MS[Math.min(t.tries, RETRY_MS.length - 1)];
    t.tries += 1;
    t.waiting.hidden = false;
    t.timer = setTimeout(() => { if (app.gateway.status === 'open') watch(t.userId); else retry(t); }, delay);
  }

  async function goOnAir() {
    if (ended || localPending) return;
    localPending = true;
    try {
      if (!local) {
        let stream = null;
        if (pendingStream && pendingStream.liveId === lid) { stream = pendingStream.stream; pendingStream = null; }
        if (!stream || stream.getTracks().every((t) => t.readyState === 'ended')) stream = await openCamera();
        const video = h('video', { autoplay: true, playsinline: true, muted: true, 'data-testid': 'local-video' });
        video.srcObject = stream;
        const fig = h('figure', { class: 'tile local', dataset: { user: me.id } }, video,
          h('figcaption', {}, 'You', isHost ? ' · host' : ' · guest'));
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
      banner.textContent = `Could not send your video: ${describeError(err)}`;
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
    local.stream.getTracks().forEach((t) => t.stop());
    local.fig.remove();
    local = null;
    renderControls();
  }

  // -- the host over HLS -----------------------------------------------------------------------
  async function startHls(reason) {
    if (ended || hls || hlsStarting) return;
    hlsStarting = true;
    const t = tile(host.id, 'host');
    try {
      const fresh = await api.get(`/v1/live/${lid}`);
      if (!fresh.hls_url) { t.waiting.hidden = false; t.waiting.textContent = 'Waiting for video…'; return; }
      clearTimeout(t.timer);
      clearTimeout(t.connectTimer);
      t.session?.close();
      t.session = null;
      t.video.srcObject = null;
      const player = await playHls(t.video, fresh.hls_url, {
        live: true,
        lowLatency: reason !== 'data-saver', // data saver: whole segments, fewer requests
        joined: true,
        onFatal: (what) => { t.waiting.hidden = false; t.waiting.textContent = `Video unavailable (${what})`; },
      });
      if (ended) { player.destroy(); return; }
      hls = { player, reason };
      t.waiting.hidden = true;
      t.fig.dataset.transport = 'hls';
      banner.textContent = reason === 'fallback' ? 'Playing over HLS: a few seconds behind.' : '';
      renderControls();
    } catch (err) {
      t.waiting.hidden = false;
      t.waiting.textContent = `Video unavailable (${describeError(err)})`;
    } finally {
      hlsStarting = false;
    }
  }

  function stopHls() {
    if (!hls) return;
    hls.player.destroy();
    hls = null;
    const t = tiles.get(host.id);
    if (t) { delete t.fig.dataset.transport; t.failures = 0; }
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
    if (state.status === 'ended') { finish('The live has ended.'); return; }
    if (state.title) titleEl.textContent = state.title;
    if (typeof state.viewer_count === 'number') viewerCount.textContent = String(state.viewer_count);
    if (Array.isArray(state.stage)) setStage(state.stage);
    if (isHost) {
      if (!local?.session || local.session.state !== 'connected' || info.rejoin) goOnAir();
    }
    for (const userId of publishers()) {
      const t = tiles.get(userId);
      if (!t?.session || t.session.state !== 'connected' || info.rejoin) watch(userId);
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
        viewerCount.textContent = String(msg.count);
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
        if (msg.user_id === host.id) { const t = tiles.get(host.id); if (t) { t.waiting.hidden = false; t.waiting.textContent = 'The host paused their video.'; } }
        else if (!me || msg.user_id !== me.id) dropTile(msg.user_id);
        break;
      case 'media.restart':
        if (!msg.publisher || (me && msg.publisher === me.id)) { if (local) goOnAir(); }
        if (!msg.publisher) for (const id of publishers()) watch(id);
        else if (!me || msg.publisher !== me.id) watch(msg.publisher);
        break;
      case 'room.closed':
        finish(msg.reason === 'kicked' ? 'You were removed from this live.' : 'The live has ended.');
        break;
      case 'live.ended':
        finish('The live has ended.', msg.live);
        break;
      default:
        break;
    }
  }

  function onRefused(err) {
    banner.textContent = `You cannot watch this live: ${describeError(err)}`;
    banner.classList.add('error');
    for (const id of [...tiles.keys()]) dropTile(id);
    offAir();
    reactionBar.hidden = true;
    stagePanel.replaceChildren();
    controls.replaceChildren(community ? h('a', { class: 'button secondary', href: '#/' }, 'Back to discover') : null);
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
        ? h('p', { class: 'muted small' }, 'On stage: ', guests.map((s, i) => [i ? ', ' : '', userName({ id: s.user_id, name: names.get(s.user_id) })]))
        : null);
      return;
    }
    const list = h('ul', { class: 'stage-list' }, entries.map((s) => {
      const actions = h('span', { class: 'row' });
      if (REQUESTED.has(s.role)) {
        const accept = h('button', { type: 'button', class: 'small', 'data-testid': 'stage-accept' }, 'Accept');
        accept.addEventListener('click', () => busy(accept, () => app.gateway.request('stage.accept', { room, user_id: s.user_id })));
        actions.append(accept);
      }
      const remove = h('button', { type: 'button', class: 'secondary small', 'data-testid': 'stage-remove' }, REQUESTED.has(s.role) ? 'Decline' : 'Remove');
      remove.addEventListener('click', () => busy(remove, () => app.gateway.request('stage.remove', { room, user_id: s.user_id })));
      actions.append(remove);
      const what = REQUESTED.has(s.role) ? 'asks to join' : INVITED.has(s.role) ? 'invited' : 'on stage';
      return h('li', { 'data-testid': 'stage-entry', dataset: { user: s.user_id, role: s.role } },
        userName({ id: s.user_id, name: names.get(s.user_id) }), ` ${what} `, actions);
    }));
    replace(stagePanel, h('h2', { class: 'small-head' }, 'Stage'), entries.length ? list : h('p', { class: 'muted small' }, 'No requests to join the stage.'));
  }

  function renderControls() {
    controls.replaceChildren();
    const unmute = h('button', { type: 'button', class: 'secondary', 'aria-pressed': 'false', 'data-testid': 'unmute' }, 'Sound on');
    unmute.addEventListener('click', () => {
      const on = unmute.getAttribute('aria-pressed') !== 'true';
      unmute.setAttribute('aria-pressed', on ? 'true' : 'false');
      unmute.textContent = on ? 'Sound off' : 'Sound on';
      for (const t of tiles.values()) { t.video.muted = !on; if (on) t.video.play().catch(() => {}); }
    });
    controls.append(unmute);
    if (!isHost) {
      const saver = h('button', { type: 'button', class: 'secondary', 'aria-pressed': dataSaver ? 'true' : 'false', 'data-testid': 'data-saver',
        title: 'Watch over HLS: less data and battery, a few seconds behind' }, dataSaver ? 'Data saver on' : 'Data saver');
      saver.addEventListener('click', () => setDataSaver(!dataSaver));
      controls.append(saver);
    }
    if (local) {
      const audio = local.stream.getAudioTracks()[0];
      const video = local.stream.getVideoTracks()[0];
      if (audio) controls.append(toggleTrack(audio, 'Microphone'));
      if (video) controls.append(toggleTrack(video, 'Camera'));
    }
    if (!isHost && me) {
      const mine = stage.find((s) => s.user_id === me.id);
      if (mine && ON_STAGE.has(mine.role)) {
        const leave = h('button', { type: 'button', class: 'secondary', 'data-testid': 'stage-leave' }, 'Leave the stage');
        leave.addEventListener('click', () => busy(leave, () => app.gateway.request('stage.remove', { room, user_id: me.id })));
        controls.append(leave);
      } else if (mine && INVITED.has(mine.role)) {
        const accept = h('button', { type: 'button', 'data-testid': 'stage-join' }, 'Join the stage');
        accept.addEventListener('click', () => busy(accept, () => app.gateway.request('stage.accept', { room, user_id: me.id })));
        controls.append(accept);
      } else if (mine && REQUESTED.has(mine.role)) {
        controls.append(h('span', { class: 'badge' }, 'Asked to join the stage'));
      } else {
        const ask = h('button', { type: 'button', class: 'secondary', 'data-testid': 'stage-request' }, 'Ask to join the stage');
        ask.addEventListener('click', () => busy(ask, async () => {
          await app.gateway.request('stage.request', { room });
          toast('Asked the host to join the stage.');
        }));
        controls.append(ask);
      }
    }
    if (isHost || STAFF.includes(role())) {
      const end = h('button', { type: 'button', class: 'danger', 'data-testid': 'end-live' }, 'End live');
      end.addEventListener('click', () => busy(end, async () => {
        if (!isHost && !window.confirm('End this live for everyone?')) return;
        const res = await api.post(`/v1/live/${lid}/end`);
        finish('You ended the live.', res);
      }));
      controls.append(end);
    }
  }

  function toggleTrack(track, label) {
    const b = h('button', { type: 'button', class: 'secondary', 'aria-pressed': track.enabled ? 'true' : 'false' }, `${label} on`);
    b.addEventListener('click', () => {
      track.enabled = !track.enabled;
      b.setAttribute('aria-pressed', track.enabled ? 'true' : 'false');
      b.textContent = `${label} ${track.enabled ? 'on' : 'off'}`;
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
        bubble.style.left = `${10 + Math.random() * 80}%`;
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
    controls.replaceChildren(community ? h('a', { class: 'button secondary', href: `#/c/${community.id}/live` }, 'Back to the community') : null);
    if (endedLive && typeof endedLive.peak_viewers === 'number') banner.append(` Peak: ${endedLive.peak_viewers} watching.`);
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
      for (const [id, t] of tiles) {
        const s = t.session ? await t.session.videoStats() : null;
        const q = t.video.getVideoPlaybackQuality ? t.video.getVideoPlaybackQuality() : null;
        out.subscriptions[id] = {
          state: t.session?.state || 'none',
          framesDecoded: s?.framesDecoded || 0,
          bytesReceived: s?.bytesReceived || 0,
          totalVideoFrames: q?.totalVideoFrames || 0,
          videoWidth: t.video.videoWidth,
          currentTime: t.video.currentTime,
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
    if (pendingStream && pendingStream.liveId === lid) { pendingStream.stream.getTracks().forEach((t) => t.stop()); pendingStream = null; }
    if (app.current?.lid === lid) app.current = null;
  };
}

function renderEnded(main, live, community, app) {
  const recording = h('p', { class: 'muted small' });
  // The recording, played from the live's own playlist (now a VOD), while it exists.
  const replay = live.hls_url
    ? h('video', { controls: true, playsinline: true, muted: true, class: 'replay', 'data-testid': 'replay-video' })
    : null;
  replace(main, h('section', { class: 'panel narrow', 'data-testid': 'live-ended' },
    h('h1', { dir: 'auto' }, live.title || 'Live'),
    h('p', {}, 'This live has ended', live.peak_viewers !== undefined ? ` (peak: ${live.peak_viewers} watching)` : '', '.'),
    replay,
    recording,
    community ? h('p', {}, h('a', { href: `#/c/${community.id}/live` }, 'Back to ', h('bdi', {}, community.name))) : null));
  let player = null;
  if (replay) {
    playHls(replay, live.hls_url, { live: false }).then((p) => { player = p; }).catch((err) => {
      replay.replaceWith(h('p', { class: 'muted small' }, `The replay cannot play here (${describeError(err)}).`));
    });
  }
  api.get(`/v1/live/${live.id}/recording`).then((rec) => {
    const url = rec && (rec.download_url || rec.url);
    if (url) replace(recording, h('a', { href: url, download: '' }, 'Download the recording'));
  }).catch(() => {});
  app.current = { lid: live.id, async stats() { return { replay: player ? player.stats() : null }; } };
  return () => {
    player?.destroy();
    if (app.current?.lid === live.id) app.current = null;
  };
}
