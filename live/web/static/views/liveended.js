// An ended live's page: its title, the peak audience, the recording played from the live's own
// playlist (now a VOD) while it exists, and a link to download it.

import { api } from '../api.js';
import { describeError, h, replace } from '../dom.js';
import { playHls } from '../hlsplayer.js';
import { t, tx } from '../i18n.js';

export function renderEnded(main, live, community, app) {
  const recording = h('p', { class: 'muted small' });
  // The recording, played from the live's own playlist (now a VOD), while it exists.
  const replay = live.hls_url
    ? h('video', { controls: true, playsinline: true, muted: true, class: 'replay', 'data-testid': 'replay-video' })
    : null;
  replace(main, h('section', { class: 'panel narrow', 'data-testid': 'live-ended' },
    h('h1', { dir: 'auto' }, live.title || t('live.untitled')),
    h('p', {}, t('live.has_ended'), live.peak_viewers !== undefined ? [' ', t('live.peak', { count: live.peak_viewers })] : ''),
    replay,
    recording,
    community ? h('p', {}, h('a', { href: `#/c/${community.id}/live` }, tx('live.back_to', { community: h('bdi', {}, community.name) }))) : null));
  let player = null;
  if (replay) {
    playHls(replay, live.hls_url, { live: false }).then((p) => { player = p; }).catch((err) => {
      replay.replaceWith(h('p', { class: 'muted small' }, t('live.replay_failed', { why: describeError(err) })));
    });
  }
  api.get(`/v1/live/${live.id}/recording`).then((rec) => {
    const url = rec && (rec.download_url || rec.url);
    if (url) replace(recording, h('a', { href: url, download: '' }, t('live.download_recording')));
  }).catch(() => {});
  app.current = { lid: live.id, async stats() { return { replay: player ? player.stats() : null }; } };
  return () => {
    player?.destroy();
    if (app.current?.lid === live.id) app.current = null;
  };
}
