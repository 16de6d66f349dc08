// Images in posts: uploading with a progress bar (POST /v1/uploads, multipart, XMLHttpRequest
// for its upload progress), and a post's gallery with a full-size viewer.
//
// Images are fetched with the token and shown through blob: URLs: a members-only community's
// images need it, and an <img src> cannot send an Authorization header.

import { ApiError, session } from './api.js';
import { h, replace } from './dom.js';
import { isRtl, t } from './i18n.js';

export const IMAGE_TYPES = 'image/jpeg,image/png,image/webp';
export const MAX_IMAGES = 4;

/** Upload one image; `onProgress(fraction)` while it goes. Resolves to {id, url, width, height, thumbnail_url}. */
export function uploadImage(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/v1/uploads');
    if (session.token) xhr.setRequestHeader('Authorization', `Bearer ${session.token}`);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.responseType = 'json';
    xhr.upload.addEventListener('progress', (ev) => { if (ev.lengthComputable) onProgress?.(ev.loaded / ev.total); });
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300) { onProgress?.(1); resolve(xhr.response); return; }
      reject(new ApiError(xhr.status, xhr.response?.error || { code: xhr.status === 413 ? 'payload_too_large' : 'unknown' }));
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, { code: 'unavailable' })));
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
}

/** Show `url` in `img` once fetched with the token (blob: URL, revoked when replaced). */
export async function loadInto(img, url) {
  try {
    const res = await fetch(url, { headers: session.token ? { Authorization: `Bearer ${session.token}` } : {} });
    if (!res.ok) return;
    const old = img.src;
    img.src = URL.createObjectURL(await res.blob());
    if (old.startsWith('blob:')) URL.revokeObjectURL(old);
  } catch { /* the alt text stands in */ }
}

/** A post's images: thumbnails in a grid; each opens the full image in a modal viewer. */
export function gallery(media) {
  if (!media || !media.length) return null;
  const items = media.map((m, i) => {
    const alt = t('posts.image_n', { n: i + 1, count: media.length });
    const img = h('img', { alt, class: 'gallery-thumb', width: m.width, height: m.height, loading: 'lazy', decoding: 'async' });
    loadInto(img, m.thumbnail_url || m.url);
    const open = h('button', { type: 'button', class: 'gallery-open', 'aria-label': t('posts.image_open', { n: i + 1, count: media.length }), 'data-testid': 'gallery-image' }, img);
    open.addEventListener('click', () => viewer(media, i));
    return h('li', {}, open);
  });
  return h('ul', { class: `gallery n${Math.min(media.length, 4)}`, 'data-testid': 'gallery', 'aria-label': t('posts.images', { count: media.length }) }, items);
}

/** The full-size viewer: previous / next (arrow keys too, mirrored in right-to-left), Escape closes. */
function viewer(media, start) {
  const opener = document.activeElement;
  let index = start;
  const img = h('img', { class: 'viewer-image', alt: '' });
  const caption = h('p', { class: 'muted small', 'aria-live': 'polite' });
  const prev = h('button', { type: 'button', class: 'secondary', 'data-testid': 'viewer-prev' }, t('posts.previous'));
  const next = h('button', { type: 'button', class: 'secondary', 'data-testid': 'viewer-next' }, t('posts.next'));
  const close = h('button', { type: 'button', 'data-testid': 'viewer-close' }, t('common.close'));
  const dialog = h('dialog', { class: 'modal viewer', 'aria-label': t('posts.viewer'), 'data-testid': 'image-viewer' },
    img, caption, h('div', { class: 'row' }, media.length > 1 ? [prev, next] : null, close));
  function show(i) {
    index = (i + media.length) % media.length;
    const m = media[index];
    img.alt = t('posts.image_n', { n: index + 1, count: media.length });
    img.width = m.width;
    img.height = m.height;
    loadInto(img, m.url);
    replace(caption, img.alt);
  }
  prev.addEventListener('click', () => show(index - 1));
  next.addEventListener('click', () => show(index + 1));
  close.addEventListener('click', () => dialog.close());
  dialog.addEventListener('keydown', (ev) => {
    const step = { ArrowRight: 1, ArrowLeft: -1 }[ev.key];
    if (step && media.length > 1) { ev.preventDefault(); show(index + (isRtl() ? -step : step)); }
  });
  dialog.addEventListener('close', () => {
    if (img.src.startsWith('blob:')) URL.revokeObjectURL(img.src);
    dialog.remove();
    if (opener && opener.isConnected) opener.focus();
  });
  document.body.append(dialog);
  dialog.showModal();
  show(start);
  close.focus();
}

