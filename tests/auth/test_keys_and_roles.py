"""Keys and roles: who the caller is, what each role may do, and how bad keys are refused."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.auth.models import ApiKey, Role
from tests.factories import Api, companies, members, segment

VIEWER = """
query { viewer { siteId siteName keyName role } }
"""

API_KEYS = """
query { apiKeys { id name role prefix createdAt lastUsedAt revokedAt } }
"""

CREATE_API_KEY = """
mutation($name: String!, $role: Role!) {
  createApiKey(name: $name, role: $role) {
    apiKey { id name role prefix createdAt lastUsedAt revokedAt }
    secret
    userErrors { field message code }
  }
}
"""

REVOKE_API_KEY = """
mutation($id: ID!) {
  revokeApiKey(id: $id) { deletedId userErrors { field message code } }
}
"""

CREATE_SEGMENT = """
mutation($input: CreateSegmentInput!) {
  createSegment(input: $input) { segment { id } userErrors { code } }
}
"""

UPDATE_SEGMENT = """
mutation($id: ID!, $input: UpdateSegmentInput!) {
  updateSegment(id: $id, input: $input) { segment { id } userErrors { code } }
}
"""

DELETE_SEGMENT = """
mutation($id: ID!) { deleteSegment(id: $id) { deletedId userErrors { code } } }
"""

UPSERT_MEMBERS = """
mutation($members: [MemberInput!]!) {
  upsertMembers(members: $members) { created updated userErrors { code } }
}
"""

DELETE_MEMBERS = """
mutation($ids: [ID!]!) { deleteMembers(ids: $ids) { deleted unknownIds userErrors { code } } }
"""

UPSERT_COMPANIES = """
mutation($companies: [CompanyInput!]!) {
  upsertCompanies(companies: $companies) { created updated userErrors { code } }
}
"""

STATE = """
query {
  segments { totalCount edges { node { id name description memberCount } } }
  members { totalCount edges { node { id name } } }
  companies { totalCount edges { node { id name } } }
}
"""

SEGMENT_AND_MEMBER = """
query($id: ID!) { segment(id: $id) { name } member(id: "m1") { id } company(id: "c1") { id } }
"""


def _error_codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]


async def _key_ids_by_name(api: Api) -> dict[str, str]:
    data = await api.query(API_KEYS)
    return {k["name"]: k["id"] for k in data["apiKeys"]}


# ------------------------------------------------------------------ viewer


@pytest.mark.parametrize("role", list(Role))
async def test_viewer_names_the_site_key_and_role(api: Api, role: Role) -> None:
    # given a key of that role on the site "Acme"
    caller = await api.with_role(role)

    # when it asks who it is
    data = await caller.query(VIEWER)

    # then it is told its site, key name and role
    assert data["viewer"] == {
        "siteId": str(api.site.id),
        "siteName": "Acme",
        "keyName": f"{role.value.lower()}-key",
        "role": role.value,
    }


# ------------------------------------------------------------------ authentication


async def test_no_key_is_a_graphql_error_unauthenticated(api: Api) -> None:
    # given a site with a segment
    await segment(api, "Secret")

    # when a request carries no Authorization header
    response = await api.client.post(
        "/graphql", json={"query": "{ segments { edges { node { name } } } }"}
    )

    # then the field fails with UNAUTHENTICATED and no data leaks
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert _error_codes(body) == ["UNAUTHENTICATED"]
    assert "Authorization" in body["errors"][0]["message"]


async def test_no_key_cannot_mutate(api: Api) -> None:
    # when a mutation is sent without a key
    response = await api.client.post(
        "/graphql", json={"query": CREATE_SEGMENT, "variables": {"input": {"name": "Anon"}}}
    )

    # then it is refused and nothing is created
    assert _error_codes(response.json()) == ["UNAUTHENTICATED"]
    assert (await api.query(STATE))["segments"]["totalCount"] == 0


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer seg_this-key-was-never-made",
        "Bearer ",
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "seg_no-scheme",
    ],
)
async def test_unknown_or_malformed_key_is_http_401(api: Api, authorization: str) -> None:
    # when a request carries a key the server never made (or no key after the scheme)
    response = await api.client.post(
        "/graphql", json={"query": VIEWER}, headers={"Authorization": authorization}
    )

    # then the whole request is refused with 401 and UNAUTHENTICATED
    assert response.status_code == 401
    assert _error_codes(response.json()) == ["UNAUTHENTICATED"]


async def test_the_bearer_scheme_is_case_insensitive(api: Api) -> None:
    # when the key is sent with a lower-case scheme
    response = await api.client.post(
        "/graphql", json={"query": VIEWER}, headers={"Authorization": f"bearer {api.key}"}
    )

    # then it is accepted
    assert response.status_code == 200
    assert response.json()["data"]["viewer"]["role"] == "ADMIN"


async def test_a_revoked_key_is_http_401_at_once(api: Api) -> None:
    # given a READER key that works (so it is verified and cached)
    reader = await api.with_role(Role.READER)
    assert (await reader.query(VIEWER))["viewer"]["role"] == "READER"
    key_id = (await _key_ids_by_name(api))["reader-key"]

    # when an ADMIN revokes it
    data = await api.query(REVOKE_API_KEY, {"id": key_id})
    assert data["revokeApiKey"] == {"deletedId": key_id, "userErrors": []}

    # then its next request is refused with 401, and the admin's key still works
    response = await reader.post(VIEWER)
    assert response.status_code == 401
    assert _error_codes(response.json()) == ["UNAUTHENTICATED"]
    assert (await api.query(VIEWER))["viewer"]["role"] == "ADMIN"


# ------------------------------------------------------------------ key management


async def test_create_api_key_shows_the_secret_once_and_it_works(api: Api) -> None:
    # when an ADMIN makes a WRITER key
    data = await api.query(CREATE_API_KEY, {"name": "crm-sync", "role": "WRITER"})

    # then the payload holds the key and its secret
    payload = data["createApiKey"]
    assert payload["userErrors"] == []
    key, secret = payload["apiKey"], payload["secret"]
    assert (key["name"], key["role"], key["revokedAt"], key["lastUsedAt"]) == (
        "crm-sync",
        "WRITER",
        None,
        None,
    )
    assert secret.startswith(key["prefix"]) and len(secret) > len(key["prefix"]) + 20
    # and the secret works with that role on the same site
    writer = Api(api.client, api.site, secret, Role.WRITER)
    assert (await writer.query(VIEWER))["viewer"] == {
        "siteId": str(api.site.id),
        "siteName": "Acme",
        "keyName": "crm-sync",
        "role": "WRITER",
    }
    # and it is stored only as a hash
    row = await ApiKey.get(id=int(key["id"]))
    assert row.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in (row.key_hash, row.prefix, row.name)


async def test_api_keys_lists_the_sites_keys_without_secrets(api: Api) -> None:
    # given two more keys, one of them revoked
    made = await api.query(CREATE_API_KEY, {"name": "reader", "role": "READER"})
    doomed = await api.query(CREATE_API_KEY, {"name": "old", "role": "WRITER"})
    await api.query(REVOKE_API_KEY, {"id": doomed["createApiKey"]["apiKey"]["id"]})

    # when the keys are listed
    keys = (await api.query(API_KEYS))["apiKeys"]

    # then all three are there in creation order, the revoked one marked, and no secret shown
    assert [(k["name"], k["role"]) for k in keys] == [
        ("test-admin", "ADMIN"),
        ("reader", "READER"),
        ("old", "WRITER"),
    ]
    assert [k["revokedAt"] is not None for k in keys] == [False, False, True]
    assert made["createApiKey"]["secret"] not in str(keys)
    revoked_at = datetime.fromisoformat(keys[2]["revokedAt"])
    assert abs(datetime.now(UTC) - revoked_at) < timedelta(minutes=5)


async def test_a_used_key_records_when_it_was_last_used(api: Api) -> None:
    # given a new key, never used
    data = await api.query(CREATE_API_KEY, {"name": "fresh", "role": "READER"})
    secret = data["createApiKey"]["secret"]

    # when it is used once
    await Api(api.client, api.site, secret, Role.READER).query(VIEWER)

    # then the listing shows when
    keys = {k["name"]: k for k in (await api.query(API_KEYS))["apiKeys"]}
    assert keys["fresh"]["lastUsedAt"] is not None
    used = datetime.fromisoformat(keys["fresh"]["lastUsedAt"])
    assert abs(datetime.now(UTC) - used) < timedelta(minutes=5)


@pytest.mark.parametrize("name", ["", "   ", "k" * 101])
async def test_create_api_key_with_a_bad_name_is_invalid(api: Api, name: str) -> None:
    # when a key is made with an empty or over-long name
    data = await api.query(CREATE_API_KEY, {"name": name, "role": "READER"})

    # then it is refused, no secret is shown and no key is made
    payload = data["createApiKey"]
    assert (payload["apiKey"], payload["secret"]) == (None, None)
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("INVALID", ["name"])]
    assert list(await _key_ids_by_name(api)) == ["test-admin"]


@pytest.mark.parametrize("unknown", ["999999", "not-a-number"])
async def test_revoke_of_an_unknown_key_is_not_found(api: Api, unknown: str) -> None:
    # when a key id that names no key is revoked
    data = await api.query(REVOKE_API_KEY, {"id": unknown})

    # then NOT_FOUND on the id
    payload = data["revokeApiKey"]
    assert payload["deletedId"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("NOT_FOUND", ["id"])]


async def test_revoking_twice_keeps_the_first_revocation_time(api: Api) -> None:
    # given a revoked key
    made = await api.query(CREATE_API_KEY, {"name": "twice", "role": "READER"})
    key_id = made["createApiKey"]["apiKey"]["id"]
    await api.query(REVOKE_API_KEY, {"id": key_id})
    first = {k["name"]: k["revokedAt"] for k in (await api.query(API_KEYS))["apiKeys"]}

    # when it is revoked again
    again = await api.query(REVOKE_API_KEY, {"id": key_id})

    # then that is fine, and the revocation time stays
    assert again["revokeApiKey"]["userErrors"] == []
    second = {k["name"]: k["revokedAt"] for k in (await api.query(API_KEYS))["apiKeys"]}
    assert second["twice"] == first["twice"] is not None


# ------------------------------------------------------------------ roles


async def test_reader_can_read_everything(api: Api) -> None:
    # given a segment, a member and a company
    await companies(api, "c1")
    await members(api, "m1", companyId="c1")
    made = await segment(api, "Readable", memberIds=["m1"])
    reader = await api.with_role(Role.READER)

    # when a READER reads them
    data = await reader.query(SEGMENT_AND_MEMBER, {"id": made["id"]})
    state = await reader.query(STATE)

    # then it sees them
    assert data == {
        "segment": {"name": "Readable"},
        "member": {"id": "m1"},
        "company": {"id": "c1"},
    }
    assert state["segments"]["edges"][0]["node"]["memberCount"] == 1


MutationCase = tuple[str, Callable[[dict[str, str]], dict[str, Any]]]

SEGMENT_MUTATIONS: dict[str, MutationCase] = {
    "createSegment": (CREATE_SEGMENT, lambda ids: {"input": {"name": "New", "memberIds": ["m1"]}}),
    "updateSegment": (
        UPDATE_SEGMENT,
        lambda ids: {"id": ids["segment"], "input": {"name": "Renamed", "description": "x"}},
    ),
    "deleteSegment": (DELETE_SEGMENT, lambda ids: {"id": ids["segment"]}),
    "upsertMembers": (UPSERT_MEMBERS, lambda ids: {"members": [{"id": "m1", "name": "X"}]}),
    "deleteMembers": (DELETE_MEMBERS, lambda ids: {"ids": ["m1"]}),
    "upsertCompanies": (UPSERT_COMPANIES, lambda ids: {"companies": [{"id": "c1", "name": "X"}]}),
}

KEY_MUTATIONS: dict[str, MutationCase] = {
    "createApiKey": (CREATE_API_KEY, lambda ids: {"name": "sneaky", "role": "ADMIN"}),
    "revokeApiKey": (REVOKE_API_KEY, lambda ids: {"id": ids["admin_key"]}),
}


async def _site_with_data(api: Api) -> dict[str, str]:
    await companies(api, "c1", name="Original company")
    await members(api, "m1", name="Original member", companyId="c1")
    made = await segment(api, "Original", description="unchanged", memberIds=["m1"])
    return {"segment": made["id"], "admin_key": (await _key_ids_by_name(api))["test-admin"]}


@pytest.mark.parametrize("mutation", [*SEGMENT_MUTATIONS, *KEY_MUTATIONS])
async def test_reader_cannot_mutate_and_nothing_changes(api: Api, mutation: str) -> None:
    # given a site with a segment, a member and a company, and a READER key
    ids = await _site_with_data(api)
    before = await api.query(STATE)
    keys_before = await api.query(API_KEYS)
    reader = await api.with_role(Role.READER)

    # when the READER sends the mutation
    query, variables = {**SEGMENT_MUTATIONS, **KEY_MUTATIONS}[mutation]
    body = await reader.raw(query, variables(ids))

    # then it is refused with FORBIDDEN and nothing changed
    assert body["data"] is None
    assert _error_codes(body) == ["FORBIDDEN"]
    assert body["errors"][0]["path"] == [mutation]
    assert await api.query(STATE) == before
    keys_after = (await api.query(API_KEYS))["apiKeys"]
    assert [(k["name"], k["revokedAt"]) for k in keys_after] == [
        (k["name"], k["revokedAt"]) for k in keys_before["apiKeys"]
    ] + [("reader-key", None)]


@pytest.mark.parametrize("mutation", list(KEY_MUTATIONS))
async def test_writer_cannot_manage_keys(api: Api, mutation: str) -> None:
    # given a site and a WRITER key
    ids = await _site_with_data(api)
    writer = await api.with_role(Role.WRITER)

    # when the WRITER tries to make or revoke a key
    query, variables = KEY_MUTATIONS[mutation]
    body = await writer.raw(query, variables(ids))

    # then it is refused with FORBIDDEN, and the keys are as they were
    assert body["data"] is None
    assert _error_codes(body) == ["FORBIDDEN"]
    keys = (await api.query(API_KEYS))["apiKeys"]
    assert [(k["name"], k["revokedAt"]) for k in keys] == [
        ("test-admin", None),
        ("writer-key", None),
    ]
    assert (await api.query(VIEWER))["viewer"]["role"] == "ADMIN"


@pytest.mark.parametrize("role", [Role.WRITER, Role.READER])
async def test_only_admin_lists_keys(api: Api, role: Role) -> None:
    # given a key below ADMIN
    caller = await api.with_role(role)

    # when it lists the site's keys
    body = await caller.raw(API_KEYS)

    # then it is refused with FORBIDDEN, naming the role needed
    assert body["data"] is None
    assert _error_codes(body) == ["FORBIDDEN"]
    assert "ADMIN" in body["errors"][0]["message"]


async def test_writer_mutates_segments_members_and_companies(api: Api) -> None:
    # given a site with data and a WRITER key
    ids = await _site_with_data(api)
    writer = await api.with_role(Role.WRITER)

    # when the WRITER sends every data mutation
    results: dict[str, Any] = {}
    for name in [
        "upsertCompanies",
        "upsertMembers",
        "createSegment",
        "updateSegment",
        "deleteSegment",
        "deleteMembers",
    ]:
        query, variables = SEGMENT_MUTATIONS[name]
        results[name] = (await writer.query(query, variables(ids)))[name]

    # then each one applies
    assert all(r["userErrors"] == [] for r in results.values()), results
    assert results["upsertCompanies"]["updated"] == 1
    assert results["upsertMembers"]["updated"] == 1
    assert results["deleteSegment"]["deletedId"] == ids["segment"]
    assert results["deleteMembers"]["deleted"] == 1
    state = await api.query(STATE)
    assert [e["node"]["name"] for e in state["segments"]["edges"]] == ["New"]
    assert state["members"]["totalCount"] == 0
    assert [e["node"]["name"] for e in state["companies"]["edges"]] == ["X"]
