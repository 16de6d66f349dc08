// The posts tab: write a post (with up to four images), read the feed (newest first), like,
// comment, share, delete; report, block or moderate from each post's and comment's menu.

import { api, withQuery } from '../api.js';
import { busy, describeError, field, h, replace, timeEl, toast, userName, userText } from '../dom.js';
import { confirmDialog } from '../dialogs.js';
import { attachments, gallery } from '../gallery.js';
import { num, t, tx } from '../i18n.js';
import { STAFF } from '../roles.js';
import { blocks, contentMenu } from '../safety.js';
import { moderate } from './moddialog.js';

const POST_MAX = 5000;

export function renderPosts(panel, ctx) {
  const { cid, app } = ctx;
  const feed = h('ol', { class: 'feed', 'data-testid': 'post-feed', 'aria-label': t('posts.title') });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, t('common.load_more'));
  const empty = h('p', { class: 'muted' });
  let cursor = null;

  const composer = ctx.community.my_role ? postComposer() : h('p', { class: 'muted' }, t('posts.join_to_post'));

  function postComposer() {
    const text = h('textarea', { name: 'text', rows: 3, maxlength: POST_MAX, dir: 'auto', 'data-testid': 'post-text' });
    const error = h('p', { class: 'error', role: 'alert', 'data-testid': 'post-error' });
    const images = attachments({ onError: (err) => { error.textContent = typeof err === 'string' ? err : describeError(err); } });
    const submit = h('button', { type: 'submit' }, t('posts.post'));
    const form = h('form', { class: 'stack composer' }, field(t('posts.new_post'), text), images.el, error, submit);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      error.textContent = '';
      if (!text.value.trim() && !images.count()) { error.textContent = t('posts.empty_post'); text.focus(); return; }
      busy(submit, async () => {
        await images.wait();
        if (images.failed()) { error.textContent = t('posts.remove_failed'); return; }
        const body = { text: text.value };
        if (images.count()) body.media_ids = images.ids();
        const post = await api.post(`/v1/communities/${cid}/posts`, body);
        text.value = '';
        images.clear();
        feed.prepend(postEl(post));
        empty.textContent = '';
      });
    });
    return form;
  }

  function counted(n) {
    const count = h('span', { class: 'count', dataset: { n: String(n) } }, num(n));
    return { count, set(v) { count.dataset.n = String(v); count.textContent = num(v); }, get() { return Number(count.dataset.n); } };
  }

  function postEl(post) {
    const me = app.me;
    const role = ctx.community.my_role;
    const li = h('li', { class: 'post', 'data-testid': 'post', dataset: { id: post.id, author: post.author?.id || '' } });
    const likes = counted(post.like_count);
    const like = h('button', { type: 'button', class: 'secondary small', 'aria-pressed': post.liked_by_me ? 'true' : 'false', 'data-testid': 'like' },
      h('span', { 'aria-hidden': 'true' }, '♥'), ' ', t('posts.like'), ' ', likes.count);
    like.addEventListener('click', () => busy(like, async () => {
      const liked = like.getAttribute('aria-pressed') === 'true';
      const res = liked ? await api.del(`/v1/posts/${post.id}/like`) : await api.post(`/v1/posts/${post.id}/like`);
      likes.set(res && typeof res.like_count === 'number' ? res.like_count : likes.get() + (liked ? -1 : 1));
      like.setAttribute('aria-pressed', liked ? 'false' : 'true');
    }));

    const comments = counted(post.comment_count);
    const box = h('div', { class: 'comments', hidden: true });
    const toggle = h('button', { type: 'button', class: 'secondary small', 'aria-expanded': 'false', 'data-testid': 'comments-toggle' },
      t('posts.comments'), ' ', comments.count);
    toggle.addEventListener('click', () => {
      const open = box.hidden;
      box.hidden = !open;
      toggle.setAttribute('aria-expanded', open ? 'true' : 'false');
      if (open && !box.dataset.loaded) loadComments(post, box, comments);
    });

    const shares = counted(post.share_count);
    const share = h('button', { type: 'button', class: 'secondary small', 'data-testid': 'share' }, t('posts.share'), ' ', shares.count);
    share.addEventListener('click', () => busy(share, async () => {
      const shared = await api.post(`/v1/posts/${post.id}/share`, {});
      shares.set(shares.get() + 1);
      if (shared && shared.community_id === cid) feed.prepend(postEl(shared));
      toast(t('posts.shared'));
    }));

    const tools = h('div', { class: 'row post-tools' }, like, toggle, share);
    const extra = [];
    if (me && post.author?.id === me.id) {
      const del = h('button', { type: 'button', class: 'link danger small' }, t('common.delete'));
      del.addEventListener('click', () => busy(del, async () => {
        const ok = await confirmDialog({ title: t('posts.delete_title'), text: t('posts.delete_text'), confirmLabel: t('common.delete') });
        if (!ok) return;
        await api.del(`/v1/posts/${post.id}`);
        li.remove();
      }));
      tools.append(del);
    } else if (STAFF.includes(role)) {
      extra.push({
        label: t('moderation.moderate'), testid: 'moderate',
        run: async () => {
          const done = await moderate({ cid, user: post.author, target: { type: 'post', id: post.id } });
          if (done && done.action === 'delete') li.remove();
        },
      });
    }
    const menu = contentMenu({ app, cid, user: post.author, target: { type: 'post', id: post.id }, extra });
    const original = post.original
      ? h('blockquote', { class: 'shared' }, h('p', { class: 'muted small' }, tx('posts.shared_from', { name: userName(post.original.author) })),
        userText(post.original.text), gallery(post.original.media))
      : (post.shared_from ? h('p', { class: 'muted small' }, t('posts.original_gone')) : null);
    li.append(
      h('header', { class: 'row' }, h('strong', {}, userName(post.author)), timeEl(post.created_at), menu),
      ...[post.text ? userText(post.text) : null, gallery(post.media), original, tools, box].filter(Boolean));
    if (blocks.has(post.author?.id)) { li.hidden = true; li.classList.add('blocked-hidden'); }
    return li;
  }

  async function loadComments(post, box, countEl) {
    box.dataset.loaded = '1';
    const list = h('ol', { class: 'comment-list' });
    const status = h('p', { class: 'muted small' });
    replace(box, list, status);
    try {
      let cur = null;
      do {
        const page = await api.get(withQuery(`/v1/posts/${post.id}/comments`, { cursor: cur }));
        for (const c of page.items || []) list.append(commentEl(c, countEl));
        cur = page.next_cursor;
      } while (cur && list.children.length < 200);
      if (!list.children.length) status.textContent = t('posts.no_comments');
    } catch (err) {
      status.textContent = describeError(err);
    }
    if (ctx.community.my_role) {
      const text = h('input', { name: 'comment', maxlength: 2000, dir: 'auto', required: true, 'data-testid': 'comment-text' });
      const submit = h('button', { type: 'submit', class: 'small' }, t('posts.comment'));
      const form = h('form', { class: 'row comment-form' }, field(t('posts.your_comment'), text), submit);
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        if (!text.value.trim()) return;
        busy(submit, async () => {
          const c = await api.post(`/v1/posts/${post.id}/comments`, { text: text.value });
          text.value = '';
          list.append(commentEl(c, countEl));
          status.textContent = '';
          countEl.set(countEl.get() + 1);
        });
      });
      box.append(form);
    }
  }

  function commentEl(c, countEl) {
    const mine = app.me && c.author?.id === app.me.id;
    const extra = [];
    if (mine) {
      extra.push({
        label: t('posts.delete_comment'), testid: 'delete-comment', danger: true,
        run: () => busy(null, async () => {
          const ok = await confirmDialog({ title: t('posts.delete_comment'), text: t('posts.delete_comment_text'), confirmLabel: t('common.delete') });
          if (!ok) return;
          await api.del(`/v1/comments/${c.id}`);
          li.remove();
          countEl?.set(Math.max(0, countEl.get() - 1));
        }),
      });
    } else if (STAFF.includes(ctx.community.my_role)) {
      extra.push({ label: t('moderation.moderate'), testid: 'moderate', run: () => moderate({ cid, user: c.author, target: { type: 'comment', id: c.id } }) });
    }
    const li = h('li', { class: 'comment', 'data-testid': 'comment', dataset: { author: c.author?.id || '' } },
      h('div', { class: 'row' }, h('strong', {}, userName(c.author)), ' ', timeEl(c.created_at),
        contentMenu({ app, cid, user: c.author, target: { type: 'comment', id: c.id }, extra })),
      userText(c.text));
    if (blocks.has(c.author?.id)) li.hidden = true;
    return li;
  }

  async function load(reset) {
    try {
      const page = await api.get(withQuery(`/v1/communities/${cid}/posts`, { cursor: reset ? null : cursor }));
      if (reset) feed.replaceChildren();
      for (const p of page.items || []) feed.append(postEl(p));
      cursor = page.next_cursor || null;
      more.hidden = !cursor;
      empty.textContent = feed.children.length ? '' : t('posts.empty');
    } catch (err) {
      empty.textContent = describeError(err);
    }
  }
  more.addEventListener('click', () => busy(more, () => load(false)));
  replace(panel, h('h2', { class: 'sr-only' }, t('posts.title')), composer, empty, feed, more);
  load(true);
}