/**
 * The composer's attachments: "Add photos", each file uploading at once with its progress bar
 * and a remove button. `ids()` the uploaded ids in order; `pending()` whether any still uploads.
 */
export function attachments({ onError }) {
  const input = h('input', { type: 'file', accept: IMAGE_TYPES, multiple: true, class: 'sr-only', 'data-testid': 'post-images' });
  const pick = h('button', { type: 'button', class: 'secondary small', 'data-testid': 'add-images' }, t('posts.add_images'));
  const label = h('label', { class: 'sr-only' }, t('posts.add_images'));
  const list = h('ul', { class: 'attachments', 'data-testid': 'attachments' });
  const items = [];
  pick.addEventListener('click', () => input.click());
  input.id = `f${Math.random().toString(36).slice(2, 9)}`;
  label.setAttribute('for', input.id);

  function add(file) {
    if (items.length >= MAX_IMAGES) { onError(t('posts.too_many_images', { count: MAX_IMAGES })); return; }
    const item = { file, id: null, done: false, failed: false };
    const preview = h('img', { alt: '', class: 'attachment-preview' });
    preview.addEventListener('error', () => { preview.hidden = true; });
    preview.src = URL.createObjectURL(file);
    const progress = h('progress', { max: 100, value: 0, 'data-testid': 'upload-progress', 'aria-label': t('posts.uploading', { name: file.name }) });
    const state = h('span', { class: 'small muted', 'aria-live': 'polite' }, t('posts.upload_waiting'));
    const remove = h('button', { type: 'button', class: 'link small', 'aria-label': t('posts.remove_image', { name: file.name }) }, '×');
    item.el = h('li', { class: 'attachment', 'data-testid': 'attachment' }, preview, h('div', { class: 'stack-tight' }, h('bdi', { class: 'small' }, file.name), progress, state), remove);
    remove.addEventListener('click', () => {
      items.splice(items.indexOf(item), 1);
      URL.revokeObjectURL(preview.src);
      item.el.remove();
      pick.disabled = false;
      pick.focus();
    });
    items.push(item);
    list.append(item.el);
    pick.disabled = items.length >= MAX_IMAGES;
    item.promise = uploadImage(file, (f) => {
      progress.value = Math.round(f * 100);
      state.textContent = t('posts.upload_percent', { percent: Math.round(f * 100) });
    }).then((up) => {
      item.id = up.id;
      item.done = true;
      state.textContent = t('posts.upload_done');
      item.el.dataset.uploaded = 'true';
    }).catch((err) => {
      item.failed = true;
      item.el.classList.add('failed');
      progress.hidden = true;
      state.textContent = t('posts.upload_failed');
      onError(err);
    });
  }
  input.addEventListener('change', () => {
    for (const file of input.files) add(file);
    input.value = '';
  });
  return {
    el: h('div', { class: 'attach-box' }, label, input, pick, list),
    ids: () => items.filter((i) => i.done).map((i) => i.id),
    count: () => items.length,
    failed: () => items.some((i) => i.failed),
    wait: () => Promise.all(items.map((i) => i.promise)),
    clear() {
      for (const i of items) URL.revokeObjectURL(i.el.querySelector('img').src);
      items.length = 0;
      list.replaceChildren();
      pick.disabled = false;
    },
  };
}
