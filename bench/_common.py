"""Helpers for the benchmark scripts: a server in a subprocess, keys, /proc readings, load.

    from _common import start_server, create_admin_key, load, print_table

(The scripts live in bench/ and are run as ``python bench/<name>.py``, so bench/ is
on ``sys.path``; ``seed.py`` beside this file fills the database.)

- ``start_server(url)`` runs uvicorn on ``app.main:create_app`` in a subprocess on a
  free 127.0.0.1 port and waits for ``/healthz``; ``Server.stop()`` ends it (also a
  context manager, and stopped at exit if forgotten).
- ``create_admin_key(url, slug)`` (async) makes an ADMIN key through the auth service.
- ``peak_rss_mb(pid)``, ``cpu_seconds(pid)`` read /proc.
- ``vacuum_analyze(url)`` (async).
- ``graphql(url, key, query, variables)`` / ``graphql_async``: one call, raising on errors.
- ``load(url, key, make_body, concurrency=32, seconds=20)``: a closed-loop load generator
  in a separate process, with a small HTTP/1.1 keep-alive client on asyncio streams.
- ``print_table(rows)``: an aligned text table.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import math
import multiprocessing
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_APP = "app.main:create_app"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}

Json = dict[str, Any]
Body = bytes | str | Mapping[str, Any]


# --------------------------------------------------------------------------- /proc


def peak_rss_mb(pid: int) -> float:
    """The peak resident set size (VmHWM) of a live process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"no VmHWM for pid {pid}")


def rss_mb(pid: int) -> float:
    """The current resident set size (VmRSS) of a live process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a live process has used so far, in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # the command name (field 2) may hold spaces and parentheses: split after its last ')'
    fields = stat.rpartition(")")[2].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A uvicorn serving the app in a subprocess of ours."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    _stopped: bool = field(default=False, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def graphql_url(self) -> str:
        return self.url + "/graphql"

    def peak_rss_mb(self) -> float:
        return peak_rss_mb(self.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def log(self, last: int = 40) -> str:
        """The last lines of the server's output."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        return "\n".join(lines[-last:])

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM (graceful shutdown), then SIGKILL after ``timeout``; returns the exit code."""
        if self._stopped:
            return self.process.returncode
        self._stopped = True
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                # the group is the one start_server made for this server alone
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self.log_path.unlink(missing_ok=True)
        return self.process.returncode

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_server(
    database_url: str,
    *,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    app: str = DEFAULT_APP,
    extra_args: Sequence[str] = (),
    timeout: float = 30.0,
) -> Server:
    """Start uvicorn on ``app`` (a factory) at 127.0.0.1 and wait until /healthz answers 200."""
    port = port or free_port()
    environment = dict(os.environ)
    environment.update(env or {})
    environment["DATABASE_URL"] = database_url
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        *extra_args,
    ]
    fd, log_name = tempfile.mkstemp(prefix="bench-server-", suffix=".log")
    log_path = Path(log_name)
    with os.fdopen(fd, "wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so that stop() can end it whole
        )
    server = Server(url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)
    atexit.register(server.stop)
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while True:
            if process.poll() is not None:
                output = server.log()
                server.stop()
                raise RuntimeError(f"the server exited with {process.returncode}:\n{output}")
            try:
                if client.get(server.url + "/healthz").status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                output = server.log()
                server.stop()
                raise TimeoutError(f"the server did not answer /healthz in {timeout} s:\n{output}")
            time.sleep(0.1)


@contextlib.contextmanager
def running_server(database_url: str, **kwargs: Any) -> Any:
    """``with running_server(url) as server:`` — start_server, stopped on leaving."""
    server = start_server(database_url, **kwargs)
    try:
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------- database


async def create_admin_key(database_url: str, site_slug: str, name: str = "bench-admin") -> str:
    """Make an ADMIN API key for the site through the auth service; returns the secret."""
    from tortoise import Tortoise

    from app.auth.models import Role
    from app.auth.service import create_key, get_site_by_slug
    from app.db import tortoise_config

    await Tortoise.init(config=tortoise_config(database_url))
    try:
        site = await get_site_by_slug(site_slug)
        _, secret = await create_key(site_id=site.id, name=name, role=Role.ADMIN)
    finally:
        await Tortoise.close_connections()
    return secret


def asyncpg_dsn(database_url: str) -> str:
    """An asyncpg DSN from the service's URL (without Tortoise's pool parameters)."""
    from app.db import normalize_url

    base, _, query = normalize_url(database_url).partition("?")
    tortoise_only = {"minsize", "maxsize", "max_inactive_connection_lifetime", "schema"}
    kept = [p for p in query.split("&") if p and p.split("=", 1)[0] not in tortoise_only]
    base = base.replace("postgres://", "postgresql://", 1)
    return base + ("?" + "&".join(kept) if kept else "")


def is_postgres_url(database_url: str) -> bool:
    return database_url.startswith(("postgres://", "postgresql://"))


def _sqlite_analyze(path: str) -> None:
    db = sqlite3.connect(path)
    try:
        db.execute("ANALYZE")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()


async def vacuum_analyze(database_url: str) -> float:
    """VACUUM ANALYZE on PostgreSQL (ANALYZE on SQLite); returns the seconds it took."""
    started = time.perf_counter()
    if is_postgres_url(database_url):
        import asyncpg

        conn = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()
    else:
        path = database_url.removeprefix("sqlite://").split("?", 1)[0]
        await asyncio.to_thread(_sqlite_analyze, path)
    return time.perf_counter() - started


# --------------------------------------------------------------------------- GraphQL


class GraphQLError(Exception):
    def __init__(self, errors: list[Any], status: int) -> None:
        super().__init__(f"HTTP {status}: {orjson.dumps(errors).decode()[:2000]}")
        self.errors = errors
        self.status = status


def graphql_endpoint(url: str) -> str:
    """``http://host:port`` → ``http://host:port/graphql``; a URL with a path is kept."""
    parts = urlsplit(url)
    return url.rstrip("/") + "/graphql" if parts.path in ("", "/") else url


