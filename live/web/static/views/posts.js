// The posts tab: write a post, read the feed (newest first), like, comment, share, delete.

import { api, withQuery } from '../api.js';
import { busy, describeError, field, h, replace, timeEl, toast, userName, userText } from '../dom.js';
import { STAFF } from '../roles.js';
import { moderate } from './moddialog.js';

const POST_MAX = 5000;

export function renderPosts(panel, ctx) {
  const { cid, app } = ctx;
  const feed = h('ol', { class: 'feed', 'data-testid': 'post-feed', 'aria-label': 'Posts' });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Load more');
  const empty = h('p', { class: 'muted' });
  let cursor = null;

  const composer = ctx.community.my_role ? postComposer() : h('p', { class: 'muted' }, 'Join the community to post.');

  function postComposer() {
    const text = h('textarea', { name: 'text', rows: 3, maxlength: POST_MAX, dir: 'auto', required: true, 'data-testid': 'post-text' });
    const submit = h('button', { type: 'submit' }, 'Post');
    const form = h('form', { class: 'stack composer' }, field('New post', text), submit);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (!text.value.trim()) return;
      busy(submit, async () => {
        const post = await api.post(`/v1/communities/${cid}/posts`, { text: text.value });
        text.value = '';
        feed.prepend(postEl(post));
        empty.textContent = '';
      });
    });
    return form;
  }

  function postEl(post) {
    const me = app.me;
    const role = ctx.community.my_role;
    const li = h('li', { class: 'post', 'data-testid': 'post', dataset: { id: post.id } });
    const likeCount = h('span', {}, String(post.like_count));
    const like = h('button', { type: 'button', class: 'secondary small', 'aria-pressed': post.liked_by_me ? 'true' : 'false', 'data-testid': 'like' },
      '♥ Like ', likeCount);
    like.addEventListener('click', () => busy(like, async () => {
      const liked = like.getAttribute('aria-pressed') === 'true';
      const res = liked ? await api.del(`/v1/posts/${post.id}/like`) : await api.post(`/v1/posts/${post.id}/like`);
      const count = res && typeof res.like_count === 'number' ? res.like_count : Number(likeCount.textContent) + (liked ? -1 : 1);
      likeCount.textContent = String(count);
      like.setAttribute('aria-pressed', liked ? 'false' : 'true');
    }));

    const commentCount = h('span', {}, String(post.comment_count));
    const comments = h('div', { class: 'comments', hidden: true });
    const toggle = h('button', { type: 'button', class: 'secondary small', 'aria-expanded': 'false', 'data-testid': 'comments-toggle' },
      'Comments ', commentCount);
    toggle.addEventListener('click', () => {
      const open = comments.hidden;
      comments.hidden = !open;
      toggle.setAttribute('aria-expanded', open ? 'true' : 'false');
      if (open && !comments.dataset.loaded) loadComments(post, comments, commentCount);
    });

    const shareCount = h('span', {}, String(post.share_count));
    const share = h('button', { type: 'button', class: 'secondary small', 'data-testid': 'share' },
      'Share ', shareCount);
    share.addEventListener('click', () => busy(share, async () => {
      const shared = await api.post(`/v1/posts/${post.id}/share`, {});
      shareCount.textContent = String(Number(shareCount.textContent) + 1);
      if (shared && shared.community_id === cid) feed.prepend(postEl(shared));
      toast('Shared.');
    }));

    const tools = h('div', { class: 'row post-tools' }, like, toggle, share);
    if (me && post.author?.id === me.id) {
      const del = h('button', { type: 'button', class: 'link danger small' }, 'Delete');
      del.addEventListener('click', () => busy(del, async () => {
        if (!window.confirm('Delete this post?')) return;
        await api.del(`/v1/posts/${post.id}`);
        li.remove();
      }));
      tools.append(del);
    } else if (STAFF.includes(role)) {
      const mod = h('button', { type: 'button', class: 'link danger small', 'aria-haspopup': 'dialog' }, 'Moderate');
      mod.addEventListener('click', async () => {
        const done = await moderate({ cid, user: post.author, target: { type: 'post', id: post.id } });
        if (done && done.action === 'delete') li.remove();
      });
      tools.append(mod);
    }
    const original = post.original
      ? h('blockquote', { class: 'shared' }, h('p', { class: 'muted small' }, 'Shared from ', userName(post.original.author)), userText(post.original.text))
      : (post.shared_from ? h('p', { class: 'muted small' }, 'Shared post (original not visible)') : null);
    append(li, h('header', { class: 'row' }, h('strong', {}, userName(post.author)), timeEl(post.created_at)),
      post.text ? userText(post.text) : null, original, tools, comments);
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
        for (const c of page.items || []) list.append(commentEl(c));
        cur = page.next_cursor;
      } while (cur && list.children.length < 200);
      if (!list.children.length) status.textContent = 'No comments yet.';
    } catch (err) {
      status.textContent = describeError(err);
    }
    if (ctx.community.my_role) {
      const text = h('input', { name: 'comment', maxlength: 2000, dir: 'auto', required: true, 'data-testid': 'comment-text' });
      const submit = h('button', { type: 'submit', class: 'small' }, 'Comment');
      const form = h('form', { class: 'row comment-form' }, field('Your comment', text), submit);
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        if (!text.value.trim()) return;
        busy(submit, async () => {
          const c = await api.post(`/v1/posts/${post.id}/comments`, { text: text.value });
          text.value = '';
          list.append(commentEl(c));
          status.textContent = '';
          countEl.textContent = String(Number(countEl.textContent) + 1);
        });
      });
      box.append(form);
    }
  }

  function commentEl(c) {
    return h('li', { class: 'comment', 'data-testid': 'comment' },
      h('strong', {}, userName(c.author)), ' ', timeEl(c.created_at), userText(c.text));
  }

  async function load(reset) {
    try {
      const page = await api.get(withQuery(`/v1/communities/${cid}/posts`, { cursor: reset ? null : cursor }));
      if (reset) feed.replaceChildren();
      for (const p of page.items || []) feed.append(postEl(p));
      cursor = page.next_cursor || null;
      more.hidden = !cursor;
      empty.textContent = feed.children.length ? '' : 'No posts yet.';
    } catch (err) {
      empty.textContent = describeError(err);
    }
  }
  more.addEventListener('click', () => busy(more, () => load(false)));
  replace(panel, h('h2', { class: 'sr-only' }, 'Posts'), composer, empty, feed, more);
  load(true);
}

function append(el, ...children) {
  for (const c of children) if (c) el.append(c);
}
