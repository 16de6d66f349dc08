// The service worker: shows Web Push notifications and opens the page they point to.
// A push's payload is the notification JSON ({id, kind, title, body, url, ...}), decrypted by the
// browser; `url` is the web client's route (#/live/{lid}, #/c/{cid}...).
//
// The server writes notifications in English; the page tells this worker its language (a
// `{type: 'lang'}` message, kept in Cache Storage since a worker has no localStorage), and a push
// is shown with the title of its kind from that language's catalog (static/i18n/{lang}.json).
// What people wrote (a live's title, an announcement, an answer) stays as written; the server's
// English sentences are left out.

const PREFS = 'live-prefs';
const LANG_KEY = '/__live/lang';
const PEOPLE_WROTE = new Set(['live.started', 'live.scheduled', 'live.reminder', 'announcement', 'report.resolved', 'appeal.decided']);

self.addEventListener('message', (event) => {
  const lang = event.data && event.data.type === 'lang' ? String(event.data.lang) : '';
  if (/^[a-z]{2}$/.test(lang)) {
    event.waitUntil(caches.open(PREFS).then((cache) => cache.put(LANG_KEY, new Response(lang))));
  }
});

async function inLanguage(note) {
  try {
    const saved = await (await caches.open(PREFS)).match(LANG_KEY);
    const lang = saved ? await saved.text() : 'en';
    if (lang === 'en') return { ...note, lang };
    const catalog = await (await fetch(`/static/i18n/${lang}.json`)).json();
    const title = catalog[`notes.${note.kind}`];
    if (typeof title !== 'string') return note;
    const actor = (note.actor && (note.actor.name || note.actor.id)) || '';
    return { ...note, lang, title: title.replace('{actor}', actor), body: PEOPLE_WROTE.has(note.kind) ? note.body : '' };
  } catch {
    return note; // offline, or no such catalog: the server's words
  }
}

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('push', (event) => {
  let note = {};
  try { note = event.data ? event.data.json() : {}; } catch { note = { title: event.data ? event.data.text() : '' }; }
  event.waitUntil(inLanguage(note).then((shown) => self.registration.showNotification(shown.title || 'live', {
    body: shown.body || '',
    tag: note.id || undefined, // the same notification twice (at-least-once) shows once
    data: { url: note.url || '#/notifications', id: note.id },
    icon: '/static/icon.svg',
    lang: shown.lang || '',
    dir: 'auto',
  })));
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
