-- Membership for PostGraphile, as plain SQL functions (bench/postgraphile.py installs them in
-- their own schema, bench_postgraphile, which PostGraphile exposes beside public).
-- They cover what SQL alone gives: listed members whose listing has not expired, plus the
-- members of listed companies, minus exclusions, for active segments. They do NOT cover
-- DYNAMIC rules (the service compiles those from its rule language), nor starts_at/ends_at.
CREATE SCHEMA IF NOT EXISTS bench_postgraphile;

DROP TYPE IF EXISTS bench_postgraphile.membership CASCADE;
CREATE TYPE bench_postgraphile.membership AS (member_id text, segment_id bigint);

CREATE OR REPLACE FUNCTION bench_postgraphile.is_member(site bigint, segment bigint, member text)
RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT EXISTS (
    SELECT 1 FROM members m
     WHERE m.site_id = site AND m.external_id = member
       AND (EXISTS (SELECT 1 FROM segment_members sm
                     WHERE sm.segment_id = segment AND sm.member_id = m.id
                       AND (sm.expires_at IS NULL OR sm.expires_at > now()))
            OR EXISTS (SELECT 1 FROM segment_companies sc
                        WHERE sc.segment_id = segment AND sc.company_id = m.company_id))
       AND NOT EXISTS (SELECT 1 FROM segment_exclusions x
                        WHERE x.segment_id = segment AND x.member_id = m.id))
$$;

CREATE OR REPLACE FUNCTION bench_postgraphile.memberships_of(site bigint, members text[])
RETURNS SETOF bench_postgraphile.membership LANGUAGE sql STABLE AS $$
  SELECT e.external_id::text, e.segment_id FROM (
    SELECT m.id, m.external_id, sm.segment_id FROM members m
      JOIN segment_members sm ON sm.member_id = m.id
     WHERE m.site_id = site AND m.external_id = ANY(members)
       AND (sm.expires_at IS NULL OR sm.expires_at > now())
    UNION
    SELECT m.id, m.external_id, sc.segment_id FROM members m
      JOIN segment_companies sc ON sc.company_id = m.company_id
     WHERE m.site_id = site AND m.external_id = ANY(members)) e
  JOIN segments s ON s.id = e.segment_id AND s.is_active AND s.archived_at IS NULL
  WHERE NOT EXISTS (SELECT 1 FROM segment_exclusions x
                     WHERE x.segment_id = e.segment_id AND x.member_id = e.id)
  ORDER BY e.segment_id
$$;

CREATE OR REPLACE FUNCTION bench_postgraphile.member_segments(site bigint, member text)
RETURNS SETOF segments LANGUAGE sql STABLE AS $$
  SELECT s.* FROM segments s
   WHERE s.id IN (SELECT segment_id FROM bench_postgraphile.memberships_of(site, ARRAY[member]))
   ORDER BY s.id
$$;
