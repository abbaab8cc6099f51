"""Who is calling: a key's role and the Viewer it makes. Below every domain and the GraphQL
base, so that both can name the caller without importing each other."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypedDict


class Role(enum.Enum):
    ADMIN = "ADMIN"
    WRITER = "WRITER"
    READER = "READER"

    @property
    def rank(self) -> int:
        return {"READER": 1, "WRITER": 2, "ADMIN": 3}[self.value]


@dataclass(frozen=True)
class Viewer:
    """Who is calling: the key's site, name and role."""

    site_id: int
    site_name: str
    key_id: int
    key_name: str
    role: Role

    def can(self, role: Role) -> bool:
        return self.role.rank >= role.rank


class Acting(TypedDict):
    """Who a service's write is for and by: the caller's site and key name."""

    site_id: int
    actor: str
