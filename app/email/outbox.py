"""The embedded default: each message written as an .eml file into EMAIL_OUTBOX_DIR, one
folder per campaign, so that the service works with no mail server at all."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from app.email.senders import Outcome, Result, Unavailable


def _write(path: Path, message: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    partial.write_bytes(message)
    # a file appears whole or not at all, and a second write of one delivery replaces it
    os.replace(partial, path)


class OutboxSender:
    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    async def open(self) -> None:
        try:
            await asyncio.to_thread(self.folder.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            raise Unavailable(f"outbox folder {self.folder}: {exc}") from exc

    async def send(self, *, sender: str, recipient: str, message: bytes, name: str) -> Outcome:
        path = self.folder / f"{name}.eml"
        try:
            await asyncio.to_thread(_write, path, message)
        except OSError as exc:  # a full disk passes; try again later
            return Outcome(Result.RETRY, f"outbox folder {self.folder}: {exc}")
        return Outcome(Result.SENT, str(path))

    async def close(self) -> None:
        return None
