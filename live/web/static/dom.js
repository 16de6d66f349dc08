// DOM helpers. User text only ever becomes text nodes (textContent / append(string)), never
// markup, and always carries dir="auto" (or sits in a <bdi>) so right-to-left scripts such as
// Arabic and Hebrew display correctly next to left-to-right text.

import { dateTime, has, list, relative, t } from './i18n.js';

/**
 * Create an element. `attrs`: class, on<event> handlers, boolean/property values, attributes.
 * Children: nodes, strings (as text), arrays, null/false (skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'value' || key === 'checked' || key === 'muted' || key === 'srcObject') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** Replace every child of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** A block of user-written text (a post, a chat line): its own paragraph, its own direction. */
export function userText(text, tag = 'p', cls = 'user-text') {
  return h(tag, { class: cls, dir: 'auto' }, text ?? '');
}

/** A user's display name inline in interface text: isolated so it cannot reorder its neighbours. */
export function userName(user) {
  const name = typeof user === 'string' ? user : (user && (user.name || user.id)) || t('common.someone');
  return h('bdi', { class: 'user-name' }, name);
}

/** A <time>: relative words ("3 minutes ago"), the full date and time as its tooltip. */
export function timeEl(iso) {
  return h('time', { datetime: iso || '', title: iso ? dateTime(iso) : '' }, relative(iso));
}

/** "until 3 Mar 2026, 14:00", or "until lifted" when a sanction has no end. */
export function formatUntil(until) {
  return until ? t('common.until', { when: dateTime(until) }) : t('common.until_lifted');
}

/** A short-lived message in the polite live region. */
export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  if (!box) return;
  const item = h('div', { class: `toast ${kind}` }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === 'error' ? 7000 : 4000);
}

/** A message that stays until dismissed, in the assertive region (sanctions, lost sessions). */
export function notice(message, kind = 'warn', testid = 'notice', actions = null) {
  const box = document.getElementById('notices');
  const close = h('button', { type: 'button', class: 'link', 'aria-label': t('common.dismiss') }, '×');
  // `message`: a string or a list of strings and nodes (names inside it go in <bdi>); `actions`:
  // buttons that go with it (appeal a sanction).
  const item = h('div', { class: `notice ${kind}`, 'data-testid': testid },
    h('div', { class: 'notice-body' }, h('span', {}, message), actions ? h('div', { class: 'row wrap' }, actions) : null), close);
  close.addEventListener('click', () => item.remove());
  box.append(item);
  return item;
}

/** A labelled form field: <label> + control (+ hint), so every control has an accessible name. */
export function field(label, control, hint) {
  const id = control.id || `f${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  if (hint) control.setAttribute('aria-describedby', `${id}-hint`);
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    control,
    hint ? h('small', { class: 'hint', id: `${id}-hint` }, hint) : null);
}

/** Run `fn` with `button` disabled (and busy) meanwhile; errors are shown, not thrown. */
export async function busy(button, fn) {
  if (button) { button.disabled = true; button.setAttribute('aria-busy', 'true'); }
  try {
    return await fn();
  } catch (err) {
    toast(describeError(err), 'error');
    return undefined;
  } finally {
    if (button) { button.disabled = false; button.removeAttribute('aria-busy'); }
  }
}

/** Text in the user's language for an ApiError / gateway error (its contract `code`), or anything thrown. */
export function describeError(err) {
  if (!err) return t('errors.unknown');
  const code = err.code;
  if (code === 'invalid_request' && err.fields && Object.keys(err.fields).length) {
    const names = Object.keys(err.fields).map((f) => (has(`fields.${f}`) ? t(`fields.${f}`) : f));
    return t('errors.invalid_fields', { fields: list(names) });
  }
  let text = code && has(`errors.${code}`) ? t(`errors.${code}`) : (err.message || String(err));
  if (['banned', 'muted', 'suspended'].includes(code) && 'until' in err) text = `${text} (${formatUntil(err.until)})`;
  if (err.retry_after) text = `${text} ${t('errors.retry_after', { count: Math.ceil(err.retry_after) })}`;
  return text;
}
