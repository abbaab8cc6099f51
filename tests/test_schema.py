"""The committed schema.graphql is what the code serves, and it covers the API contract for
what this service has built so far."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from graphql import BreakingChangeType, build_schema, find_breaking_changes

from app import schema as export
from app.schema import sdl
from tests.contract import BASELINE, CONTRACT, gaps, pending

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = ROOT / "schema.graphql"

# What the foundation serves: these types whole, and these fields of the others.
COVERED_TYPES = {
    "DateTime",
    "JSON",
    "Role",
    "ErrorCode",
    "UserError",
    "PageInfo",
    "Viewer",
    "ApiKey",
    "ApiKeyPayload",
    "SegmentType",
    "SegmentStatus",
    "SegmentStatusFilter",
    "MembershipSource",
    "SegmentEvent",
    "SegmentEventEdge",
    "SegmentEventConnection",
    "SegmentMemberEdge",
    "SegmentMemberConnection",
    "SegmentEdge",
    "SegmentConnection",
    "MemberEdge",
    "MemberConnection",
    "CompanyEdge",
    "CompanyConnection",
    "CreateSegmentInput",
    "UpdateSegmentInput",
    "MemberInput",
    "CompanyInput",
    "SegmentPayload",
    "DeletePayload",
    "UpsertPayload",
    "DeleteMembersPayload",
    # rules and lookups
    "MembershipReason",
    "MembershipExplanation",
    "MemberSegments",
    "RuleProblem",
    "RuleValidation",
    "RuleField",
    # pickers, imports (issue 5)
    "Upload",
    "Option",
    "JobStatus",
    "RowProblem",
    "ImportJob",
    "ImportFormat",
    "ImportMembersInput",
    "ImportJobPayload",
    # personas, options, archive, where used (issue 15)
    "SegmentOption",
    "SegmentOptionInput",
    "SegmentOptionUpdateInput",
    "SegmentOptionPayload",
    "PersonaSegment",
    "Persona",
    "PersonaEdge",
    "PersonaConnection",
    "PersonaInput",
    "UpdatePersonaInput",
    "AttachSegmentToPersonaInput",
    "PersonaPayload",
    "SegmentUsage",
}
COVERED_FIELDS = {
    "Segment": {
        "id",
        "name",
        "description",
        "type",
        "isActive",
        "startsAt",
        "endsAt",
        "status",
        "rule",
        "memberCount",
        "companyCount",
        "members",
        "companies",
        "events",
        "eligibleMembers",
        "options",
        "personas",
        "usage",
        "createdAt",
        "updatedAt",
    },
    "Member": {
        "id",
        "email",
        "name",
        "attributes",
        "company",
        "segments",
        "createdAt",
        "updatedAt",
    },
    "Company": {
        "id",
        "name",
        "plan",
        "attributes",
        "memberCount",
        "members",
        "segments",
        "createdAt",
        "updatedAt",
    },
    "Query": {
        "viewer",
        "segment",
        "segmentByName",
        "segments",
        "member",
        "members",
        "company",
        "companies",
        "apiKeys",
        "isMember",
        "memberSegments",
        "membershipsOf",
        "explainMembership",
        "validateRule",
        "ruleFields",
        "searchMembers",
        "searchCompanies",
        "resolveMembers",
        "resolveCompanies",
        "importJob",
        "persona",
        "personas",
    },
    "Mutation": {
        "createSegment",
        "updateSegment",
        "deleteSegment",
        "upsertMembers",
        "upsertCompanies",
        "deleteMembers",
        "createApiKey",
        "revokeApiKey",
        "includeEligibleMembers",
        "freezeSegment",
        "importMembers",
        "createSegmentOption",
        "updateSegmentOption",
        "deleteSegmentOption",
        "createPersona",
        "updatePersona",
        "deletePersona",
        "attachSegmentToPersona",
        "detachSegmentFromPersona",
        "archiveSegment",
        "restoreSegment",
    },
}

# The gap lines contract_check prints: "missing type T", "T: missing field F",
# "T.F: ...", "T.F(arg): ...", "enum T: ...", "input T: missing field F", "input T.F: ...".
_MISSING_TYPE = re.compile(r"^missing type (\w+)$")
_GAP = re.compile(r"^(?:enum |input )?(\w+)(?:\.(\w+))?(?:\(\w+\))?: (.*)$")
_MISSING_FIELD = re.compile(r"^missing field (\w+)$")


def _covered(gap: str) -> bool:
    """Whether a gap touches what the foundation serves (an unreadable line counts as yes)."""
    if match := _MISSING_TYPE.match(gap):
        name = match.group(1)
        return name in COVERED_TYPES or name in COVERED_FIELDS
    match = _GAP.match(gap)
    if match is None:
        return True
    type_name, field, rest = match.groups()
    if type_name in COVERED_TYPES:
        return True
    if field is None and (missing := _MISSING_FIELD.match(rest)):
        field = missing.group(1)
    return field is None or field in COVERED_FIELDS.get(type_name, set())


def _foundation_gaps(schema_sdl: str) -> list[str]:
    later = pending()
    return [g for g in gaps(schema_sdl, CONTRACT.read_text()) if _covered(g) and g not in later]


def test_committed_schema_is_the_served_schema() -> None:
    # given the schema the code builds
    served = sdl()

    # when it is compared with the committed schema.graphql
    committed = SCHEMA_FILE.read_text(encoding="utf-8")

    # then they are the same
    assert committed == served, "schema.graphql is stale: regenerate it with `python -m app.schema`"


def test_export_writes_the_served_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a path to write to
    target = tmp_path / "schema.graphql"

    # when the export runs
    export.main([str(target)])

    # then the file holds the served schema
    assert target.read_text(encoding="utf-8") == sdl()
    assert str(target) in capsys.readouterr().out


def test_export_writes_schema_graphql_at_the_repository_root_by_default() -> None:
    # then with no argument it writes the committed file's path
    assert export.SCHEMA_FILE == SCHEMA_FILE


def test_schema_covers_the_whole_contract() -> None:
    # when the contract checker compares the served schema with the whole contract
    found = gaps(sdl(), CONTRACT.read_text())
    # then nothing is missing or different but what open issues are building (pending.txt)
    assert set(found) - pending() == set()


def test_schema_covers_the_contract_for_the_foundation() -> None:
    # given the contract and the served schema
    # when the contract checker compares them, keeping only what the foundation covers
    found = _foundation_gaps(sdl())

    # then nothing is missing or different
    assert found == []


@pytest.mark.parametrize(
    ("remove", "expected"),
    [
        ("type Viewer {", "missing type Viewer"),
        ("  companyCount: Int!\n", "Segment: missing field companyCount"),
        ("  revokeApiKey(", "Mutation: missing field revokeApiKey"),
        ("  SCHEDULED\n", "enum SegmentStatus: missing value SCHEDULED"),
    ],
    ids=["type", "field", "mutation", "enum-value"],
)
def test_the_coverage_check_sees_a_gap_in_what_the_foundation_covers(
    remove: str, expected: str
) -> None:
    # given a schema with one covered piece taken away
    schema = _without(sdl(), remove)

    # when it is checked
    found = _foundation_gaps(schema)

    # then that gap is reported
    assert expected in found


def _without(schema: str, start: str) -> str:
    """The schema with the definition (or line) beginning with `start` taken out."""
    index = schema.index(start)
    if start.startswith("type "):
        end = schema.index("}\n", index) + 2
        cut = schema[:index] + schema[end:]
        # a removed type must not be referenced either
        name = start.split()[1]
        return re.sub(rf"^\s*\w+(\([^)]*\))?: {name}!?\n", "", cut, flags=re.MULTILINE)
    end = schema.index("\n", index) + 1
    before = schema.rfind("\n", 0, index - 1) + 1
    if schema[before:index].strip().startswith('"""'):
        index = before  # its description goes with it
    return schema[:index] + schema[end:]


