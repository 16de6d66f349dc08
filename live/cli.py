"""The `live` command: serve, token, media-worker, db, admin."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from live import __version__
from live.config import Settings, dev_secret
from live.errors import SettingsError


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SettingsError as exc:
        print(f"live: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="live",
        description="live: a self-hostable real-time live-streaming community backend. "
        "Settings come from LIVE_* environment variables (see README); flags override them.",
    )
    parser.add_argument("--version", action="version", version=f"live {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the HTTP API and WebSocket gateway")
    serve.add_argument("--host", help="listen address (LIVE_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (LIVE_PORT, default 8080)")
    serve.add_argument("--workers", type=int, help="server processes (LIVE_WORKERS, default 1)")
    serve.add_argument(
        "--dev",
        action="store_true",
        help="development mode: create a signing secret under var/ if LIVE_SECRET is unset, "
        "and upgrade the database on start",
    )
    serve.set_defaults(func=_serve)

    token = sub.add_parser("token", help="print a signed token (JWT) for a user")
    token.add_argument("user_id", metavar="USER_ID",
                       help="the user id (`sub`): 1-64 printable characters, not starting with ~")
    token.add_argument("--name", help="display name (default: the user id)")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
    token.set_defaults(func=_token)

    worker = sub.add_parser("media-worker", help="run a media relay worker (with LIVE_MEDIA_WORKERS=1)")
    worker.add_argument("--id", help="worker id (default: host name and process id)")
    worker.add_argument("--ipc-fd", type=int, help=argparse.SUPPRESS)  # a media process `live serve` started
    worker.set_defaults(func=_media_worker)

    db = sub.add_parser("db", help="database schema")
    dbsub = db.add_subparsers(title="db commands", metavar="DB_COMMAND")
    upgrade = dbsub.add_parser("upgrade", help="bring the database to the newest schema")
    upgrade.add_argument("--revision", default="head", help="target revision (default head)")
    upgrade.set_defaults(func=_db_upgrade)
    current = dbsub.add_parser("current", help="print the database's schema revision")
    current.set_defaults(func=_db_current)
    db.set_defaults(func=_usage(db))

    admin = sub.add_parser("admin", help="platform operators (stored in the database)")
    adminsub = admin.add_subparsers(title="admin commands", metavar="ADMIN_COMMAND")
    grant = adminsub.add_parser("grant", help="make a user a platform operator")
    grant.add_argument("user_id", metavar="USER_ID", help="the user id (`sub` of their tokens)")
    grant.set_defaults(func=_admin_grant)
    revoke = adminsub.add_parser("revoke", help="take the operator right back (not one from LIVE_OPERATORS)")
    revoke.add_argument("user_id", metavar="USER_ID")
    revoke.set_defaults(func=_admin_revoke)
    listing = adminsub.add_parser("list", help="print every operator and where the right comes from")
    listing.set_defaults(func=_admin_list)
    admin.set_defaults(func=_usage(admin))
    return parser


def _usage(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """A command without its subcommand: print its help, exit status 2."""

    def show(_args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    return show


def _setup_logging(level: str) -> None:
    from live import logs

    logs.setup(level)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from live.http.serving import uvicorn_options
    from live.storage import migrate

    settings = Settings.load(dev=args.dev, host=args.host, port=args.port, workers=args.workers)
    _setup_logging(settings.log_level)
    log = logging.getLogger("live")
    if settings.dev:
        asyncio.run(migrate.upgrade(settings.database_url))
    else:
        current = asyncio.run(migrate.current_revision(settings.database_url))
        if current != migrate.head_revision():
            raise SettingsError(
                f"LIVE_DATABASE_URL: the database is at schema {current or 'none'}, "
                f"not {migrate.head_revision()}; run `live db upgrade` first"
            )
    _raise_file_limit(log)
    bus = "Redis at " + settings.redis_url if settings.redis_url else "in-process bus"
    log.info(
        "live %s serving on http://%s:%d (%s, %s%s)",
        __version__,
        settings.host,
        settings.port,
        _safe_url(settings.database_url),
        bus,
        ", dev mode" if settings.dev else "",
    )
    if settings.workers > 1:
        # Each worker process builds its own app from the environment.
        os.environ.update(
            {"LIVE_SECRET": settings.secret or "", "LIVE_DEV": "1" if settings.dev else "0"}
        )
        uvicorn.run(
            "live.app:app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            **uvicorn_options(settings),
        )
        return 0
    from live.app import create_app

    uvicorn.run(
        create_app(settings, settle_heap=True),
        host=settings.host,
        port=settings.port,
        **uvicorn_options(settings),
    )
    return 0


def _raise_file_limit(log: logging.Logger) -> None:
    """Lift the soft limit on open files to the hard one: every connection is a file, and a
    server at the soft default (often 1,024) stops accepting long before it is busy."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on this platform
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft == resource.RLIM_INFINITY or soft >= hard:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        log.info("open files: soft limit raised from %d to %d", soft, hard)
    except (ValueError, OSError) as exc:
        log.warning("open files: could not raise the soft limit of %d (%s)", soft, exc)


