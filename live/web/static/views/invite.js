// An invitation link (#/invite/CODE): accept it and land in the community.

import { api } from '../api.js';
import { busy, describeError, h, replace } from '../dom.js';
import { t } from '../i18n.js';

export async function renderInvite(main, [code], app) {
  const error = h('p', { class: 'error', role: 'alert', 'data-testid': 'invite-error' });
  const accept = h('button', { type: 'button', 'data-testid': 'accept-invite' }, t('invite.accept'));
  accept.addEventListener('click', () => busy(accept, async () => {
    error.textContent = '';
    try {
      const membership = await api.post(`/v1/invites/${encodeURIComponent(code)}/accept`);
      app.navigate(`#/c/${membership.community_id}`);
    } catch (err) {
      error.textContent = describeError(err);
    }
  }));
  replace(main, h('section', { class: 'panel narrow' },
    h('h1', {}, t('invite.title')),
    h('p', {}, t('invite.intro')),
    error,
    h('div', { class: 'row' }, accept, h('a', { class: 'button secondary', href: '#/' }, t('invite.not_now')))));
  accept.focus();
}
