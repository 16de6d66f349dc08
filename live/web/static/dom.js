// DOM helpers. User text only ever becomes text nodes (textContent / append(string)), never
// markup, and always carries dir="auto" (or sits in a <bdi>) so right-to-left scripts such as
// Arabic and Hebrew display correctly next to left-to-right text.

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
  const name = typeof user === 'string' ? user : (user && (user.name || user.id)) || 'someone';
  return h('bdi', { class: 'user-name' }, name);
}

export function timeAgo(iso) {
  if (!iso) return '';
  const then = new Date(iso).getTime();
  const ahead = Math.round((then - Date.now()) / 1000);
  if (ahead > 30) {
    // A time to come (when a time-out or a ban ends).
    if (ahead < 3600) return `in ${Math.round(ahead / 60)} min`;
    if (ahead < 86400) return `in ${Math.round(ahead / 3600)} h`;
    return `on ${new Date(iso).toLocaleDateString()}`;
  }
  const s = Math.max(0, -ahead);
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

export function timeEl(iso) {
  return h('time', { datetime: iso || '', title: iso ? new Date(iso).toLocaleString() : '' }, timeAgo(iso));
}

export function formatUntil(until) {
  if (!until) return 'until lifted';
  return `until ${new Date(until).toLocaleString()}`;
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
export function notice(message, kind = 'warn', testid = 'notice') {
  const box = document.getElementById('notices');
  const close = h('button', { type: 'button', class: 'link', 'aria-label': 'Dismiss' }, '×');
  // `message`: a string or a list of strings and nodes (names inside it go in <bdi>).
  const item = h('div', { class: `notice ${kind}`, 'data-testid': testid }, h('span', {}, message), close);
  close.addEventListener('click', () => item.remove());
  box.append(item);
  return item;
}

/** A labelled form field: <label> + control (+ hint), so every control has an accessible name. */
export function field(label, control, hint) {
  const id = control.id || `f${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    control,
    hint ? h('small', { class: 'hint' }, hint) : null);
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

const CODE_TEXT = {
  unauthorized: 'Please sign in again.',
  forbidden: 'Your role does not allow that.',
  not_member: 'Join the community first.',
  banned: 'You are banned from this community',
  muted: 'You are muted here',
  not_found: 'Not found (or not visible to you).',
  conflict: 'That conflicts with the current state.',
  community_limit: 'You already own the maximum number of communities.',
  invite_quota_exhausted: 'You have no invitations left.',
  invite_invalid: 'This invitation has expired, was used or was revoked.',
  invite_required: 'This community is invite-only: you need an invitation.',
  rate_limited: 'Too fast: please wait',
  slow_mode: 'Slow mode is on: please wait',
  message_too_long: 'The text is too long.',
  blocked_word: 'The text contains a word this community filters.',
  unavailable: 'The service is temporarily unavailable; try again.',
  payload_too_large: 'That is too large.',
};

/** Human text for an ApiError / gateway error / anything thrown. */
export function describeError(err) {
  if (!err) return 'Something went wrong.';
  const code = err.code;
  let text = CODE_TEXT[code] || err.message || String(err);
  if ((code === 'banned' || code === 'muted') && 'until' in err) text += ` (${formatUntil(err.until)})`;
  if (err.retry_after) text += ` ${Math.ceil(err.retry_after)} s.`;
  if (code === 'invalid_request' && err.fields) {
    text = Object.entries(err.fields).map(([k, v]) => `${k}: ${v}`).join('; ');
  }
  if (code === 'banned' || code === 'muted') text += '.';
  return text;
}
