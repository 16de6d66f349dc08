// The moderation log: every action with its reason, visible to every member (no silent sanctions).

import { api, withQuery } from '../api.js';
import { busy, describeError, h, replace, timeEl, userName, userText } from '../dom.js';

const VERB = {
  ban: 'banned', unban: 'unbanned', mute: 'muted', unmute: 'unmuted', timeout: 'timed out',
  kick: 'removed', delete: 'deleted',
};

export function renderModLog(panel, ctx) {
  const { cid } = ctx;
  const list = h('ol', { class: 'modlog', 'data-testid': 'modlog' });
  const status = h('p', { class: 'muted' });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Load more');
  const reload = h('button', { type: 'button', class: 'secondary small' }, 'Refresh');
  let cursor = null;

  function entryEl(e) {
    const who = e.user_id ? userName({ id: e.user_id, name: e.user_name || e.user_id }) : null;
    // "deleted a message by Omar", "timed out Omar, ends in 5 min"
    const content = e.target && e.target.type !== 'user';
    const object = content ? [`a ${e.target.type}`, who ? [' by ', who] : ''] : who || '';
    const until = e.expires_at ? [', ends ', timeEl(e.expires_at)] : null;
    return h('li', { class: `modlog-entry${e.overturned ? ' overturned' : ''}`, 'data-testid': 'modlog-entry' },
      h('p', {},
        h('span', { class: 'badge' }, e.moderator_role || 'moderator'), ' ',
        VERB[e.action] || e.action, ' ', object, until || '', ' ',
        e.overturned ? h('span', { class: 'badge' }, 'overturned') : null),
      e.reason ? userText(e.reason, 'p', 'user-text small') : null,
      h('p', { class: 'muted small' }, timeEl(e.created_at)));
  }

  async function load(reset) {
    try {
      const page = await api.get(withQuery(`/v1/communities/${cid}/moderation/log`, { cursor: reset ? null : cursor }));
      if (reset) list.replaceChildren();
      for (const e of page.items || []) list.append(entryEl(e));
      cursor = page.next_cursor || null;
      more.hidden = !cursor;
      status.textContent = list.children.length ? '' : 'No moderation actions yet.';
    } catch (err) {
      status.textContent = describeError(err);
    }
  }
  more.addEventListener('click', () => busy(more, () => load(false)));
  reload.addEventListener('click', () => busy(reload, () => load(true)));
  replace(panel, h('div', { class: 'row spread' }, h('h2', {}, 'Moderation log'), reload), status, list, more);
  load(true);
}
