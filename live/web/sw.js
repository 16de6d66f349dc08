// The service worker: shows Web Push notifications and opens the page they point to.
// A push's payload is the notification JSON ({id, kind, title, body, url, ...}), decrypted by the
// browser; `url` is the web client's route (#/live/{lid}, #/c/{cid}...).

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('push', (event) => {
  let note = {};
  try { note = event.data ? event.data.json() : {}; } catch { note = { title: event.data ? event.data.text() : '' }; }
  const title = note.title || 'live';
  event.waitUntil(self.registration.showNotification(title, {
    body: note.body || '',
    tag: note.id || undefined, // the same notification twice (at-least-once) shows once
    data: { url: note.url || '#/notifications', id: note.id },
    icon: '/static/icon.svg',
    dir: 'auto',
  }));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const target = new URL('/' + (event.notification.data?.url || ''), self.location.origin).href;
  event.waitUntil((async () => {
    const open = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    for (const client of open) {
      if (new URL(client.url).origin === self.location.origin) {
        await client.focus();
        return client.navigate(target);
      }
    }
    return self.clients.openWindow(target);
  })());
});
