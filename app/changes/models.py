"""The membership record, the kept rule matches and counters, and the per-site lock row."""

from __future__ import annotations

import enum
from typing import Any

import orjson
from tortoise import fields
from tortoise.models import Model


class ChangeKind(enum.Enum):
    ENTERED = "ENTERED"
    EXITED = "EXITED"


class ChangeCause(enum.Enum):
    LISTED = "LISTED"
    UNLISTED = "UNLISTED"
    EXPIRED = "EXPIRED"
    COMPANY = "COMPANY"
    EXCLUDED = "EXCLUDED"
    MEMBER_CHANGED = "MEMBER_CHANGED"
    MEMBER_DELETED = "MEMBER_DELETED"
    RULE_CHANGED = "RULE_CHANGED"
    NESTED = "NESTED"
    TIME = "TIME"
    SEGMENT_DELETED = "SEGMENT_DELETED"


class _MemberArray(fields.Field[list[Any]]):
    """A record row's members, in the order written: an array on PostgreSQL, a JSON array
    (text) on SQLite. Written and read by raw SQL only."""

    SQL_TYPE = "TEXT"
    field_type = list

    def to_python_value(self, value: Any) -> list[Any] | None:
        if isinstance(value, str | bytes):
            loaded: list[Any] = orjson.loads(value)
            return loaded
        return None if value is None else list(value)


class MemberIds(_MemberArray):
    class _db_postgres:
        SQL_TYPE = "BIGINT[]"


class MemberRefs(_MemberArray):
    class _db_postgres:
        SQL_TYPE = "TEXT[]"


class MembershipChange(Model):
    """Changes of one write (up to 4,096): members ``member_refs`` ENTERED or EXITED segment
    ``segment_id`` at ``at``, for ``cause``; ``id`` is the last one's (app.memberships.kept)."""

    # the id of the row's last change; its changes are id - size + 1 .. id, in commit order
    # within a site (writers of a site hold its membership lock to commit)
    id = fields.BigIntField(primary_key=True)
    site_id = fields.BigIntField()
    # no foreign keys: the record outlives a deleted segment or member
    segment_id = fields.BigIntField()
    kind = fields.CharEnumField(ChangeKind, max_length=7)
    cause = fields.CharEnumField(ChangeCause, max_length=15)
    at = fields.DatetimeField()
    size = fields.SmallIntField()
    # the members, in order: their ids, and their external ids (as the API names members,
    # which outlive a deleted member). No index of the row finds a member's rows (one cost
    # each write what the old record did: migration 0015): the member index (MemberRow) is
    # written in the background, and its readers read the rows after its watermark
    member_ids = MemberIds()
    member_refs = MemberRefs()

    class Meta:
        table = "membership_changes"
        # the readers' orders: a site's feed, a segment's
        indexes = (("site_id", "id"), ("segment_id", "id"))


class SegmentRuleMatch(Model):
    """Member ``member_id`` matches the rule of DYNAMIC segment ``segment_id`` (kept, not asked).

    The table's primary key is (segment_id, member_id), and its member index (member_id,
    segment_id): a segment's members and a member's segments are each read from an index
    alone (migration 0019). ``segment_id`` is named as the key for the ORM only, which never
    reads or writes the table (raw SQL does)."""

    segment_id = fields.BigIntField(primary_key=True, generated=False)
    site_id = fields.BigIntField()
    # no foreign keys: a rule edit over a million members writes hundreds of thousands of
    # these, and the two constraint triggers cost three times the insert itself; the
    # writers that delete a segment or members delete their matches (app.memberships.flips)
    member_id = fields.BigIntField()

    class Meta:
        table = "segment_rule_matches"


class SegmentCount(Model):
    """A segment's effective member count and listed company count, kept by every write."""

    id = fields.BigIntField(primary_key=True)
    site_id = fields.BigIntField()
    segment: fields.OneToOneRelation[Any] = fields.OneToOneField(
        "models.Segment", related_name=False, on_delete=fields.CASCADE
    )
    segment_id: int
    member_count = fields.BigIntField(default=0)
    company_count = fields.BigIntField(default=0)

    class Meta:
        table = "segment_counts"


class MembershipSite(Model):
    """One row per site: the lock its membership writers hold, its history's start, the sweep."""

    id = fields.BigIntField(primary_key=True)
    site: fields.OneToOneRelation[Any] = fields.OneToOneField(
        "models.Site", related_name=False, on_delete=fields.CASCADE
    )
    site_id: int
    history_from = fields.DatetimeField()
    # the last sweep: clock-made changes (expiries, days_ago()) are recorded up to it
    swept_at = fields.DatetimeField(null=True)
    # expiries are recorded up to here: writers record those due before their own write
    expired_to = fields.DatetimeField(null=True)

    class Meta:
        table = "membership_sites"


class MemberRow(Model):
    """Member ``member_ref`` (external id) has a change in record row ``row_id`` of site
    ``site_id``: the record's member index, written in the background (app.changes.index) for
    the rows up to the site's ``MemberIndexMark``, never by a write (migration 0017).

    The table has no primary key of its own (a row of N members has N entries): ``row_id`` is
    named as one for the ORM only, which never reads or writes it (raw SQL does). Its indexes:
    (site_id, member_ref) for the readers, and ``row_id`` (BRIN on PostgreSQL: the entries
    are written in the record's order) for the pruning."""

    row_id = fields.BigIntField(primary_key=True, generated=False)
    site_id = fields.BigIntField()
    member_ref = fields.TextField()

    class Meta:
        table = "membership_member_rows"


class MemberIndexMark(Model):
    """How far the member index has indexed a site's record: every row of the site with an id
    up to ``indexed_to`` has its entries; the readers scan the rows after it."""

    site_id = fields.BigIntField(primary_key=True, generated=False)
    indexed_to = fields.BigIntField(default=0)

    class Meta:
        table = "membership_index_marks"


class PruneMark(Model):
    """The last change id of segment ``segment_id`` that the sweeper pruned from site
    ``site_id``'s record (migration 0018): a kept cursor before it may have lost changes
    (membershipChanges says HISTORY_UNAVAILABLE), a webhook's batch past its cursor may too
    (app.webhooks.queue). Written by the pruning only, in the transaction that deletes."""

    id = fields.BigIntField(primary_key=True)
    site_id = fields.BigIntField()
    segment_id = fields.BigIntField()
    pruned_to = fields.BigIntField()

    class Meta:
        table = "membership_prune_marks"
        unique_together = (("site_id", "segment_id"),)
