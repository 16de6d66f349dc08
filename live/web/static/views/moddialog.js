// The moderation dialog: delete / mute / time out / ban with a reason, from a chat line, a post
// or a comment. POST /v1/communities/{cid}/moderation; the affected user is told (notice).

import { api } from '../api.js';
import { busy, describeError, field, h, toast, userName } from '../dom.js';

const DURATIONS = [
  ['300', '5 minutes'],
  ['3600', '1 hour'],
  ['86400', '1 day'],
  ['604800', '1 week'],
  ['', 'Until lifted'],
];

const LABELS = {
  delete: 'Delete the message',
  mute: 'Mute',
  timeout: 'Time out',
  ban: 'Ban from the community',
  kick: 'Remove from the community',
};

/**
 * Ask for an action and a reason, then apply it. `user`: {id, name} the action is about;
 * `target`: {type, id} for delete. Resolves to the action record, or null when cancelled.
 */
export function moderate({ cid, user, target, actions = ['delete', 'mute', 'timeout', 'ban'], initial }) {
  return new Promise((resolve) => {
    const available = actions.filter((a) => (a === 'delete' ? Boolean(target) : Boolean(user)));
    const action = h('select', { name: 'action', 'data-testid': 'mod-action' },
      available.map((a) => h('option', { value: a, selected: a === initial }, LABELS[a] || a)));
    const duration = h('select', { name: 'duration', 'data-testid': 'mod-duration' },
      DURATIONS.map(([v, label]) => h('option', { value: v }, label)));
    const durationField = field('For how long', duration);
    const reason = h('input', { name: 'reason', required: true, maxlength: 1000, dir: 'auto', 'data-testid': 'mod-reason' });
    const error = h('p', { class: 'error', role: 'alert' });
    const submit = h('button', { type: 'submit', class: 'danger', 'data-testid': 'mod-submit' }, 'Apply');
    const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
    const form = h('form', { method: 'dialog', class: 'stack' },
      h('h2', {}, 'Moderate'),
      user ? h('p', {}, 'About ', userName(user)) : null,
      field('Action', action), durationField,
      field('Reason', reason, 'Shown to the user and in the moderation log.'),
      error,
      h('div', { class: 'row' }, submit, cancel));
    const dialog = h('dialog', { class: 'modal', 'aria-label': 'Moderate', 'data-testid': 'mod-dialog' }, form);

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
      if (!reason.value.trim()) { error.textContent = 'A reason is required.'; reason.focus(); return; }
      busy(submit, async () => {
        const body = { action: action.value, reason: reason.value.trim() };
        if (action.value === 'delete') body.target = target;
        else body.user_id = user.id;
        if (!durationField.hidden && duration.value) body.duration_seconds = Number(duration.value);
        try {
          result = await api.post(`/v1/communities/${cid}/moderation`, body);
          toast(`${LABELS[body.action] || body.action}: done.`);
          dialog.close();
        } catch (err) {
          error.textContent = describeError(err);
        }
      });
    });
    cancel.addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => { dialog.remove(); resolve(result); });
    document.body.append(dialog);
    dialog.showModal();
    reason.focus();
  });
}
