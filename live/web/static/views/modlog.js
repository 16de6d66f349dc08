// The moderation log: every action with its reason, visible to every member (no silent sanctions).

import { api, withQuery } from '../api.js';
import { busy, describeError, h, replace, timeEl, userName, userText } from '../dom.js';
import { has, t, tx } from '../i18n.js';

/** One log entry as a sentence: "a moderator timed out Omar", "an admin deleted a post by Omar". */
export function logEntry(e) {
  const who = e.user_id ? userName({ id: e.user_id, name: e.user_name || e.user_id }) : t('common.someone');
  const content = e.target && e.target.type !== 'user';
  const key = content ? 'modlog.delete_content' : has(`modlog.did.${e.action}`) ? `modlog.did.${e.action}` : 'modlog.did.other';
  const role = e.moderator_role || 'moderator';
  return h('li', { class: `modlog-entry${e.overturned ? ' overturned' : ''}`, 'data-testid': 'modlog-entry', dataset: { action: e.action } },
    h('p', {},
      h('span', { class: 'badge' }, has(`roles.${role}`) ? t(`roles.${role}`) : role), ' ',
      tx(key, { who, what: content ? t(`modlog.target.${e.target.type}`) : '', action: e.action }),
      e.expires_at ? [t('common.sep'), tx('modlog.ends', { when: timeEl(e.expires_at) })] : null, ' ',
      e.overturned ? h('span', { class: 'badge' }, t('modlog.overturned')) : null),
    e.reason ? userText(e.reason, 'p', 'user-text small') : null,
    h('p', { class: 'muted small' }, timeEl(e.created_at)));
}

export function renderModLog(panel, ctx) {
  const { cid } = ctx;
  const list = h('ol', { class: 'modlog', 'data-testid': 'modlog' });
  const status = h('p', { class: 'muted' });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, t('common.load_more'));
  const reload = h('button', { type: 'button', class: 'secondary small' }, t('common.refresh'));
  let cursor = null;

  async function load(reset) {
    try {
      const page = await api.get(withQuery(`/v1/communities/${cid}/moderation/log`, { cursor: reset ? null : cursor }));
      if (reset) list.replaceChildren();
      for (const e of page.items || []) list.append(logEntry(e));
      cursor = page.next_cursor || null;
      more.hidden = !cursor;
      status.textContent = list.children.length ? '' : t('modlog.empty');
    } catch (err) {
      status.textContent = describeError(err);
    }
  }
  more.addEventListener('click', () => busy(more, () => load(false)));
  reload.addEventListener('click', () => busy(reload, () => load(true)));
  replace(panel, h('div', { class: 'row spread' }, h('h2', {}, t('modlog.title')), reload),
    h('p', { class: 'muted small' }, t('modlog.intro')), status, list, more);
  load(true);
}
