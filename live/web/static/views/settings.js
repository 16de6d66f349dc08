// Settings (#/settings): the language, notifications, the people you blocked, your reports and
// appeals, and your data: download all of it (GET /v1/me/export) or erase your account
// (DELETE /v1/me, after a confirmation that says what goes and what stays).

import { api, session } from '../api.js';
import { busy, describeError, field, h, replace, toast, userName } from '../dom.js';
import { formDialog } from '../dialogs.js';
import { LANGS, currentLang, date, rememberLang, t, tx } from '../i18n.js';
import { blocks } from '../safety.js';

export async function renderSettings(main, _params, app) {
  const me = app.me;

  // -- language
  const langs = h('div', { class: 'row wrap', role: 'radiogroup', 'aria-label': t('settings.language') },
    Object.entries(LANGS).map(([code, { name }]) => {
      const input = h('input', { type: 'radio', name: 'lang', value: code, checked: code === currentLang(), 'data-testid': `lang-${code}` });
      input.addEventListener('change', () => { rememberLang(code); location.reload(); });
      return h('label', { class: 'row choice', lang: code }, input, name);
    }));

  // -- blocked people
  const blocked = h('ul', { class: 'plain', 'data-testid': 'blocked-list' });
  async function loadBlocked() {
    try {
      const page = await api.get('/v1/me/blocks?limit=100');
      const items = page.items || [];
      if (!items.length) { replace(blocked, h('li', { class: 'muted' }, t('settings.blocked_none'))); return; }
      replace(blocked, items.map((b) => {
        const user = b.user || { id: b.user_id, name: b.user_id };
        const un = h('button', { type: 'button', class: 'secondary small', 'data-testid': 'unblock' }, t('settings.unblock'));
        un.setAttribute('aria-label', t('safety.unblock_person', { name: user.name || user.id }));
        un.addEventListener('click', () => busy(un, async () => { await blocks.unblock(user); await loadBlocked(); }));
        return h('li', { class: 'row spread', 'data-testid': 'blocked-person' }, h('span', {}, userName(user), ' ', h('span', { class: 'muted small' }, t('settings.blocked_since', { when: date(b.created_at) }))), un);
      }));
    } catch (err) {
      replace(blocked, h('li', { class: 'error' }, describeError(err)));
    }
  }

  // -- my data
  const exportButton = h('button', { type: 'button', class: 'secondary', 'data-testid': 'export' }, t('settings.export'));
  const exportOut = h('p', { class: 'small', 'aria-live': 'polite' });
  exportButton.addEventListener('click', () => busy(exportButton, async () => {
    const data = await api.get('/v1/me/export');
    const blob = new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' });
    const name = `live-export-${me.id}-${new Date().toISOString().slice(0, 10)}.json`;
    const link = h('a', { href: URL.createObjectURL(blob), download: name, 'data-testid': 'export-link' }, tx('settings.export_ready', { name: h('bdi', { dir: 'ltr' }, name) }));
    replace(exportOut, link);
    link.click();
  }));
  const erase = h('button', { type: 'button', class: 'danger', 'data-testid': 'erase' }, t('settings.erase'));
  erase.addEventListener('click', () => eraseAccount(app));

  const signOut = h('button', { type: 'button', class: 'secondary small', 'data-testid': 'settings-sign-out' }, t('nav.sign_out'));
  signOut.addEventListener('click', () => app.signOut());
  replace(main, h('section', { class: 'panel narrow settings' },
    h('h1', {}, t('settings.title')),
    h('div', { class: 'row spread wrap' }, h('p', { class: 'muted' }, tx('settings.signed_in_as', { name: userName(me), id: h('bdi', { dir: 'ltr' }, me.id) })), signOut),
    h('h2', {}, t('settings.language')), langs,
    h('h2', {}, t('settings.notifications')),
    h('p', {}, h('a', { href: '#/settings/notifications' }, t('inbox.settings')), t('common.sep'), h('a', { href: '#/me/time' }, t('nav.your_time'))),
    h('h2', {}, t('settings.safety')),
    h('p', {}, h('a', { href: '#/me/reports', 'data-testid': 'my-reports-link' }, t('myreports.title'))),
    h('h3', {}, t('settings.blocked')),
    h('p', { class: 'muted small' }, t('settings.blocked_intro')), blocked,
    h('h2', {}, t('settings.my_data')),
    h('p', { class: 'muted small' }, t('settings.export_intro')), exportButton, exportOut,
    h('h3', {}, t('settings.erase_title')),
    h('p', { class: 'muted small' }, t('settings.erase_intro')), erase));
  await loadBlocked();
}

/** Erase the account, after the person typed their user id to confirm it. */
async function eraseAccount(app) {
  const me = app.me;
  const typed = h('input', { name: 'confirm', autocomplete: 'off', spellcheck: 'false', dir: 'ltr', 'data-testid': 'erase-confirm' });
  const done = await formDialog({
    title: t('settings.erase_title'),
    body: [
      h('p', {}, t('settings.erase_what_goes')),
      h('p', {}, t('settings.erase_what_stays')),
      h('p', { class: 'warn' }, t('settings.erase_final')),
      field(tx('settings.erase_type', { id: h('bdi', { dir: 'ltr' }, me.id) }), typed),
    ],
    submitLabel: t('settings.erase_submit'),
    danger: true,
    testid: 'erase-dialog',
    submit: async () => {
      if (typed.value.trim() !== me.id) { typed.focus(); throw new Error(t('settings.erase_mismatch')); }
      try {
        await api.del('/v1/me');
      } catch (err) {
        if (err.code === 'conflict') throw new Error(t('settings.erase_conflict'));
        throw err;
      }
      return true;
    },
  });
  if (!done) return;
  session.clear();
  toast(t('settings.erased'));
  app.signOut();
}
