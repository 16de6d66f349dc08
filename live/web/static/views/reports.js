// The community's "Reports" tab (moderators and up): what members reported, oldest worry first
// answered with a resolution the reporter reads; appeals against the staff's actions (admins and
// the owner uphold or overturn them, with an answer); and the chat settings.

import { api, withQuery } from '../api.js';
import { busy, describeError, field, h, replace, timeEl, toast, userName, userText } from '../dom.js';
import { formDialog } from '../dialogs.js';
import { t, tx } from '../i18n.js';
import { ADMINS } from '../roles.js';
import { chatSettings } from './chatsettings.js';
import { logEntry } from './modlog.js';
import { moderate } from './moddialog.js';

/** Ask for the answer a person will read (a report's resolution, an appeal's response). */
function answerDialog({ title, label, hint, submitLabel, testid, send }) {
  const text = h('textarea', { name: 'answer', rows: 3, required: true, maxlength: 2000, dir: 'auto', 'data-testid': `${testid}-text` });
  return formDialog({
    title, body: field(label, text, hint), submitLabel, testid,
    submit: async () => {
      if (!text.value.trim()) { text.focus(); throw new Error(t('safety.reason_required')); }
      return send(text.value.trim());
    },
  });
}

export function renderReports(panel, ctx) {
  const { cid, community } = ctx;
  const reports = h('ul', { class: 'plain', 'data-testid': 'reports' });
  const reportsStatus = h('p', { class: 'muted', 'aria-live': 'polite' });
  const show = h('select', { 'aria-label': t('reports.show'), 'data-testid': 'reports-status' },
    ['open', 'resolved', 'all'].map((s) => h('option', { value: s }, t(`reports.status.${s}`))));

  function reportEl(r) {
    const target = h('div', {});
    const li = h('li', { class: 'card report', 'data-testid': 'report', dataset: { id: r.id, status: r.status } },
      h('p', {}, h('span', { class: 'badge' }, t(`reports.target.${r.target.type}`)), ' ',
        tx('reports.by', { name: userName({ id: r.reporter_id, name: r.reporter_id }) }), t('common.sep'), timeEl(r.created_at)),
      userText(r.reason, 'p', 'user-text'), target);
    let author = r.target.type === 'user' ? { id: r.target.id, name: r.target.id } : null;
    if (r.target.type === 'post') {
      api.get(`/v1/posts/${r.target.id}`).then((post) => {
        author = post.author;
        replace(target, h('blockquote', { class: 'shared' }, h('p', { class: 'muted small' }, userName(post.author)), userText(post.text)));
      }).catch(() => replace(target, h('p', { class: 'muted small' }, t('reports.target_gone'))));
    }
    if (r.status === 'resolved') {
      li.append(h('p', { class: 'small' }, h('strong', {}, t('reports.answer')), ' ', h('bdi', {}, r.resolution || '')));
      return li;
    }
    const resolve = h('button', { type: 'button', class: 'small', 'data-testid': 'resolve' }, t('reports.resolve'));
    resolve.addEventListener('click', async () => {
      const done = await answerDialog({
        title: t('reports.resolve_title'), label: t('reports.resolution'), hint: t('reports.resolution_hint'),
        submitLabel: t('reports.resolve'), testid: 'resolve-dialog',
        send: (resolution) => api.post(`/v1/reports/${r.id}/resolve`, { resolution }),
      });
      if (done) { toast(t('reports.resolved')); li.replaceWith(reportEl(done)); }
    });
    const act = h('button', { type: 'button', class: 'secondary small', 'data-testid': 'report-moderate' }, t('moderation.moderate'));
    act.addEventListener('click', () => {
      const content = ['post', 'comment', 'message'].includes(r.target.type);
      moderate({ cid, user: author, target: content ? r.target : null, initial: content ? 'delete' : 'mute' });
    });
    li.append(h('div', { class: 'row' }, resolve, act));
    return li;
  }

  async function loadReports() {
    try {
      const page = await api.get(withQuery(`/v1/communities/${cid}/reports`, { status: show.value, limit: 50 }));
      replace(reports, (page.items || []).map(reportEl));
      reportsStatus.textContent = reports.children.length ? '' : t('reports.none');
    } catch (err) {
      reportsStatus.textContent = describeError(err);
    }
  }
  show.addEventListener('change', loadReports);

  const sections = [
    h('div', { class: 'row spread wrap' }, h('h2', {}, t('reports.title')), show),
    h('p', { class: 'muted small' }, t('reports.intro')), reportsStatus, reports,
  ];

  // Bans and mutes in force, soonest to end first; a moderator may lift one early, with a reason.
  const standing = h('ul', { class: 'plain', 'data-testid': 'sanctions' });
  const sanctionEl = (s) => {
    const who = { id: s.user_id, name: s.user_name || s.user_id };
    const lift = h('button', { type: 'button', class: 'secondary small', 'data-testid': 'lift' }, t(`reports.lift_${s.kind}`));
    lift.addEventListener('click', async () => {
      const done = await answerDialog({
        title: t(`reports.lift_${s.kind}`), label: t('moderation.reason'), hint: t('moderation.reason_hint'),
        submitLabel: t(`reports.lift_${s.kind}`), testid: 'lift-dialog',
        send: (reason) => api.post(`/v1/communities/${cid}/moderation`, { action: s.kind === 'ban' ? 'unban' : 'unmute', user_id: s.user_id, reason }),
      });
      if (done) { toast(t('moderation.done', { action: t(`moderation.do.${done.action}`) })); li.remove(); }
    });
    const li = h('li', { class: 'row spread wrap card', 'data-testid': 'sanction', dataset: { user: s.user_id, kind: s.kind } },
      h('span', {}, h('strong', {}, userName(who)), ' ', h('span', { class: 'badge' }, t(`reports.sanction.${s.kind}`)), ' ',
        h('span', { class: 'muted small' }, s.until ? tx('modlog.ends', { when: timeEl(s.until) }) : t('moderation.until_lifted'))),
      lift);
    return li;
  };
  sections.push(h('h2', {}, t('reports.in_force')), standing);
  api.get(`/v1/communities/${cid}/moderation/sanctions`).then((res) => {
    replace(standing, (res.items || []).length ? res.items.map(sanctionEl) : h('li', { class: 'muted' }, t('reports.none_in_force')));
  }).catch((err) => replace(standing, h('li', { class: 'error' }, describeError(err))));

  if (ADMINS.includes(community.my_role)) {
    const appeals = h('ul', { class: 'plain', 'data-testid': 'appeals' });
    const appealsStatus = h('p', { class: 'muted', 'aria-live': 'polite' });
    const appealEl = (a) => {
      const li = h('li', { class: 'card appeal', 'data-testid': 'appeal', dataset: { id: a.id, status: a.status } },
        h('p', {}, tx('reports.appeal_by', { name: userName({ id: a.user_id, name: a.action?.user_name || a.user_id }) }), t('common.sep'), timeEl(a.created_at)),
        h('ul', { class: 'plain' }, logEntry(a.action)),
        h('p', { class: 'small' }, h('strong', {}, t('reports.appeal_text')), ' '), userText(a.text, 'p', 'user-text'));
      if (a.status !== 'pending') {
        li.append(h('p', { class: 'badge' }, t(`appeals.status.${a.status}`)));
        return li;
      }
      const decide = (decision) => async () => {
        const done = await answerDialog({
          title: t(`reports.decide_${decision}`), label: t('reports.response'), hint: t('reports.response_hint'),
          submitLabel: t(`reports.decide_${decision}`), testid: 'decide-dialog',
          send: (response) => api.post(`/v1/appeals/${a.id}/decide`, { decision, response }),
        });
        if (done) { toast(t(`appeals.status.${done.status}`)); li.replaceWith(appealEl(done)); }
      };
      const overturn = h('button', { type: 'button', class: 'small', 'data-testid': 'overturn' }, t('reports.decide_overturned'));
      const uphold = h('button', { type: 'button', class: 'secondary small', 'data-testid': 'uphold' }, t('reports.decide_upheld'));
      overturn.addEventListener('click', decide('overturned'));
      uphold.addEventListener('click', decide('upheld'));
      li.append(h('div', { class: 'row' }, overturn, uphold));
      return li;
    };
    sections.push(h('h2', {}, t('reports.appeals')), h('p', { class: 'muted small' }, t('reports.appeals_intro')), appealsStatus, appeals);
    busy(null, async () => {
      try {
        const page = await api.get(withQuery(`/v1/communities/${cid}/appeals`, { status: 'pending', limit: 50 }));
        replace(appeals, (page.items || []).map(appealEl));
        appealsStatus.textContent = appeals.children.length ? '' : t('reports.no_appeals');
      } catch (err) { appealsStatus.textContent = describeError(err); }
    });
  }
  sections.push(chatSettings({ community, onSaved: (c) => Object.assign(community, c) }));
  replace(panel, ...sections);
  loadReports();
}
