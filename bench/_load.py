"""A closed-loop load generator in a separate process, with a small HTTP/1.1
keep-alive client on asyncio streams."""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing
import signal
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from _graphql import graphql_endpoint
from _server import LOCAL_HOSTS, Body


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
