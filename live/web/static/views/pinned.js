// A live's pinned chat message, above the chat: shown to everyone (`chat.pinned`, and
// `state.pinned` on joining), pinned from a line's menu and unpinned here by the host and
// moderators (PUT / DELETE /v1/live/{lid}/pin). What a blocked person wrote is not shown.

import { api } from '../api.js';
import { busy, describeError, h, replace, toast, userName, userText } from '../dom.js';
import { t, tx } from '../i18n.js';
import { blocks } from '../safety.js';

export function pinnedMessage({ lid, canManage }) {
  const el = h('div', { class: 'pinned', 'data-testid': 'pinned', hidden: true, role: 'region', 'aria-label': t('chat.pinned') });

  function show(msg) {
    if (!msg || blocks.has(msg.user?.id)) { el.hidden = true; el.replaceChildren(); delete el.dataset.seq; return; }
    el.dataset.seq = String(msg.seq);
    const unpin = canManage() ? h('button', { type: 'button', class: 'link small', 'data-testid': 'unpin' }, t('chat.unpin')) : null;
    unpin?.addEventListener('click', () => busy(unpin, async () => show((await api.del(`/v1/live/${lid}/pin`))?.pinned)));
    replace(el, h('span', { class: 'pin-mark', 'aria-hidden': 'true' }, '📌'),
      h('div', {}, h('p', { class: 'small muted' }, tx('chat.pinned_by', { name: userName(msg.user) })), userText(msg.text, 'p', 'user-text')),
      unpin);
    el.hidden = false;
  }

  async function pin(msg) {
    try {
      show((await api.put(`/v1/live/${lid}/pin`, { seq: msg.seq }))?.pinned);
      toast(t('chat.pinned_done'));
    } catch (err) {
      toast(describeError(err), 'error');
    }
  }

  return {
    el,
    show,
    pin,
    /** A chat message was deleted: deleting the pinned one unpins it. */
    deleted(seq) { if (el.dataset.seq && Number(el.dataset.seq) === seq) show(null); },
  };
}
