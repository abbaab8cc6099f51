"""Request ids: a client's well-formed X-Request-Id is kept, otherwise one is made; either is
echoed in the response (``app.http.observe``) and carried by every log record of the request
(asgi-correlation-id's context variable and log filter)."""

from __future__ import annotations

import itertools
import logging
import re
import secrets
from typing import Any

from asgi_correlation_id import correlation_id
from starlette.types import Scope

HEADER = "X-Request-Id"
RAW_HEADER = HEADER.lower().encode()
_WELL_FORMED = re.compile(r"[A-Za-z0-9._:\-]{1,128}")

# a random prefix per process and a counter: unique without a syscall per request
_PREFIX = secrets.token_hex(4)
_ids = itertools.count(1)

log = logging.getLogger("asgi_correlation_id")


def new_id() -> str:
    return f"{_PREFIX}{next(_ids):08x}"


def well_formed(value: str) -> bool:
    """Printable, short, no spaces or quotes: safe to log and to echo."""
    return _WELL_FORMED.fullmatch(value) is not None


def begin(scope: Scope) -> str:
    """The request's id (the client's when well formed, a new one otherwise), now current."""
    given = None
    for name, value in scope["headers"]:
        if name == RAW_HEADER:
            given = value.decode("latin-1")
            break
    if not given:
        found = new_id()
    elif not well_formed(given):
        found = new_id()
        log.warning(
            "Generated new request ID (%s), since request header value failed validation", found
        )
    else:
        found = given
    correlation_id.set(found)
    return found


def current() -> Any:
    """The request id of the running request, or None outside one."""
    return correlation_id.get()
