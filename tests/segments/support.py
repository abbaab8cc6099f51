"""What the segment API tests share: their GraphQL operations and small helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.factories import Api

SEGMENT_FIELDS = """
  id name description type isActive startsAt endsAt status rule memberCount companyCount
  createdAt updatedAt
"""

CREATE_SEGMENT = f"""
mutation($input: CreateSegmentInput!) {{
  createSegment(input: $input) {{
    segment {{ {SEGMENT_FIELDS} }}
    userErrors {{ field message code }}
  }}
}}
"""

UPDATE_SEGMENT = f"""
mutation($id: ID!, $input: UpdateSegmentInput!) {{
  updateSegment(id: $id, input: $input) {{
    segment {{ {SEGMENT_FIELDS} }}
    userErrors {{ field message code }}
  }}
}}
"""

DELETE_SEGMENT = """
mutation($id: ID!) {
  deleteSegment(id: $id) { deletedId userErrors { field message code } }
}
"""

SEGMENT = f"""
query($id: ID!) {{ segment(id: $id) {{ {SEGMENT_FIELDS} }} }}
"""

SEGMENT_BY_NAME = """
query($name: String!) { segmentByName(name: $name) { id name } }
"""

SEGMENTS = """
query($status: SegmentStatusFilter, $search: String, $first: Int, $after: String) {
  segments(status: $status, search: $search, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id name status } }
  }
}
"""

SEGMENTS_WITH_COUNTS = """
query { segments(first: 100) { edges { node { id name memberCount companyCount } } } }
"""

SEGMENT_MEMBERS = """
query($id: ID!, $first: Int, $after: String, $search: String) {
  segment(id: $id) {
    memberCount
    members(first: $first, after: $after, search: $search) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { cursor source addedAt expiresAt node { id email company { id } } }
    }
  }
}
"""

SEGMENT_COMPANIES = """
query($id: ID!, $first: Int, $after: String) {
  segment(id: $id) {
    companyCount
    companies(first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { id name memberCount } }
    }
  }
}
"""

SEGMENT_EVENTS = """
query($id: ID!, $first: Int, $after: String) {
  segment(id: $id) {
    events(first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { segmentId kind actor count sampleIds at } }
    }
  }
}
"""

MEMBER = """
query($id: ID!) { member(id: $id) { id } }
"""


def _at(delta: timedelta) -> str:
    """A timestamp that far from now, as a GraphQL DateTime."""
    return (datetime.now(UTC) + delta).isoformat()


DAY = timedelta(days=1)


async def _create(api: Api, **fields: Any) -> dict[str, Any]:
    data = await api.query(CREATE_SEGMENT, {"input": fields})
    payload: dict[str, Any] = data["createSegment"]
    return payload


async def _update(api: Api, segment_id: str, **changes: Any) -> dict[str, Any]:
    data = await api.query(UPDATE_SEGMENT, {"id": segment_id, "input": changes})
    payload: dict[str, Any] = data["updateSegment"]
    return payload


async def _get(api: Api, segment_id: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = (await api.query(SEGMENT, {"id": segment_id}))["segment"]
    return found


async def _names(api: Api, **args: Any) -> list[str]:
    data = await api.query(SEGMENTS, {"first": 500, **args})
    return [e["node"]["name"] for e in data["segments"]["edges"]]


async def _walk(api: Api, query: str, path: list[str], **args: Any) -> list[dict[str, Any]]:
    """Every page of a connection with first=2; checks pageInfo and totalCount on the way."""
    pages: list[dict[str, Any]] = []
    after = None
    while True:
        data: Any = await api.query(query, {**args, "first": 2, "after": after})
        for key in path:
            data = data[key]
        pages.append(data)
        if not data["pageInfo"]["hasNextPage"]:
            return pages
        assert len(data["edges"]) == 2
        after = data["pageInfo"]["endCursor"]
        assert len(pages) < 50, "pagination does not end"
