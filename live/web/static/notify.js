// Notifications in the page: the unread badge, the `notification` event, and Web Push.
//
// Push permission is asked only when the user clicks "Turn on push notifications" (browsers
// ignore or punish a prompt on page load). Then: the service worker /sw.js is registered, the
// server's VAPID key fetched (GET /v1/web/push-key), the browser subscribed with it, and the
// subscription sent to POST /v1/me/push-subscriptions. The service worker shows each push.

import { api } from './api.js';
import { h, toast } from './dom.js';
import { currentLang, num, t } from './i18n.js';
import { notificationText } from './notetext.js';


function urlBase64ToBytes(text) {
  const pad = '='.repeat((4 - (text.length % 4)) % 4);
  const raw = atob((text + pad).replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

export class Notifications {
  constructor(gateway) {
    this.gateway = gateway;
    this.unread = 0;
    this.listeners = new Set();
    this.muted = new Set();
    this.badge = h('span', { class: 'count', 'data-testid': 'unread-count', hidden: true });
    // Its accessible name is set by setUnread(), once the language's texts are loaded.
    this.link = h('a', { href: '#/notifications', class: 'bell', 'data-testid': 'bell' },
      h('span', { 'aria-hidden': 'true' }, '🔔'), this.badge);
    gateway.on('notification', (msg) => this._arrived(msg.notification));
    gateway.on('open', () => this.refresh());
  }

  /** Called with every notification that arrives over the WebSocket. */
  on(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }

  async refresh() {
    try {
      const [page, settings] = await Promise.all([
        api.get('/v1/me/notifications?unread=true&limit=1'), api.get('/v1/me/notification-settings'),
      ]);
      this.muted = new Set(settings.muted_communities || []);
      this.setUnread(page.unread_count);
    } catch { /* signed out, or offline: the next open refreshes */ }
  }

  setUnread(n) {
    this.unread = Math.max(0, n);
    this.badge.textContent = num(this.unread);
    this.badge.hidden = this.unread === 0;
    this.link.setAttribute('aria-label', this.unread ? t('notify.bell_unread', { count: this.unread }) : t('notify.bell'));
  }

  _arrived(note) {
    if (!note) return;
    this.setUnread(this.unread + 1);
    // The server's count is the truth (an event may race the count read at connect): read it
    // again once a burst of events has passed.
    clearTimeout(this.recount);
    this.recount = setTimeout(() => this.refresh(), 500);
    if (!note.community_id || !this.muted.has(note.community_id)) toast(notificationText(note).title);
    for (const fn of this.listeners) { try { fn(note); } catch (err) { console.error(err); } }
  }

  // -- Web Push --------------------------------------------------------------------------------

  /** Tell the service worker (if this browser has one of ours) the language to show pushes in. */
  static async tellLanguage() {
    if (!('serviceWorker' in navigator)) return;
    const reg = await navigator.serviceWorker.getRegistration('/');
    (reg?.active || reg?.waiting || reg?.installing)?.postMessage({ type: 'lang', lang: currentLang() });
  }

  static supported() {
    return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
  }

  async pushState() {
    if (!Notifications.supported()) return 'unsupported';
    if (Notification.permission === 'denied') return 'denied';
    const reg = await navigator.serviceWorker.getRegistration('/');
    const sub = reg && await reg.pushManager.getSubscription();
    return sub ? 'on' : 'off';
  }

  /** Only ever from a click: ask permission, subscribe, tell the server. */
  async enablePush() {
    if (!Notifications.supported()) throw new Error(t('notify.unsupported'));
    const permission = await Notification.requestPermission();
    if (permission !== 'granted') throw new Error(t('notify.denied'));
    const reg = await navigator.serviceWorker.register('/sw.js', { scope: '/' });
    await navigator.serviceWorker.ready;
    await Notifications.tellLanguage();
    const { public_key: key } = await api.get('/v1/web/push-key');
    let sub = await reg.pushManager.getSubscription();
    if (!sub) sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: urlBase64ToBytes(key) });
    await api.post('/v1/me/push-subscriptions', sub.toJSON());
    return t('notify.push_on_done');
  }

  async disablePush() {
    const reg = Notifications.supported() ? await navigator.serviceWorker.getRegistration('/') : null;
    const sub = reg && await reg.pushManager.getSubscription();
    if (sub) {
      await api.del('/v1/me/push-subscriptions', undefined, { endpoint: sub.endpoint });
      await sub.unsubscribe();
    }
    return t('notify.push_off_done');
  }
}

