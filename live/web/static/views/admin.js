// The platform operators' page (#/admin): account reports to answer, suspending and lifting a
// suspension, appeals against suspensions, and the platform log. Everything here is
// /v1/admin/...; anyone else gets the contract's forbidden, said in words.

import { api, withQuery } from '../api.js';
import { busy, describeError, field, h, replace, timeEl, toast, userName, userText } from '../dom.js';
import { formDialog } from '../dialogs.js';
import { t, tx, unit } from '../i18n.js';
import { logEntry } from './modlog.js';

const DURATIONS = [
  ['86400', () => unit(1, 'day', 'long')],
  ['604800', () => unit(1, 'week', 'long')],
  ['2592000', () => unit(30, 'day', 'long')],
  ['', () => t('moderation.until_lifted')],
];

function answer({ title, label, submitLabel, testid, send }) {
  const text = h('textarea', { name: 'answer', rows: 3, required: true, maxlength: 2000, dir: 'auto', 'data-testid': `${testid}-text` });
  return formDialog({
    title, body: field(label, text), submitLabel, testid,
    submit: async () => {
      if (!text.value.trim()) { text.focus(); throw new Error(t('safety.reason_required')); }
      return send(text.value.trim());
    },
  });
}

/** Suspend (or lift the suspension of) `userId`, after a reason and a duration. */
async function suspendDialog(userId, lift = false) {
  const id = h('input', { name: 'user_id', required: true, maxlength: 64, dir: 'ltr', value: userId || '', 'data-testid': 'suspend-user' });
  const reason = h('textarea', { name: 'reason', rows: 2, required: !lift, maxlength: 1000, dir: 'auto', 'data-testid': 'suspend-reason' });
  const duration = h('select', { name: 'duration', 'data-testid': 'suspend-duration' }, DURATIONS.map(([v, label]) => h('option', { value: v }, label())));
  return formDialog({
    title: lift ? t('admin.unsuspend') : t('admin.suspend'),
    body: [field(t('admin.user_id'), id), field(t('moderation.reason'), reason, lift ? null : t('admin.reason_hint')),
      lift ? null : field(t('moderation.how_long'), duration)],
    submitLabel: lift ? t('admin.unsuspend') : t('admin.suspend'),
    danger: !lift,
    testid: 'suspend-dialog',
    submit: async () => {
      const uid = id.value.trim();
      if (!uid) { id.focus(); throw new Error(t('admin.user_required')); }
      if (!lift && !reason.value.trim()) { reason.focus(); throw new Error(t('safety.reason_required')); }
      const body = reason.value.trim() ? { reason: reason.value.trim() } : {};
      if (!lift && duration.value) body.duration_seconds = Number(duration.value);
      const done = await api.post(`/v1/admin/users/${encodeURIComponent(uid)}/${lift ? 'unsuspend' : 'suspend'}`, body);
      toast(t(lift ? 'admin.unsuspended' : 'admin.suspended', { name: uid }));
      return done;
    },
  });
}

