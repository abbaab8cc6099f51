"""Personas: named sets of segments, each with the options it picks. Create, read, update
(merge), delete; attach and detach segments. Names are unique per site. Attaching and
detaching are audited on the segment; deleting a persona audits a detach on each of its. A
segment a persona uses cannot be deleted (it would widen the persona): detach it first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app.checks import check_description, check_name
from app.errors import DomainError, ErrorCode
from app.events import service as events
from app.events.models import EventKind
from app.ids import by_id, by_id_or_fail, named_pks, refuse_unknown
from app.listing import Listing, containing, related
from app.personas.models import Persona, PersonaOption, PersonaSegment, SegmentOption
from app.segments import service as segments
from app.segments.models import Segment

MAX_PICKED_OPTIONS = 1000


@dataclass
class PersonaData:
    name: str
    description: str | None = None


@dataclass
class Attachment:
    """A segment attached to a persona, with the options it picks (in position order)."""

    segment: Segment
    options: list[SegmentOption] = field(default_factory=list)


def _taken(name: str) -> DomainError:
    return DomainError(
        ErrorCode.ALREADY_EXISTS, f"a persona named {name!r} already exists", ["name"]
    )


async def get(
    *, site_id: int, persona_id: str, connection: BaseDBAsyncClient | None = None
) -> Persona | None:
    """The site's persona with that id; None for an unknown id or another site's."""
    return await by_id(Persona.filter(site_id=site_id), persona_id, connection)


async def get_or_fail(
    *, site_id: int, persona_id: str, field: Sequence[str], connection: BaseDBAsyncClient
) -> Persona:
    """The site's persona with that id; NOT_FOUND at ``field`` for an unknown id."""
    return await by_id_or_fail(
        Persona.filter(site_id=site_id), persona_id, "persona", field, connection
    )


def _listing(site_id: int, search: str | None) -> Any:
    return containing(Persona.filter(site_id=site_id), search, "name", "description")


# the site's personas in name order; search (a filter) looks in names and descriptions
PERSONAS = Listing(_listing, "name")


async def create(*, site_id: int, data: PersonaData) -> Persona:
    """Create a persona with no segment yet (it has no members until one is attached)."""
    name = check_name(data.name, ["name"])
    check_description(data.description, ["description"])
    try:
        async with in_transaction() as tx:
            if await Persona.filter(site_id=site_id, name=name).using_db(tx).exists():
                raise _taken(name)
            persona = await Persona.create(
                using_db=tx, site_id=site_id, name=name, description=data.description
            )
    except IntegrityError as exc:  # a concurrent create won the name
        raise _taken(name) from exc
    return persona


async def update(*, site_id: int, persona_id: str, changes: dict[str, Any]) -> Persona:
    """Merge changes into a persona: absent keys stay; description may be cleared."""
    unknown = set(changes) - {"name", "description"}
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    if "name" in changes:
        if changes["name"] is None:
            raise DomainError(ErrorCode.INVALID, "name cannot be null", ["name"])
        changes["name"] = check_name(changes["name"], ["name"])
    if "description" in changes:
        check_description(changes["description"], ["description"])
    try:
        async with in_transaction() as tx:
            persona = await get_or_fail(
                site_id=site_id, persona_id=persona_id, field=["id"], connection=tx
            )
            if "name" in changes:
                others = Persona.filter(site_id=site_id, name=changes["name"]).exclude(
                    id=persona.id
                )
                if await others.using_db(tx).exists():
                    raise _taken(changes["name"])
            for key, value in changes.items():
                setattr(persona, key, value)
            await persona.save(using_db=tx)
    except IntegrityError as exc:
        raise _taken(str(changes.get("name"))) from exc
    return persona


async def delete(*, site_id: int, actor: str, persona_id: str) -> int:
    """Delete a persona; its segments stay (each one's trail records the detach)."""
    async with in_transaction() as tx:
        persona = await get_or_fail(
            site_id=site_id, persona_id=persona_id, field=["id"], connection=tx
        )
        attached: list[Any] = await (
            PersonaSegment.filter(persona_id=persona.id)
            .using_db(tx)
            .order_by("segment_id")
            .values_list("segment_id", flat=True)
        )
        pk: int = persona.id
        await persona.delete(using_db=tx)
        for segment_pk in attached:
            await _audit(
                tx, site_id, actor, int(segment_pk), EventKind.PERSONA_DETACHED, _detached(persona)
            )
    return pk


