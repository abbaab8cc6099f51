"""Membership as data: every change of a segment's effective membership is a row.

The shape of it (issue 14; the design's "Membership as data"):

- ``membership_changes`` (``MembershipChange``) is the record and the outbox: member M ENTERED
  or EXITED segment S at T, with its cause, written in the same transaction as the write that
  causes it. Its ``id`` is the order the changes committed in, within a site: every writer of a
  site's membership holds that site's membership lock (a row of ``membership_sites``, locked
  ``FOR UPDATE`` on PostgreSQL; SQLite has one writer at a time) from its first kept write to
  its commit, so a consumer that keeps the last id it read resumes with no gap and no repeat.
  ``segment_id`` and ``member_id`` carry no foreign key (the record outlives a deleted segment
  or member); ``member_ref`` is the member's external id, as the API names members.
- ``segment_rule_matches`` (``SegmentRuleMatch``) keeps the members a DYNAMIC segment's rule
  matches, written by the same writes (member and company upserts, imports, rule edits, nested
  segments) and by the sweeper for the clock (``days_ago()``). The lookups read these rows
  instead of evaluating rules when asked.
- ``segment_counts`` (``SegmentCount``) keeps each segment's effective member count and listed
  company count, moved by the same writes by (entered - exited): ``memberCount`` reads it.
- ``membership_sites`` (``MembershipSite``) is the per-site lock row, the moment the site's
  history starts (``history_from``: an ``at`` before it, or before the retained history, is
  refused with HISTORY_UNAVAILABLE) and the sweeper's watermark (``swept_at``).
"""
