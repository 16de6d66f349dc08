// Go live: camera and microphone preview, a title, start. Starting creates the live over HTTP and
// hands the open camera to the live page, which publishes it (media.publish). Or schedule it for
// later (a `starts_at`: members and followers are told, and can ask for a reminder), and start a
// scheduled live of yours from here when the time comes (POST /v1/live/{lid}/start).

import { api } from '../api.js';
import { busy, describeError, field, h, replace } from '../dom.js';
import { dateTime, list, t, tx } from '../i18n.js';
import { openCamera } from '../rtc.js';
import { handOver } from './live.js';

export async function renderGoLive(main, [cid], app) {
  let community = null;
  try {
    community = await api.get(`/v1/communities/${cid}`);
    app.communities.set(cid, community);
  } catch (err) {
    replace(main, h('section', { class: 'panel' }, h('h1', {}, t('community.unavailable')), h('p', {}, describeError(err))));
    return undefined;
  }
  const video = h('video', { autoplay: true, playsinline: true, muted: true, class: 'preview', 'data-testid': 'preview', 'aria-label': t('golive.preview') });
  const camStatus = h('p', { class: 'muted small', role: 'status' }, t('golive.starting_camera'));
  const title = h('input', { name: 'title', required: true, maxlength: 200, dir: 'auto', 'data-testid': 'live-title' });
  const start = h('button', { type: 'submit', 'data-testid': 'start-live', disabled: true }, t('golive.start'));
  const error = h('p', { class: 'error', role: 'alert' });
  const later = h('input', { type: 'datetime-local', name: 'starts_at', 'data-testid': 'starts-at' });
  const schedule = h('button', { type: 'button', class: 'secondary', 'data-testid': 'schedule-live' }, t('golive.schedule'));
  const form = h('form', { class: 'stack' }, field(t('golive.title_label'), title, t('golive.title_hint')), error,
    h('div', { class: 'row' }, start, h('a', { class: 'button secondary', href: `#/c/${cid}` }, t('common.cancel'))),
    h('details', { 'data-testid': 'schedule-details' }, h('summary', {}, t('golive.later')),
      field(t('golive.starts_at'), later, t('golive.starts_at_hint')),
      schedule));
  const mine = h('ul', { class: 'plain', 'data-testid': 'my-scheduled' });

  schedule.addEventListener('click', () => {
    error.textContent = '';
    if (!title.value.trim()) { error.textContent = t('golive.title_required'); title.focus(); return; }
    if (!later.value) { error.textContent = t('golive.pick_time'); later.focus(); return; }
    busy(schedule, async () => {
      try {
        const startsAt = new Date(later.value).toISOString(); // datetime-local is the user's local time
        await api.post(`/v1/communities/${cid}/live`, { title: title.value.trim(), starts_at: startsAt });
        app.navigate(`#/c/${cid}/live`);
      } catch (err) {
        error.textContent = describeError(err);
      }
    });
  });

  // Scheduled lives of mine in this community: start one with the camera that is open here.
  try {
    const page = await api.get(`/v1/communities/${cid}/live?status=scheduled&limit=50`);
    for (const live of (page.items || []).filter((l) => l.host?.id === app.me?.id)) {
      const go = h('button', { type: 'button', 'data-testid': 'start-scheduled-now' }, t('upcoming.start'));
      go.addEventListener('click', () => busy(go, async () => {
        try {
          const started = await api.post(`/v1/live/${live.id}/start`);
          handOver(started.id, stream);
          handed = true;
          app.navigate(`#/live/${started.id}`);
        } catch (err) {
          error.textContent = describeError(err);
        }
      }));
      mine.append(h('li', { class: 'row' }, h('span', { dir: 'auto' }, live.title), ' ',
        h('time', { datetime: live.starts_at }, dateTime(live.starts_at)), ' ', go));
    }
  } catch { /* the form still works */ }

  let stream = null;
  let handed = false;
  try {
    stream = await openCamera();
    video.srcObject = stream;
    const kinds = stream.getTracks().map((t) => t.kind);
    camStatus.textContent = kinds.includes('video') && kinds.includes('audio')
      ? t('golive.ready')
      : t('golive.only', { what: list(kinds.map((k) => t(`golive.kind.${k}`))) });
    start.disabled = false;
  } catch (err) {
    // The browser's reason, in the reader's words: refused, or no device.
    const why = err.name === 'NotAllowedError' ? 'golive.denied' : err.name === 'NotFoundError' ? 'golive.no_device' : 'golive.camera_error';
    camStatus.textContent = t('golive.no_camera', { why: t(why) });
    camStatus.classList.add('error');
  }

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    error.textContent = '';
    if (!title.value.trim()) { error.textContent = t('golive.title_required'); title.focus(); return; }
    busy(start, async () => {
      try {
        const live = await api.post(`/v1/communities/${cid}/live`, { title: title.value.trim() });
        handOver(live.id, stream);
        handed = true;
        app.navigate(`#/live/${live.id}`);
      } catch (err) {
        error.textContent = describeError(err);
      }
    });
  });

  replace(main, h('section', { class: 'panel golive' },
    h('h1', {}, tx('golive.heading', { community: h('bdi', {}, community.name) })),
    h('div', { class: 'golive-grid' }, h('div', {}, video, camStatus), h('div', {}, form, mine))));
  title.focus();
  return () => {
    if (!handed && stream) stream.getTracks().forEach((t) => t.stop());
  };
}
