-- A claim in one round trip (issue 13's queue benchmark): the steps queue-claim.ts took as nine
-- statements in a transaction (BEGIN, the destination's claim lock, the count of running calls, the
-- candidates, the stream try-locks, the stream re-check, the lease, COMMIT) run here, in one
-- statement, with the reclaim of lost leases. The rules are queue-claim.ts's file comment,
-- unchanged. A VOLATILE plpgsql function under READ COMMITTED takes a new snapshot for each
-- statement in it, so each check below still sees everything committed before the lock taken ahead
-- of it: the count after the claim lock, the re-check after the stream locks. The advisory locks
-- are transaction-level: held until the statement's own transaction ends.
--
-- Returns the jobs it leased, to `p_worker` until `p_lease_expires_at`, in the statement's own
-- transaction: nothing is left half done between round trips. A lost lease is reclaimed here too
-- (its audit record written, with the idempotency key `<p_store_id>-<job id>`). Batch actions
-- (p_batch_actions, most jobs a call carries in p_batch_sizes) count their running jobs as
-- ceil(jobs / size) calls against p_max_running (NULL: no cap), as rows.ts `runningCalls`.
CREATE FUNCTION claim_jobs(
  p_destination text, p_now bigint, p_limit int, p_max_running int,
  p_batch_actions text[], p_batch_sizes int[], p_worker text, p_lease_expires_at bigint, p_store_id text
) RETURNS SETOF jobs LANGUAGE plpgsql AS $$
DECLARE
  v_limit int := p_limit;
  v_running int;
  v_candidates bigint[];
  v_held bigint[];
  v_fresh bigint[];
  v_lost bigint[];
BEGIN
  IF p_max_running IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock(7242032, hashtext(current_schema() || ':' || p_destination));
    SELECT coalesce(sum(ceil(r.n::numeric / greatest(coalesce(b.size, 1), 1))), 0)::int INTO v_running
    FROM (SELECT action, count(*) AS n FROM jobs
          WHERE destination = p_destination AND status = 'running' AND lease_expires_at > p_now GROUP BY action) AS r
    LEFT JOIN unnest(p_batch_actions, p_batch_sizes) AS b(action, size) ON b.action = r.action;
    v_limit := least(v_limit, p_max_running - v_running);
  END IF;
  IF v_limit <= 0 THEN RETURN; END IF;

  -- The destination's active jobs in id order (partial index jobs_active), none while it is paused.
  SELECT array_agg(c.id ORDER BY c.id) INTO v_candidates FROM (
    SELECT j.id FROM jobs AS j
    WHERE j.destination = p_destination AND j.status IN ('pending', 'running')
      AND ((j.status = 'pending' AND j.run_at <= p_now) OR (j.status = 'running' AND j.lease_expires_at <= p_now))
      AND NOT EXISTS (SELECT 1 FROM destination_state AS d WHERE d.destination = p_destination AND d.paused_at IS NOT NULL)
      AND (j.subscriber_key IS NULL OR NOT EXISTS (
        SELECT 1 FROM jobs AS other
        WHERE other.destination = j.destination AND other.subscriber_key = j.subscriber_key
          AND other.sub_key IS NOT DISTINCT FROM j.sub_key
          AND other.status IN ('pending', 'running') AND other.id <> j.id
          AND (other.status = 'running' OR (j.status = 'pending' AND other.id < j.id))))
    ORDER BY j.id
    LIMIT v_limit
    FOR UPDATE OF j SKIP LOCKED) AS c;
  IF v_candidates IS NULL THEN RETURN; END IF;

  -- A stream another claim is deciding is skipped, never waited on. The key is the text of
  -- JSON.stringify([destination, subscriber_key, sub_key]), as queue-claim.ts made it before.
  SELECT array_agg(j.id) INTO v_held FROM jobs AS j
  WHERE j.id = ANY (v_candidates)
    AND CASE WHEN j.subscriber_key IS NULL THEN true
        ELSE pg_try_advisory_xact_lock(7242031, hashtext(current_schema() || ':' || '[' || to_json(j.destination)::text || ','
               || to_json(j.subscriber_key)::text || ',' || coalesce(to_json(j.sub_key)::text, 'null') || ']')) END;
  IF v_held IS NULL THEN RETURN; END IF;

  -- A new statement, so a new snapshot, taken after the stream locks: still first in its stream?
  SELECT array_agg(j.id) FILTER (WHERE j.status = 'pending'), array_agg(j.id) FILTER (WHERE j.status = 'running')
  INTO v_fresh, v_lost
  FROM jobs AS j
  WHERE j.id = ANY (v_held)
    AND (j.subscriber_key IS NULL OR NOT EXISTS (
      SELECT 1 FROM jobs AS other
      WHERE other.destination = j.destination AND other.subscriber_key = j.subscriber_key
        AND other.sub_key IS NOT DISTINCT FROM j.sub_key
        AND other.status IN ('pending', 'running') AND other.id <> j.id
        AND (other.status = 'running' OR (j.status = 'pending' AND other.id < j.id))));

  -- A job whose worker vanished mid-attempt: its audit record says the outcome is unknown (the
  -- destination may have acted; the job's last update was its claim, the closest known start), then
  -- it is leased again, or goes dead if that was its last attempt (queue-claim.ts LOST_LEASE_ERROR).
  IF v_lost IS NOT NULL THEN
    INSERT INTO attempts (job_id, attempt, event_id, destination, action, subscriber_key, subscriber_id, email,
      worker_id, started_at, finished_at, duration_ms, outcome, error, correlation, is_shadow)
    SELECT j.id, j.attempts + 1, j.event_id, j.destination, j.action, j.subscriber_key, j.subscriber_id, j.email,
      coalesce(j.lease_owner, ''), j.updated_at, p_now, p_now - j.updated_at, 'unknown', 'lease expired: the worker stopped mid-attempt',
      json_build_object('idempotencyKey', p_store_id || '-' || j.id)::text, 0
    FROM jobs AS j WHERE j.id = ANY (v_lost);
    UPDATE jobs SET status = 'dead', attempts = attempts + 1, lease_owner = NULL, lease_expires_at = NULL,
      last_error = 'lease expired: the worker stopped mid-attempt', finished_at = p_now, updated_at = p_now
    WHERE id = ANY (v_lost) AND attempts + 1 >= max_attempts;
  END IF;

  RETURN QUERY
    UPDATE jobs SET status = 'running', lease_owner = p_worker, lease_expires_at = p_lease_expires_at, updated_at = p_now,
      attempts = attempts + CASE WHEN status = 'running' THEN 1 ELSE 0 END
    WHERE (id = ANY (v_fresh) OR id = ANY (v_lost)) AND status IN ('pending', 'running')
    RETURNING jobs.*;
END
$$;
