// Safety from every piece of content: the "⋯" menu on a chat line, a post, a comment or a
// person (report to the community's moderators or to the platform, block or unblock, moderate,
// delete, pin), the report and appeal dialogs, and the people this user blocked.
//
// Blocking is enforced by the server (what a blocked person writes is not sent); the client also
// hides at once what it was already showing from them (lines, posts, comments carry
// data-author), and keeps hiding it if anything of theirs still arrives.

import { api } from './api.js';
import { describeError, field, h, toast, userName } from './dom.js';
import { formDialog, confirmDialog, menuButton } from './dialogs.js';
import { t, tx } from './i18n.js';

/** The people the signed-in user blocked: a Set of ids, loaded at sign-in, kept current. */
export const blocks = {
  ids: new Set(),
  async load() {
    const ids = new Set();
    let cursor = null;
    try {
      do {
        const page = await api.get(`/v1/me/blocks?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        for (const b of page.items || []) ids.add(b.user_id);
        cursor = page.next_cursor;
      } while (cursor && ids.size < 10000);
      this.ids = ids;
    } catch { /* signed out or offline: keep what we had */ }
    hideBlocked();
  },
  has(userId) { return Boolean(userId) && this.ids.has(userId); },
  async block(user) {
    await api.post('/v1/me/blocks', { user_id: user.id });
    this.ids.add(user.id);
    hideBlocked();
    toast(t('safety.blocked_done', { name: user.name || user.id }));
  },
  async unblock(user) {
    await api.del(`/v1/me/blocks/${encodeURIComponent(user.id)}`);
    this.ids.delete(user.id);
    document.querySelectorAll(`[data-author="${CSS.escape(user.id)}"].blocked-hidden`).forEach((el) => {
      el.classList.remove('blocked-hidden');
      el.hidden = false;
    });
    toast(t('safety.unblocked_done', { name: user.name || user.id }));
  },
};

/** Hide, everywhere in the page, content whose author (data-author) is blocked. */
export function hideBlocked(root = document) {
  for (const id of blocks.ids) {
    root.querySelectorAll(`[data-author="${CSS.escape(id)}"]`).forEach((el) => {
      el.hidden = true;
      el.classList.add('blocked-hidden');
    });
  }
}

const REASON_MAX = 1000;
const TEXT_MAX = 2000;

/**
 * Report `target` ({type: post|comment|message|user, id}) to the community's moderators (`cid`),
 * or a person's account to the platform's operators (`cid` null).
 */
export function reportDialog({ cid, target, user }) {
  const reason = h('textarea', { name: 'reason', rows: 3, required: true, maxlength: REASON_MAX, dir: 'auto', 'data-testid': 'report-reason' });
  const about = user ? h('p', {}, tx('safety.report_about', { name: userName(user) })) : null;
  const to = h('p', { class: 'muted small' }, cid ? t('safety.report_to_moderators') : t('safety.report_to_platform'));
  return formDialog({
    title: t(`safety.report_title.${target.type}`),
    body: [about, to, field(t('safety.report_reason'), reason, t('safety.report_reason_hint'))],
    submitLabel: t('safety.report_send'),
    testid: 'report-dialog',
    submit: async () => {
      if (!reason.value.trim()) { reason.focus(); throw new Error(t('safety.reason_required')); }
      const report = cid
        ? await api.post(`/v1/communities/${cid}/reports`, { target, reason: reason.value.trim() })
        : await api.post('/v1/reports', { target: { type: 'user', id: target.id }, reason: reason.value.trim() });
      toast(t('safety.report_sent'));
      return report;
    },
  });
}

/** Appeal a moderation action or a suspension (`actionId`), once: what you want the staff to know. */
export function appealDialog({ actionId, what }) {
  const text = h('textarea', { name: 'text', rows: 4, required: true, maxlength: TEXT_MAX, dir: 'auto', 'data-testid': 'appeal-text' });
  return formDialog({
    title: t('safety.appeal_title'),
    body: [what ? h('p', {}, what) : null, field(t('safety.appeal_text'), text, t('safety.appeal_hint'))],
    submitLabel: t('safety.appeal_send'),
    testid: 'appeal-dialog',
    submit: async () => {
      if (!text.value.trim()) { text.focus(); throw new Error(t('safety.reason_required')); }
      const appeal = await api.post(`/v1/moderation/${encodeURIComponent(actionId)}/appeal`, { text: text.value.trim() });
      toast(t('safety.appeal_sent'));
      return appeal;
    },
  });
}

/** Block someone after saying what it does. */
export async function confirmBlock(user) {
  const ok = await confirmDialog({
    title: t('safety.block_title', { name: user.name || user.id }),
    text: t('safety.block_explain'),
    confirmLabel: t('safety.block'),
    testid: 'block-dialog',
  });
  if (ok) await blocks.block(user);
  return ok;
}

/**
 * The "⋯" menu of one piece of content (or of a person when `target` is null).
 * `extra`: more items first ({label, run, danger?, testid?}), e.g. moderate, delete, pin.
 */
export function contentMenu({ app, cid, user, target, extra = [] }) {
  const me = app.me;
  const mine = me && user && user.id === me.id;
  const kind = target ? target.type : 'user';
  if ((mine || !user) && !extra.length) return null;
  const label = user ? t(`safety.menu_label.${kind}`, { name: user.name || user.id }) : t('safety.menu');
  return menuButton(label, () => [
    ...extra,
    !mine && target && cid ? { label: t(`safety.report.${kind}`), testid: 'menu-report', run: () => reportDialog({ cid, target, user }) } : null,
    !mine && user && cid && kind !== 'user' ? { label: t('safety.report_person'), testid: 'menu-report-user', run: () => reportDialog({ cid, target: { type: 'user', id: user.id }, user }) } : null,
    !mine && user ? { label: t('safety.report_account'), testid: 'menu-report-account', run: () => reportDialog({ cid: null, target: { type: 'user', id: user.id }, user }) } : null,
    !mine && user && !blocks.has(user.id) ? { label: t('safety.block_person', { name: user.name || user.id }), testid: 'menu-block', danger: true, run: () => confirmBlock(user).catch((err) => toast(describeError(err), 'error')) } : null,
    !mine && user && blocks.has(user.id) ? { label: t('safety.unblock_person', { name: user.name || user.id }), testid: 'menu-unblock', run: () => blocks.unblock(user).catch((err) => toast(describeError(err), 'error')) } : null,
  ], { testid: 'content-menu' });
}
