// Notification settings (#/settings/notifications): time zone, quiet hours, daily limit, and the
// communities whose pushes are muted. Saved with PUT /v1/me/notification-settings.

import { api } from '../api.js';
import { busy, describeError, field, h, replace, toast } from '../dom.js';

const TEXT = {
  title: 'Notification settings',
  intro: 'Your inbox always records everything. Mutes and quiet hours only keep pushes (and operators\' webhooks) quiet.',
  tz: 'Time zone',
  tzHint: 'Quiet hours and the days of "Your time" follow it.',
  quiet: 'Quiet hours',
  quietOn: 'Keep pushes quiet from',
  to: 'to',
  limit: 'Daily limit (minutes of watching and hosting)',
  limitHint: 'Empty: no limit. Crossing it sends you one reminder that day.',
  muted: 'Muted communities',
  noneMuted: 'None.',
  unmute: 'Unmute',
  save: 'Save',
  saved: 'Settings saved.',
};

export function browserZone() {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch { return 'UTC'; }
}

export async function renderNotifySettings(main, _params, app) {
  let settings;
  try {
    settings = await api.get('/v1/me/notification-settings');
  } catch (err) {
    replace(main, h('section', { class: 'panel' }, h('h1', {}, TEXT.title), h('p', {}, describeError(err))));
    return;
  }
  const tz = h('input', { name: 'timezone', value: settings.timezone === 'UTC' && !settings.quiet_hours ? browserZone() : settings.timezone, 'data-testid': 'tz' });
  const quietOn = h('input', { type: 'checkbox', checked: Boolean(settings.quiet_hours), 'data-testid': 'quiet-on' });
  const start = h('input', { type: 'time', value: settings.quiet_hours?.start || '22:00', 'data-testid': 'quiet-start' });
  const end = h('input', { type: 'time', value: settings.quiet_hours?.end || '07:00', 'data-testid': 'quiet-end' });
  const limit = h('input', { type: 'number', min: 1, max: 1440, value: settings.daily_limit_minutes ?? '', 'data-testid': 'daily-limit' });
  const muted = new Set(settings.muted_communities || []);
  const mutedList = h('ul', { class: 'plain' });
  const error = h('p', { class: 'error', role: 'alert' });
  const save = h('button', { type: 'submit' }, TEXT.save);

  function paintMuted() {
    if (!muted.size) { replace(mutedList, h('li', { class: 'muted' }, TEXT.noneMuted)); return; }
    replace(mutedList, [...muted].map((cid) => {
      const name = app.communities.get(cid)?.name || cid;
      const un = h('button', { type: 'button', class: 'link' }, TEXT.unmute);
      un.addEventListener('click', () => { muted.delete(cid); paintMuted(); });
      return h('li', {}, h('bdi', {}, name), ' ', un);
    }));
  }
  paintMuted();

  const form = h('form', { class: 'stack', 'data-testid': 'notify-settings' },
    field(TEXT.tz, tz, TEXT.tzHint),
    h('fieldset', {}, h('legend', {}, TEXT.quiet),
      h('label', { class: 'row' }, quietOn, ' ', TEXT.quietOn), h('div', { class: 'row' }, start, TEXT.to, end)),
    field(TEXT.limit, limit, TEXT.limitHint),
    h('fieldset', {}, h('legend', {}, TEXT.muted), mutedList),
    error, save);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    error.textContent = '';
    busy(save, async () => {
      const body = {
        muted_communities: [...muted],
        timezone: tz.value.trim() || 'UTC',
        daily_limit_minutes: limit.value ? Number(limit.value) : null,
      };
      if (quietOn.checked) body.quiet_hours = { start: start.value, end: end.value, tz: body.timezone };
      try {
        await api.put('/v1/me/notification-settings', body);
        app.notifications.muted = new Set(muted);
        toast(TEXT.saved);
      } catch (err) {
        error.textContent = describeError(err);
      }
    });
  });
  replace(main, h('section', { class: 'panel' }, h('h1', {}, TEXT.title), h('p', { class: 'muted' }, TEXT.intro), form));
}
