"""The GraphQL names of the memberships' enums (their inputs and payloads are in
app.segments.membership_mutations, beside the segment they return)."""

from __future__ import annotations

import strawberry

from app.memberships.bulk import Mode

MembershipMode = strawberry.enum(Mode, name="MembershipMode")
