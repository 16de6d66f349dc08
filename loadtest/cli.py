"""`python -m loadtest`: the command line (chat, connections, media, hls, churn, ladder, merge, report)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from loadtest import ladder, procstat, report
from loadtest.runner import RunSpec, plan_members, run, summarize
from loadtest.session import SessionError
from loadtest.setup import HostsInRooms, Identities, SetupError, create_rooms, end_lives, hosts_of, join_community

DESCRIPTION = """\
Load generator for `live` (and the python-socketio peer it is compared with).

Each run spawns --processes generator processes holding many simulated members each, prints a
progress line once a second on stderr, and ends with a table, a JSON result (--out) and a
self-contained HTML report with plots (--html). Runs from several machines (--shard i/n) combine
with `loadtest merge`. See docs/benchmarks.md.
"""

EPILOG = """\
examples:
  python -m loadtest chat --url http://127.0.0.1:8080 --secret "$LIVE_SECRET" \\
      --rooms 1 --members 1000 --senders 10 --rate 20 --duration 30
  python -m loadtest chat --target socketio --url http://127.0.0.1:8090 --members 1000 --rate 20
  python -m loadtest connections --secret "$LIVE_SECRET" --connections 10000 --processes 1
  python -m loadtest hls --url http://127.0.0.1:8080 --live LID --viewers 2000 --duration 60
  python -m loadtest ladder --secret "$LIVE_SECRET" --members 500 --start 20
  python -m loadtest merge a.json b.json --out all.json --html all.html
  python -m loadtest report live.json socketio.json --html compare.html
