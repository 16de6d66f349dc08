// Join requests (the community's "Requests" tab, moderators and up, invite-only communities):
// pending ones oldest first with the asker's message; approve or reject. Decided ones below.

import { api, withQuery } from '../api.js';
import { busy, describeError, h, replace, timeEl, toast, userName, userText } from '../dom.js';
import { t } from '../i18n.js';

export function renderRequests(panel, ctx) {
  const { cid } = ctx;
  const list = h('ul', { class: 'plain requests', 'data-testid': 'join-requests' });
  const status = h('p', { class: 'muted', 'aria-live': 'polite' });
  const show = h('select', { 'aria-label': t('requests.show'), 'data-testid': 'requests-status' },
    ['pending', 'approved', 'rejected'].map((s) => h('option', { value: s }, t(`requests.status.${s}`))));

  function item(r) {
    const who = r.user || { id: r.user_id, name: r.user_name || r.user_id };
    const li = h('li', { class: 'request card', 'data-testid': 'join-request', dataset: { id: r.id } },
      h('p', {}, h('strong', {}, userName(who)), t('common.sep'), timeEl(r.created_at)),
      r.message ? userText(r.message, 'p', 'user-text') : h('p', { class: 'muted small' }, t('requests.no_message')));
    if (r.status === 'pending') {
      const approve = h('button', { type: 'button', class: 'small', 'data-testid': 'approve' }, t('requests.approve'));
      const reject = h('button', { type: 'button', class: 'secondary small', 'data-testid': 'reject' }, t('requests.reject'));
      const decide = (button, verb) => busy(button, async () => {
        await api.post(`/v1/join-requests/${r.id}/${verb}`);
        toast(t(`requests.${verb}d`, { name: who.name || who.id }));
        li.remove();
        if (!list.children.length) status.textContent = t('requests.none');
      });
      approve.addEventListener('click', () => decide(approve, 'approve'));
      reject.addEventListener('click', () => decide(reject, 'reject'));
      li.append(h('div', { class: 'row' }, approve, reject));
    } else {
      li.append(h('p', { class: 'badge' }, t(`requests.status.${r.status}`)));
    }
    return li;
  }

  async function load() {
    try {
      const page = await api.get(withQuery(`/v1/communities/${cid}/join-requests`, { status: show.value, limit: 50 }));
      replace(list, (page.items || []).map(item));
      status.textContent = list.children.length ? '' : t('requests.none');
    } catch (err) {
      status.textContent = describeError(err);
    }
  }
  show.addEventListener('change', load);
  replace(panel, h('div', { class: 'row spread wrap' }, h('h2', {}, t('requests.title')), show),
    h('p', { class: 'muted small' }, t('requests.intro')), status, list);
  load();
}
