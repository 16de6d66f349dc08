// The groups tab: announcements (pushed live), the community's groups (join, leave, create), and
// the chat of the selected group (room `group:{gid}`).

import { api, withQuery } from '../api.js';
import { busy, describeError, field, h, replace, timeEl, toast, userText } from '../dom.js';
import { list, t } from '../i18n.js';
import { ADMINS } from '../roles.js';
import { createChat } from './chat.js';

export function renderGroups(panel, ctx) {
  const { cid, app, hub, cleanups } = ctx;
  const announcements = h('ol', { class: 'announcements', 'data-testid': 'announcements', 'aria-label': t('groups.announcements') });
  const groupList = h('ul', { class: 'group-list', 'data-testid': 'group-list' });
  const chatBox = h('div', { class: 'group-chat', 'data-testid': 'group-chat' });
  const groupsStatus = h('p', { class: 'muted small' });
  let groups = [];
  let chat = null;
  let selected = null;

  function announcementEl(a) {
    const to = a.group_ids && a.group_ids.length
      ? t('groups.to_groups', { groups: list(a.group_ids.map((id) => groups.find((g) => g.id === id)?.name || t('groups.a_group'))) })
      : t('groups.to_everyone');
    return h('li', { class: 'announcement', 'data-testid': 'announcement', dataset: { id: a.id } },
      h('p', { class: 'muted small' }, h('span', { 'aria-hidden': 'true' }, '📣 '), h('bdi', {}, to), t('common.sep'), timeEl(a.created_at)),
      userText(a.text));
  }

  async function loadAnnouncements() {
    try {
      const page = await api.get(withQuery(`/v1/communities/${cid}/announcements`, { limit: 10 }));
      announcements.replaceChildren(...(page.items || []).map(announcementEl));
      if (!announcements.children.length) announcements.append(h('li', { class: 'muted small empty' }, t('groups.no_announcements')));
    } catch (err) {
      replace(announcements, h('li', { class: 'muted small' }, describeError(err)));
    }
  }

  function groupEl(g) {
    const open = h('button', { type: 'button', class: 'secondary small', 'aria-pressed': selected === g.id ? 'true' : 'false' }, t('groups.chat'));
    open.addEventListener('click', () => openChat(g));
    const toggle = h('button', { type: 'button', class: 'small' }, g.joined ? t('groups.leave') : t('groups.join'));
    toggle.addEventListener('click', () => busy(toggle, async () => {
      await api.post(`/v1/groups/${g.id}/${g.joined ? 'leave' : 'join'}`);
      await loadGroups();
    }));
    return h('li', { class: 'group', 'data-testid': 'group', dataset: { id: g.id } },
      h('div', {}, h('strong', { dir: 'auto' }, g.name), ' ',
        h('span', { class: 'muted small' }, t('community.members', { count: g.member_count })),
        g.description ? userText(g.description, 'p', 'user-text small') : null),
      h('div', { class: 'row' }, ctx.community.my_role ? toggle : null, open));
  }

  async function loadGroups() {
    try {
      const page = await api.get(`/v1/communities/${cid}/groups`);
      groups = Array.isArray(page) ? page : (page.items || []);
      groupList.replaceChildren(...groups.map(groupEl));
      groupsStatus.textContent = groups.length ? '' : t('groups.none');
    } catch (err) {
      groupsStatus.textContent = describeError(err);
    }
  }

  function openChat(g) {
    if (chat) chat.destroy();
    selected = g.id;
    for (const li of groupList.children) {
      li.querySelector('[aria-pressed]')?.setAttribute('aria-pressed', li.dataset.id === g.id ? 'true' : 'false');
    }
    chat = createChat({ app, room: `group:${g.id}`, cid, role: () => ctx.community.my_role, label: t('groups.chat_of', { name: g.name }) });
    replace(chatBox, h('h3', { dir: 'auto' }, g.name), chat.el);
    chat.input.focus();
  }

  const adminTools = ADMINS.includes(ctx.community.my_role) ? adminForms() : null;

  function adminForms() {
    const gname = h('input', { name: 'name', required: true, maxlength: 100, dir: 'auto' });
    const gdesc = h('input', { name: 'description', maxlength: 2000, dir: 'auto' });
    const gsubmit = h('button', { type: 'submit', class: 'small' }, t('groups.create'));
    const gform = h('form', { class: 'row wrap' }, field(t('groups.name'), gname), field(t('create.description'), gdesc), gsubmit);
    gform.addEventListener('submit', (ev) => {
      ev.preventDefault();
      busy(gsubmit, async () => {
        await api.post(`/v1/communities/${cid}/groups`, { name: gname.value.trim(), description: gdesc.value.trim() });
        gname.value = ''; gdesc.value = '';
        await loadGroups();
      });
    });
    const atext = h('textarea', { name: 'text', rows: 2, required: true, dir: 'auto', 'data-testid': 'announcement-text' });
    const ato = h('select', { name: 'to' }, h('option', { value: '' }, t('groups.everyone')));
    const asubmit = h('button', { type: 'submit', class: 'small' }, t('groups.announce'));
    const aform = h('form', { class: 'stack' }, field(t('groups.announcement'), atext), field(t('groups.to'), ato), asubmit);
    aform.addEventListener('focusin', () => {
      const current = ato.value;
      replace(ato, h('option', { value: '' }, t('groups.everyone')), groups.map((g) => h('option', { value: g.id }, g.name)));
      ato.value = current;
    });
    aform.addEventListener('submit', (ev) => {
      ev.preventDefault();
      busy(asubmit, async () => {
        const a = await api.post(`/v1/communities/${cid}/announcements`, { text: atext.value, group_ids: ato.value ? [ato.value] : [] });
        atext.value = '';
        addAnnouncement(a);
        toast(t('groups.announced'));
      });
    });
    return h('details', { class: 'admin-tools' }, h('summary', {}, t('groups.admin_tools')), gform, aform);
  }

  function addAnnouncement(a) {
    if (announcements.querySelector(`[data-id="${CSS.escape(a.id)}"]`)) return;
    announcements.querySelector('.empty')?.remove();
    announcements.prepend(announcementEl(a));
  }

  const off = hub.on((msg) => { if (msg.type === 'announcement') addAnnouncement(msg); });
  cleanups.push(off, () => chat && chat.destroy());

  replace(panel,
    h('div', { class: 'groups-layout' },
      h('div', {},
        h('h2', {}, t('groups.announcements')), announcements,
        h('h2', {}, t('groups.title')), groupsStatus, groupList, adminTools),
      chatBox));
  loadGroups().then(loadAnnouncements);
}
