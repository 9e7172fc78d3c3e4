-- Rate limits every worker process shares (issue 13; queue/rate-limit-shared.ts): one token bucket a
-- destination, and one a destination and sub-key where it limits sub-keys (Slack channels). A row
-- holds the tokens left when it was last touched; a full bucket is the same as no row, so idle rows
-- are deleted (sweep_rate_buckets) and a missing one starts full.
CREATE TABLE rate_buckets (
  key text PRIMARY KEY,
  tokens double precision NOT NULL,
  updated_at bigint NOT NULL,
  per_second double precision NOT NULL,
  burst double precision NOT NULL
);

-- Takes one token from each bucket named, all or none: 0 when taken, else the milliseconds until
-- every one of them holds a whole token (nothing taken). The arithmetic is TokenBucket's
-- (queue/rate-limit.ts): refill at per_second up to burst, forgive float noise of 1e-9, and a clock
-- behind the row's (another host's) refills nothing. Rows are locked in key order, so two takers
-- never deadlock; the upsert locks a row even when a sweep deleted it a moment before.
CREATE FUNCTION take_rate_tokens(p_keys text[], p_per_second double precision[], p_burst double precision[], p_now bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  i int;
  b record;
  refilled double precision;
  wait_ms bigint := 0;
BEGIN
  FOR i IN SELECT s.i FROM generate_subscripts(p_keys, 1) AS s(i) ORDER BY p_keys[s.i] LOOP
    INSERT INTO rate_buckets AS r (key, tokens, updated_at, per_second, burst)
      VALUES (p_keys[i], p_burst[i], p_now, p_per_second[i], p_burst[i])
      ON CONFLICT (key) DO UPDATE SET per_second = excluded.per_second, burst = excluded.burst
      RETURNING r.tokens, r.updated_at INTO b;
    refilled := least(p_burst[i], b.tokens + greatest(0, p_now - b.updated_at) * p_per_second[i] / 1000.0);
    UPDATE rate_buckets SET tokens = refilled, updated_at = greatest(b.updated_at, p_now) WHERE key = p_keys[i];
    IF refilled < 1 - 1e-9 THEN
      wait_ms := greatest(wait_ms, greatest(1, ceil((1 - refilled) * 1000 / p_per_second[i] - 1e-6))::bigint);
    END IF;
  END LOOP;
  IF wait_ms = 0 THEN
    UPDATE rate_buckets SET tokens = greatest(0, tokens - 1) WHERE key = ANY(p_keys);
  END IF;
  RETURN wait_ms;
END
$$;
