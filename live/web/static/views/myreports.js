// "My reports and appeals" (#/me/reports): the reports you filed (to a community's moderators
// and to the platform) with their answers, and what moderators or operators did about you, with
// your appeal and its answer, or a button to appeal.

import { api } from '../api.js';
import { describeError, h, replace, timeEl, userText } from '../dom.js';
import { t } from '../i18n.js';
import { appealDialog } from '../safety.js';
import { logEntry } from './modlog.js';

function reportEl(r) {
  const answered = r.status === 'resolved';
  return h('li', { class: 'card', 'data-testid': 'my-report', dataset: { id: r.id, status: r.status } },
    h('p', {}, h('span', { class: 'badge' }, r.scope === 'platform' ? t('myreports.to_platform') : t('myreports.to_community')), ' ',
      t(`reports.target.${r.target.type}`), t('common.sep'), timeEl(r.created_at)),
    userText(r.reason, 'p', 'user-text'),
    answered
      ? h('div', { class: 'answer' }, h('p', { class: 'small' }, h('strong', {}, t('myreports.answer')), ' ', timeEl(r.resolved_at)), userText(r.resolution || '', 'p', 'user-text'))
      : h('p', { class: 'muted small' }, t('myreports.waiting')));
}

function actionEl(a) {
  const li = h('li', { class: 'card', 'data-testid': 'my-action', dataset: { id: a.id } }, h('ul', { class: 'plain' }, logEntry(a)));
  if (a.appeal) {
    li.append(h('p', {}, h('span', { class: 'badge', 'data-testid': 'appeal-status' }, t(`appeals.status.${a.appeal.status}`))),
      a.appeal.response ? userText(a.appeal.response, 'p', 'user-text') : null);
  } else if (['ban', 'mute', 'timeout', 'kick', 'delete', 'suspend'].includes(a.action) && !a.overturned) {
    const appeal = h('button', { type: 'button', class: 'secondary small', 'data-testid': 'appeal' }, t('safety.appeal'));
    appeal.addEventListener('click', async () => {
      const done = await appealDialog({ actionId: a.id, what: a.reason });
      if (done) { a.appeal = done; li.replaceWith(actionEl(a)); }
    });
    li.append(appeal);
  }
  return li;
}

export async function renderMyReports(main, _params, app) {
  const reports = h('ul', { class: 'plain', 'data-testid': 'my-reports' });
  const actions = h('ul', { class: 'plain', 'data-testid': 'my-actions' });
  replace(main, h('section', { class: 'panel narrow' },
    h('h1', {}, t('myreports.title')),
    h('p', { class: 'muted' }, t('myreports.intro')),
    h('h2', {}, t('myreports.reports')), reports,
    h('h2', {}, t('myreports.actions')), h('p', { class: 'muted small' }, t('myreports.actions_intro')), actions));
  try {
    const [mine, account, record] = await Promise.all([
      api.get('/v1/me/reports?limit=50'), api.get('/v1/me/account-reports?limit=50'), api.get('/v1/me/moderation?limit=50'),
    ]);
    const all = [...(mine.items || []), ...(account.items || [])].sort((a, b) => b.created_at.localeCompare(a.created_at));
    replace(reports, all.length ? all.map(reportEl) : h('li', { class: 'muted' }, t('myreports.no_reports')));
    const items = [...(record.items || [])];
    // A suspension in force is the platform's action about you: appealable here too.
    const suspension = app.account?.suspension;
    if (suspension && !items.some((a) => a.id === suspension.action_id)) {
      items.unshift({ id: suspension.action_id, action: 'suspend', scope: 'platform', reason: suspension.reason, created_at: suspension.since,
        expires_at: suspension.until, moderator_role: 'operator', user_id: app.me.id, user_name: app.me.name, appeal: suspension.appeal });
    }
    replace(actions, items.length ? items.map(actionEl) : h('li', { class: 'muted' }, t('myreports.no_actions')));
  } catch (err) {
    replace(reports, h('li', { class: 'error' }, describeError(err)));
  }
}
