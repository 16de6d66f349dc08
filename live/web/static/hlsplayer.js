// HLS playback with the vendored hls.js (static/vendor/hls.min.js, loaded on first use): a
// live's host when WebRTC cannot connect or the viewer picks "data saver", and an ended live's
// recording as VOD from the same playlist.
//
// The playlist URL gets the signed-in user's token (members-only lives need it; the server copies
// it onto every segment URI) and `joined=1` (this page is also in the live's room over the
// WebSocket, so the server does not count us twice). Low-latency mode fetches LL-HLS parts.

import { session } from './api.js';

let loading = null;

/** window.Hls, loading the vendored script once (a <script> from our origin: the CSP allows it). */
export function loadHls() {
  if (window.Hls) return Promise.resolve(window.Hls);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = '/static/vendor/hls.min.js';
      script.onload = () => resolve(window.Hls);
      script.onerror = () => {
        loading = null;
        reject(Object.assign(new Error('the HLS player could not be loaded'), { code: 'unavailable' }));
      };
      document.head.append(script);
    });
  }
  return loading;
}

/** The playlist URL of `hlsUrl` for this page. */
export function playlistUrl(hlsUrl, { joined = false } = {}) {
  const query = new URLSearchParams();
  if (session.token) query.set('token', session.token);
  if (joined) query.set('joined', '1');
  const q = query.toString();
  return q ? `${hlsUrl}${hlsUrl.includes('?') ? '&' : '?'}${q}` : hlsUrl;
}

/**
 * Play `hlsUrl` in `video`. Resolves to {destroy(), stats(), hls}; `onFatal(message)` when the
 * stream cannot go on (the caller falls back or says so).
 */
export async function playHls(video, hlsUrl, { live = true, lowLatency = true, joined = false, onFatal } = {}) {
  const Hls = await loadHls();
  const src = playlistUrl(hlsUrl, { joined });
  if (!Hls.isSupported()) {
    // Safari and iOS play HLS themselves.
    video.src = src;
    video.play().catch(() => {});
    return { hls: null, destroy() { video.removeAttribute('src'); video.load(); }, stats: () => ({}) };
  }
  const hls = new Hls({
    enableWorker: false, // a worker from a blob: URL is outside the page's CSP; the main thread copes
    lowLatencyMode: live && lowLatency,
    // 1.5 segments behind the live edge (about 3 s), or 3 parts in low-latency mode: under the
    // playlist's HOLD-BACK of 3 target durations, for a latency of about 4 s instead of 7.
    liveSyncDuration: live && !lowLatency ? 3 : undefined,
    backBufferLength: 30,
  });
  let recoveries = 0;
  hls.on(Hls.Events.ERROR, (_event, data) => {
    if (!data.fatal) return;
    if (data.type === Hls.ErrorTypes.MEDIA_ERROR && recoveries < 2) { recoveries += 1; hls.recoverMediaError(); return; }
    if (data.type === Hls.ErrorTypes.NETWORK_ERROR && recoveries < 3) { recoveries += 1; hls.startLoad(); return; }
    onFatal?.(data.details || 'playback failed');
  });
  hls.on(Hls.Events.MANIFEST_PARSED, () => { video.play().catch(() => {}); });
  hls.loadSource(src);
  hls.attachMedia(video);
  return {
    hls,
    destroy() { hls.destroy(); video.removeAttribute('src'); },
    stats() {
      const q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
      // glass to glass: now minus the wall-clock time (EXT-X-PROGRAM-DATE-TIME) of the frame shown
      const shown = hls.playingDate;
      return {
        latency: hls.latency,
        behindSeconds: shown ? (Date.now() - shown.getTime()) / 1000 : null,
        lowLatency: hls.lowLatencyMode,
        currentTime: video.currentTime,
        totalVideoFrames: q?.totalVideoFrames || 0,
        videoWidth: video.videoWidth,
        level: hls.levels?.[0]?.videoCodec || null,
      };
    },
  };
}