def _breaking(old: str, new: str) -> list[str]:
    changes = find_breaking_changes(build_schema(old), build_schema(new))
    return [f"{c.type.name}: {c.description}" for c in changes]


def test_the_served_schema_breaks_nothing_of_the_published_baseline() -> None:
    # given the public schema as last published (tests/contract/baseline.graphql)
    baseline = BASELINE.read_text(encoding="utf-8")

    # when the served schema is compared with it
    breaking = _breaking(baseline, sdl())

    # then nothing a client relies on was removed or retyped
    assert breaking == [], "a breaking change: update tests/contract/baseline.graphql on purpose"


def test_the_baseline_guard_lets_additions_through() -> None:
    # given the served schema with a new type and a new field on an old one
    added = sdl().replace("type Viewer {", "type Viewer {\n  somethingNew: String", 1)
    added += "\ntype BrandNew {\n  id: ID!\n}\n"

    # then it breaks nothing
    assert _breaking(BASELINE.read_text(encoding="utf-8"), added) == []


@pytest.mark.parametrize(
    ("remove", "kind"),
    [
        ("  companyCount: Int!\n", BreakingChangeType.FIELD_REMOVED),
        ("  SCHEDULED\n", BreakingChangeType.VALUE_REMOVED_FROM_ENUM),
    ],
    ids=["field", "enum-value"],
)
def test_the_baseline_guard_sees_a_breaking_change(remove: str, kind: BreakingChangeType) -> None:
    # given the served schema with a published piece taken away
    schema = _without(sdl(), remove)

    # when it is compared with the baseline
    breaking = _breaking(BASELINE.read_text(encoding="utf-8"), schema)

    # then the guard reports it
    assert any(line.startswith(kind.name) for line in breaking)
