"""The app in a process of its own, for the tests that need a real server: a free port, a
uvicorn process on the test database (stopped, or killed as a crash), and a GraphQL call to
it over HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from app.live.listener import application_name

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A uvicorn process serving the app on the database given, with the settings ``env``
    adds (environment variables, as an operator sets them)."""

    def __init__(self, database_url: str, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [
            sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
        ]  # fmt: skip
        variables = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING", **env}
        self.process = subprocess.Popen(command, cwd=ROOT, env=variables)

    @property
    def listener_name(self) -> str:
        """The application_name of this server's listening connection."""
        return application_name(self.process.pid)

    async def ready(self, within: float = 30) -> None:
        """Wait until the server answers /readyz (the database reached)."""
        deadline = time.monotonic() + within
        async with httpx.AsyncClient() as client:
            while True:
                assert self.process.poll() is None, "the server exited"
                try:
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, f"the server was not ready in {within} s"
                await asyncio.sleep(0.05)

    def kill(self) -> None:
        """As a crash: nothing the process had in hand is finished."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        stop(self.process, within=10)


def stop(process: subprocess.Popen[Any], within: float = 15) -> None:
    """Ask a process to end (SIGTERM); killed if it has not ended ``within`` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=within)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def graphql(server: Server, key: str, query: str, variables: dict[str, Any]) -> Any:
    """The data of one GraphQL call to the server with the key; a GraphQL error fails."""
    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {key}"},
        )
    body = response.json()
    assert "errors" not in body, body
    return body["data"]
