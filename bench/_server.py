"""A server of the app in a subprocess, on a free 127.0.0.1 port."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from _proc import cpu_seconds, peak_rss_mb

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_APP = "app.main:create_app"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}

Json = dict[str, Any]
Body = bytes | str | Mapping[str, Any]


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
