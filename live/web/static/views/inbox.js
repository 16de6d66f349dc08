// The inbox (#/notifications): newest first, unread marked, "Mark all read", push on/off.
// A click on a notification marks it read and opens where it points (its `url`).

import { api, withQuery } from '../api.js';
import { busy, describeError, h, replace, timeEl, toast } from '../dom.js';
import { t } from '../i18n.js';
import { notificationText } from '../notetext.js';

export async function renderInbox(main, _params, app) {
  const list = h('ul', { class: 'inbox', 'data-testid': 'inbox' });
  const empty = h('p', { class: 'muted', 'data-testid': 'inbox-empty', hidden: true }, t('inbox.empty'));
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, t('common.load_more'));
  const markAll = h('button', { type: 'button', class: 'secondary', 'data-testid': 'mark-all-read' }, t('inbox.mark_all'));
  const push = h('button', { type: 'button', class: 'secondary', 'data-testid': 'push-toggle' });
  const pushNote = h('p', { class: 'muted small' }, t('inbox.push_hint'));
  let cursor = null;
  const shown = new Map();

  function item(n) {
    const text = notificationText(n);
    const state = h('span', { class: 'note-state' }, n.read ? '' : `${t('common.sep')}${t('inbox.unread')}`);
    const el = h('li', { class: `note${n.read ? '' : ' unread'}`, 'data-testid': 'notification', dataset: { id: n.id, kind: n.kind } },
      h('a', { href: n.url, class: 'note-link' },
        h('strong', { dir: 'auto', class: 'note-title' }, text.title),
        text.body ? h('span', { dir: 'auto', class: 'note-body' }, text.body) : null,
        h('span', { class: 'muted small' }, timeEl(n.created_at), state)));
    el.querySelector('a').addEventListener('click', () => { if (!n.read) markRead([n.id]); });
    return el;
  }

  function add(n, top = false) {
    if (shown.has(n.id)) return;
    const el = item(n);
    shown.set(n.id, { n, el });
    if (top) list.prepend(el); else list.append(el);
    empty.hidden = true;
  }

  async function load() {
    const page = await api.get(withQuery('/v1/me/notifications', { cursor }));
    for (const n of page.items) add(n);
    cursor = page.next_cursor;
    more.hidden = !cursor;
    empty.hidden = shown.size > 0;
    app.notifications.setUnread(page.unread_count);
  }

  async function markRead(ids) {
    const body = ids ? { ids } : { all: true };
    const { unread_count: count } = await api.post('/v1/me/notifications/read', body);
    app.notifications.setUnread(count);
    for (const [id, entry] of shown) {
      if (!ids || ids.includes(id)) {
        entry.n.read = true;
        entry.el.classList.remove('unread');
        entry.el.querySelector('.note-state').textContent = '';
      }
    }
  }

  async function paintPush() {
    const state = await app.notifications.pushState();
    push.hidden = state === 'unsupported';
    push.textContent = state === 'on' ? t('inbox.push_off') : t('inbox.push_on');
    push.disabled = state === 'denied';
    push.dataset.state = state;
  }
  push.addEventListener('click', () => busy(push, async () => {
    const message = push.dataset.state === 'on'
      ? await app.notifications.disablePush() : await app.notifications.enablePush();
    toast(message);
    await paintPush();
  }));

  markAll.addEventListener('click', () => busy(markAll, () => markRead(null)));
  more.addEventListener('click', () => busy(more, load));
  const off = app.notifications.on((n) => add(n, true));

  replace(main, h('section', { class: 'panel' },
    h('div', { class: 'row spread wrap' }, h('h1', {}, t('inbox.title')), h('div', { class: 'row wrap' }, markAll,
      h('a', { class: 'button secondary', href: '#/settings/notifications' }, t('inbox.settings')))),
    h('div', { class: 'row wrap' }, push, pushNote),
    empty, list, more));
  try {
    await load();
  } catch (err) {
    replace(empty, describeError(err));
    empty.hidden = false;
  }
  paintPush().catch(() => { push.hidden = true; });
  return off;
}
