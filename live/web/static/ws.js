// The WebSocket gateway client: one connection per tab, JSON subprotocol, request/reply by `ref`,
// events by type and by room, heartbeats, and reconnection with backoff that re-joins every room
// with `since` so that chat missed while offline comes back (`recovered`).

const PROTOCOL = 'live.v1.json';
const MAX_BACKOFF_MS = 10000;

export class GatewayError extends Error {
  constructor(reply) {
    super(reply.message || reply.code || 'request failed');
    this.code = reply.code;
    this.retry_after = reply.retry_after;
    if ('until' in reply) this.until = reply.until;
    this.reply = reply;
  }
}

/**
 * Room membership kept across reconnects. `since` is the newest {epoch, seq} this tab has seen,
 * sent with the next room.join so that the server replays what was missed.
 */
class RoomState {
  constructor(room) {
    this.room = room;
    this.handlers = new Set();
    this.since = null;
    this.joined = false;
  }
}

export class Gateway {
  constructor(tokenFn) {
    this.tokenFn = tokenFn;
    this.ws = null;
    this.status = 'idle';
    this.user = null;
    this.nextRef = 1;
    this.pending = new Map();
    this.listeners = new Map();
    this.rooms = new Map();
    this.attempt = 0;
    this.stopped = true;
    this.heartbeatMs = 25000;
    this.lastSeen = 0;
    this.timer = null;
    this.reconnectTimer = null;
    this.openWaiters = [];
    this.connects = 0;
  }

