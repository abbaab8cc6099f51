"""The raw baseline of bench/lookups.py: a minimal Starlette + asyncpg app answering the
lookups for *listed* membership only, each with one hand-written prepared statement.

    DATABASE_URL=postgres://... SITE_ID=1 uvicorn raw_lookup:create_app --factory --app-dir bench

POST /is-member {"segmentId": "12", "memberId": "m0000001"}        -> {"isMember": true}
POST /member-segments {"memberId": "m0000001"}                      -> {"segmentIds": [...]}
POST /memberships-of {"memberIds": ["m0000001", ...]}               -> {"memberships": [...]}
POST /evaluate-flags {"memberId": "m0000001"}                       -> {"flags": [...]}
POST /segment-page {"segmentId": "12"}          -> {"segment": {..., "memberCount", "members"}}
POST /segment-list {}                           -> {"segments": [{id, name, memberCount} x 50]}
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
# each flag of the site, on when it is enabled and the member is listed in one of its segments
EVALUATE_FLAGS = """
SELECT f.key, f.enabled AND EXISTS (
  SELECT 1 FROM flag_segments fs JOIN segment_members sm ON sm.segment_id = fs.segment_id
   WHERE fs.flag_id = f.id
     AND sm.member_id = (SELECT id FROM members WHERE site_id = $1 AND external_id = $2)
     AND (sm.expires_at IS NULL OR sm.expires_at > now())) AS enabled
  FROM feature_flags f WHERE f.site_id = $1 ORDER BY f.key
"""
_LISTED_COUNT = """(SELECT count(*) FROM segment_members sm WHERE sm.segment_id = s.id
                     AND (sm.expires_at IS NULL OR sm.expires_at > now()))"""
# a segment, its listed count and its first 50 listed members, as one JSON text
SEGMENT_PAGE = f"""
SELECT json_build_object('id', s.id::text, 'name', s.name, 'memberCount', {_LISTED_COUNT},
  'members', (SELECT COALESCE(json_agg(json_build_object(
                 'id', m.external_id, 'email', m.email, 'name', m.name) ORDER BY m.id), '[]')
                FROM (SELECT sm.member_id FROM segment_members sm
                       WHERE sm.segment_id = s.id
                         AND (sm.expires_at IS NULL OR sm.expires_at > now())
                       ORDER BY sm.member_id LIMIT 50) p
                JOIN members m ON m.id = p.member_id))::text
  FROM segments s WHERE s.site_id = $1 AND s.id = $2
"""
SEGMENT_LIST = f"""
SELECT s.id, s.name, {_LISTED_COUNT} AS n
  FROM segments s WHERE s.site_id = $1 ORDER BY s.id LIMIT 50
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

    async def evaluate_flags(request: Request) -> Response:
        body = orjson.loads(await request.body())
        async with state["pool"].acquire() as conn:
            rows = await conn.fetch(EVALUATE_FLAGS, site_id, body["memberId"])
        return _json({"flags": [{"key": k, "enabled": bool(on)} for k, on in rows]})

    async def segment_page(request: Request) -> Response:
        body = orjson.loads(await request.body())
        async with state["pool"].acquire() as conn:
            page = await conn.fetchval(SEGMENT_PAGE, site_id, int(body["segmentId"]))
        return Response(
            b'{"segment":' + (page or "null").encode() + b"}", media_type="application/json"
        )

    async def segment_list(request: Request) -> Response:
        async with state["pool"].acquire() as conn:
            rows = await conn.fetch(SEGMENT_LIST, site_id)
        return _json(
            {"segments": [{"id": str(i), "name": n, "memberCount": c} for i, n, c in rows]}
        )

    async def healthz(request: Request) -> Response:
        return _json({"ok": True})

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/is-member", is_member, methods=["POST"]),
            Route("/member-segments", member_segments, methods=["POST"]),
            Route("/memberships-of", memberships_of, methods=["POST"]),
            Route("/evaluate-flags", evaluate_flags, methods=["POST"]),
            Route("/segment-page", segment_page, methods=["POST"]),
            Route("/segment-list", segment_list, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
