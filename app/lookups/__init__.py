"""Lookups: isMember, memberSegments, membershipsOf, explainMembership; and the plans for
hot documents (app.lookups.plans), which the HTTP layer asks before the executor."""