export async function renderAdmin(main) {
  const reports = h('ul', { class: 'plain', 'data-testid': 'admin-reports' });
  const appeals = h('ul', { class: 'plain', 'data-testid': 'admin-appeals' });
  const log = h('ol', { class: 'modlog', 'data-testid': 'admin-log' });
  const show = h('select', { 'aria-label': t('reports.show'), 'data-testid': 'admin-reports-status' },
    ['open', 'resolved', 'all'].map((s) => h('option', { value: s }, t(`reports.status.${s}`))));

  function reportEl(r) {
    const who = { id: r.target.id, name: r.target_name || r.target.id };
    const li = h('li', { class: 'card', 'data-testid': 'admin-report', dataset: { id: r.id, status: r.status } },
      h('p', {}, tx('admin.report_about', { name: userName(who), reporter: userName({ id: r.reporter_id, name: r.reporter_id }) }), t('common.sep'), timeEl(r.created_at)),
      userText(r.reason, 'p', 'user-text'));
    if (r.status === 'resolved') {
      li.append(h('p', { class: 'small' }, h('strong', {}, t('reports.answer')), ' ', h('bdi', {}, r.resolution || '')));
      return li;
    }
    const resolve = h('button', { type: 'button', class: 'small', 'data-testid': 'admin-resolve' }, t('reports.resolve'));
    resolve.addEventListener('click', async () => {
      const done = await answer({ title: t('reports.resolve_title'), label: t('reports.resolution'), submitLabel: t('reports.resolve'),
        testid: 'admin-resolve-dialog', send: (resolution) => api.post(`/v1/admin/reports/${r.id}/resolve`, { resolution }) });
      if (done) li.replaceWith(reportEl({ ...r, ...done }));
    });
    const suspend = h('button', { type: 'button', class: 'danger small', 'data-testid': 'admin-suspend-from-report' }, t('admin.suspend'));
    suspend.addEventListener('click', async () => { if (await suspendDialog(r.target.id)) loadLog(); });
    li.append(h('div', { class: 'row' }, resolve, suspend));
    return li;
  }

  function appealEl(a) {
    const li = h('li', { class: 'card', 'data-testid': 'admin-appeal', dataset: { id: a.id, status: a.status } },
      h('ul', { class: 'plain' }, logEntry(a.action)),
      h('p', { class: 'small' }, h('strong', {}, t('reports.appeal_text'))), userText(a.text, 'p', 'user-text'));
    if (a.status !== 'pending') { li.append(h('p', { class: 'badge' }, t(`appeals.status.${a.status}`))); return li; }
    const decide = (decision) => async () => {
      const done = await answer({ title: t(`reports.decide_${decision}`), label: t('reports.response'), submitLabel: t(`reports.decide_${decision}`),
        testid: 'admin-decide-dialog', send: (response) => api.post(`/v1/admin/appeals/${a.id}/decide`, { decision, response }) });
      if (done) { li.replaceWith(appealEl(done)); loadLog(); }
    };
    const overturn = h('button', { type: 'button', class: 'small', 'data-testid': 'admin-overturn' }, t('reports.decide_overturned'));
    const uphold = h('button', { type: 'button', class: 'secondary small', 'data-testid': 'admin-uphold' }, t('reports.decide_upheld'));
    overturn.addEventListener('click', decide('overturned'));
    uphold.addEventListener('click', decide('upheld'));
    li.append(h('div', { class: 'row' }, overturn, uphold));
    return li;
  }

  async function loadReports() {
    try {
      const page = await api.get(withQuery('/v1/admin/reports', { status: show.value, limit: 50 }));
      replace(reports, (page.items || []).length ? page.items.map(reportEl) : h('li', { class: 'muted' }, t('reports.none')));
    } catch (err) { replace(reports, h('li', { class: 'error', 'data-testid': 'admin-error' }, describeError(err))); }
  }
  async function loadAppeals() {
    try {
      const page = await api.get('/v1/admin/appeals?status=pending&limit=50');
      replace(appeals, (page.items || []).length ? page.items.map(appealEl) : h('li', { class: 'muted' }, t('reports.no_appeals')));
    } catch (err) { replace(appeals, h('li', { class: 'error' }, describeError(err))); }
  }
  async function loadLog() {
    try {
      const page = await api.get('/v1/admin/log?limit=50');
      replace(log, (page.items || []).length ? page.items.map(logEntry) : h('li', { class: 'muted' }, t('modlog.empty')));
    } catch (err) { replace(log, h('li', { class: 'error' }, describeError(err))); }
  }
  show.addEventListener('change', loadReports);
  const suspend = h('button', { type: 'button', class: 'danger', 'data-testid': 'admin-suspend' }, t('admin.suspend'));
  const lift = h('button', { type: 'button', class: 'secondary', 'data-testid': 'admin-unsuspend' }, t('admin.unsuspend'));
  suspend.addEventListener('click', () => busy(null, async () => { if (await suspendDialog('')) loadLog(); }));
  lift.addEventListener('click', () => busy(null, async () => { if (await suspendDialog('', true)) loadLog(); }));

  replace(main, h('section', { class: 'panel admin' },
    h('h1', {}, t('admin.title')),
    h('p', { class: 'muted' }, t('admin.intro')),
    h('div', { class: 'row wrap' }, suspend, lift),
    h('div', { class: 'row spread wrap' }, h('h2', {}, t('admin.reports')), show), reports,
    h('h2', {}, t('admin.appeals')), appeals,
    h('h2', {}, t('admin.log')), log));
  await Promise.all([loadReports(), loadAppeals(), loadLog()]);
}
