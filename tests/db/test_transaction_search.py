"""Case-insensitive filters (``__icontains``, ``__iexact``) ignore case in every script inside a
transaction as outside one, on SQLite as on PostgreSQL.

SQLite's own upper() and lower() change ASCII letters only, so app.db's SQLite client builds
these filters with ``UNICODE_LOWER``. A model's field filters are built once, from that client;
a filter on an annotation is built at each query from the executor of the connection in use,
which inside a transaction is the transaction's (a wrapper class of Tortoise's own, that would
build it with the ASCII-only upper())."""

from __future__ import annotations

from typing import Any

import pytest
from tortoise.functions import Trim
from tortoise.transactions import in_transaction

from app.auth.service import create_site
from app.listing import containing
from app.personas.models import Persona


async def _site() -> int:
    """A site with two personas, one named with non-ASCII letters."""
    site = await create_site(slug="unicode-tx")
    await Persona.create(site_id=site.id, name="Ærø Ünïcode")
    await Persona.create(site_id=site.id, name="Aero Unicode")
    return int(site.id)


async def _names(query: Any) -> list[str]:
    return [str(n) for n in await query.order_by("name").values_list("name", flat=True)]


async def _three_ways(make: Any) -> tuple[list[str], list[str], list[str]]:
    """The names a query finds outside a transaction, inside one, and inside a nested one."""
    outside = await _names(make())
    async with in_transaction():
        inside = await _names(make())
        async with in_transaction():
            nested = await _names(make())
    return outside, inside, nested


@pytest.mark.parametrize("search", ["ærø ü", "ÆRØ Ü"])
async def test_a_search_ignores_non_ascii_case_in_a_transaction(db: None, search: str) -> None:
    # given personas named "Ærø Ünïcode" and "Aero Unicode"
    site_id = await _site()

    # when they are searched with non-ASCII letters in another case, on a field (as the
    # listings search) and on an annotation, outside and inside transactions
    def on_field() -> Any:
        return containing(Persona.filter(site_id=site_id), search, "name", "description")

    def on_annotation() -> Any:
        annotated = Persona.filter(site_id=site_id).annotate(trimmed=Trim("name"))
        return annotated.filter(trimmed__icontains=search)

    # then each finds that one persona, as PostgreSQL's lower() would
    for make in (on_field, on_annotation):
        assert await _three_ways(make) == (["Ærø Ünïcode"],) * 3, make.__name__


async def test_iexact_ignores_non_ascii_case_in_a_transaction(db: None) -> None:
    site_id = await _site()

    def on_field() -> Any:
        return Persona.filter(site_id=site_id, name__iexact="ærø ÜNÏCODE")

    def on_annotation() -> Any:
        annotated = Persona.filter(site_id=site_id).annotate(trimmed=Trim("name"))
        return annotated.filter(trimmed__iexact="ærø ÜNÏCODE")

    for make in (on_field, on_annotation):
        assert await _three_ways(make) == (["Ærø Ünïcode"],) * 3, make.__name__