  // -- lifecycle --------------------------------------------------------------------------------

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this._connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.timer);
    if (this.ws) this.ws.close(1000, 'bye');
    this.ws = null;
    this._setStatus('idle');
    this._failPending('disconnected', 'signed out');
  }

  /** Drop the connection as a network failure would (used to test recovery by hand). */
  simulateDrop() {
    if (this.ws) this._onClose(this.ws, { code: 1006, reason: 'simulated drop' });
  }

  _connect() {
    const token = this.tokenFn();
    if (!token) { this._setStatus('idle'); return; }
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const url = `${scheme}//${location.host}/v1/ws?token=${encodeURIComponent(token)}`;
    this._setStatus(this.connects === 0 ? 'connecting' : 'reconnecting');
    let ws;
    try {
      ws = new WebSocket(url, [PROTOCOL]);
    } catch (err) {
      this._scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onmessage = (ev) => { if (this.ws === ws) this._onFrame(ev.data); };
    ws.onclose = (ev) => this._onClose(ws, ev);
    ws.onerror = () => {};
  }

  _onClose(ws, ev) {
    if (this.ws !== ws) return;
    this.ws = null;
    ws.onmessage = null;
    ws.onclose = null;
    try { ws.close(); } catch { /* already closing */ }
    clearInterval(this.timer);
    for (const state of this.rooms.values()) state.joined = false;
    this._failPending('disconnected', 'the connection was lost');
    this.emit('close', { type: 'close', code: ev.code, reason: ev.reason });
    if (ev.code === 4001) {
      this._setStatus('idle');
      this.stopped = true;
      this.emit('unauthorized', { type: 'unauthorized' });
      return;
    }
    if (this.stopped) { this._setStatus('idle'); return; }
    // Replaced by a newer connection of the same user (past the server's sockets per user):
    // reconnecting would close another of the user's tabs or devices in turn, so wait for a reload.
    if (ev.code === 4029 && /replaced/.test(ev.reason || '')) {
      this.stopped = true;
      this._setStatus('replaced');
      return;
    }
    // 4029 (flooding) deserves a longer pause than a network blip.
    if (ev.code === 4029) this.attempt = Math.max(this.attempt, 4);
    this._scheduleReconnect();
  }

  _scheduleReconnect() {
    this._setStatus('reconnecting');
    const base = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempt);
    const delay = base / 2 + Math.random() * base / 2;
    this.attempt += 1;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => { if (!this.stopped) this._connect(); }, delay);
  }

  _onWelcome(msg) {
    this.attempt = 0;
    this.connects += 1;
    this.user = msg.user;
    this.heartbeatMs = Math.max(1000, (msg.heartbeat || 25) * 1000);
    clearInterval(this.timer);
    this.timer = setInterval(() => this._heartbeat(), Math.min(this.heartbeatMs, 10000));
    this._setStatus('open');
    const waiters = this.openWaiters;
    this.openWaiters = [];
    waiters.forEach((w) => w.resolve());
    for (const state of this.rooms.values()) this._join(state, this.connects > 1);
    this.emit('open', { type: 'open', reconnect: this.connects > 1 });
  }

  _heartbeat() {
    const ws = this.ws;
    if (!ws || this.status !== 'open') return;
    if (Date.now() - this.lastSeen > this.heartbeatMs * 2.5) {
      // Silence for that long means the path is dead even if the socket has not noticed.
      this._onClose(ws, { code: 1006, reason: 'heartbeat timeout' });
      return;
    }
    if (Date.now() - this.lastSeen > this.heartbeatMs / 2) this.request('ping').catch(() => {});
  }

  _setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this.emit('status', { type: 'status', status });
  }

  // -- messages ---------------------------------------------------------------------------------

  _onFrame(data) {
    this.lastSeen = Date.now();
    let parsed;
    try { parsed = JSON.parse(data); } catch { return; }
    const messages = Array.isArray(parsed) ? parsed : [parsed];
    for (const msg of messages) {
      if (!msg || typeof msg !== 'object') continue;
      try { this._dispatch(msg); } catch (err) { console.error('live: handler failed', err); }
    }
  }

  _dispatch(msg) {
    if ((msg.type === 'ok' || msg.type === 'error') && msg.ref !== undefined && this.pending.has(msg.ref)) {
      const p = this.pending.get(msg.ref);
      this.pending.delete(msg.ref);
      clearTimeout(p.timer);
      if (msg.type === 'ok') p.resolve(msg); else p.reject(new GatewayError(msg));
      return;
    }
    if (msg.type === 'welcome') { this._onWelcome(msg); return; }
    if (msg.type === 'chat.message' && msg.room) this._advance(msg.room, msg.epoch, msg.seq);
    if (msg.type === 'room.resync' && this.rooms.has(msg.room)) {
      // The server lost track of what this connection missed: join again from scratch, and the
      // handlers reload from the reply's history.
      const state = this.rooms.get(msg.room);
      state.since = null;
      this._join(state, true);
    }
    if (msg.type === 'room.closed' && this.rooms.has(msg.room)) this.rooms.get(msg.room).joined = false;
    this.emit(msg.type, msg);
    if (msg.room && this.rooms.has(msg.room)) {
      for (const h of this.rooms.get(msg.room).handlers) h.onEvent?.(msg);
    }
  }

  _advance(room, epoch, seq) {
    const state = this.rooms.get(room);
    if (!state || typeof seq !== 'number') return;
    if (!state.since || state.since.epoch !== epoch || seq > state.since.seq) state.since = { epoch, seq };
  }

  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
    return () => this.listeners.get(type)?.delete(fn);
  }

  emit(type, msg) {
    for (const fn of this.listeners.get(type) || []) {
      try { fn(msg); } catch (err) { console.error('live: listener failed', err); }
    }
  }

  /** Resolves once the connection is open (rejects after `timeout` ms). */
  ready(timeout = 15000) {
    if (this.status === 'open') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject };
      this.openWaiters.push(waiter);
      setTimeout(() => {
        const i = this.openWaiters.indexOf(waiter);
        if (i >= 0) { this.openWaiters.splice(i, 1); reject(new GatewayError({ code: 'unavailable', message: 'not connected' })); }
      }, timeout);
    });
  }

  /** Send one client message and wait for its ok (resolves) or error (rejects with GatewayError). */
  async request(type, fields = {}, { timeout = 15000 } = {}) {
    if (this.status !== 'open') await this.ready(timeout);
    const ref = this.nextRef++;
    const ws = this.ws;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(new GatewayError({ code: 'timeout', message: `no reply to ${type}` }));
      }, timeout);
      this.pending.set(ref, { resolve, reject, timer });
      try {
        ws.send(JSON.stringify({ ...fields, type, ref }));
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(ref);
        reject(new GatewayError({ code: 'disconnected', message: 'not connected' }));
      }
    });
  }

  _failPending(code, message) {
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) { clearTimeout(p.timer); p.reject(new GatewayError({ code, message })); }
  }

  // -- rooms ------------------------------------------------------------------------------------

  /**
   * Be in `room` for as long as the returned handle is not left. `handler.onJoin(reply, info)`
   * runs after every successful join (info.rejoin: after a reconnect; reply.recovered tells whether
   * every missed message is in reply.history); `handler.onEvent(msg)` gets the room's events;
   * `handler.onError(err)` a refused join (banned, not found...).
   */
  join(room, handler) {
    let state = this.rooms.get(room);
    const fresh = !state;
    if (!state) { state = new RoomState(room); this.rooms.set(room, state); }
    state.handlers.add(handler);
    if (this.status === 'open') {
      if (fresh) this._join(state, false);
      else if (state.joined && state.lastReply) queueMicrotask(() => handler.onJoin?.(state.lastReply, { rejoin: false, shared: true }));
    }
    return {
      leave: () => {
        state.handlers.delete(handler);
        if (state.handlers.size === 0 && this.rooms.get(room) === state) {
          this.rooms.delete(room);
          if (state.joined && this.status === 'open') this.request('room.leave', { room }).catch(() => {});
        }
      },
      since: () => state.since,
    };
  }

  async _join(state, rejoin) {
    const fields = { room: state.room };
    if (state.since) fields.since = state.since;
    try {
      const reply = await this.request('room.join', fields);
      if (this.rooms.get(state.room) !== state) {
        this.request('room.leave', { room: state.room }).catch(() => {});
        return;
      }
      state.joined = true;
      state.lastReply = reply;
      const had = state.since;
      if (typeof reply.seq === 'number') {
        if (!had || had.epoch !== reply.epoch || reply.seq > had.seq) state.since = { epoch: reply.epoch, seq: reply.seq };
      }
      for (const h of state.handlers) h.onJoin?.(reply, { rejoin, since: had });
    } catch (err) {
      if (err.code === 'disconnected') return; // the next welcome joins again
      if (err.code === 'timeout' || err.code === 'unavailable' || err.code === 'internal' || err.code === 'rate_limited') {
        // A slow or briefly failing server, or joins too fast (the server says when to come back):
        // try again while the room is still wanted.
        const wait = err.code === 'rate_limited' && err.retry_after ? err.retry_after * 1000 : 2000;
        setTimeout(() => {
          if (this.rooms.get(state.room) === state && !state.joined && this.status === 'open') this._join(state, rejoin);
        }, wait);
        return;
      }
      for (const h of state.handlers) h.onError?.(err);
    }
  }
}
