"""Kept, not recomputed, and still right: after random sequences of writes (member upserts with
new attributes and companies, company upserts, rule and type edits, listings, company
listings, exclusions, deletes) the kept rule matches and counters equal a recomputation from
scratch, and the record replayed from empty gives the effective membership of now, the rules
evaluated afresh in SQL."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.auth.service import create_site
from app.companies import service as companies
from app.members import service as members
from app.members.service import UNSET, MemberData
from app.memberships import path
from app.memberships.bulk import Mode
from app.memberships.path import ListChange, Lists
from app.rules import Node, format_rule
from app.segments import service as segments
from app.segments.models import SegmentType
from tests.changes.support import assert_consistent
from tests.rules.strategies import attributes, rules

MEMBERS = ["m1", "m2", "m3", "m4"]
COMPANIES = ["c1", "c2"]
LISTS = ["with_company", "target", "even"]  # segments whose lists the writes change

# days_ago() answers move with the clock (the sweeper's TIME): the rest must hold exactly
steady_rules = rules.filter(lambda node: "days_ago" not in format_rule(node))
ids = st.lists(st.sampled_from(MEMBERS), max_size=3, unique=True)
modes = st.sampled_from(list(Mode))
operations = st.one_of(
    st.tuples(
        st.just("upsert"),
        st.sampled_from(MEMBERS),
        st.one_of(st.just(UNSET), attributes),
        st.sampled_from([UNSET, None, *COMPANIES]),
    ),
    st.tuples(st.just("company"), st.sampled_from(COMPANIES), st.sampled_from(["free", "pro"])),
    st.tuples(st.just("list"), st.sampled_from(LISTS), modes, ids),
    st.tuples(
        st.just("list_companies"),
        st.sampled_from(LISTS),
        modes,
        st.lists(st.sampled_from(COMPANIES), max_size=2, unique=True),
    ),
    st.tuples(st.just("exclude"), st.sampled_from(LISTS), modes, ids),
    st.tuples(st.just("rule"), steady_rules, st.sampled_from(list(SegmentType))),
    st.tuples(st.just("delete"), ids),
)
_sites = itertools.count()


async def _setup(target: Node) -> tuple[int, dict[str, int]]:
    site = await create_site(slug=f"kept-{next(_sites)}", name="Kept")
    await companies.upsert(
        site_id=site.id, rows=[companies.CompanyData(c, name=c.upper()) for c in COMPANIES]
    )
    await members.upsert(
        site_id=site.id,
        rows=[
            MemberData(m, company_id=COMPANIES[i % 2], attributes={"n": 5 * i, "b": i % 2 == 0})
            for i, m in enumerate(MEMBERS)
        ],
    )
    made: dict[str, int] = {}
    for name, kind, rule in (
        ("with_company", SegmentType.STATIC, None),
        ("unknown", SegmentType.DYNAMIC, "company.plan = 'pro'"),
        ("even", SegmentType.DYNAMIC, "attributes.n > 10 OR in_segment('with_company')"),
        ("target", SegmentType.DYNAMIC, format_rule(target)),
        ("nested", SegmentType.DYNAMIC, "in_segment('target') AND NOT attributes.b = true"),
    ):
        data = segments.SegmentData(name=name, type=kind, rule=rule)
        made[name] = (await segments.create(site_id=site.id, actor="test", data=data)).id
    # something to take away from the start: listings, a listed company
    for name, lists, chosen in (
        ("with_company", Lists.MEMBERS, ["m1", "m2"]),
        ("target", Lists.MEMBERS, ["m3"]),
        ("even", Lists.COMPANIES, ["c1"]),
    ):
        change = ListChange(made[name], lists, chosen, Mode.ADD)
        await path.run(site_id=site.id, actor="test", steps=[change])
    return site.id, made


async def _apply(site: int, made: dict[str, int], op: tuple[Any, ...]) -> None:
    kind = op[0]
    if kind == "upsert":
        _, member, attrs, company = op
        row = MemberData(member, attributes=attrs, company_id=company)
        await members.upsert(site_id=site, rows=[row])
    elif kind == "company":
        _, company, plan = op
        rows = [companies.CompanyData(company, name=company.upper(), plan=plan)]
        await companies.upsert(site_id=site, rows=rows)
    elif kind in ("list", "list_companies", "exclude"):
        _, name, mode, chosen = op
        lists = {"list": Lists.MEMBERS, "list_companies": Lists.COMPANIES}.get(kind)
        change = ListChange(made[name], lists or Lists.EXCLUSIONS, chosen, mode)
        await path.run(site_id=site, actor="test", steps=[change])
    elif kind == "rule":
        _, node, segment_type = op
        await segments.update(
            site_id=site,
            actor="test",
            segment_id=str(made["target"]),
            changes={"rule": format_rule(node), "type": segment_type},
        )
    else:
        await members.delete(site_id=site, external_ids=op[1])


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(target=steady_rules, ops=st.lists(operations, max_size=10))
async def test_kept_rows_and_the_record_equal_a_recomputation(
    db: None, target: Node, ops: list[tuple[Any, ...]]
) -> None:
    # given a site with nested DYNAMIC segments, lists and companies
    site, made = await _setup(target)
    # when random writes go through the service
    for op in ops:
        await _apply(site, made, op)
    # then the kept matches and counters are what a rebuild computes, each counter is the
    # number of effective members, and the record replays to the effective membership
    await assert_consistent(site)
