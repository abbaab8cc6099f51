"""`segments serve | migrate | sites | keys`: run the service and administer it."""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from pydantic import ValidationError
from tortoise import Tortoise

from app import logs
from app.auth import service as auth
from app.auth.models import ApiKey, Role, Site
from app.db import (
    asyncpg_dsn,
    create_postgres_database,
    is_postgres_url,
    migrate_database,
    postgres_database_exists,
    sqlite_path,
    tortoise_config,
)
from app.errors import DomainError, ErrorCode
from app.settings import get_settings, problems

DEFAULT_SITE = "default"
_PREFIX_LENGTH = ApiKey._meta.fields_map["prefix"].max_length  # type: ignore[attr-defined]
_LARGEST_ID = 2**63 - 1  # of a BIGINT id


class _Refused(Exception):
    """An error the CLI reports as one line on stderr (exit code 1)."""


@asynccontextmanager
async def _database() -> AsyncIterator[None]:
    # every command works on a fresh database too: migrating an up-to-date one is a no-op;
    # but only serve and migrate make a PostgreSQL database that is missing (a mistyped
    # name in DATABASE_URL is not to be made by `sites list`)
    await _migrate(create=False)
    await Tortoise.init(config=tortoise_config(get_settings().database_url))
    try:
        yield
    finally:
        await Tortoise.close_connections()


async def _migrate(*, create: bool = True) -> None:
    url = get_settings().database_url
    if is_postgres_url(url):
        name = url.split("?", 1)[0].rsplit("/", 1)[1]
        if not create:
            if not await postgres_database_exists(url):
                raise _Refused(
                    f"database {name!r} does not exist at {_where(url).rsplit('/', 1)[0]};"
                    " run `segments migrate` to create it (or check DATABASE_URL)"
                )
        elif await create_postgres_database(url):
            # said aloud: a mistyped DATABASE_URL must not pass for a first start unnoticed
            print(f"Created PostgreSQL database {name!r}: it did not exist.", file=sys.stderr)
    await migrate_database(url)


async def _bootstrap() -> None:
    """On a database with no site yet: make one and an ADMIN key, and print the key once."""
    async with _database():
        if await Site.exists():
            return
        site = await auth.create_site(slug=DEFAULT_SITE, name="Default site")
        _, secret = await auth.create_key(site_id=site.id, name="admin", role=Role.ADMIN)
    bar = "=" * 72
    print(
        f"{bar}\nFirst start: created site '{DEFAULT_SITE}' and an ADMIN key (shown only once):\n\n"
        f"    {secret}\n\nIn GraphiQL, set the header:  "
        f'{{"Authorization": "Bearer {secret}"}}\n{bar}',
        flush=True,
    )


def _fail(message: str, code: int = 1) -> NoReturn:
    """The CLI's way out of an error: one line on stderr, and the exit code."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)


def _ended(signum: int, frame: object) -> None:
    """SIGTERM raised again by uvicorn after its graceful shutdown: nothing left to do."""


def _serve(args: argparse.Namespace) -> None:
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    if args.workers > 1 and not is_postgres_url(get_settings().database_url):
        # on SQLite the live broker is each process's own: a subscriber on one worker would
        # never hear the writes another worker makes (PostgreSQL carries them by NOTIFY)
        _fail(
            f"--workers {args.workers} needs PostgreSQL: on SQLite each worker's subscriptions"
            " hear only that worker's writes; run one worker (the default)",
            code=2,
        )
    _check_folders()
    asyncio.run(_migrate())
    asyncio.run(_bootstrap())
    level = get_settings().log_level
    logs.configure(level)
    config = uvicorn.Config(
        "app.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,  # the app writes its own access lines (app/http/access_log.py)
        log_config=logs.uvicorn_log_config(level),
    )
    # bound here: a port that is taken is uvicorn's one error line and exit code 3, with no
    # GraphiQL line; for port 0 the line names the port the system chose. The line is said
    # once the server answers there (its startup done), by every worker alike
    sock = config.bind_socket()
    port = sock.getsockname()[1]
    ended = threading.Event()
    threading.Thread(
        target=_announce,
        args=(
            _reachable(args.host),
            port,
            # (GRAPHIQL=false: the endpoint serves no GraphiQL page, so the line says GraphQL)
            f"{'GraphiQL' if get_settings().graphiql else 'GraphQL'}:"
            f" {_base_url(args.host, port)}/graphql",
        ),
        kwargs={"ended": ended},
        daemon=True,
    ).start()
    server = uvicorn.Server(config)
    try:
        if config.workers > 1:
            Multiprocess(config, sockets=[sock]).run()
        else:
            # once it has shut down gracefully, uvicorn raises the SIGTERM again to end as the
            # signal would (exit code 143): a graceful end exits 0, as with --workers N
            signal.signal(signal.SIGTERM, _ended)
            server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        ended.set()
    if config.workers == 1 and not server.started:
        raise SystemExit(1)


def _check_folders() -> None:
    """The folders the server writes in, made and written once before it starts: uploads
    (IMPORT_DIR), and outgoing mail when there is no SMTP server (EMAIL_OUTBOX_DIR). One it
    cannot write in is an invalid setting, said now rather than as every import failing
    INTERNAL, or every message retried, once it serves."""
    settings = get_settings()
    folders = [("IMPORT_DIR", settings.import_dir)]
    if settings.email_worker and not settings.smtp_url:
        folders.append(("EMAIL_OUTBOX_DIR", settings.email_outbox_dir))
    for name, folder in folders:
        try:
            Path(folder).mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            _fail(f"invalid settings: {name}: cannot write in {folder}: {exc.strerror}", code=2)


def _base_url(host: str, port: int) -> str:
    """http://host:port, an IPv6 address in brackets (RFC 3986): http://[::1]:8000."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _reachable(host: str) -> str:
    """The address to reach a server listening on ``host`` at: a wildcard's loopback."""
    return {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)


