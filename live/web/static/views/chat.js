// A chat panel for one room (a live's or a group's): history on join, live messages in seq
// order, recovery after a reconnect (the gateway re-joins with `since`; when the server cannot
// replay everything, `recovered: false`, the panel reloads from the reply's history), sending
// with a nonce so a retried message is stored once, deletion and moderation from each line.

import { busy, describeError, h, replace, userName, userText } from '../dom.js';
import { t } from '../i18n.js';
import { STAFF } from '../roles.js';
import { blocks, contentMenu } from '../safety.js';
import { moderate } from './moddialog.js';

const MAX_LINES = 500;
const CHAT_MAX = 500;

/**
 * `pin(msg)`: when given (a live's chat, for its host and moderators), each line's menu offers
 * "Pin"; `canPin()` says whether to offer it now.
 */
export function createChat({ app, room, cid, role = () => null, onJoin, onEvent, onError, label = t('chat.label'), pin, canPin = () => false }) {
  const gateway = app.gateway;
  const list = h('ol', { class: 'chat-log', role: 'log', 'aria-live': 'polite', 'aria-label': t('chat.messages', { label }), 'data-testid': 'chat-log', tabindex: '0' });
  const status = h('p', { class: 'chat-status small', role: 'status', 'data-testid': 'chat-status' });
  const input = h('input', { name: 'message', maxlength: CHAT_MAX, dir: 'auto', autocomplete: 'off', 'aria-label': t('chat.message'), placeholder: t('chat.placeholder'), 'data-testid': 'chat-input' });
  const send = h('button', { type: 'submit', 'data-testid': 'chat-send' }, t('chat.send'));
  const form = h('form', { class: 'chat-form row' }, input, send);
  const el = h('section', { class: 'chat', 'aria-label': label }, list, status, form);

  const lines = new Map(); // seq -> li
  let epoch = null;
  let lastSeq = 0;

  function nearBottom() { return list.scrollHeight - list.scrollTop - list.clientHeight < 60; }
  function scrollDown(force) { if (force || nearBottom()) list.scrollTop = list.scrollHeight; }

  function lineFor(msg) {
    const me = app.me;
    const mine = me && msg.user?.id === me.id;
    const li = h('li', { class: `chat-line${mine ? ' mine' : ''}`, 'data-testid': 'chat-message', dataset: { seq: String(msg.seq), user: msg.user?.id || '', author: msg.user?.id || '' } },
      h('span', { class: 'who' }, userName(msg.user)),
      userText(msg.text, 'span', 'user-text text'));
    const tools = h('span', { class: 'line-tools' });
    if (mine) {
      const del = h('button', { type: 'button', class: 'link small', 'aria-label': t('chat.delete_mine') }, t('common.delete'));
      del.addEventListener('click', () => busy(del, () => gateway.request('chat.delete', { room, seq: msg.seq })));
      tools.append(del);
    }
    const extra = [];
    if (pin && canPin() && msg.id) extra.push({ label: t('chat.pin'), testid: 'menu-pin', run: () => pin(msg) });
    if (!mine && cid && STAFF.includes(role())) {
      extra.push({ label: t('moderation.moderate'), testid: 'moderate', run: () => moderate({ cid, user: msg.user, target: { type: 'message', id: msg.id } }) });
    }
    if (msg.id && (extra.length || !mine)) {
      tools.append(contentMenu({ app, cid, user: msg.user, target: { type: 'message', id: msg.id }, extra }));
    }
    li.append(tools);
    return li;
  }

  function add(msg) {
    if (typeof msg.seq !== 'number' || (epoch !== null && msg.epoch !== undefined && msg.epoch !== epoch)) return;
    if (lines.has(msg.seq)) return;
    // The server does not send what blocked people write; this covers a block made meanwhile.
    if (blocks.has(msg.user?.id)) { lastSeq = Math.max(lastSeq, msg.seq); return; }
    const stick = nearBottom();
    const li = lineFor(msg);
    lines.set(msg.seq, li);
    // Keep seq order even if a line arrives out of order (history after a live event).
    let after = null;
    for (const node of list.children) {
      if (Number(node.dataset.seq) > msg.seq) { after = node; break; }
    }
    list.insertBefore(li, after);
    lastSeq = Math.max(lastSeq, msg.seq);
    while (lines.size > MAX_LINES) {
      const first = list.firstElementChild;
      if (!first) break;
      lines.delete(Number(first.dataset.seq));
      first.remove();
    }
    scrollDown(stick);
  }

  function removed(msg) {
    const li = lines.get(msg.seq);
    if (!li) return;
    li.classList.add('deleted');
    replace(li, h('span', { class: 'muted small' }, msg.reason ? [t('chat.removed_because'), ' ', h('bdi', {}, msg.reason)] : t('chat.removed')));
    li.setAttribute('data-deleted', 'true');
  }

  function reset(reply) {
    lines.clear();
    list.replaceChildren();
    lastSeq = 0;
    epoch = reply.epoch ?? null;
    for (const msg of reply.history || []) add(msg);
    scrollDown(true);
  }

  const handle = gateway.join(room, {
    onJoin(reply, info) {
      status.textContent = '';
      input.disabled = false;
      send.disabled = false;
      const sameEpoch = epoch !== null && reply.epoch === epoch;
      if (info.rejoin && info.since && sameEpoch && reply.recovered !== false) {
        for (const msg of reply.history || []) add(msg);
      } else {
        // First join, a new epoch (history was lost), or a gap the server could not replay.
        reset(reply);
        if (info.rejoin && reply.recovered === false) status.textContent = t('chat.reloaded');
      }
      onJoin?.(reply, info);
    },
    onEvent(msg) {
      if (msg.type === 'chat.message') add(msg);
      else if (msg.type === 'chat.deleted') removed(msg);
      else if (msg.type === 'room.closed') {
        status.textContent = msg.reason === 'ended' ? t('chat.closed_ended') : t('chat.closed_removed');
        input.disabled = true;
        send.disabled = true;
      }
      onEvent?.(msg);
    },
    onError(err) {
      status.textContent = describeError(err);
      input.disabled = true;
      send.disabled = true;
      onError?.(err);
    },
  });

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    input.value = '';
    sendText(text);
  });

  async function sendText(text) {
    const nonce = (crypto.randomUUID && crypto.randomUUID()) || `${Date.now()}-${Math.random()}`;
    const pending = h('li', { class: 'chat-line mine pending', 'aria-busy': 'true', dataset: { seq: String(Number.MAX_SAFE_INTEGER) } },
      h('span', { class: 'who' }, userName(app.me)), userText(text, 'span', 'user-text text'));
    list.append(pending);
    scrollDown(true);
    status.textContent = '';
    for (let attempt = 0; ; attempt += 1) {
      try {
        const reply = await gateway.request('chat.send', { room, text, nonce });
        pending.remove();
        if (!lines.has(reply.seq)) add({ room, seq: reply.seq, id: reply.id, epoch, user: app.me, text, ts: new Date().toISOString() });
        return;
      } catch (err) {
        // Lost on the way: the same nonce makes the retry safe (the server stores it once).
        if ((err.code === 'disconnected' || err.code === 'timeout') && attempt < 3) {
          try { await gateway.ready(20000); } catch { /* retry anyway */ }
          continue;
        }
        pending.remove();
        status.textContent = describeError(err);
        if (!input.value) input.value = text;
        return;
      }
    }
  }

  return {
    el,
    input,
    send: sendText,
    destroy() { handle.leave(); },
    get lastSeq() { return lastSeq; },
  };
}
