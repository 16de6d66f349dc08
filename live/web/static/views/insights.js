// Insights (the community's "Insights" tab, admins and the owner): members over time, posts,
// lives and watch time per day, as charts (inline SVG, charts.js), over 7, 28 or 90 days.
// Small communities get the contract's insights_unavailable, said in words: daily figures of a
// few people point at individuals.

import { api } from '../api.js';
import { describeError, h, replace } from '../dom.js';
import { dayChart } from '../charts.js';
import { num, t, unit } from '../i18n.js';

const hours = (s) => Math.round((s / 3600) * 10) / 10;

export function renderInsights(panel, ctx) {
  const { cid, community } = ctx;
  const days = h('select', { 'aria-label': t('insights.period'), 'data-testid': 'insights-days' },
    [7, 28, 90].map((d) => h('option', { value: String(d), selected: d === 28 }, t('insights.last_days', { count: d }))));
  const body = h('div', { class: 'insights', 'aria-live': 'polite' });

  async function load() {
    replace(body, h('p', { class: 'muted' }, t('common.loading')));
    let data;
    try {
      data = await api.get(`/v1/communities/${cid}/insights?days=${days.value}`);
    } catch (err) {
      replace(body, h('p', { class: 'muted', 'data-testid': 'insights-error' }, describeError(err)));
      return;
    }
    const items = data.items || [];
    // Members over time: today's members, less those who joined after each day.
    let members = community.member_count - items.reduce((s, d) => s + (d.members_joined || 0), 0);
    const memberPoints = items.map((d) => { members += d.members_joined || 0; return { date: d.date, value: members }; });
    const totals = data.totals || {};
    replace(body,
      h('dl', { class: 'figures' },
        h('div', {}, h('dt', {}, t('insights.active')), h('dd', {}, num(totals.active_members ?? 0))),
        h('div', {}, h('dt', {}, t('insights.comments')), h('dd', {}, num(totals.comments ?? 0))),
        h('div', {}, h('dt', {}, t('insights.likes')), h('dd', {}, num(totals.likes ?? 0))),
        h('div', {}, h('dt', {}, t('insights.reports')), h('dd', {}, num(totals.reports ?? 0))),
        h('div', {}, h('dt', {}, t('insights.moderation')), h('dd', {}, num(totals.moderation_actions ?? 0)))),
      h('div', { class: 'chart-grid' },
        dayChart({ title: t('insights.members'), kind: 'line', points: memberPoints, testid: 'chart-members', summary: num(community.member_count) }),
        dayChart({ title: t('insights.posts'), points: items.map((d) => ({ date: d.date, value: d.posts || 0 })), testid: 'chart-posts' }),
        dayChart({ title: t('insights.lives'), points: items.map((d) => ({ date: d.date, value: d.lives || 0 })), testid: 'chart-lives' }),
        dayChart({
          title: t('insights.watch'), testid: 'chart-watch',
          points: items.map((d) => ({ date: d.date, value: hours(d.watch_seconds || 0) })),
          format: (v) => unit(v, 'hour', 'short', { maximumFractionDigits: 1 }),
        })));
  }
  days.addEventListener('change', load);
  replace(panel, h('div', { class: 'row spread wrap' }, h('h2', {}, t('insights.title')), days),
    h('p', { class: 'muted small' }, t('insights.intro')), body);
  load();
}