"""


def _shard(value: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in value.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError("expected i/n, e.g. 0/2") from None
    if not (n >= 1 and 0 <= i < n):
        raise argparse.ArgumentTypeError("expected 0 <= i < n")
    return i, n


def _dwell(value: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in value.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError("expected MIN:MAX seconds, e.g. 0.5:2") from None
    if not 0 <= lo <= hi:
        raise argparse.ArgumentTypeError("expected 0 <= MIN <= MAX")
    return lo, hi


def _positive(kind: type) -> Any:
    def parse(value: str) -> Any:
        try:
            v = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}") from None
        if v <= 0:
            raise argparse.ArgumentTypeError("must be > 0")
        return v

    return parse


def _non_negative(value: str) -> float:
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a number") from None
    if v < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return v


def _common(p: argparse.ArgumentParser, *, duration: float, ramp: float) -> None:
    g = p.add_argument_group("target")
    g.add_argument("--url", action="append", metavar="URL",
                   help="base URL of a server node, e.g. http://127.0.0.1:8080; repeat for several "
                        "nodes: members are spread over them round-robin (default http://127.0.0.1:8080)")
    g.add_argument("--target", choices=("live", "socketio"), default="live",
                   help="what the URLs serve: `live` (its /v1/ws protocol) or the python-socketio peer "
                        "(loadtest/peers/socketio_server.py) (default live)")
    g.add_argument("--secret", default=None,
                   help="the server's LIVE_SECRET: tokens are minted with it (default $LIVE_SECRET); "
                        "`live serve --dev` keeps its secret in var/dev-secret")
    g.add_argument("--tokens-file", metavar="FILE",
                   help="read tokens (JWTs) instead of minting them, one per line: the first is the "
                        "community owner and host of room 0, the next ones host rooms 1..R-1, the rest "
                        "are members")
    g.add_argument("--encoding", choices=("msgpack", "json"), default="msgpack",
                   help="live's WebSocket subprotocol: live.v1.msgpack or live.v1.json (default msgpack; "
                        "the socketio target always speaks JSON)")
    g.add_argument("--community", metavar="CID",
                   help="use this existing community (open join policy) instead of creating one")
    g.add_argument("--room", action="append", metavar="ROOM",
                   help="use this existing room (live:{id}; for socketio any name) instead of creating "
                        "rooms; repeat for several; needed with --shard n>1 (see --setup-only)")
    g.add_argument("--setup-only", action="store_true",
                   help="create the community and rooms, print the --community/--room options for the "
                        "shards to use, and exit (a live ends LIVE_GRACE_SECONDS after it starts unless "
                        "its host joins: shards with --secret sign the hosts in and keep them there)")
    g.add_argument("--id-prefix", default=None,
                   help="prefix of minted user ids (default lt<random>); shards of one run must differ "
                        "or use --shard so their member ids do not collide")
    g = p.add_argument_group("generator")
    g.add_argument("--processes", type=_positive(int), default=max(1, (os.cpu_count() or 2) // 2),
                   help="generator processes, each with its own event loop (default: half the cores)")
    g.add_argument("--shard", type=_shard, default=(0, 1), metavar="i/n",
                   help="this machine runs the i-th of n equal slices of the members (default 0/1); "
                        "combine the JSON files with `loadtest merge`")
    g.add_argument("--ramp", type=_non_negative, default=ramp,
                   help=f"seconds over which members connect, evenly spread (default {ramp:g})")
    g.add_argument("--duration", type=_positive(float), default=duration,
                   help=f"seconds of sending (or holding, for connections) after the ramp (default {duration:g})")
    g.add_argument("--settle", type=_non_negative, default=1.0,
                   help="seconds between the end of the ramp-up and the first send, for joins still "
                        "in flight (default 1)")
    g.add_argument("--drain", type=_non_negative, default=3.0,
                   help="seconds after the last send before closing, for deliveries in flight (default 3)")
    g.add_argument("--connect-timeout", type=_positive(float), default=15.0,
                   help="seconds a member may take to connect and join before it counts as failed (default 15)")
    g = p.add_argument_group("server measurement")
    g.add_argument("--server-pid", type=int, action="append", metavar="PID",
                   help="a server process to sample (CPU, RSS) once a second, with its children; repeat "
                        "for several (default: the processes listening on the URLs' ports, when local)")
    g.add_argument("--no-server-stats", action="store_true", help="do not sample any server process")
    g = p.add_argument_group("output")
    g.add_argument("--out", metavar="FILE",
                   help="JSON result (default var/loadtest/<scenario>-<target>-<time>.json)")
    g.add_argument("--html", metavar="FILE", help="HTML report (default: the --out path with .html)")
    g.add_argument("--label", help="a name for this run in tables and reports (default: target)")
    g.add_argument("--quiet", action="store_true", help="no progress line")


def _chat_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("chat")
    g.add_argument("--rooms", type=_positive(int), default=1, help="rooms R (default 1)")
    g.add_argument("--members", type=_positive(int), default=100, help="members M in each room (default 100)")
    g.add_argument("--senders", type=_positive(int), default=10,
                   help="members P of each room that send (the first P; default 10)")
    g.add_argument("--rate", type=_non_negative, default=20.0,
                   help="chat messages a second in each room, all its senders together (default 20)")
    g.add_argument("--message-bytes", type=_positive(int), default=64,
                   help="length of each message's text (default 64; it starts with the send time)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m loadtest", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(title="scenarios and tools", metavar="COMMAND")

    chat = sub.add_parser(
        "chat", help="chat fan-out: R rooms x M members, P senders at a rate",
        description="Chat fan-out. Members connect over --ramp, join their room (as community members), "
                    "then the senders send for --duration. Counts connected, failed, sent, acknowledged, "
                    "delivered, missing (seq gaps), duplicated; latency from the intended send time to "
                    "each delivery (p50, p95, p99, p99.9, max); server CPU and RSS per process.")
    _common(chat, duration=20, ramp=5)
    _chat_options(chat)
    chat.set_defaults(func=cmd_chat, scenario="chat")

    conns = sub.add_parser(
        "connections", help="N idle members held: server RSS per connection, idle CPU",
        description="Idle connections. N members connect over --ramp and join a room (a live room, as "
                    "viewers) and stay idle for --duration: server RSS per connection (held minus before, "
                    "over N) and idle CPU. Raise the server's own open-files limit for large N.")
    _common(conns, duration=15, ramp=20)
    g = conns.add_argument_group("connections")
    g.add_argument("--connections", type=_positive(int), default=1000, help="members N (default 1000)")
    g.add_argument("--rooms", type=_positive(int), default=1, help="rooms they spread over (default 1)")
    g.add_argument("--no-join", action="store_true", help="only connect; join no room")
    conns.set_defaults(func=cmd_connections, scenario="connections")

    media = sub.add_parser(
        "media", help="one publisher, N WebRTC subscribers through the media relay",
        description="Media fan-out: one publisher (synthetic video + Opus) and N aiortc subscribers: "
                    "per-subscriber fps, bitrate, loss, join-to-first-frame, server CPU (and per subscriber). "
                    "The peer is aiortc's stock MediaRelay, re-encoding per viewer "
                    "(python -m loadtest.peers.mediarelay_server). With --processes P > 1 the subscribers "
                    "are spread over P child processes; the publisher stays in the parent.")
    _common(media, duration=20, ramp=5)
    target = next(a for a in media._actions if a.dest == "target")
    target.choices = ("live", "mediarelay", "socketio")  # socketio: refused in cmd_media, with a reason
    target.help = ("what the URL serves: `live`, or the stock-MediaRelay peer "
                   "(loadtest/peers/mediarelay_server.py; no tokens, rooms or --secret) (default live)")
    g = media.add_argument_group("media")
    g.add_argument("--subscribers", type=_positive(int), default=10, help="subscribers N (default 10)")
    g.add_argument("--resolution", choices=("640x360", "1280x720"), default="640x360",
                   help="publisher's synthetic video size (default 640x360)")
    g.add_argument("--no-decode", action="store_true",
                   help="subscribers count complete encoded frames instead of decoding them, so one generator "
                        "process holds many: measures the relay's capacity, not the generator's decoders")
    g.add_argument("--raw", action="store_true",
                   help="subscribers count RTP where it arrives (no SRTP decrypt, jitter buffer, NACK or PLI): "
                        "about ten times cheaper than --no-decode, for hundreds of viewers per relay core")
    g.add_argument("--video", metavar="FILE",
                   help="a VP8 + Opus WebM the publisher sends as it is, looped (no encoding on the generator; "
                        "python -c \"from live.media.synthetic import write_pattern_webm; "
                        "write_pattern_webm('p720.webm', 1280, 720)\" makes one); default: the test pattern, "
                        "encoded live at --resolution")
    g.add_argument("--workers", type=_positive(int), default=1,
                   help="media processes the server spreads the live's viewers over (start it with "
                        "LIVE_MEDIA_PROCESSES>=W and LIVE_MEDIA_VIEWERS_PER_WORKER<=N/W): reports loss, fps, first "
                        "frame and CPU per process and the origin's cost per edge (default 1)")
    media.set_defaults(func=cmd_media, scenario="media")

    hls = sub.add_parser(
        "hls", help="N HTTP viewers of one live's HLS (segment fetch latency, stalls, glass to glass)",
        description="N cheap HTTP viewers (one keep-alive connection each, one process) playing one live's "
                    "HLS like a player: blocking playlist reloads, each new segment fetched. Reports segment "
                    "fetch latency, stalls, glass-to-glass latency and the server's CPU (docs/media.md).")
    hls.add_argument("--url", default="http://127.0.0.1:8080", help="the app node (default %(default)s)")
    hls.add_argument("--live", required=True, metavar="LID", help="the live to watch (its host must be sending)")
    hls.add_argument("--viewers", type=_positive(int), default=100, help="viewers N (default 100)")
    hls.add_argument("--duration", type=_positive(float), default=30.0,
                     help="seconds of watching after the ramp (default 30)")
    hls.add_argument("--ramp", type=_non_negative, default=5.0, help="seconds over which viewers start (default 5)")
    hls.add_argument("--token", help="a reader's token (members-only communities; public lives need none)")
    hls.add_argument("--server-pid", type=int, action="append", metavar="PID",
                     help="a server process to sample (default: the processes listening on --url's port)")
    hls.add_argument("--no-server-stats", action="store_true", help="do not sample any server process")
    hls.add_argument("--out", metavar="FILE", help="JSON result (default var/loadtest/hls-<time>.json)")
    hls.add_argument("--quiet", action="store_true", help="no progress line")
    hls.set_defaults(func=cmd_hls, scenario="hls")

    churn = sub.add_parser(
        "churn", help="members joining and leaving rooms quickly while others chat",
        description="Churn: the chat scenario plus --churners members per room that join, stay a random "
                    "--dwell, leave, and join again. Reports the chat figures of the steady members and "
                    "the churners' joins per second and join latency.")
    _common(churn, duration=20, ramp=5)
    _chat_options(churn)
    g = churn.add_argument_group("churn")
    g.add_argument("--churners", type=_positive(int), default=50, help="churning members per room (default 50)")
    g.add_argument("--dwell", type=_dwell, default=(0.5, 2.0), metavar="MIN:MAX",
                   help="seconds a churner stays in the room each time (default 0.5:2)")
    churn.set_defaults(func=cmd_chat, scenario="churn")

    ladder.add_parser(sub)

    merge = sub.add_parser("merge", help="combine shard results of one run into one",
                           description="Combine the JSON results of the shards of one run (--shard i/n on "
                                       "several machines): counters add up, histograms merge exactly.")
    merge.add_argument("files", nargs="+", metavar="FILE", help="JSON results to combine")
    merge.add_argument("--out", required=True, metavar="FILE", help="the combined JSON")
    merge.add_argument("--html", metavar="FILE", help="also write an HTML report")
    merge.set_defaults(func=cmd_merge)

    rep = sub.add_parser("report", help="table and HTML report of one or more results",
                         description="Print the table of one or more JSON results and write an HTML report; "
                                     "with several, the figures sit side by side with ratios to the first.")
    rep.add_argument("files", nargs="+", metavar="FILE", help="JSON results")
    rep.add_argument("--html", metavar="FILE", help="write the HTML report here")
    rep.add_argument("--title", default="loadtest report", help="the report's title")
    rep.set_defaults(func=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return int(args.func(args) or 0)
    except (SetupError, SessionError, ValueError, OSError) as exc:
        print(f"loadtest: {exc}", file=sys.stderr)
        return 1
    except httpx.TransportError as exc:  # the server is not there (or not answering)
        try:
            where = f"{exc.request.url.scheme}://{exc.request.url.netloc.decode()}"
        except RuntimeError:  # no request attached
            where = "the server"
        print(f"loadtest: could not reach {where}: {exc or type(exc).__name__}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


# -- running scenarios -------------------------------------------------------------------------


def _identities(args: argparse.Namespace) -> Identities | None:
    if args.target == "socketio":
        return None
    if args.tokens_file:
        return Identities.from_file(args.tokens_file)
    secret = args.secret or os.environ.get("LIVE_SECRET")
    if not secret:
        raise ValueError("give --secret (or set LIVE_SECRET) or --tokens-file to reach a live server")
    return Identities(secret=secret, prefix=args.id_prefix or f"lt{secrets.token_hex(3)}")


class _Socketio:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def get(self, index: int, role: str = "m") -> Any:
        from loadtest.setup import Identity

        uid = f"{self.prefix}-{role}{index}"
        return Identity(uid, uid, "")


def _member_source(args: argparse.Namespace, ids: Identities | None, source: Any, n_rooms: int) -> Any:
    """Member g's identity: minted, or the tokens file's lines after the owner and hosts."""
    if ids is not None and not ids.minted and not args.room:
        return lambda g: ids.get(n_rooms + g)
    return source.get


def _rooms_for(args: argparse.Namespace, ids: Identities | None, n_rooms: int, urls: list[str],
               scenario: str, members_need_join: bool, member_ids: list[Any], *, hold_hosts: bool = True,
               ) -> tuple[str | None, list[str], list[Any], HostsInRooms]:
    """(community id, rooms, hosts to end the lives of, the hosts held in their rooms until the
    caller leaves it) for this run; creates what is missing."""
    if args.target == "socketio":
        prefix = args.id_prefix or f"lt{secrets.token_hex(3)}"
        rooms = list(args.room or [f"{prefix}-room{r}" for r in range(n_rooms)])
        return None, rooms, [], HostsInRooms(urls[0], [])
    assert ids is not None
    created_hosts: list[Any] = []
    if args.room:
        rooms, cid = list(args.room), args.community
        if members_need_join and not cid:
            raise ValueError("with --room, give --community too so that members can join it")
    else:
        if args.shard[1] > 1 and not args.setup_only:
            raise ValueError("with --shard n>1, create the rooms once with --setup-only and pass the "
                             "--community/--room options it prints to every shard")
        owner = ids.get(0, "owner") if ids.minted else ids.get(0)
        hosts = [ids.get(r, "host") for r in range(n_rooms)] if ids.minted else [ids.get(r) for r in range(n_rooms)]
        if ids.minted:
            hosts[0] = owner
        title = f"loadtest {scenario} {time.strftime('%H:%M:%S')} {secrets.token_hex(2)}"
        cid, rooms = asyncio.run(create_rooms(urls[0], owner, hosts, title))
        created_hosts = hosts
    if args.setup_only:
        print(f"--community {cid} " + " ".join(f"--room {r}" for r in rooms))
        return cid, rooms, [], HostsInRooms(urls[0], [])
    # In their rooms before the members join: each live's grace period began when it started.
    hosting = HostsInRooms(urls[0], _present_hosts(args, ids, urls, rooms, created_hosts) if hold_hosts else [])
    try:
        hosting.start()
        if members_need_join and cid:
            outcome = asyncio.run(join_community(urls[0], cid, member_ids))
            if outcome.get("ok", 0) != len(member_ids):
                raise SetupError(f"members joining the community: {outcome}")
    except BaseException:
        hosting.stop()
        if created_hosts:  # the hosts may go live again in the next run
            asyncio.run(end_lives(urls[0], created_hosts, rooms))
        raise
    return cid, rooms, created_hosts, hosting


def _present_hosts(args: argparse.Namespace, ids: Identities | None, urls: list[str], rooms: list[str],
                   created: list[Any]) -> list[tuple[Any, str]]:
    """(host, room) of the run's lives (`live` ends a live whose host is not in its room): the
    lives this run created, or the `--room` lives when the secret can sign their hosts in."""
    if args.target == "socketio" or ids is None:
        return []
    if created:
        return list(zip(created, rooms, strict=False))
    if ids.minted and rooms and all(r.startswith("live:") for r in rooms):
        return asyncio.run(hosts_of(urls[0], ids, rooms))
    return []


def _finish(args: argparse.Namespace, result: dict[str, Any]) -> int:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(args.out or f"var/loadtest/{result['scenario']}-{result['target']}-{stamp}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    html = Path(args.html) if args.html else out.with_suffix(".html")
    html.parent.mkdir(parents=True, exist_ok=True)
    html.write_text(report.html([result], title=f"loadtest {result['scenario']}: {result['label']}"))
    print(report.table([result]))
    for warning in result.get("warnings", []):
        print(warning, file=sys.stderr)
    print(f"\nresult: {out}\nreport: {html}")
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    urls = args.url or ["http://127.0.0.1:8080"]
    ids = _identities(args)
    churners = getattr(args, "churners", 0) if args.scenario == "churn" else 0
    if args.senders > args.members:
        raise ValueError("--senders cannot exceed --members")
    spec = RunSpec(
        scenario=args.scenario, target=args.target, label=args.label or args.target, urls=urls, rooms=[],
        members_per_room=args.members, senders_per_room=args.senders, rate_per_room=args.rate,
        ramp=args.ramp, duration=args.duration, drain=args.drain, processes=args.processes,
        encoding=args.encoding, message_bytes=args.message_bytes, churners_per_room=churners,
        churn_dwell=getattr(args, "dwell", (0.5, 2.0)), shard=args.shard, settle=args.settle,
        connect_timeout=args.connect_timeout, command="python -m loadtest " + shlex.join(args.argv),
    )
    source = ids or _Socketio(args.id_prefix or f"lt{secrets.token_hex(3)}")
    n_rooms = len(args.room) if args.room else args.rooms
    spec.rooms = [f"#{r}" for r in range(n_rooms)]
    member = _member_source(args, ids, source, n_rooms)
    members = plan_members(spec, member)
    # Only senders need to be community members (anyone may watch a public community's live).
    senders = [member(m.index) for m in members if m.send_rate > 0]
    cid, rooms, hosts, hosting = _rooms_for(args, ids, n_rooms, urls, args.scenario, True, senders)
    if args.setup_only:
        return 0
    spec.rooms = rooms
    for m in members:
        m.room = rooms[int(m.room[1:])]
    spec.server_pids = procstat.server_pids(args, urls)
    spec.extra = {"community": cid}
    try:
        with hosting:
            result = run(spec, members, quiet=args.quiet)
    finally:
        if hosts:
            asyncio.run(end_lives(urls[0], hosts, rooms))
    return _finish(args, result)


def cmd_connections(args: argparse.Namespace) -> int:
    urls = args.url or ["http://127.0.0.1:8080"]
    ids = _identities(args)
    n_rooms = len(args.room) if args.room else args.rooms
    per_room = -(-args.connections // n_rooms)
    spec = RunSpec(
        scenario="connections", target=args.target, label=args.label or args.target, urls=urls,
        rooms=["?"] * n_rooms, members_per_room=per_room, senders_per_room=1, rate_per_room=0.0,
        ramp=args.ramp, duration=args.duration, drain=0.5, processes=args.processes,
        encoding=args.encoding, join=not args.no_join, shard=args.shard, settle=max(2.0, args.settle),
        connect_timeout=args.connect_timeout, command="python -m loadtest " + shlex.join(args.argv),
    )
    source = ids or _Socketio(args.id_prefix or f"lt{secrets.token_hex(3)}")
    cid, rooms, hosts, hosting = _rooms_for(args, ids, n_rooms, urls, "connections", False, [])
    if args.setup_only:
        return 0
    spec.rooms = rooms
    members = plan_members(spec, _member_source(args, ids, source, n_rooms))[: args.connections]
    spec.server_pids = procstat.server_pids(args, urls)
    spec.extra = {"community": cid, "connections": args.connections}
    try:
        with hosting:
            result = run(spec, members, quiet=args.quiet)
    finally:
        if hosts:
            asyncio.run(end_lives(urls[0], hosts, rooms))
    return _finish(args, result)


def cmd_media(args: argparse.Namespace) -> int:
    from loadtest.media import run_media

    if args.target == "socketio":
        raise ValueError("the media scenario has no socketio peer; its peer is --target mediarelay")
    urls = args.url or ["http://127.0.0.1:8080"]
    w, h = (int(x) for x in args.resolution.split("x"))
    command = "python -m loadtest " + shlex.join(args.argv)
    if args.target == "mediarelay":
        return _finish(args, asyncio.run(run_media(
            urls[0], None, [None] * args.subscribers, "", size=(w, h), ramp=args.ramp, duration=args.duration,
            server_pids=procstat.server_pids(args, urls), quiet=args.quiet, command=command,
            label=args.label or "mediarelay", target="mediarelay", decode=not (args.no_decode or args.raw),
            processes=args.processes, raw=args.raw)))
    ids = _identities(args)
    assert ids is not None
    # The media host publishes over its own connection in the room.
    _cid, rooms, hosts, _ = _rooms_for(args, ids, 1, urls, "media", False, [], hold_hosts=False)
    if args.setup_only:
        return 0
    host = hosts[0] if hosts else (ids.get(0, "host") if ids.minted else ids.get(0))
    viewers = [_member_source(args, ids, ids, 1)(g) for g in range(args.subscribers)]
    try:
        result = asyncio.run(run_media(
            urls[0], host.token, [v.token for v in viewers], rooms[0], size=(w, h), ramp=args.ramp,
            duration=args.duration, server_pids=procstat.server_pids(args, urls), quiet=args.quiet, command=command,
            label=args.label or "live", decode=not (args.no_decode or args.raw), processes=args.processes,
            workers=args.workers, video=args.video, raw=args.raw))
    finally:
        if hosts:
            asyncio.run(end_lives(urls[0], hosts, rooms))
    return _finish(args, result)


def cmd_hls(args: argparse.Namespace) -> int:
    from loadtest.hls import run_hls, table

    result = asyncio.run(run_hls(args.url, args.live, args.viewers, args.duration, token=args.token, ramp=args.ramp,
                                 server_pids=procstat.server_pids(args, [args.url]), quiet=args.quiet))
    result["command"] = "python -m loadtest " + shlex.join(args.argv)
    out = Path(args.out or f"var/loadtest/hls-{time.strftime('%Y%m%d-%H%M%S')}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(table(result))
    print(f"\nresult: {out}")
    return 0 if result["errors"] == 0 else 1


def cmd_merge(args: argparse.Namespace) -> int:
    results = [json.loads(Path(f).read_text()) for f in args.files]
    merged = report.merge(results)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(merged, indent=1))
    if args.html:
        Path(args.html).write_text(report.html([merged], title=f"loadtest {merged['scenario']} (merged)"))
    print(report.table([merged]))
    print(f"\nmerged {len(results)} results into {out}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    results = [summarize(json.loads(Path(f).read_text())) for f in args.files]
    print(report.table(results))
    if args.html:
        Path(args.html).parent.mkdir(parents=True, exist_ok=True)
        Path(args.html).write_text(report.html(results, title=args.title))
        print(f"\nreport: {args.html}")
    return 0
