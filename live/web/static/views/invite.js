// An invitation link (#/invite/CODE): accept it and land in the community.

import { api } from '../api.js';
import { busy, describeError, h, replace } from '../dom.js';

export async function renderInvite(main, [code], app) {
  const error = h('p', { class: 'error', role: 'alert', 'data-testid': 'invite-error' });
  const accept = h('button', { type: 'button', 'data-testid': 'accept-invite' }, 'Accept the invitation');
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
    h('h1', {}, 'You are invited'),
    h('p', {}, 'Someone invited you to join their community on live. The link works once.'),
    error,
    h('div', { class: 'row' }, accept, h('a', { class: 'button secondary', href: '#/' }, 'Not now'))));
  accept.focus();
}