async def _audit(
    tx: BaseDBAsyncClient,
    site_id: int,
    actor: str,
    segment_pk: int,
    kind: EventKind,
    changes: dict[str, Any],
) -> None:
    await events.record(
        tx, site_id=site_id, segment_id=segment_pk, kind=kind, actor=actor, changes=changes
    )


def _detached(persona: Persona) -> dict[str, Any]:
    return {"persona": {"before": persona.name, "after": None}}


async def _picked(
    tx: BaseDBAsyncClient, site_id: int, segment_pk: int, option_ids: Sequence[str]
) -> list[SegmentOption]:
    """The options the ids name, in position order: another site's or unknown ids are
    NOT_FOUND, an option of another segment INVALID."""
    path = ["option_ids"]
    pks = named_pks(option_ids, limit=MAX_PICKED_OPTIONS, noun="options", field=path)
    wanted = [pk for pk in pks.values() if pk is not None]
    found: list[SegmentOption] = []
    if wanted:
        found = await (
            SegmentOption.filter(site_id=site_id, id__in=wanted)
            .using_db(tx)
            .order_by("position", "id")
        )
    refuse_unknown(pks, {o.id for o in found}, "option", path)
    foreign = [o for o in found if o.segment_id != segment_pk]
    if foreign:
        raise DomainError(
            ErrorCode.INVALID,
            "options of another segment cannot be picked: "
            + ", ".join(repr(o.label) for o in foreign[:10]),
            path,
        )
    return found


async def attach(
    *, site_id: int, actor: str, persona_id: str, segment_id: str, option_ids: Sequence[str]
) -> Persona:
    """Attach a segment to a persona with the options it picks; attaching again replaces
    the options picked before."""
    try:
        async with in_transaction() as tx:
            persona = await get_or_fail(
                site_id=site_id, persona_id=persona_id, field=["persona_id"], connection=tx
            )
            segment = await segments.get_or_fail(
                site_id=site_id, segment_id=segment_id, field=["segment_id"], connection=tx
            )
            picked = await _picked(tx, site_id, segment.id, option_ids)
            link = (
                await PersonaSegment.filter(persona_id=persona.id, segment_id=segment.id)
                .using_db(tx)
                .first()
            )
            before: list[str] | None = None
            new = link is None
            if link is None:
                link = await PersonaSegment.create(
                    using_db=tx, site_id=site_id, persona_id=persona.id, segment_id=segment.id
                )
            else:
                before = [
                    str(label)
                    for label in await SegmentOption.filter(
                        id__in=await PersonaOption.filter(attachment_id=link.id)
                        .using_db(tx)
                        .values_list("option_id", flat=True)
                    )
                    .using_db(tx)
                    .order_by("position", "id")
                    .values_list("label", flat=True)
                ]
                await PersonaOption.filter(attachment_id=link.id).using_db(tx).delete()
            if picked:
                await PersonaOption.bulk_create(
                    [
                        PersonaOption(site_id=site_id, attachment_id=link.id, option_id=o.id)
                        for o in picked
                    ],
                    using_db=tx,
                )
            await persona.save(using_db=tx)
            changes = {
                "persona": {"before": None if new else persona.name, "after": persona.name},
                "options": {"before": before, "after": [o.label for o in picked]},
            }
            await _audit(tx, site_id, actor, segment.id, EventKind.PERSONA_ATTACHED, changes)
    except IntegrityError as exc:  # the segment or an option deleted meanwhile
        raise DomainError(
            ErrorCode.CONFLICT,
            "the segment or an option was deleted while the persona was saved; try again",
            [],  # the whole input
        ) from exc
    return persona


async def detach(*, site_id: int, actor: str, persona_id: str, segment_id: str) -> Persona:
    """Detach a segment from a persona (with its picked options); NOT_FOUND when the
    segment is not attached."""
    async with in_transaction() as tx:
        persona = await get_or_fail(
            site_id=site_id, persona_id=persona_id, field=["persona_id"], connection=tx
        )
        segment = await segments.get_or_fail(
            site_id=site_id, segment_id=segment_id, field=["segment_id"], connection=tx
        )
        removed = (
            await PersonaSegment.filter(persona_id=persona.id, segment_id=segment.id)
            .using_db(tx)
            .delete()
        )
        if not removed:
            raise DomainError(
                ErrorCode.NOT_FOUND,
                f"segment {segment.name!r} is not attached to persona {persona.name!r}",
                ["segment_id"],
            )
        await persona.save(using_db=tx)
        await _audit(tx, site_id, actor, segment.id, EventKind.PERSONA_DETACHED, _detached(persona))
    return persona


