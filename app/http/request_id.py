"""Request ids: a client's well-formed X-Request-Id is kept, otherwise one is made; either is
echoed in the response and carried by every log record of the request (asgi-correlation-id)."""

from __future__ import annotations

import itertools
import re
import secrets
from typing import Any

from asgi_correlation_id import CorrelationIdMiddleware, correlation_id
from starlette.middleware import Middleware

HEADER = "X-Request-Id"
_WELL_FORMED = re.compile(r"[A-Za-z0-9._:\-]{1,128}")

# a random prefix per process and a counter: unique without a syscall per request
_PREFIX = secrets.token_hex(4)
_ids = itertools.count(1)


def new_id() -> str:
    return f"{_PREFIX}{next(_ids):08x}"


def well_formed(value: str) -> bool:
    """Printable, short, no spaces or quotes: safe to log and to echo."""
    return _WELL_FORMED.fullmatch(value) is not None


def middleware() -> Middleware:
    return Middleware(
        CorrelationIdMiddleware,
        header_name=HEADER,
        update_request_header=False,
        generator=new_id,
        validator=well_formed,
        transformer=None,
    )


def current() -> Any:
    """The request id of the running request, or None outside one."""
    return correlation_id.get()
