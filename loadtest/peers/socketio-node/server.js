// The Node.js Socket.IO peer: the same rooms and chat fan-out as `live` and as
// loadtest/peers/socketio_server.py, the stock Node way (Socket.IO 4 with @socket.io/redis-adapter,
// so every room emit is also published to Redis for the other nodes, as in a multi-node deployment).
//
// Events (all with acks), exactly those of the python-socketio peer:
//   join {room} -> {room, seq}: enter the room; seq is the room's latest.
//   leave {room} -> {room}
//   chat.send {room, text, nonce} -> {seq, id}: one Lua script allocates the next seq and appends
//     the message to a capped Redis stream (history), then the message is emitted to the room as
//     chat.message {type, room, epoch, id, user, text, ts, seq}.
// No authentication: the client names itself in the Socket.IO auth payload ({user, name}).
//
//   node server.js --port 8091 --redis-url redis://127.0.0.1:6379/0 [--prefix P] [--host H]

"use strict";

const http = require("http");
const crypto = require("crypto");
const { Server } = require("socket.io");
const { createClient, defineScript } = require("redis");
const { createAdapter } = require("@socket.io/redis-adapter");

const APPEND = `
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', '1000', '*', 'seq', seq, 'data', ARGV[1])
return seq
`;

function parseArgs(argv) {
  const options = {
    host: "127.0.0.1",
    port: 8091,
    redisUrl: process.env.LIVE_REDIS_URL || "redis://127.0.0.1:6379/0",
    prefix: "loadtest-sio-node:",
  };
  const names = { "--host": "host", "--port": "port", "--redis-url": "redisUrl", "--prefix": "prefix" };
  for (let i = 0; i < argv.length; i += 2) {
    const key = names[argv[i]];
    if (!key || i + 1 >= argv.length) {
      console.error(`usage: node server.js [--host H] [--port P] [--redis-url URL] [--prefix P] (bad: ${argv[i]})`);
      process.exit(2);
    }
    options[key] = argv[i + 1];
  }
  options.port = Number(options.port);
  if (!Number.isInteger(options.port) || options.port <= 0 || options.port > 65535) {
    console.error(`--port: expected a port number, got ${argv[argv.indexOf("--port") + 1]}`);
    process.exit(2);
  }
  return options;
}

function roomOf(data) {
  const room = data && typeof data === "object" ? data.room : undefined;
  return typeof room === "string" && room.length > 0 && room.length <= 100 ? room : null;
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const scripts = { append: defineScript({ NUMBER_OF_KEYS: 2, SCRIPT: APPEND,
    transformArguments: (seqKey, streamKey, text) => [seqKey, streamKey, text],
    transformReply: (reply) => reply }) };
  const data = createClient({ url: options.redisUrl, scripts });
  const pub = createClient({ url: options.redisUrl });
  const sub = pub.duplicate();
  for (const client of [data, pub, sub]) {
    client.on("error", (err) => console.error(`redis: ${err.message}`));
  }
  await Promise.all([data.connect(), pub.connect(), sub.connect()]);

  const httpServer = http.createServer((req, res) => {
    res.writeHead(404).end();
  });
  const io = new Server(httpServer, {
    adapter: createAdapter(pub, sub, { key: options.prefix + "socket.io" }),
    serveClient: false,
    cors: { origin: "*" },
    maxHttpBufferSize: 1 << 20,
  });

  io.on("connection", (socket) => {
    const auth = socket.handshake.auth && typeof socket.handshake.auth === "object" ? socket.handshake.auth : {};
    const id = String(auth.user || socket.id).slice(0, 64);
    socket.data.user = { id, name: String(auth.name || id).slice(0, 200) };

    socket.on("join", async (payload, ack) => {
      if (typeof ack !== "function") return;
      const room = roomOf(payload);
      if (room === null) return ack({ error: "invalid_request" });
      socket.join(room);
      const seq = await data.get(`${options.prefix}seq:${room}`);
      ack({ room, seq: Number(seq || 0) });
    });

    socket.on("leave", (payload, ack) => {
      if (typeof ack !== "function") return;
      const room = roomOf(payload);
      if (room === null) return ack({ error: "invalid_request" });
      socket.leave(room);
      ack({ room });
    });

    socket.on("chat.send", async (payload, ack) => {
      if (typeof ack !== "function") return;
      const room = roomOf(payload);
      const text = payload && typeof payload === "object" ? payload.text : undefined;
      if (room === null || typeof text !== "string" || !text.trim()) return ack({ error: "invalid_request" });
      if (text.length > 500) return ack({ error: "message_too_long" });
      const message = { type: "chat.message", room, epoch: "1", id: crypto.randomUUID().replace(/-/g, ""),
        user: socket.data.user, text, ts: Date.now() / 1000 };
      let seq;
      try {
        // One connection answers its commands in the order they were sent, so the scripts'
        // replies (and with them the emits below) come in seq order without a per-room lock:
        // seq order == emit order, as live guarantees.
        seq = Number(await data.append(`${options.prefix}seq:${room}`, `${options.prefix}history:${room}`, text));
      } catch (err) {
        return ack({ error: "unavailable" });
      }
      message.seq = seq;
      io.to(room).emit("chat.message", message);
      ack({ seq, id: message.id });
    });
  });

  httpServer.listen(options.port, options.host, () => {
    console.log(`socketio-node listening on ${options.host}:${options.port}`);
  });

  const stop = () => {
    io.close();
    Promise.allSettled([data.quit(), pub.quit(), sub.quit()]).finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err) => {
  console.error(`socketio-node: ${err.stack || err}`);
  process.exit(1);
});
