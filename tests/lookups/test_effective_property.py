"""One meaning of effective membership: the SQL listing and count of a DYNAMIC segment and
the Python lookups agree, for random rules (in_segment() included) over random members,
lists, company lists and exclusions, in the real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.db import execute, fetch
from app.lookups import service as lookups
from app.memberships import catalogue
from app.memberships import service as memberships
from app.rules import Node, ast_to_json, format_rule, segment_names_of
from app.segments.models import Segment, SegmentType
from tests.rules.strategies import members, rules, salts
from tests.rules.support import MemberRow, insert, reset, site_id

plain_rules = rules.filter(lambda node: not segment_names_of(node))
ties = st.lists(st.sampled_from(["listed", "expired", "excluded", "none"]), min_size=6, max_size=6)


async def _segment(site: int, name: str, node: Node, salt: int) -> int:
    made = await Segment.create(
        site_id=site,
        name=name,
        type=SegmentType.DYNAMIC,
        rule=format_rule(node),
        rule_ast=ast_to_json(node),
        salt=salt,
    )
    return int(made.id)


async def _tie(site: int, segment: int, member: int, how: str) -> None:
    now = datetime.now(UTC)
    if how in ("listed", "expired"):
        expires = now - timedelta(hours=1) if how == "expired" else None
        await execute(
            "INSERT INTO segment_members (site_id, segment_id, member_id, source, added_at,"
            " expires_at) VALUES ($1, $2, $3, 'MANUAL', $4, $5)",
            [site, segment, member, now, expires],
        )
    elif how == "excluded":
        await execute(
            "INSERT INTO segment_exclusions (site_id, segment_id, member_id, added_at)"
            " VALUES ($1, $2, $3, $4)",
            [site, segment, member, now],
        )


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=members(),
    target=rules,
    inner=st.tuples(plain_rules, plain_rules),
    salt=salts,
    how=ties,
    company_listed=st.booleans(),
)
async def test_sql_listing_and_python_lookups_agree(
    db: None,
    rows: list[MemberRow],
    target: Node,
    inner: tuple[Node, Node],
    salt: int,
    how: list[str],
    company_listed: bool,
) -> None:
    # given members, two segments in_segment() can name, and a target with lists and exclusions
    site = await site_id()
    await reset(site)
    await execute("DELETE FROM segments WHERE site_id = $1", [site])
    await insert(site, rows)
    await _segment(site, "even", inner[0], 7)
    await _segment(site, "with_company", inner[1], 11)
    pk = await _segment(site, "target", target, salt)
    pks = {
        r["external_id"]: int(r["id"])
        for r in await fetch("SELECT id, external_id FROM members WHERE site_id = $1", [site])
    }
    for row, tie in zip(rows, how, strict=False):
        await _tie(site, pk, pks[row.external_id], tie)
    if company_listed:
        await execute(
            "INSERT INTO segment_companies (site_id, segment_id, company_id, added_at)"
            " SELECT $1, $2, id, $3 FROM companies WHERE site_id = $1 AND external_id = 'c1'",
            [site, pk, datetime.now(UTC)],
        )
    await catalogue.bump(None, site)

    # when the segment is listed and counted in SQL, and each member looked up in Python
    listed = await memberships.list_members(
        site_id=site, segment_pk=pk, search=None, first=100, after=None
    )
    count = (await memberships.member_counts(site_id=site, segment_pks=[pk]))[pk]
    lookup = await lookups.load(site_id=site, external_ids=[r.external_id for r in rows])
    segment = lookup.cat.by_pk[pk]
    in_python = set()
    for row in rows:
        membership = lookup.membership(row.external_id)
        assert membership is not None
        if membership.effective(segment):
            in_python.add(row.external_id)

    # then they agree, member by member
    assert {r["external_id"] for r in listed} == in_python, format_rule(target)
    assert count == len(in_python)
