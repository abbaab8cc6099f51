"""What the seed modules share: the plan of a seed, its column orders and constants."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CHUNK = 100_000
YEAR = 365 * 24 * 3600

Row = tuple[Any, ...]

# Column orders, shared by both backends.
COMPANY_COLUMNS = (
    "id",
    "site_id",
    "external_id",
    "name",
    "plan",
    "attributes",
    "created_at",
    "updated_at",
)
MEMBER_COLUMNS = (
    "id",
    "site_id",
    "external_id",
    "email",
    "name",
    "company_id",
    "attributes",
    "bucket",
    "created_at",
    "updated_at",
)
SEGMENT_COLUMNS = (
    "id",
    "site_id",
    "name",
    "description",
    "type",
    "is_active",
    "starts_at",
    "ends_at",
    "rule",
    "rule_ast",
    "salt",
    "created_at",
    "updated_at",
)
SEGMENT_MEMBER_COLUMNS = (
    "id",
    "site_id",
    "segment_id",
    "member_id",
    "source",
    "added_at",
    "expires_at",
)
SEGMENT_COMPANY_COLUMNS = ("id", "site_id", "segment_id", "company_id", "added_at")
SEGMENT_EXCLUSION_COLUMNS = ("id", "site_id", "segment_id", "member_id", "added_at")

# Tables in load order, with their columns.
TABLES: dict[str, tuple[str, ...]] = {
    "companies": COMPANY_COLUMNS,
    "members": MEMBER_COLUMNS,
    "segments": SEGMENT_COLUMNS,
    "segment_members": SEGMENT_MEMBER_COLUMNS,
    "segment_companies": SEGMENT_COMPANY_COLUMNS,
    "segment_exclusions": SEGMENT_EXCLUSION_COLUMNS,
}
# Loaded with secondary indexes and constraints dropped, then rebuilt (PostgreSQL).
BIG_TABLES = ("members", "segment_members")

TIERS = ("bronze", "silver", "gold", "platinum")
TIER_WEIGHTS = (50, 30, 15, 5)
PLANS = ("free", "pro", "enterprise")
PLAN_WEIGHTS = (60, 30, 10)
COUNTRIES = (
    "US", "DE", "FR", "GB", "NL", "ES", "IT", "SE", "PL", "CA",
    "BR", "JP", "IN", "AU", "CH", "AT", "BE", "DK", "NO", "IE",
)  # fmt: skip
COUNTRY_WEIGHTS = (25, 14, 9, 9, 6, 5, 5, 3, 3, 4, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1)
TAGS = (
    "vip", "newsletter", "churn-risk", "early-adopter", "mobile", "desktop",
    "trial", "partner", "beta-tester", "support-heavy", "referrer", "reseller",
)  # fmt: skip
FIRST_NAMES = (
    "Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken",
    "Frances", "Edsger", "Radia", "Tim", "Hedy", "Donald", "Sophie", "John",
    "Katherine", "Guido", "Anita", "Bjarne", "Mary", "Niklaus", "Lena", "Yukihiro",
)  # fmt: skip
LAST_NAMES = (
    "Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov",
    "Thompson", "Allen", "Dijkstra", "Perlman", "Berners-Lee", "Lamarr", "Knuth",
    "Wilson", "McCarthy", "Johnson", "van Rossum", "Borg", "Stroustrup", "Keller",
    "Wirth", "Müller", "Matsumoto",
)  # fmt: skip
DOMAINS = ("example.com", "example.org", "mail.test", "acme.io", "globex.dev", "initech.net")
DOMAIN_WEIGHTS = (40, 15, 15, 10, 10, 10)
INDUSTRIES = (
    "software", "retail", "finance", "health", "education", "logistics",
    "media", "manufacturing", "travel", "energy",
)  # fmt: skip
COMPANY_WORDS = (
    "Blue", "Harbor", "Northwind", "Vertex", "Quantum", "Summit", "Pioneer", "Cedar",
    "Atlas", "Nimbus", "Orbit", "Falcon", "Granite", "Maple", "Aurora", "Delta",
)  # fmt: skip
COMPANY_SUFFIXES = ("Ltd", "GmbH", "Inc", "LLC", "SA", "BV", "AB", "Co")


class SeedError(Exception):
    """The seeder cannot do what was asked (bad arguments, a database holding other data)."""


@dataclass(frozen=True)
class Plan:
    members: int
    companies: int
    segments: int
    dynamic: int
    memberships: int
    site: str
    seed: int

    @property
    def member_width(self) -> int:
        return max(7, len(str(self.members)))

    @property
    def company_width(self) -> int:
        return max(6, len(str(self.companies)))

    @property
    def segment_width(self) -> int:
        return max(4, len(str(self.segments)))


def member_external_id(i: int, members: int = 1_000_000) -> str:
    """The external id of the i-th member (1-based) of a seed of ``members`` members."""
    return f"m{i:0{max(7, len(str(members)))}d}"


def company_external_id(i: int, companies: int = 10_000) -> str:
    return f"c{i:0{max(6, len(str(companies)))}d}"


def segment_name(i: int, segments: int = 1_000) -> str:
    return f"segment-{i:0{max(4, len(str(segments)))}d}"
