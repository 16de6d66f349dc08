// "Invitations" under a community's header (members): the invitation links you made (all of
// them, for moderators and up), whether each was used, and revoking one still unused
// (GET /v1/communities/{cid}/invites, DELETE /v1/invites/{code}: the invitation comes back).

import { api } from '../api.js';
import { busy, describeError, h, replace, timeEl, toast, userName } from '../dom.js';
import { dateTime, t, tx } from '../i18n.js';

export function invitesList(cid) {
  const list = h('ul', { class: 'plain invites', 'data-testid': 'invites' });
  const box = h('details', { class: 'invites-box', 'data-testid': 'invites-box' }, h('summary', {}, t('invites.title')), list);

  function item(inv) {
    let state;
    if (inv.used_by) state = tx('invites.used', { name: userName({ id: inv.used_by, name: inv.used_by }), when: timeEl(inv.used_at) });
    else if (inv.revoked_at) state = t('invites.revoked');
    else if (new Date(inv.expires_at) < new Date()) state = t('invites.expired');
    else state = t('invites.open', { when: dateTime(inv.expires_at) });
    const li = h('li', { class: 'row spread wrap', 'data-testid': 'invite', dataset: { code: inv.code } },
      h('span', {}, h('bdi', { dir: 'ltr', class: 'small' }, inv.code), ' ', h('span', { class: 'muted small' }, state)));
    if (!inv.used_by && !inv.revoked_at && new Date(inv.expires_at) > new Date()) {
      const revoke = h('button', { type: 'button', class: 'secondary small', 'data-testid': 'revoke-invite' }, t('invites.revoke'));
      revoke.addEventListener('click', () => busy(revoke, async () => {
        await api.del(`/v1/invites/${encodeURIComponent(inv.code)}`);
        toast(t('invites.revoked_done'));
        li.replaceWith(item({ ...inv, revoked_at: new Date().toISOString() }));
      }));
      li.append(revoke);
    }
    return li;
  }

  box.addEventListener('toggle', async () => {
    if (!box.open) return;
    try {
      const page = await api.get(`/v1/communities/${cid}/invites?limit=50`);
      replace(list, (page.items || []).length ? page.items.map(item) : h('li', { class: 'muted small' }, t('invites.none')));
    } catch (err) {
      replace(list, h('li', { class: 'error' }, describeError(err)));
    }
  });
  return box;
}
