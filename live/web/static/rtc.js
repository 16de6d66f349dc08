// WebRTC through the gateway: media.publish (sendonly offer) and media.subscribe (recvonly offer).
// Non-trickle: the offer goes out once ICE gathering is complete, so it already carries every
// candidate and one request/reply is the whole negotiation.

import { GatewayError } from './ws.js';

const GATHER_TIMEOUT_MS = 5000;

/** Resolve when the connection has gathered every ICE candidate (or after a timeout). */
export function iceGatheringComplete(pc, timeout = GATHER_TIMEOUT_MS) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      pc.removeEventListener('icegatheringstatechange', check);
      clearTimeout(timer);
      resolve();
    };
    const check = () => { if (pc.iceGatheringState === 'complete') done(); };
    // With unreachable STUN servers gathering can take long; what we have by then is sent.
    const timer = setTimeout(done, timeout);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

async function negotiate(pc, gateway, type, fields) {
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  await iceGatheringComplete(pc);
  const reply = await gateway.request(type, { ...fields, sdp: pc.localDescription.sdp }, { timeout: 20000 });
  if (!reply.sdp) throw new GatewayError({ code: 'unavailable', message: 'no answer SDP' });
  await pc.setRemoteDescription({ type: 'answer', sdp: reply.sdp });
}

/**
 * One media session (a publication or a subscription). `onState(state)` hears the connection
 * state; a failed or closed connection is the caller's cue to negotiate again.
 */
class MediaSession {
  constructor(pc, gateway, room, publisher, kind) {
    this.pc = pc;
    this.gateway = gateway;
    this.room = room;
    this.publisher = publisher;
    this.kind = kind;
    this.closed = false;
  }

  get state() { return this.pc.connectionState; }

  /** Close locally and tell the server (best effort). */
  close({ notify = true } = {}) {
    if (this.closed) return;
    this.closed = true;
    try { this.pc.close(); } catch { /* already closed */ }
    if (notify && this.gateway.status === 'open') {
      const fields = { room: this.room };
      if (this.kind === 'subscribe' && this.publisher) fields.publisher = this.publisher;
      this.gateway.request('media.stop', fields).catch(() => {});
    }
  }

  /** inbound-rtp video statistics: frames decoded, bytes, packets lost. */
  async videoStats() {
    const stats = await this.pc.getStats();
    const out = { framesDecoded: 0, framesSent: 0, bytesReceived: 0, bytesSent: 0, packetsLost: 0 };
    stats.forEach((s) => {
      if (s.kind !== 'video') return;
      if (s.type === 'inbound-rtp') {
        out.framesDecoded += s.framesDecoded || 0;
        out.bytesReceived += s.bytesReceived || 0;
        out.packetsLost += s.packetsLost || 0;
      } else if (s.type === 'outbound-rtp') {
        out.framesSent += s.framesEncoded || s.framesSent || 0;
        out.bytesSent += s.bytesSent || 0;
      }
    });
    return out;
  }
}

function watchState(session, onState) {
  session.pc.addEventListener('connectionstatechange', () => {
    if (!session.closed) onState?.(session.pc.connectionState, session);
  });
}

/** Publish `stream` (camera + microphone) into `room`. */
export async function publish(gateway, room, stream, { iceServers = [], onState } = {}) {
  const pc = new RTCPeerConnection({ iceServers, bundlePolicy: 'max-bundle' });
  const session = new MediaSession(pc, gateway, room, null, 'publish');
  watchState(session, onState);
  for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
  try {
    await negotiate(pc, gateway, 'media.publish', { room });
  } catch (err) {
    session.close({ notify: false });
    throw err;
  }
  return session;
}

/** Receive `publisher`'s audio and video in `room`; `onStream(MediaStream)` when tracks arrive. */
export async function subscribe(gateway, room, publisher, { iceServers = [], onStream, onState } = {}) {
  const pc = new RTCPeerConnection({ iceServers, bundlePolicy: 'max-bundle' });
  const session = new MediaSession(pc, gateway, room, publisher, 'subscribe');
  watchState(session, onState);
  const stream = new MediaStream();
  session.stream = stream;
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  pc.addEventListener('track', (ev) => {
    if (!stream.getTracks().includes(ev.track)) stream.addTrack(ev.track);
    onStream?.(stream);
  });
  const fields = { room };
  if (publisher) fields.publisher = publisher;
  try {
    await negotiate(pc, gateway, 'media.subscribe', fields);
  } catch (err) {
    session.close({ notify: false });
    throw err;
  }
  return session;
}

/** Camera and microphone; falls back to video only, then audio only, when one is missing. */
export async function openCamera() {
  const tries = [
    { video: { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 30 } }, audio: true },
    { video: true, audio: false },
    { video: false, audio: true },
  ];
  let last;
  for (const constraints of tries) {
    try {
      return await navigator.mediaDevices.getUserMedia(constraints);
    } catch (err) {
      last = err;
      if (err.name === 'NotAllowedError') break;
    }
  }
  throw last || new Error('no camera or microphone');
}