def _announce(host: str, port: int, line: str, *, ended: threading.Event) -> None:
    """Print ``line`` once the server at host:port answers HTTP (a GET of /healthz); nothing
    if the server ends first."""
    request = f"GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
    while not ended.is_set():
        try:
            with socket.create_connection((host, port), timeout=5) as connection:
                connection.sendall(request)
                if connection.recv(8).startswith(b"HTTP/"):
                    print(line, flush=True)
                    return
        except OSError:
            pass
        ended.wait(0.05)


async def _sites_create(args: argparse.Namespace) -> None:
    async with _database():
        site = await auth.create_site(slug=args.slug, name=args.name)
        print(f"created site {site.slug} (id {site.id})")


async def _sites_list(args: argparse.Namespace) -> None:
    async with _database():
        for site in await Site.all().order_by("id"):
            print(f"{site.id}\t{site.slug}\t{site.name}")


async def _keys_create(args: argparse.Namespace) -> None:
    async with _database():
        site = await auth.get_site_by_slug(args.site)
        key, secret = await auth.create_key(site_id=site.id, name=args.name, role=Role(args.role))
        print(
            f"created {key.role.value} key {key.name!r} (id {key.id}) for site {site.slug}:",
            file=sys.stderr,
        )
        print(secret)


async def _keys_list(args: argparse.Namespace) -> None:
    async with _database():
        site = await auth.get_site_by_slug(args.site)
        for key in await auth.list_keys(site_id=site.id):
            state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
            # "...", not "…": an output of any encoding takes it (PYTHONIOENCODING=ascii)
            print(f"{key.id}\t{key.prefix}...\t{key.role.value}\t{key.name}\t{state}")


async def _keys_revoke(args: argparse.Namespace) -> None:
    async with _database():
        site = await auth.get_site_by_slug(args.site)
        # the prefix as `keys list` shows it ("..."; "…" before), or bare
        given = args.key.strip().removesuffix("...").removesuffix("…")
        key = None
        if len(given) > _PREFIX_LENGTH:  # longer than any prefix: the whole secret
            key = await ApiKey.filter(site_id=site.id, key_hash=auth.hash_key(given)).first()
        elif given:
            key = await ApiKey.filter(site_id=site.id, prefix=given).first()
        if key is None and given.isdigit() and int(given) <= _LARGEST_ID:
            key = await ApiKey.filter(site_id=site.id, id=int(given)).first()
        if key is None:
            raise DomainError(
                ErrorCode.NOT_FOUND,
                f"API key {args.key!r} not found on site {site.slug}: give the key's id or"
                f" its prefix, the first two columns of `segments keys list --site {site.slug}`"
                " (e.g. 3 or seg_1a2b3c4d), or its whole secret",
            )
        revoked = await auth.revoke_key(site_id=site.id, key_id=key.id)
        print(f"revoked key {revoked.name!r} (id {revoked.id})")


def _run(
    fn: Callable[[argparse.Namespace], Coroutine[Any, Any, None]],
) -> Callable[[argparse.Namespace], None]:
    def run(args: argparse.Namespace) -> None:
        try:
            asyncio.run(fn(args))
        except DomainError as e:
            print(f"error: {e.message}", file=sys.stderr)
            raise SystemExit(1) from e

    return run


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (0-65535)")
    return port


