"""Compression of answers (starlette-compress: zstd, brotli or gzip, as the client accepts).

Chosen over Starlette's GZipMiddleware because it makes no compressor for an answer under
the threshold (GZipMiddleware builds a GzipFile for every request that accepts gzip: 0.2 ms,
more than the compiled isMember answer itself). Streamed answers (CSV exports) are
compressed as they stream; WebSockets pass untouched.
"""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.types import ASGIApp
from starlette_compress import CompressMiddleware, add_compress_type

add_compress_type("application/graphql-response+json")
add_compress_type("text/csv")


def middleware(minimum_size: int) -> Middleware:
    return Middleware(CompressMiddleware, minimum_size=minimum_size)


def compressor(app: ASGIApp, minimum_size: int) -> ASGIApp:
    """The same compression around one app (``app.http.front``'s planned answers)."""
    return CompressMiddleware(app, minimum_size=minimum_size)
