// Discover communities (search words, one topic), join open ones, create a new one.

import { api, withQuery } from '../api.js';
import { busy, describeError, field, h, replace, toast, userText } from '../dom.js';
import { renderHomeTab } from './hometab.js';

export async function renderDiscover(main, _params, app) {
  const q = h('input', { type: 'search', name: 'q', maxlength: 100, dir: 'auto', placeholder: 'Name or description' });
  const topic = h('input', { type: 'search', name: 'topic', maxlength: 51, dir: 'auto', placeholder: '#topic' });
  const list = h('ul', { class: 'cards communities', 'data-testid': 'community-list', 'aria-live': 'polite' });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Load more');
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
      status.textContent = list.children.length ? '' : 'No community matches. Create one below.';
    } catch (err) {
      if (mine === seq) status.textContent = describeError(err);
    }
  }

  function card(c) {
    app.communities.set(c.id, c);
    const actions = h('div', { class: 'row' }, h('a', { class: 'button secondary', href: `#/c/${c.id}` }, 'Open'));
    if (!c.my_role && c.join_policy === 'open') {
      const join = h('button', { type: 'button' }, 'Join');
      join.addEventListener('click', () => busy(join, async () => {
        await api.post(`/v1/communities/${c.id}/join`);
        toast(`You joined ${c.name}.`);
        app.navigate(`#/c/${c.id}`);
      }));
      actions.append(join);
    } else if (!c.my_role) {
      actions.append(h('span', { class: 'badge' }, 'invite only'));
    } else {
      actions.append(h('span', { class: 'badge role' }, c.my_role));
    }
    return h('li', { class: 'card', 'data-testid': 'community-card', dataset: { id: c.id } },
      h('h3', {}, h('a', { href: `#/c/${c.id}`, dir: 'auto' }, c.name)),
      c.description ? userText(c.description, 'p', 'user-text clamp') : null,
      topics(c.topics, (t) => { topic.value = t; load(true); }),
      h('p', { class: 'muted small' }, `${c.member_count} member${c.member_count === 1 ? '' : 's'} · ${c.join_policy === 'open' ? 'open' : 'invite only'}`),
      actions);
  }

  let debounce = null;
  const search = h('form', { class: 'row wrap search', role: 'search' },
    field('Search', q), field('Topic', topic),
    h('button', { type: 'submit' }, 'Search'));
  search.addEventListener('submit', (ev) => { ev.preventDefault(); load(true); });
  for (const input of [q, topic]) {
    input.addEventListener('input', () => { clearTimeout(debounce); debounce = setTimeout(() => load(true), 300); });
  }
  more.addEventListener('click', () => busy(more, () => load(false)));

  const home = renderHomeTab(app);
  replace(main,
    home.el,
    h('section', { class: 'panel' },
      h('h1', {}, 'Discover communities'),
      search, status, list, more),
    createForm(app));
  await load(true);
  return () => { clearTimeout(debounce); home.stop(); };
}

export function topics(values, onPick) {
  if (!values || !values.length) return null;
  return h('ul', { class: 'topics', 'aria-label': 'Topics' },
    values.map((t) => h('li', {}, onPick
      ? h('button', { type: 'button', class: 'chip', onclick: () => onPick(t) }, h('bdi', {}, `#${t}`))
      : h('span', { class: 'chip' }, h('bdi', {}, `#${t}`)))));
}

function createForm(app) {
  const name = h('input', { name: 'name', required: true, maxlength: 100, dir: 'auto' });
  const description = h('textarea', { name: 'description', rows: 2, maxlength: 2000, dir: 'auto' });
  const topicsInput = h('input', { name: 'topics', dir: 'auto', placeholder: 'music, #jazz' });
  const join = h('select', { name: 'join_policy' },
    h('option', { value: 'open' }, 'Open: anyone can join'),
    h('option', { value: 'invite' }, 'Invite only'));
  const read = h('select', { name: 'read_policy' },
    h('option', { value: 'public' }, 'Public: anyone can read'),
    h('option', { value: 'members' }, 'Members only'));
  const submit = h('button', { type: 'submit' }, 'Create community');
  const error = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { class: 'stack', 'data-testid': 'create-community' },
    field('Name', name), field('Description', description),
    field('Topics', topicsInput, 'Separated by commas or spaces.'),
    h('div', { class: 'row wrap' }, field('Who can join', join), field('Who can read', read)),
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
      h('summary', {}, h('h2', { class: 'inline' }, 'Create a community')),
      form));
}
