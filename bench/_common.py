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

from _database import (  # noqa: F401
    asyncpg_dsn,
    create_admin_key,
    fresh_database,
    is_postgres_url,
    vacuum_analyze,
)
from _graphql import (  # noqa: F401
    GraphQLError,
    graphql,
    graphql_async,
    graphql_endpoint,
)
from _load import (  # noqa: F401
    LoadResult,
    load,
    load_async,
)
from _proc import (  # noqa: F401
    cpu_seconds,
    peak_rss_mb,
    rss_mb,
)
from _server import (  # noqa: F401
    DEFAULT_APP,
    LOCAL_HOSTS,
    ROOT,
    Body,
    Json,
    Server,
    free_port,
    running_server,
    start_server,
)
from _tables import (  # noqa: F401
    format_table,
    print_table,
    ratio,
)
