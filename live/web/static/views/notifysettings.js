// Notification settings (#/settings/notifications): time zone, quiet hours, daily limit, and the
// communities whose pushes are muted. Saved with PUT /v1/me/notification-settings.

import { api } from '../api.js';
import { busy, describeError, field, h, replace, toast } from '../dom.js';
import { t } from '../i18n.js';

export function browserZone() {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch { return 'UTC'; }
}

export async function renderNotifySettings(main, _params, app) {
  let settings;
  try {
    settings = await api.get('/v1/me/notification-settings');
  } catch (err) {
    replace(main, h('section', { class: 'panel' }, h('h1', {}, t('notifysettings.title')), h('p', {}, describeError(err))));
    return;
  }
  const tz = h('input', { name: 'timezone', dir: 'ltr', value: settings.timezone === 'UTC' && !settings.quiet_hours ? browserZone() : settings.timezone, 'data-testid': 'tz' });
  const quietOn = h('input', { type: 'checkbox', checked: Boolean(settings.quiet_hours), 'data-testid': 'quiet-on' });
  const start = h('input', { type: 'time', value: settings.quiet_hours?.start || '22:00', 'data-testid': 'quiet-start', 'aria-label': t('notifysettings.quiet_start') });
  const end = h('input', { type: 'time', value: settings.quiet_hours?.end || '07:00', 'data-testid': 'quiet-end', 'aria-label': t('notifysettings.quiet_end') });
  const limit = h('input', { type: 'number', min: 1, max: 1440, value: settings.daily_limit_minutes ?? '', 'data-testid': 'daily-limit' });
  const muted = new Set(settings.muted_communities || []);
  const mutedList = h('ul', { class: 'plain' });
  const error = h('p', { class: 'error', role: 'alert' });
  const save = h('button', { type: 'submit' }, t('common.save'));

  function paintMuted() {
    if (!muted.size) { replace(mutedList, h('li', { class: 'muted' }, t('notifysettings.none_muted'))); return; }
    replace(mutedList, [...muted].map((cid) => {
      const name = app.communities.get(cid)?.name || cid;
      const un = h('button', { type: 'button', class: 'link' }, t('notifysettings.unmute'));
      un.addEventListener('click', () => { muted.delete(cid); paintMuted(); });
      return h('li', {}, h('bdi', {}, name), ' ', un);
    }));
  }
  paintMuted();

  const form = h('form', { class: 'stack', 'data-testid': 'notify-settings' },
    field(t('notifysettings.tz'), tz, t('notifysettings.tz_hint')),
    h('fieldset', {}, h('legend', {}, t('notifysettings.quiet')),
      h('label', { class: 'row' }, quietOn, ' ', t('notifysettings.quiet_on')),
      h('div', { class: 'row' }, start, t('notifysettings.to'), end)),
    field(t('notifysettings.limit'), limit, t('notifysettings.limit_hint')),
    h('fieldset', {}, h('legend', {}, t('notifysettings.muted')), mutedList),
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
        toast(t('notifysettings.saved'));
      } catch (err) {
        error.textContent = describeError(err);
      }
    });
  });
  replace(main, h('section', { class: 'panel' }, h('h1', {}, t('notifysettings.title')), h('p', { class: 'muted' }, t('notifysettings.intro')), form));
}
