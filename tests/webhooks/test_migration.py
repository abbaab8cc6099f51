"""Migration 0016 (a webhook's draining segments): the webhooks made before it keep what they
were (no deleted segment to deliver: both new columns null), on a database of its own
migrated in a process of its own up to 0015, given a webhook, then migrated to the newest."""

from __future__ import annotations

from tests.changes.test_migration import _Db, _migrate, fresh

__all__ = ["fresh"]  # the fixture, used by name

SITE = "INSERT INTO sites (id, slug, name, created_at) VALUES (1, 'acme', 'Acme', $1)"
WEBHOOK = (
    "INSERT INTO webhooks (id, site_id, url, segment_ids, enabled, secret, cursor,"
    " created_at, updated_at) VALUES (3, 1, 'https://x.example/h', '[7]', $1, 'whsec_x', 41,"
    " $2, $2)"
)


async def test_webhooks_made_before_it_have_no_draining_segment(fresh: str) -> None:
    await _migrate(fresh, "models.0015_compact_record")
    db = _Db(fresh)
    await db.open()
    try:
        moment = "2026-01-02 03:04:05+00:00"
        if db.pg:
            from datetime import datetime

            await db.run(SITE, datetime.fromisoformat(moment))
            await db.run(WEBHOOK, True, datetime.fromisoformat(moment))
        else:
            await db.run(SITE, moment)
            await db.run(WEBHOOK, 1, moment)
        await db.close()
        await _migrate(fresh)
        await db.open()
        rows = await db.rows(
            "SELECT id, cursor, draining_segment_ids, draining_until FROM webhooks"
        )
        assert rows == [(3, 41, None, None)]
    finally:
        await db.close()
