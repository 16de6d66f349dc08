// The moderation dialog: delete / mute / time out / ban with a reason, from a chat line, a post
// or a comment. POST /v1/communities/{cid}/moderation; the affected user is told (notice).

import { api } from '../api.js';
import { busy, describeError, field, h, toast, userName } from '../dom.js';
import { t, tx, unit } from '../i18n.js';

const DURATIONS = [
  ['300', () => unit(5, 'minute', 'long')],
  ['3600', () => unit(1, 'hour', 'long')],
  ['86400', () => unit(1, 'day', 'long')],
  ['604800', () => unit(1, 'week', 'long')],
  ['', () => t('moderation.until_lifted')],
];

/**
 * Ask for an action and a reason, then apply it. `user`: {id, name} the action is about;
 * `target`: {type, id} for delete. Resolves to the action record, or null when cancelled.
 */
export function moderate({ cid, user, target, actions = ['delete', 'mute', 'timeout', 'ban'], initial }) {
  const opener = document.activeElement;
  return new Promise((resolve) => {
    const available = actions.filter((a) => (a === 'delete' ? Boolean(target) : Boolean(user)));
    const action = h('select', { name: 'action', 'data-testid': 'mod-action' },
      available.map((a) => h('option', { value: a, selected: a === initial }, t(`moderation.do.${a}`))));
    const duration = h('select', { name: 'duration', 'data-testid': 'mod-duration' },
      DURATIONS.map(([v, label]) => h('option', { value: v }, label())));
    const durationField = field(t('moderation.how_long'), duration);
    const reason = h('input', { name: 'reason', required: true, maxlength: 1000, dir: 'auto', 'data-testid': 'mod-reason' });
    const error = h('p', { class: 'error', role: 'alert' });
    const submit = h('button', { type: 'submit', class: 'danger', 'data-testid': 'mod-submit' }, t('moderation.apply'));
    const cancel = h('button', { type: 'button', class: 'secondary' }, t('common.cancel'));
    const form = h('form', { method: 'dialog', class: 'stack' },
      h('h2', {}, t('moderation.moderate')),
      user ? h('p', {}, tx('moderation.about', { name: userName(user) })) : null,
      field(t('moderation.action'), action), durationField,
      field(t('moderation.reason'), reason, t('moderation.reason_hint')),
      error,
      h('div', { class: 'row' }, submit, cancel));
    const dialog = h('dialog', { class: 'modal', 'aria-label': t('moderation.moderate'), 'data-testid': 'mod-dialog' }, form);

    function sync() {
      const a = action.value;
      durationField.hidden = !['mute', 'timeout', 'ban'].includes(a);
      // A time-out always has an end; "until lifted" is for mutes and bans.
      duration.querySelector('option[value=""]').disabled = a === 'timeout';
      if (a === 'timeout' && duration.value === '') duration.value = '300';
      if (a === 'ban' && !duration.dataset.touched) duration.value = '';
    }
    duration.addEventListener('change', () => { duration.dataset.touched = '1'; });
    action.addEventListener('change', sync);
    sync();

    let result = null;
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      error.textContent = '';
      if (!reason.value.trim()) { error.textContent = t('safety.reason_required'); reason.focus(); return; }
      busy(submit, async () => {
        const body = { action: action.value, reason: reason.value.trim() };
        if (action.value === 'delete') body.target = target;
        else body.user_id = user.id;
        if (!durationField.hidden && duration.value) body.duration_seconds = Number(duration.value);
        try {
          result = await api.post(`/v1/communities/${cid}/moderation`, body);
          toast(t('moderation.done', { action: t(`moderation.do.${body.action}`) }));
          dialog.close();
        } catch (err) {
          error.textContent = describeError(err);
        }
      });
    });
    cancel.addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => {
      dialog.remove();
      if (opener && opener.isConnected) opener.focus();
      resolve(result);
    });
    document.body.append(dialog);
    dialog.showModal();
    reason.focus();
  });
}