def _graphql_result(response: httpx.Response) -> Json:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise GraphQLError([{"message": response.text[:2000]}], response.status_code) from exc
    if not isinstance(body, dict):
        raise GraphQLError([{"message": f"unexpected body {body!r:.200}"}], response.status_code)
    if body.get("errors") or response.status_code != 200:
        raise GraphQLError(body.get("errors") or [body], response.status_code)
    data: Json = body.get("data") or {}
    return data


def _graphql_request(key: str, query: str, variables: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        "content": orjson.dumps({"query": query, "variables": dict(variables or {})}),
        "headers": {"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    }


def graphql(
    url: str,
    key: str,
    query: str,
    variables: Mapping[str, Any] | None = None,
    *,
    request_timeout: float = 600.0,
) -> Json:
    """POST one GraphQL operation; returns ``data``, raises GraphQLError on any error."""
    response = httpx.post(
        graphql_endpoint(url), timeout=request_timeout, **_graphql_request(key, query, variables)
    )
    return _graphql_result(response)


async def graphql_async(
    url: str,
    key: str,
    query: str,
    variables: Mapping[str, Any] | None = None,
    *,
    request_timeout: float = 600.0,
    client: httpx.AsyncClient | None = None,
) -> Json:
    """The async form of graphql(); pass a client to reuse its connections."""
    request = _graphql_request(key, query, variables)
    if client is not None:
        response = await client.post(graphql_endpoint(url), timeout=request_timeout, **request)
    else:
        async with httpx.AsyncClient(timeout=request_timeout) as own:
            response = await own.post(graphql_endpoint(url), **request)
    return _graphql_result(response)


# --------------------------------------------------------------------------- load


@dataclass
class LoadResult:
    """What a load run measured, over its measuring window (after the warm-up)."""

    requests: int  # successes completed in the window + errors
    errors: int  # requests started in the window that failed: non-2xx, GraphQL errors, timeouts
    seconds: float  # the measuring window
    rps: float  # requests / seconds
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    concurrency: int
    first_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _percentile(ordered: Sequence[float], q: float) -> float:
    if not ordered:
        return math.nan
    index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[index]


def _encode_body(body: Body) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return orjson.dumps(body)


class _HTTPError(Exception):
    pass


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """One HTTP/1.1 response: (status, body, keep-alive)."""
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status_line = lines[0].split(b" ", 2)
        if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/1."):
            raise _HTTPError(f"bad status line {lines[0]!r}")
        status = int(status_line[1])
        if not 100 <= status < 200 or status == 101:
            break  # 1xx interim responses (but an upgrade) are skipped
    length: int | None = None
    chunked = False
    keep_alive = status_line[0] != b"HTTP/1.0"
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            token = value.strip().lower()
            if token == b"close":
                keep_alive = False
            elif token == b"keep-alive":
                keep_alive = True
    if status in (204, 304):
        return status, b"", keep_alive
    if chunked:
        parts: list[bytes] = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":
                    pass  # trailers
                break
            chunk = await reader.readexactly(size + 2)
            parts.append(chunk[:-2])
        return status, b"".join(parts), keep_alive
    if length is not None:
        return status, await reader.readexactly(length), keep_alive
    return status, await reader.read(), False  # delimited by the end of the connection


@dataclass
class _LoadJob:
    host: str
    port: int
    path: str
    method: str
    key: str | None
    make_body: Callable[[], Body] | None
    concurrency: int
    seconds: float
    warmup: float
    timeout: float
    check_graphql_errors: bool
    prebuilt: int


async def _run_load(job: _LoadJob) -> LoadResult:
    headers = [
        f"{job.method} {job.path} HTTP/1.1",
        f"Host: {job.host}:{job.port}",
        "User-Agent: segments-bench",
        "Accept: application/json",
    ]
    if job.key:
        headers.append(f"Authorization: Bearer {job.key}")
    if job.make_body is not None:
        headers.append("Content-Type: application/json")
        template = ("\r\n".join(headers) + "\r\nContent-Length: %d\r\n\r\n").encode()
    else:
        template = ("\r\n".join(headers) + "\r\n\r\n").encode()

    def request(body: bytes | None) -> bytes:
        return template if body is None else (template % len(body)) + body

    pool: list[bytes] = []
    if job.make_body is not None and job.prebuilt > 0:
        pool = [request(_encode_body(job.make_body())) for _ in range(job.prebuilt)]
    elif job.make_body is None:
        pool = [request(None)]

    latencies: list[float] = []
    errors = 0
    first_error: list[str] = []
    clock = time.perf_counter
    started = clock()
    measure_from = started + job.warmup
    deadline = measure_from + job.seconds

    def failed(message: str, t0: float) -> None:
        # counted by when the request started, so that one timing out after the end counts
        nonlocal errors
        if t0 >= measure_from:
            errors += 1
            if not first_error:
                first_error.append(message[:500])

    async def worker(n: int) -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        i = n
        try:
            while clock() < deadline:
                if pool:
                    data = pool[i % len(pool)]
                    i += job.concurrency
                else:
                    assert job.make_body is not None
                    data = request(_encode_body(job.make_body()))
                t0 = clock()
                try:
                    async with asyncio.timeout(job.timeout):
                        if writer is None or reader is None:
                            # (asyncio sets TCP_NODELAY on its TCP sockets)
                            reader, writer = await asyncio.open_connection(job.host, job.port)
                        writer.write(data)
                        status, body, keep_alive = await _read_response(reader)
                except TimeoutError:
                    failed(f"timed out after {job.timeout} s", t0)
                    if writer is not None:
                        writer.close()
                    reader = writer = None
                    continue
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    failed(f"{type(exc).__name__}: {exc}", t0)
                    if writer is not None:
                        writer.close()
                    reader = writer = None
                    await asyncio.sleep(0.01)  # no hot spin on a refused connection
                    continue
                except _HTTPError as exc:
                    failed(str(exc), t0)
                    if writer is not None:
                        writer.close()
                    reader = writer = None
                    continue
                t1 = clock()
                if not 200 <= status < 300:
                    failed(f"HTTP {status}: {body[:300]!r}", t0)
                elif job.check_graphql_errors and b'"errors"' in body:
                    failed(f"GraphQL errors: {body[:300]!r}", t0)
                elif measure_from <= t1 <= deadline:
                    latencies.append(t1 - t0)
                if not keep_alive and writer is not None:
                    writer.close()
                    reader = writer = None
        finally:
            if writer is not None:
                writer.close()

    await asyncio.gather(*(worker(n) for n in range(job.concurrency)))
    latencies.sort()
    requests = len(latencies) + errors
    ms = [x * 1000 for x in latencies]
    return LoadResult(
        requests=requests,
        errors=errors,
        seconds=job.seconds,
        rps=requests / job.seconds,
        p50_ms=_percentile(ms, 0.50),
        p90_ms=_percentile(ms, 0.90),
        p99_ms=_percentile(ms, 0.99),
        mean_ms=sum(ms) / len(ms) if ms else math.nan,
        max_ms=ms[-1] if ms else math.nan,
        concurrency=job.concurrency,
        first_error=first_error[0] if first_error else None,
    )


def _load_child(job: _LoadJob, pipe: Any) -> None:
    with contextlib.suppress(ValueError, OSError):
        signal.set_wakeup_fd(-1)  # a parent's event loop may have left its own
    try:
        result: Any = ("ok", asyncio.run(_run_load(job)))
    except BaseException:
        result = ("error", traceback.format_exc())
    pipe.send(result)
    pipe.close()


def load(
    url: str,
    key: str | None,
    make_request_body: Callable[[], Body] | None,
    *,
    concurrency: int = 32,
    seconds: float = 20.0,
    warmup: float = 1.0,
    timeout: float = 10.0,
    method: str = "POST",
    check_graphql_errors: bool = True,
    prebuilt: int = 4096,
) -> LoadResult:
    """Closed-loop load: ``concurrency`` keep-alive connections, each sending its next request
    as soon as the last one is answered, for ``warmup`` + ``seconds``; only the last
    ``seconds`` are measured.

    ``url``: the endpoint on 127.0.0.1 (a bare ``http://127.0.0.1:port`` means its /graphql).
    ``make_request_body()`` returns the JSON body (dict, str or bytes) of one request; with
    ``prebuilt`` > 0 that many bodies are made before the clock starts and sent in turn, so
    that making them costs nothing during the run (pass 0 to call it per request). With
    ``method="GET"`` pass None. A response is an error when it is not 2xx or, with
    ``check_graphql_errors``, when its body has an ``"errors"`` key.

    Runs in a forked process (so that the client's CPU is not this process's, and a lambda
    works as ``make_request_body``) and always ends: the child stops sending at the
    deadline, every request has ``timeout``, and the child is killed if it overruns.
    """
    parts = urlsplit(graphql_endpoint(url) if method == "POST" else url)
    if parts.scheme != "http" or parts.hostname not in LOCAL_HOSTS:
        raise ValueError(f"load() only targets http://127.0.0.1, not {url!r}")
    if concurrency < 1 or seconds <= 0:
        raise ValueError("concurrency must be >= 1 and seconds > 0")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    job = _LoadJob(
        host="127.0.0.1",
        port=parts.port or 80,
        path=path,
        method=method,
        key=key,
        make_body=make_request_body,
        concurrency=concurrency,
        seconds=seconds,
        warmup=warmup,
        timeout=timeout,
        check_graphql_errors=check_graphql_errors,
        prebuilt=prebuilt,
    )
    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_load_child, args=(job, sender), daemon=True, name="bench-load")
    child.start()
    sender.close()
    limit = warmup + seconds + timeout + 30.0 + prebuilt * 0.001
    try:
        if not receiver.poll(limit):
            raise TimeoutError(f"the load process did not finish in {limit:.0f} s")
        try:
            status, payload = receiver.recv()
        except EOFError as exc:
            raise RuntimeError("the load process died without a result") from exc
    finally:
        receiver.close()
        child.join(5)
        if child.is_alive():
            child.kill()
            child.join(5)
    if status != "ok":
        raise RuntimeError(f"the load process failed:\n{payload}")
    result: LoadResult = payload
    return result


async def load_async(*args: Any, **kwargs: Any) -> LoadResult:
    """load() from async code, without blocking the event loop."""
    return await asyncio.to_thread(load, *args, **kwargs)


# --------------------------------------------------------------------------- output


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}" if abs(value) >= 0.1 else f"{value:.3g}"
    return str(value)


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """An aligned text table; numbers right-aligned, the columns those of the rows in order."""
    if not rows:
        return "(no rows)"
    if columns is None:
        columns = list(dict.fromkeys(c for row in rows for c in row))
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    numeric = [
        all(isinstance(row.get(c), int | float) or row.get(c) is None for row in rows)
        for c in columns
    ]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        out = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(out).rstrip()

    return "\n".join(
        [line(list(columns)), line(["-" * w for w in widths]), *(line(r) for r in cells)]
    )


def print_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> None:
    """Print format_table(rows)."""
    print(format_table(rows, columns), flush=True)


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None when either is missing or b is 0 (for a table's ratio column)."""
    if a is None or b is None or b == 0:
        return None
    return a / b
