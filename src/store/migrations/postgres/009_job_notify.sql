-- New work is announced (issue 13): a statement that leaves a job pending and due now (or within a
-- second: the writer's clock may run ahead of the database's) sends NOTIFY kitrelay_jobs with the
-- schema as payload, from inside its transaction, so listeners hear it at COMMIT and never before
-- the job is visible. A trigger rather than a call in each store method: every path that makes a
-- job runnable (ingest, polled and internal events, digests, replays, clones, released jobs) is
-- covered, including ones added later. PostgreSQL folds identical notifications of one transaction
-- into one, so a delivery with 50 jobs wakes each listener once. A job retried later (run_at in the
-- future) is found by polling, as before.
CREATE FUNCTION jobs_notify_runnable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.run_at <= (extract(epoch FROM clock_timestamp()) * 1000)::bigint + 1000 THEN
    PERFORM pg_notify('kitrelay_jobs', current_schema());
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER jobs_notify_runnable AFTER INSERT OR UPDATE OF status, run_at ON jobs
  FOR EACH ROW WHEN (NEW.status = 'pending') EXECUTE FUNCTION jobs_notify_runnable();
