"""The kept counters and rule matches of a site built from scratch, and the counters' moves
outside the record (a new segment, listed companies)."""

from __future__ import annotations

from app.memberships import catalogue
from app.memberships.effective import Query
from app.memberships.kept import Writer, excluded, live
from app.memberships.matching import matches_select


async def rebuild(w: Writer) -> None:
    """The site's kept matches and counters computed from scratch (no records are written)."""
    cat = await catalogue.get(w.site_id, connection=w.tx)
    await w.run("DELETE FROM segment_rule_matches WHERE site_id = $1", [w.site_id])
    await w.run("DELETE FROM segment_counts WHERE site_id = $1", [w.site_id])
    if cat.dynamic:
        q = Query()
        select = matches_select(w, cat, cat.dynamic, q, scoped=False)
        await w.run(
            "INSERT INTO segment_rule_matches (site_id, segment_id, member_id)"
            f" SELECT {int(w.site_id)}, n.segment_id, n.member_id FROM ({select}) n",
            q.params,
        )
    p = w.params()
    await w.run(
        "INSERT INTO segment_counts (site_id, segment_id, member_count, company_count)"
        f" SELECT s.site_id, s.id, COALESCE(e.n, 0), COALESCE(c.n, 0) FROM segments s"
        f" LEFT JOIN ({counts_select(p.add(w.now, 'timestamptz'), w.site_id)}) e"
        " ON e.segment_id = s.id"
        " LEFT JOIN (SELECT segment_id, COUNT(*) AS n FROM segment_companies"
        f" WHERE site_id = {int(w.site_id)} GROUP BY segment_id) c ON c.segment_id = s.id"
        f" WHERE s.site_id = {int(w.site_id)}",
        p.values,
    )


def counts_select(now: str, site_id: int) -> str:
    """(segment_id, n): each segment's effective member count from the kept rows."""
    site = int(site_id)
    return (
        "SELECT u.segment_id, COUNT(*) AS n FROM ("
        f"SELECT l.segment_id, l.member_id FROM segment_members l WHERE l.site_id = {site}"
        f" AND {live('l', now)}"
        " UNION SELECT sc.segment_id, m.id FROM segment_companies sc"
        f" JOIN members m ON m.company_id = sc.company_id WHERE sc.site_id = {site}"
        f" UNION SELECT r.segment_id, r.member_id FROM segment_rule_matches r"
        f" WHERE r.site_id = {site}) u"
        f" WHERE NOT {excluded('u.segment_id', 'u.member_id')} GROUP BY u.segment_id"
    )


async def new_segment(w: Writer, segment_id: int) -> None:
    """A segment's counters row, made with the segment."""
    await w.run(
        "INSERT INTO segment_counts (site_id, segment_id, member_count, company_count)"
        " VALUES ($1, $2, 0, 0) ON CONFLICT (segment_id) DO NOTHING",
        [w.site_id, segment_id],
    )


async def move_company_count(w: Writer, segment_id: int, delta: int) -> None:
    if delta:
        await w.run(
            "UPDATE segment_counts SET company_count = company_count + $1 WHERE segment_id = $2",
            [delta, segment_id],
        )
