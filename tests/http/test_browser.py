"""Browser frontends: CORS for the configured origins, compression, and GraphiQL whole from
the service (every asset it names answers 200)."""

from __future__ import annotations

import gzip
import re

from tests.factories import Api, members, segment
from tests.http.conftest import AppWith

ORIGIN = "https://admin.example.com"


async def test_a_preflight_from_an_allowed_origin_is_answered(app_with: AppWith) -> None:
    async with app_with(cors_origins=f"{ORIGIN}, https://other.example.com") as api:
        response = await api.client.options(
            "/graphql",
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == ORIGIN
        assert "authorization" in response.headers["access-control-allow-headers"].lower()

        # and the actual request's answer is readable by that origin
        answer = await api.client.post(
            "/graphql",
            json={"query": "{ viewer { role } }"},
            headers={"Origin": ORIGIN, "Authorization": f"Bearer {api.key}"},
        )
        assert answer.headers["access-control-allow-origin"] == ORIGIN


async def test_a_preflight_from_another_origin_is_refused(app_with: AppWith) -> None:
    async with app_with(cors_origins=ORIGIN) as api:
        response = await api.client.options(
            "/graphql",
            headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"},
        )
        assert response.status_code == 400
        assert "access-control-allow-origin" not in response.headers


async def test_no_cors_by_default(api: Api) -> None:
    response = await api.client.post(
        "/graphql",
        json={"query": "{ viewer { role } }"},
        headers={"Origin": ORIGIN, "Authorization": f"Bearer {api.key}"},
    )
    assert "access-control-allow-origin" not in response.headers


async def test_large_answers_are_gzipped_small_ones_not(api: Api) -> None:
    from graphql import get_introspection_query

    big = await api.client.post(
        "/graphql",
        json={"query": get_introspection_query()},
        headers={"Authorization": f"Bearer {api.key}", "Accept-Encoding": "gzip"},
    )
    assert big.headers["content-encoding"] == "gzip"  # the only one this client accepts
    assert big.json()["data"]["__schema"]
    assert int(big.headers["content-length"]) < len(big.content) / 3

    small = await api.client.post(
        "/graphql",
        json={"query": "{ viewer { role } }"},
        headers={"Authorization": f"Bearer {api.key}", "Accept-Encoding": "gzip"},
    )
    assert "content-encoding" not in small.headers


async def test_brotli_when_the_client_prefers_it(api: Api) -> None:
    from graphql import get_introspection_query

    big = await api.client.post(
        "/graphql",
        json={"query": get_introspection_query()},
        headers={"Authorization": f"Bearer {api.key}", "Accept-Encoding": "br"},
    )
    assert big.headers["content-encoding"] == "br"
    assert big.json()["data"]["__schema"]


async def test_a_csv_export_streams_compressed(api: Api) -> None:
    ids = [f"m{i:04d}" for i in range(300)]
    await members(api, *ids)
    seg = await segment(api, "Big", memberIds=ids)
    async with api.client.stream(
        "GET",
        f"/export/segments/{seg['id']}/members.csv",
        headers={"Authorization": f"Bearer {api.key}", "Accept-Encoding": "gzip"},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-encoding"] == "gzip"
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
    rows = gzip.decompress(raw).decode().splitlines()
    assert len(rows) == 301 and rows[1].startswith("m0000")


async def test_graphiql_names_only_assets_the_service_serves(api: Api) -> None:
    # when the page is opened in a browser
    page = await api.client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200

    # then every script and stylesheet it names is the service's own, and each answers 200
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(urls) == 8
    for url in urls:
        assert url.startswith("/graphiql/"), url
        asset = await api.client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 300
    assert "unpkg.com" not in page.text and "cdn" not in page.text.lower()


async def test_graphiql_keeps_no_key_unless_asked(api: Api) -> None:
    boot = (await api.client.get("/graphiql/segments-graphiql.js")).text
    assert "shouldPersistHeaders: persistHeaders" in boot
    assert 'searchParams.get("persistHeaders") === "true"' in boot
    # and subscriptions go over the WebSocket
    assert "graphqlWs.createClient" in boot
