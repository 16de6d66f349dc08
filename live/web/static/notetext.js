// A notification's words in the user's language. The server writes each notification once, in
// English, for every delivery (inbox, push, webhooks); the page rewrites the ones it knows by
// `kind` from the facts they carry (the actor's name, a status, a reason), and keeps the server's
// text for English and for kinds it does not know. What people wrote (a live's title, an
// announcement, an answer to a report or an appeal) is shown as written.

import { currentLang, has, t } from './i18n.js';

const MODERATION = /^Reason: ([\s\S]*?)(?: \(until ([^)]+)\))?$/;
const USAGE = /(\d+) min watching, (\d+) min hosting/;

/** {title, body} of `note` for the page's language. */
export function notificationText(note) {
  if (currentLang() === 'en' || !has(`notes.${note.kind}`)) return { title: note.title, body: note.body || '' };
  const actor = note.actor?.name || note.actor?.id || t('common.someone');
  const body = note.body || '';
  switch (note.kind) {
    case 'live.started':
    case 'live.scheduled':
    case 'live.reminder':
    case 'announcement':
    case 'report.resolved':
      return { title: t(`notes.${note.kind}`, { actor }), body };
    case 'appeal.decided': {
      const status = /overturned$/.test(note.title) ? 'overturned' : 'upheld';
      return { title: t(`notes.appeal.decided.${status}`), body };
    }
    case 'join_request.decided': {
      const approved = /approved$/.test(note.title);
      return { title: t(approved ? 'notes.join_request.approved' : 'notes.join_request.rejected'), body: approved ? t('notes.welcome') : '' };
    }
    case 'moderation.notice': {
      const m = MODERATION.exec(body);
      return { title: t('notes.moderation.notice'), body: m ? t('notes.reason', { reason: m[1] }) : body };
    }
    case 'usage.reminder': {
      const m = USAGE.exec(body);
      return {
        title: t('notes.usage.reminder'),
        body: m ? t('notes.usage_today', { watching: Number(m[1]), hosting: Number(m[2]) }) : '',
      };
    }
    default:
      return { title: note.title, body };
  }
}
