"""Notifications: one durable record, three deliveries (WebSocket, Web Push, webhooks).

See docs/notifications.md. Modules: `models` (tables), `kinds` (what a notification is),
`prefs` (mutes, quiet hours), `inbox` (reading and marking read), `outbox` (the durable queue
and its sender), `fanout` (expanding one notification to its audience), `vapid`, `webpush`,
`endpoints` (which push URLs may be used), `webhooks`, `delivery` (the HTTP senders), `service`
(the component), `api` (HTTP).
"""