def _workers(text: str) -> int:
    try:
        workers = int(text)
    except ValueError:
        workers = 0
    if workers < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of processes (1 or more)")
    return workers


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="segments", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="migrate, then run the server (GraphiQL at /graphql)")
    serve.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (default: %(default)s)"
    )
    serve.add_argument(
        "--port",
        type=_port,
        default=8000,
        help="the TCP port, 0-65535; 0 lets the system choose (default: %(default)s)",
    )
    serve.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="server processes on the port; more than 1 needs PostgreSQL (default: %(default)s)",
    )
    serve.set_defaults(func=_serve)

    migrate = sub.add_parser("migrate", help="bring the database to the newest schema")
    migrate.set_defaults(func=lambda args: asyncio.run(_migrate()))

    sites = sub.add_parser("sites", help="manage sites (tenants)").add_subparsers(
        dest="action", required=True
    )
    create = sites.add_parser("create", help="make a site (a tenant)")
    create.add_argument("slug", help="the site's short name, as --site takes it")
    create.add_argument("--name", help="the site's display name (default: the slug)")
    create.set_defaults(func=_run(_sites_create))
    sites.add_parser("list", help="every site: id, slug, name").set_defaults(func=_run(_sites_list))

    keys = sub.add_parser("keys", help="manage API keys").add_subparsers(
        dest="action", required=True
    )
    site_help = "the site's slug, as `segments sites list` shows it (the first start's: default)"
    kc = keys.add_parser("create", help="make a key; prints the secret once")
    kc.add_argument("--site", required=True, help=site_help)
    kc.add_argument(
        "--role",
        required=True,
        choices=[r.value for r in Role],
        help="READER queries; WRITER also changes data; ADMIN also manages keys and webhooks",
    )
    kc.add_argument("--name", required=True, help="what the key is for (1 to 100 characters)")
    kc.set_defaults(func=_run(_keys_create))
    kl = keys.add_parser("list", help="a site's keys: id, prefix, role, name, state")
    kl.add_argument("--site", required=True, help=site_help)
    kl.set_defaults(func=_run(_keys_list))
    kr = keys.add_parser("revoke", help="revoke a key by id, prefix or secret")
    kr.add_argument(
        "key", help="the key's id or its prefix, as `keys list` shows them, or its secret"
    )
    kr.add_argument("--site", required=True, help=site_help)
    kr.set_defaults(func=_run(_keys_revoke))
    return parser


_SQLITE_UNUSABLE = (
    "file is not a database",
    "database disk image is malformed",
    "database or disk is full",
)


def _unreachable(exc: BaseException) -> str | None:
    """The one line for an error of reaching the database (it or one of its causes), or None
    for any other error."""
    import sqlite3

    import asyncpg

    url = get_settings().database_url
    seen: BaseException | None = exc
    while seen is not None:
        reason = None
        if isinstance(seen, ConnectionRefusedError):
            reason = "connection refused"
        elif isinstance(seen, socket.gaierror):
            reason = f"unknown host ({seen.strerror})"
        elif isinstance(seen, TimeoutError):
            reason = "no answer (timed out)"
        elif isinstance(seen, OSError) and seen.strerror:
            reason = seen.strerror.lower()
        elif isinstance(seen, asyncpg.PostgresError) and seen.sqlstate[:2] in ("08", "28", "3D"):
            reason = str(seen)  # cannot connect, credentials refused, no such database
        elif isinstance(seen, asyncpg.PostgresError) and seen.sqlstate == "57P03":
            reason = str(seen)  # the server is starting or shutting down
        elif isinstance(seen, sqlite3.OperationalError) and "unable to open" in str(seen):
            reason = str(seen)
        elif isinstance(seen, sqlite3.DatabaseError) and str(seen).startswith(_SQLITE_UNUSABLE):
            # the file is there but is no SQLite database, or cannot be written
            return f"cannot use the database at {_where(url)}: {seen}"
        if reason is not None:
            return f"cannot reach the database at {_where(url)}: {reason}"
        seen = seen.__cause__ or seen.__context__
    return None


def _refused_option(exc: BaseException) -> str | None:
    """What asyncpg or the server said of an option of DATABASE_URL's query that it refuses
    (asyncpg's own, as sslmode, or a server setting: unknown, or a value it does not take),
    or None for any other error."""
    import asyncpg

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, asyncpg.ClientConfigurationError):
            return str(seen)
        if (
            isinstance(seen, asyncpg.PostgresError)
            and seen.sqlstate in ("42704", "22023")  # undefined_object, invalid_parameter_value
            and "parameter" in str(seen)
        ):
            return f"{seen} (an option of the URL's query)"
        seen = seen.__cause__ or seen.__context__
    return None


def _where(url: str) -> str:
    """The database a URL names, as an operator recognises it (no password)."""
    if not is_postgres_url(url):
        return sqlite_path(url) or url
    parts = urlsplit(asyncpg_dsn(url, keep_options=False))
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        get_settings()
    except ValidationError as exc:  # a usage error, as a bad option is (exit code 2)
        _fail(f"invalid settings: {problems(exc)}", code=2)
    try:
        args.func(args)
    except _Refused as exc:
        _fail(str(exc))
    except Exception as exc:
        refused = _refused_option(exc)
        if refused is not None:  # an invalid setting, found by connecting (exit code 2)
            _fail(f"invalid settings: DATABASE_URL: {refused}", code=2)
        line = _unreachable(exc)
        if line is None:
            raise
        _fail(line)


if __name__ == "__main__":
    main()
