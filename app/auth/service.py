"""Sites and API keys: creation, verification and revocation.

Keys are shown once and stored as a SHA-256 hash; the first characters are kept
as a prefix so that an admin can tell keys apart.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from tortoise.transactions import in_transaction

from app.auth.models import ApiKey, Role, Site
from app.errors import DomainError, ErrorCode, not_found
from app.live.broker import broker
from app.viewer import Viewer

KEY_PREFIX = "seg_"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_LAST_USED_EVERY = timedelta(minutes=1)


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


async def create_site(*, slug: str, name: str | None = None) -> Site:
    if not _SLUG.match(slug):
        raise DomainError(
            ErrorCode.INVALID,
            "slug must be 1-64 of a-z, 0-9 and '-', starting with a letter or digit",
        )
    name = (name or "").strip() or slug
    if len(name) > 200:  # the column's size
        raise DomainError(ErrorCode.INVALID, "site name must be 1 to 200 characters", ["name"])
    if await Site.filter(slug=slug).exists():
        raise DomainError(ErrorCode.ALREADY_EXISTS, f"site {slug!r} already exists")
    return await Site.create(slug=slug, name=name)


async def get_site_by_slug(slug: str) -> Site:
    site = await Site.get_or_none(slug=slug)
    if site is None:
        raise not_found("site", slug)
    return site


async def create_key(*, site_id: int, name: str, role: Role) -> tuple[ApiKey, str]:
    """Make a key for the site; returns the row and the secret (shown once)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise DomainError(ErrorCode.INVALID, "key name must be 1 to 100 characters", ["name"])
    secret = _new_secret()
    key = await ApiKey.create(
        site_id=site_id, name=name, role=role, prefix=secret[:12], key_hash=hash_key(secret)
    )
    return key, secret


async def list_keys(*, site_id: int) -> list[ApiKey]:
    return await ApiKey.filter(site_id=site_id).order_by("id")


KEY_REVOKED = "key_revoked"  # the live topic every process hears a revocation on


async def revoke_key(*, site_id: int, key_id: int) -> ApiKey:
    """Revoke a key: refused at once by this process (HTTP and its open WebSockets, which
    are closed), and by the others as soon as they hear of it: at once on PostgreSQL
    (NOTIFY at commit), within KEY_CACHE_SECONDS otherwise."""
    async with in_transaction() as tx:
        key = await ApiKey.filter(site_id=site_id, id=key_id).first()
        if key is None:
            raise not_found("API key", str(key_id), ["id"])
        if key.revoked_at is None:
            key.revoked_at = datetime.now(UTC)
            await key.save(update_fields=["revoked_at"], using_db=tx)
            await broker.publish(
                topic=KEY_REVOKED, site_id=site_id, payload={"id": key.id}, connection=tx
            )
    await forget_key(key.id)
    return key


# what else must forget a revoked key at once (the open WebSocket sessions)
revocation_listeners: list[Callable[[int], Awaitable[None]]] = []


_revoked_ids: set[int] = set()


def is_revoked(key_id: int) -> bool:
    """Whether this process has heard that the key was revoked (a signed-in WebSocket asks
    before each operation)."""
    return key_id in _revoked_ids


async def forget_key(key_id: int) -> None:
    """A key was revoked (here or in another process): trust it no more."""
    _revoked_ids.add(key_id)
    _cache.pop_key_id(key_id)
    for listener in revocation_listeners:
        await listener(key_id)


class _KeyCache:
    """Verified keys, trusted for a few seconds, so a hot lookup path costs no key query."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, Viewer]] = {}

    def get(self, key_hash: str, ttl: float) -> Viewer | None:
        hit = self._entries.get(key_hash)
        if hit is None or time.monotonic() - hit[0] > ttl:
            return None
        return hit[1]

    def put(self, key_hash: str, viewer: Viewer) -> None:
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[key_hash] = (time.monotonic(), viewer)

    def pop_key(self, key_hash: str) -> None:
        self._entries.pop(key_hash, None)

    def pop_key_id(self, key_id: int) -> None:
        for key_hash, (_, viewer) in list(self._entries.items()):
            if viewer.key_id == key_id:
                del self._entries[key_hash]

    def clear(self) -> None:
        self._entries.clear()


_cache = _KeyCache()


def clear_key_cache() -> None:
    """Forget every verified key and every revocation heard (tests reuse key ids)."""
    _cache.clear()
    _revoked_ids.clear()


async def authenticate(secret: str, *, cache_seconds: float = 0.0) -> Viewer | None:
    """The viewer for a bearer secret, or None when it is unknown or revoked."""
    key_hash = hash_key(secret)
    if cache_seconds > 0 and (viewer := _cache.get(key_hash, cache_seconds)) is not None:
        return viewer
    key = await ApiKey.filter(key_hash=key_hash, revoked_at__isnull=True).first()
    if key is None:
        return None
    site = await Site.get(id=key.site_id)
    now = datetime.now(UTC)
    if key.last_used_at is None or now - key.last_used_at > _LAST_USED_EVERY:
        await ApiKey.filter(id=key.id).update(last_used_at=now)
    viewer = Viewer(
        site_id=key.site_id, site_name=site.name, key_id=key.id, key_name=key.name, role=key.role
    )
    if cache_seconds > 0:
        _cache.put(key_hash, viewer)
    return viewer


async def revoked_among(key_ids: list[int]) -> set[int]:
    """The keys of these ids that are revoked (or gone) by now."""
    alive = await ApiKey.filter(id__in=key_ids, revoked_at__isnull=True).values("id")
    return set(key_ids) - {int(row["id"]) for row in alive}
