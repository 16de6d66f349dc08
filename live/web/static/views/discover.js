// Discover communities (search words, one topic), join open ones, create a new one.

import { api, withQuery } from '../api.js';
import { busy, describeError, field, h, replace, toast, userText } from '../dom.js';
import { t } from '../i18n.js';
import { renderHomeTab } from './hometab.js';

export async function renderDiscover(main, _params, app) {
  const q = h('input', { type: 'search', name: 'q', maxlength: 100, dir: 'auto', placeholder: t('discover.search_placeholder') });
  const topic = h('input', { type: 'search', name: 'topic', maxlength: 51, dir: 'auto', placeholder: t('discover.topic_placeholder') });
  const list = h('ul', { class: 'cards communities', 'data-testid': 'community-list', 'aria-live': 'polite' });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, t('common.load_more'));
  const status = h('p', { class: 'muted' });
  let cursor = null;
  let seq = 0;

  async function load(reset) {
    const mine = ++seq;
    if (reset) { cursor = null; }
    try {
      const page = await api.get(withQuery('/v1/communities', { q: q.value.trim(), topic: topic.value.trim(), cursor }));
      if (mine !== seq) return;
      if (reset) list.replaceChildren();
      for (const c of page.items || []) list.append(card(c));
      cursor = page.next_cursor || null;
      more.hidden = !cursor;
      status.textContent = list.children.length ? '' : t('discover.none');
    } catch (err) {
      if (mine === seq) status.textContent = describeError(err);
    }
  }

  function card(c) {
    app.communities.set(c.id, c);
    const actions = h('div', { class: 'row' }, h('a', { class: 'button secondary', href: `#/c/${c.id}` }, t('discover.open')));
    if (!c.my_role && c.join_policy === 'open') {
      const join = h('button', { type: 'button' }, t('community.join'));
      join.addEventListener('click', () => busy(join, async () => {
        await api.post(`/v1/communities/${c.id}/join`);
        toast(t('community.joined', { name: c.name }));
        app.navigate(`#/c/${c.id}`);
      }));
      actions.append(join);
    } else if (!c.my_role) {
      actions.append(h('span', { class: 'badge' }, t('community.invite_only')));
    } else {
      actions.append(h('span', { class: 'badge role' }, t(`roles.${c.my_role}`)));
    }
    return h('li', { class: 'card', 'data-testid': 'community-card', dataset: { id: c.id } },
      h('h3', {}, h('a', { href: `#/c/${c.id}`, dir: 'auto' }, c.name)),
      c.description ? userText(c.description, 'p', 'user-text clamp') : null,
      topics(c.topics, (t) => { topic.value = t; load(true); }),
      h('p', { class: 'muted small' }, t('community.members', { count: c.member_count }), t('common.sep'), c.join_policy === 'open' ? t('community.open') : t('community.invite_only')),
      actions);
  }

  let debounce = null;
  const search = h('form', { class: 'row wrap search', role: 'search' },
    field(t('discover.search'), q), field(t('discover.topic'), topic),
    h('button', { type: 'submit' }, t('discover.search_button')));
  search.addEventListener('submit', (ev) => { ev.preventDefault(); load(true); });
  for (const input of [q, topic]) {
    input.addEventListener('input', () => { clearTimeout(debounce); debounce = setTimeout(() => load(true), 300); });
  }
  more.addEventListener('click', () => busy(more, () => load(false)));

  const home = renderHomeTab(app);
  replace(main,
    home.el,
    h('section', { class: 'panel' },
      h('h1', {}, t('discover.title')),
      search, status, list, more),
    createForm(app));
  await load(true);
  return () => { clearTimeout(debounce); home.stop(); };
}

export function topics(values, onPick) {
  if (!values || !values.length) return null;
  return h('ul', { class: 'topics', 'aria-label': t('discover.topics') },
    values.map((t) => h('li', {}, onPick
      ? h('button', { type: 'button', class: 'chip', onclick: () => onPick(t) }, h('bdi', {}, `#${t}`))
      : h('span', { class: 'chip' }, h('bdi', {}, `#${t}`)))));
}

function createForm(app) {
  const name = h('input', { name: 'name', required: true, maxlength: 100, dir: 'auto' });
  const description = h('textarea', { name: 'description', rows: 2, maxlength: 2000, dir: 'auto' });
  const topicsInput = h('input', { name: 'topics', dir: 'auto', placeholder: t('create.topics_placeholder') });
  const join = h('select', { name: 'join_policy' },
    h('option', { value: 'open' }, t('create.open')),
    h('option', { value: 'invite' }, t('create.invite')));
  const read = h('select', { name: 'read_policy' },
    h('option', { value: 'public' }, t('create.public')),
    h('option', { value: 'members' }, t('create.members')));
  const submit = h('button', { type: 'submit' }, t('create.submit'));
  const error = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { class: 'stack', 'data-testid': 'create-community' },
    field(t('create.name'), name), field(t('create.description'), description),
    field(t('create.topics'), topicsInput, t('create.topics_hint')),
    h('div', { class: 'row wrap' }, field(t('create.who_joins'), join), field(t('create.who_reads'), read)),
    error, submit);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    error.textContent = '';
    busy(submit, async () => {
      try {
        const topicList = topicsInput.value.split(/[\s,]+/).map((t) => t.trim()).filter(Boolean);
        const c = await api.post('/v1/communities', {
          name: name.value.trim(), description: description.value.trim(), topics: topicList,
          join_policy: join.value, read_policy: read.value,
        });
        app.communities.set(c.id, c);
        app.navigate(`#/c/${c.id}`);
      } catch (err) {
        error.textContent = describeError(err);
      }
    });
  });
  return h('section', { class: 'panel' },
    h('details', { 'data-testid': 'create-details' },
      h('summary', {}, h('h2', { class: 'inline' }, t('create.title'))),
      form));
}
