// Chat settings for moderators and up: slow mode (seconds between one person's messages) and the
// community's published word filter, beside the chat they govern (the live page) and in the
// community's reports tab. PATCH /v1/communities/{cid}/moderation/chat; each change is logged.

import { api } from '../api.js';
import { busy, describeError, field, h, toast } from '../dom.js';
import { t, unit } from '../i18n.js';

const SLOW_STEPS = [0, 5, 10, 30, 60, 300, 900, 3600];

/** A collapsible form; `onSaved(settings)` with the new {slow_mode_seconds, blocked_words}. */
export function chatSettings({ community, onSaved }) {
  const slow = h('select', { name: 'slow_mode_seconds', 'data-testid': 'slow-mode' },
    [...new Set([...SLOW_STEPS, community.slow_mode_seconds || 0])].sort((a, b) => a - b).map((s) => h('option', {
      value: String(s), selected: s === (community.slow_mode_seconds || 0),
    }, s === 0 ? t('chatsettings.off') : s < 60 ? unit(s, 'second', 'long') : unit(s / 60, 'minute', 'long'))));
  const words = h('textarea', { name: 'blocked_words', rows: 3, dir: 'auto', 'data-testid': 'blocked-words' });
  words.value = (community.blocked_words || []).join('\n');
  const reason = h('input', { name: 'reason', maxlength: 1000, dir: 'auto', 'data-testid': 'chat-settings-reason' });
  const error = h('p', { class: 'error', role: 'alert' });
  const save = h('button', { type: 'submit', class: 'small', 'data-testid': 'chat-settings-save' }, t('common.save'));
  const form = h('form', { class: 'stack' },
    field(t('chatsettings.slow_mode'), slow, t('chatsettings.slow_mode_hint')),
    field(t('chatsettings.words'), words, t('chatsettings.words_hint')),
    field(t('chatsettings.reason'), reason, t('chatsettings.reason_hint')),
    error, save);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    error.textContent = '';
    busy(save, async () => {
      const list = [...new Set(words.value.split(/[\n,،]+/).map((w) => w.trim()).filter(Boolean))];
      const body = { slow_mode_seconds: Number(slow.value), blocked_words: list };
      if (reason.value.trim()) body.reason = reason.value.trim();
      try {
        const res = await api.patch(`/v1/communities/${community.id}/moderation/chat`, body);
        words.value = (res.blocked_words || list).join('\n');
        onSaved?.(res);
        toast(t('chatsettings.saved'));
      } catch (err) {
        error.textContent = describeError(err);
      }
    });
  });
  return h('details', { class: 'chat-settings', 'data-testid': 'chat-settings' }, h('summary', {}, t('chatsettings.title')), form);
}
