// The community's settings (the "Settings" tab, admins and the owner): name, description, topics,
// rules, who may join, read and list the members (PATCH /v1/communities/{cid}), and, for the
// owner, deleting the community after a confirmation.

import { api } from '../api.js';
import { busy, describeError, field, h, replace, toast } from '../dom.js';
import { confirmDialog } from '../dialogs.js';
import { t } from '../i18n.js';

function choice(name, value, options) {
  return h('select', { name, 'data-testid': `setting-${name}` },
    options.map(([v, key]) => h('option', { value: v, selected: v === value }, t(key))));
}

export function renderCommunitySettings(panel, ctx) {
  const { cid, app } = ctx;
  const c = ctx.community;
  const name = h('input', { name: 'name', required: true, maxlength: 100, dir: 'auto', value: c.name });
  const description = h('textarea', { name: 'description', rows: 3, maxlength: 2000, dir: 'auto' });
  description.value = c.description || '';
  const topics = h('input', { name: 'topics', dir: 'auto', value: (c.topics || []).join(', ') });
  const rules = h('textarea', { name: 'rules', rows: 5, maxlength: 5000, dir: 'auto', 'data-testid': 'setting-rules' });
  rules.value = c.rules || '';
  const join = choice('join_policy', c.join_policy, [['open', 'create.open'], ['invite', 'create.invite']]);
  const read = choice('read_policy', c.read_policy, [['public', 'create.public'], ['members', 'create.members']]);
  const members = choice('member_list', c.member_list || 'members', [['members', 'commsettings.list_members'], ['public', 'commsettings.list_public']]);
  const error = h('p', { class: 'error', role: 'alert' });
  const save = h('button', { type: 'submit', 'data-testid': 'community-save' }, t('common.save'));
  const form = h('form', { class: 'stack' },
    field(t('create.name'), name), field(t('create.description'), description),
    field(t('create.topics'), topics, t('create.topics_hint')),
    field(t('commsettings.rules'), rules, t('commsettings.rules_hint')),
    h('div', { class: 'row wrap' }, field(t('create.who_joins'), join), field(t('create.who_reads'), read),
      field(t('commsettings.who_lists'), members)),
    error, save);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    error.textContent = '';
    busy(save, async () => {
      try {
        const updated = await api.patch(`/v1/communities/${cid}`, {
          name: name.value.trim(), description: description.value.trim(), rules: rules.value.trim(),
          topics: topics.value.split(/[\s,،]+/).map((x) => x.trim()).filter(Boolean),
          join_policy: join.value, read_policy: read.value, member_list: members.value,
        });
        Object.assign(ctx.community, updated);
        app.communities.set(cid, ctx.community);
        toast(t('commsettings.saved'));
        await ctx.refresh?.();
      } catch (err) {
        error.textContent = describeError(err);
      }
    });
  });

  const parts = [h('h2', {}, t('commsettings.title')), form];
  if (c.my_role === 'owner') {
    const del = h('button', { type: 'button', class: 'danger', 'data-testid': 'community-delete' }, t('commsettings.delete'));
    del.addEventListener('click', () => busy(del, async () => {
      const ok = await confirmDialog({
        title: t('commsettings.delete_title', { name: c.name }), text: t('commsettings.delete_text'),
        confirmLabel: t('commsettings.delete'), testid: 'community-delete-dialog',
      });
      if (!ok) return;
      await api.del(`/v1/communities/${cid}`);
      toast(t('commsettings.deleted', { name: c.name }));
      app.navigate('#/');
    }));
    parts.push(h('h3', {}, t('commsettings.delete')), h('p', { class: 'muted small' }, t('commsettings.delete_intro')), del);
  }
  replace(panel, ...parts);
}