def _media_worker(args: argparse.Namespace) -> int:
    import socket

    from live.media.worker import run_worker

    settings = Settings.load()
    _setup_logging(settings.log_level)
    logging.getLogger("aioice").setLevel(max(logging.WARNING, logging.getLevelName(settings.log_level)))
    worker_id = args.id or f"{socket.gethostname()}-{os.getpid()}"
    if args.ipc_fd is not None:
        from live.media.local import LocalLink

        fd: int = args.ipc_fd
        return run_worker(settings, worker_id, lambda: LocalLink(fd))
    if not settings.redis_url:
        raise SettingsError("LIVE_REDIS_URL: a media worker needs Redis to reach the app nodes")
    from live.media.redis_workers import RedisLink

    return run_worker(settings, worker_id, lambda: RedisLink(settings))


def _token(args: argparse.Namespace) -> int:
    from live.auth.tokens import check_user_id, mint

    settings = Settings.load(dev=True)  # without LIVE_SECRET: the dev secret `live serve --dev` uses
    if not os.environ.get("LIVE_SECRET"):
        secret = dev_secret(settings.var_dir)
        print(f"live: LIVE_SECRET is unset; signing with the dev secret in {settings.var_dir}/",
              file=sys.stderr)
    else:
        secret = settings.secret or ""
    try:
        check_user_id(args.user_id)
    except ValueError as exc:
        raise SettingsError(f"USER_ID: {exc}") from None
    if args.ttl <= 0:
        raise SettingsError("--ttl: must be a positive number of seconds")
    print(mint(secret, args.user_id, name=args.name, ttl=args.ttl))
    return 0


def _db_upgrade(args: argparse.Namespace) -> int:
    from live.storage import migrate

    settings = Settings.load(dev=True)
    _setup_logging(settings.log_level)
    asyncio.run(migrate.upgrade(settings.database_url, args.revision))
    rev = asyncio.run(migrate.current_revision(settings.database_url))
    print(f"database {_safe_url(settings.database_url)} is at schema {rev}")
    return 0


def _db_current(_args: argparse.Namespace) -> int:
    from live.storage import migrate

    settings = Settings.load(dev=True)
    print(asyncio.run(migrate.current_revision(settings.database_url)) or "none")
    return 0


def _admin_grant(args: argparse.Namespace) -> int:
    from live.safety import operators

    if not 1 <= len(args.user_id) <= 64:
        raise SettingsError("USER_ID: must be 1-64 characters")
    added = _in_database(lambda session: operators.grant(session, args.user_id))
    print(f"{args.user_id} is a platform operator" + ("" if added else " (already)"))
    return 0


def _admin_revoke(args: argparse.Namespace) -> int:
    from live.safety import operators

    settings = Settings.load(dev=True)
    removed = _in_database(lambda session: operators.revoke(session, args.user_id))
    if args.user_id in settings.operators:
        print(f"live: {args.user_id} is listed in LIVE_OPERATORS: remove them there", file=sys.stderr)
        return 1
    print(f"{args.user_id} is no longer a platform operator" if removed
          else f"{args.user_id} was not a platform operator")
    return 0


def _admin_list(_args: argparse.Namespace) -> int:
    from live.safety import operators

    settings = Settings.load(dev=True)
    rows = _in_database(lambda session: operators.listing(session, settings))
    for row in rows:
        granted = f" (since {row['granted_at']})" if row["granted_at"] else ""
        print(f"{row['user_id']}\t{row['source']}{granted}")
    return 0


def _in_database(work: Any) -> Any:
    """Run `work(session)` in one transaction on the configured database; a database without
    the current schema is one clear line."""
    from live.storage import migrate
    from live.storage.db import Database

    settings = Settings.load(dev=True)

    async def run() -> Any:
        current = await migrate.current_revision(settings.database_url)
        if current != migrate.head_revision():
            raise SettingsError(
                f"LIVE_DATABASE_URL: the database is at schema {current or 'none'}, "
                f"not {migrate.head_revision()}; run `live db upgrade` first"
            )
        db = Database(settings.database_url)
        try:
            async with db.session() as session:
                return await work(session)
        finally:
            await db.close()

    return asyncio.run(run())


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
