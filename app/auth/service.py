"""Sites and API keys: creation, verification and revocation.

Keys are shown once and stored as a SHA-256 hash; the first characters are kept
as a prefix so that an admin can tell keys apart.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from datetime import UTC, datetime, timedelta

from tortoise.transactions import in_transaction

from app.auth.models import ApiKey, Role, Site
from app.errors import DomainError, ErrorCode, not_found
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
    if await Site.filter(slug=slug).exists():
        raise DomainError(ErrorCode.ALREADY_EXISTS, f"site {slug!r} already exists")
    return await Site.create(slug=slug, name=name or slug)


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


async def revoke_key(*, site_id: int, key_id: int) -> ApiKey:
    async with in_transaction():
        key = await ApiKey.filter(site_id=site_id, id=key_id).first()
        if key is None:
            raise not_found("API key", str(key_id), ["id"])
        if key.revoked_at is None:
            key.revoked_at = datetime.now(UTC)
            await key.save(update_fields=["revoked_at"])
    _cache.pop_key(key.key_hash)
    return key


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

    def clear(self) -> None:
        self._entries.clear()


_cache = _KeyCache()


def clear_key_cache() -> None:
    _cache.clear()


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