# the personas a refused segment delete names in its message; the rest are counted
NAMED_PERSONAS = 10


async def refuse_segment_delete(tx: BaseDBAsyncClient, site_id: int, segment_pk: int) -> None:
    """In a segment's delete transaction: CONFLICT (naming them) while personas use the
    segment. A persona's members are those of every attached segment: losing one would
    quietly widen it, so the segment is detached first, as the persona's owner decides.

    The segment's row is locked first (on PostgreSQL): an attach racing with the delete either
    committed before, and is seen here, or waits for the delete and then finds no segment (its
    foreign key)."""
    segment = (
        await Segment.filter(site_id=site_id, id=segment_pk)
        .using_db(tx)
        .select_for_update()
        .first()
    )
    if segment is None:
        return
    persona_pks: list[Any] = await (
        PersonaSegment.filter(site_id=site_id, segment_id=segment_pk)
        .using_db(tx)
        .values_list("persona_id", flat=True)
    )
    if not persona_pks:
        return
    names: list[Any] = await (
        Persona.filter(site_id=site_id, id__in=persona_pks)
        .using_db(tx)
        .order_by("name")
        .values_list("name", flat=True)
    )
    listed = ", ".join(repr(str(n)) for n in names[:NAMED_PERSONAS])
    if len(names) > NAMED_PERSONAS:
        listed += f" and {len(names) - NAMED_PERSONAS} more"
    one = len(names) == 1
    raise DomainError(
        ErrorCode.CONFLICT,
        f"segment {segment.name!r} cannot be deleted: {'persona' if one else 'personas'}"
        f" {listed} {'uses' if one else 'use'} it (a persona's members are in every one of its"
        f" segments); detach it from {'that persona' if one else 'them'} first",
        ["id"],
    )


segments.deleted_listeners.append(refuse_segment_delete)


async def attachments_of(
    *, site_id: int, persona_pks: Sequence[int]
) -> dict[int, list[Attachment]]:
    """Each persona's segments (in name order) with their picked options: three statements
    for any number of personas."""
    found: dict[int, list[Attachment]] = {pk: [] for pk in persona_pks}
    links = await PersonaSegment.filter(
        site_id=site_id, persona_id__in=list(persona_pks)
    ).values_list("id", "persona_id", "segment_id")
    if not links:
        return found
    rows: list[Segment] = await Segment.filter(
        site_id=site_id, id__in=list({int(s) for _, _, s in links})
    ).order_by("name")
    picks = await PersonaOption.filter(
        site_id=site_id, attachment_id__in=[int(i) for i, _, _ in links]
    ).values_list("attachment_id", "option_id")
    options: dict[int, SegmentOption] = {}
    if picks:
        chosen: list[SegmentOption] = await SegmentOption.filter(
            site_id=site_id, id__in=list({int(o) for _, o in picks})
        ).order_by("position", "id")
        options = {o.id: o for o in chosen}
    picked_by: dict[int, set[int]] = {}
    for attachment_pk, option_pk in picks:
        picked_by.setdefault(int(attachment_pk), set()).add(int(option_pk))
    by_segment: dict[int, list[tuple[int, int]]] = {}
    for attachment_pk, persona_pk, segment_pk in links:
        by_segment.setdefault(int(segment_pk), []).append((int(persona_pk), int(attachment_pk)))
    for segment in rows:
        for persona_pk, attachment_pk in by_segment.get(segment.id, []):
            wanted = picked_by.get(attachment_pk, set())
            found[persona_pk].append(
                Attachment(segment, [o for pk, o in options.items() if pk in wanted])
            )
    return found


async def segments_of(*, site_id: int, persona_pks: Sequence[int]) -> dict[int, list[int]]:
    """The pks of each persona's attached segments: one statement."""
    links = await PersonaSegment.filter(
        site_id=site_id, persona_id__in=list(persona_pks)
    ).values_list("persona_id", "segment_id")
    found: dict[int, list[int]] = {pk: [] for pk in persona_pks}
    for persona_pk, segment_pk in links:
        found[int(persona_pk)].append(int(segment_pk))
    return found


async def personas_of_segments(
    *, site_id: int, segment_pks: Sequence[int]
) -> dict[int, list[Persona]]:
    """The personas each segment is attached to, in name order; two statements."""
    links = await PersonaSegment.filter(
        site_id=site_id, segment_id__in=list(segment_pks)
    ).values_list("segment_id", "persona_id")
    return await related(segment_pks, links, Persona.filter(site_id=site_id).order_by("name"))
