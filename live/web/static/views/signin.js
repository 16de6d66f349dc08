// Sign-in: in dev mode pick any user id and name (POST /v1/dev/token); always: paste a token
// (as printed by `live token USER_ID --name NAME`).

import { api, request, webConfig } from '../api.js';
import { busy, describeError, field, h, replace } from '../dom.js';
import { t } from '../i18n.js';

export async function renderSignIn(main, _params, app) {
  const config = await webConfig();
  const error = h('p', { class: 'error', role: 'alert', 'data-testid': 'signin-error' });

  async function finish(token) {
    const me = await api.get('/v1/me', { token });
    app.signedIn(token, { id: me.id, name: me.name });
    const next = sessionStorage.getItem('live.after-signin') || '#/';
    sessionStorage.removeItem('live.after-signin');
    app.navigate(next === '#/signin' ? '#/' : next);
  }

  const sections = [];
  if (config.dev) {
    const userId = h('input', { name: 'user_id', required: true, maxlength: 64, autocomplete: 'username', value: '' });
    const name = h('input', { name: 'name', maxlength: 200, dir: 'auto', autocomplete: 'nickname' });
    const submit = h('button', { type: 'submit' }, t('signin.submit'));
    const form = h('form', { class: 'stack', 'data-testid': 'dev-signin' },
      h('h2', {}, t('signin.dev_title')),
      h('p', { class: 'muted' }, t('signin.dev_intro')),
      field(t('signin.user_id'), userId),
      field(t('signin.display_name'), name, t('signin.display_name_hint')),
      submit);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      error.textContent = '';
      busy(submit, async () => {
        try {
          const res = await request('POST', '/v1/dev/token', { user_id: userId.value.trim(), name: name.value.trim() || undefined }, { token: null });
          await finish(res.token);
        } catch (err) {
          error.textContent = describeError(err);
        }
      });
    });
    sections.push(form);
  }

  const tokenInput = h('textarea', { name: 'token', required: true, rows: 3, spellcheck: 'false', autocomplete: 'off' });
  const tokenSubmit = h('button', { type: 'submit', class: config.dev ? 'secondary' : '' }, t('signin.token_submit'));
  const tokenForm = h('form', { class: 'stack', 'data-testid': 'token-signin' },
    h('h2', {}, t('signin.token_title')),
    field(t('signin.token'), tokenInput, t('signin.token_hint')),
    tokenSubmit);
  tokenForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    error.textContent = '';
    busy(tokenSubmit, async () => {
      try {
        await finish(tokenInput.value.trim());
      } catch (err) {
        error.textContent = err.code === 'unauthorized' ? t('signin.bad_token') : describeError(err);
      }
    });
  });
  sections.push(tokenForm);

  replace(main, h('section', { class: 'panel narrow signin' },
    h('h1', {}, t('signin.title')),
    error,
    ...sections));
  main.querySelector('input, textarea')?.focus();
}
