// The community's members (the "Members" tab): names and roles, most senior first as the server
// lists them. The owner and admins change roles within their rank (PATCH .../members/{uid}); the
// owner hands the community over (POST .../transfer). Each person has the menu of report and
// block. Who may list members is the community's `member_list` (members only, or everyone).

import { api, withQuery } from '../api.js';
import { busy, describeError, h, replace, timeEl, toast, userName } from '../dom.js';
import { confirmDialog } from '../dialogs.js';
import { t, tx } from '../i18n.js';
import { ROLES } from '../roles.js';
import { contentMenu } from '../safety.js';

/** The roles `mine` may give to a member (the contract: owner any but owner, admins moderator/member). */
function grantable(mine) {
  if (mine === 'owner') return ['admin', 'moderator', 'member'];
  if (mine === 'admin') return ['moderator', 'member'];
  return [];
}

export function renderMembers(panel, ctx) {
  const { cid, app } = ctx;
  const list = h('ul', { class: 'plain members', 'data-testid': 'members' });
  const status = h('p', { class: 'muted', 'aria-live': 'polite' });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, t('common.load_more'));
  const filter = h('select', { 'aria-label': t('members.filter'), 'data-testid': 'members-role' },
    h('option', { value: '' }, t('members.everyone')), ROLES.map((r) => h('option', { value: r }, t(`roles.${r}`))));
  let cursor = null;

  function memberEl(m) {
    const mine = ctx.community.my_role;
    const user = m.user || { id: m.user_id, name: m.user_id };
    const me = app.me && user.id === app.me.id;
    const li = h('li', { class: 'member row spread wrap', 'data-testid': 'member', dataset: { user: user.id, role: m.role } },
      h('span', {}, h('strong', {}, userName(user)), ' ', h('span', { class: 'badge role' }, t(`roles.${m.role}`)), ' ',
        h('span', { class: 'muted small' }, tx('members.since', { when: timeEl(m.joined_at) }))));
    const tools = h('span', { class: 'row wrap' });
    const roles = grantable(mine);
    if (!me && roles.length && m.role !== 'owner' && (mine === 'owner' || m.role !== 'admin')) {
      const select = h('select', { 'aria-label': t('members.role_of', { name: user.name || user.id }), 'data-testid': 'member-role' },
        roles.map((r) => h('option', { value: r, selected: r === m.role }, t(`roles.${r}`))));
      select.addEventListener('change', () => busy(select, async () => {
        const updated = await api.patch(`/v1/communities/${cid}/members/${encodeURIComponent(user.id)}`, { role: select.value });
        toast(t('members.role_changed', { name: user.name || user.id, role: t(`roles.${updated.role}`) }));
        li.replaceWith(memberEl({ ...m, ...updated }));
      }));
      tools.append(select);
    }
    if (!me && mine === 'owner') {
      const hand = h('button', { type: 'button', class: 'secondary small', 'data-testid': 'transfer' }, t('members.transfer'));
      hand.addEventListener('click', () => busy(hand, async () => {
        const ok = await confirmDialog({
          title: t('members.transfer_title', { name: user.name || user.id }),
          text: t('members.transfer_text'), confirmLabel: t('members.transfer'), testid: 'transfer-dialog',
        });
        if (!ok) return;
        await api.post(`/v1/communities/${cid}/transfer`, { user_id: user.id });
        toast(t('members.transferred', { name: user.name || user.id }));
        location.reload(); // every tab and the header follow the new roles
      }));
      tools.append(hand);
    }
    const menu = contentMenu({ app, cid, user, target: { type: 'user', id: user.id } });
    li.append(h('span', { class: 'row' }, tools, menu));
    return li;
  }

  async function load(reset) {
    try {
      const page = await api.get(withQuery(`/v1/communities/${cid}/members`, { role: filter.value, cursor: reset ? null : cursor, limit: 50 }));
      if (reset) list.replaceChildren();
      for (const m of page.items || []) list.append(memberEl(m));
      cursor = page.next_cursor || null;
      more.hidden = !cursor;
      status.textContent = list.children.length ? '' : t('members.none');
    } catch (err) {
      status.textContent = err.code === 'not_member' ? t('members.private') : describeError(err);
    }
  }
  filter.addEventListener('change', () => load(true));
  more.addEventListener('click', () => busy(more, () => load(false)));
  replace(panel, h('div', { class: 'row spread wrap' }, h('h2', {}, t('members.title')), filter), status, list, more);
  load(true);
}
