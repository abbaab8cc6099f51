"""Operations and small helpers shared by the persona, option and archive tests."""

from __future__ import annotations

from typing import Any

from tests.factories import Api

CREATE_OPTION = """
mutation($input: SegmentOptionInput!) {
  createSegmentOption(input: $input) {
    option { id label description position }
    userErrors { field message code }
  }
}
"""

UPDATE_OPTION = """
mutation($id: ID!, $input: SegmentOptionUpdateInput!) {
  updateSegmentOption(id: $id, input: $input) {
    option { id label description position }
    userErrors { field message code }
  }
}
"""

DELETE_OPTION = """
mutation($id: ID!) { deleteSegmentOption(id: $id) { deletedId userErrors { field message code } } }
"""

SEGMENT_OPTIONS = """
query($id: ID!) { segment(id: $id) { options { id label description position } } }
"""

PERSONA_FIELDS = """
  id name description memberCount createdAt updatedAt
  segments { segment { id name } options { id label } }
"""

CREATE_PERSONA = f"""
mutation($input: PersonaInput!) {{
  createPersona(input: $input) {{
    persona {{ {PERSONA_FIELDS} }} userErrors {{ field message code }}
  }}
}}
"""

UPDATE_PERSONA = f"""
mutation($id: ID!, $input: UpdatePersonaInput!) {{
  updatePersona(id: $id, input: $input) {{
    persona {{ {PERSONA_FIELDS} }} userErrors {{ field message code }}
  }}
}}
"""

DELETE_PERSONA = """
mutation($id: ID!) { deletePersona(id: $id) { deletedId userErrors { field message code } } }
"""

ATTACH = f"""
mutation($input: AttachSegmentToPersonaInput!) {{
  attachSegmentToPersona(input: $input) {{
    persona {{ {PERSONA_FIELDS} }} userErrors {{ field message code }}
  }}
}}
"""

DETACH = f"""
mutation($persona: ID!, $segment: ID!) {{
  detachSegmentFromPersona(personaId: $persona, segmentId: $segment) {{
    persona {{ {PERSONA_FIELDS} }} userErrors {{ field message code }}
  }}
}}
"""

PERSONA = f"""
query($id: ID!) {{ persona(id: $id) {{ {PERSONA_FIELDS} }} }}
"""

PERSONA_MEMBERS = """
query($id: ID!, $first: Int, $after: String) {
  persona(id: $id) {
    memberCount
    members(first: $first, after: $after) {
      totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor }
    }
  }
}
"""

PERSONAS = """
query($search: String, $first: Int, $after: String) {
  personas(search: $search, first: $first, after: $after) {
    totalCount
    edges { cursor node { name } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}
"""

SEGMENT_EVENTS = """
query($id: ID!) { segment(id: $id) { events { edges { node { kind actor changes } } } } }
"""


def codes(payload: dict[str, Any]) -> list[tuple[str, list[str] | None]]:
    return [(e["code"], e["field"]) for e in payload["userErrors"]]


async def option(api: Api, segment_id: str, label: str, **fields: Any) -> dict[str, Any]:
    data = await api.query(
        CREATE_OPTION, {"input": {"segmentId": segment_id, "label": label, **fields}}
    )
    payload = data["createSegmentOption"]
    assert payload["userErrors"] == [], payload["userErrors"]
    result: dict[str, Any] = payload["option"]
    return result


async def persona(api: Api, name: str, **fields: Any) -> dict[str, Any]:
    data = await api.query(CREATE_PERSONA, {"input": {"name": name, **fields}})
    payload = data["createPersona"]
    assert payload["userErrors"] == [], payload["userErrors"]
    result: dict[str, Any] = payload["persona"]
    return result


async def attach(
    api: Api, persona_id: str, segment_id: str, option_ids: list[str] | None = None
) -> dict[str, Any]:
    """Attach and return the whole payload (persona and userErrors)."""
    data = await api.query(
        ATTACH,
        {
            "input": {
                "personaId": persona_id,
                "segmentId": segment_id,
                "optionIds": option_ids or [],
            }
        },
    )
    result: dict[str, Any] = data["attachSegmentToPersona"]
    return result


async def events(api: Api, segment_id: str) -> list[dict[str, Any]]:
    """The segment's audit trail, newest first."""
    data = await api.query(SEGMENT_EVENTS, {"id": segment_id})
    return [e["node"] for e in data["segment"]["events"]["edges"]]


async def member_ids(api: Api, persona_id: str) -> tuple[int, list[str]]:
    """The persona's memberCount and every member id (one page)."""
    data = await api.query(PERSONA_MEMBERS, {"id": persona_id, "first": 500})
    found = data["persona"]
    ids = [e["node"]["id"] for e in found["members"]["edges"]]
    assert found["members"]["totalCount"] == found["memberCount"]
    return found["memberCount"], ids
