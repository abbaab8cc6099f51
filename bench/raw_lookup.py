"""The raw baseline of bench/lookups.py: a minimal Starlette + asyncpg app answering the
lookups for *listed* membership only, each with one hand-written prepared statement.

    DATABASE_URL=postgres://... SITE_ID=1 uvicorn raw_lookup:create_app --factory --app-dir bench

POST /is-member {"segmentId": "12", "memberId": "m0000001"}        -> {"isMember": true}
POST /member-segments {"memberId": "m0000001"}                      -> {"segmentIds": [...]}
POST /memberships-of {"memberIds": ["m0000001", ...]}               -> {"memberships": [...]}
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.db import asyncpg_dsn

IS_MEMBER = """
SELECT EXISTS (
  SELECT 1 FROM segment_members sm JOIN members m ON m.id = sm.member_id
   WHERE m.site_id = $1 AND m.external_id = $2 AND sm.segment_id = $3
     AND (sm.expires_at IS NULL OR sm.expires_at > now()))
"""
MEMBER_SEGMENTS = """
SELECT sm.segment_id FROM segment_members sm JOIN members m ON m.id = sm.member_id
 WHERE m.site_id = $1 AND m.external_id = $2
   AND (sm.expires_at IS NULL OR sm.expires_at > now())
 ORDER BY sm.segment_id
"""
MEMBERSHIPS_OF = """
SELECT m.external_id, sm.segment_id FROM segment_members sm JOIN members m ON m.id = sm.member_id
 WHERE m.site_id = $1 AND m.external_id = ANY($2::text[])
   AND (sm.expires_at IS NULL OR sm.expires_at > now())
 ORDER BY sm.segment_id
"""


def _json(data: Any) -> Response:
    return Response(orjson.dumps(data), media_type="application/json")


def create_app() -> Starlette:
    dsn = asyncpg_dsn(os.environ["DATABASE_URL"], keep_options=False)
    site_id = int(os.environ["SITE_ID"])
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state["pool"] = await asyncpg.create_pool(dsn, min_size=2, max_size=20)
        yield
        await state["pool"].close()

    async def is_member(request: Request) -> Response:
        body = orjson.loads(await request.body())
        async with state["pool"].acquire() as conn:
            found = await conn.fetchval(
                IS_MEMBER, site_id, body["memberId"], int(body["segmentId"])
            )
        return _json({"isMember": bool(found)})

    async def member_segments(request: Request) -> Response:
        body = orjson.loads(await request.body())
        async with state["pool"].acquire() as conn:
            rows = await conn.fetch(MEMBER_SEGMENTS, site_id, body["memberId"])
        return _json({"segmentIds": [str(r[0]) for r in rows]})

    async def memberships_of(request: Request) -> Response:
        body = orjson.loads(await request.body())
        ids = body["memberIds"]
        async with state["pool"].acquire() as conn:
            rows = await conn.fetch(MEMBERSHIPS_OF, site_id, ids)
        found: dict[str, list[str]] = {i: [] for i in ids}
        for external_id, segment_id in rows:
            found[external_id].append(str(segment_id))
        return _json({"memberships": [{"memberId": i, "segmentIds": found[i]} for i in ids]})

    async def healthz(request: Request) -> Response:
        return _json({"ok": True})

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/is-member", is_member, methods=["POST"]),
            Route("/member-segments", member_segments, methods=["POST"]),
            Route("/memberships-of", memberships_of, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
