-- 009_hot_paths.sql: the same catalogue functions, cheaper on the paths every request takes
-- (found by the benchmark, bench/RESULTS.md).  Behaviour is unchanged.
--
--   outbox_batch, outbox_behind
--       read the consumer's cursor once, as a value (an InitPlan), so the scan of
--       event_outbox starts at the cursor in its (xid, id) index; outbox_behind compares
--       the cursor with the index's last entry.  Joined to the cursor row as before, they
--       read every row of the outbox on each call: a pass of the replicator cost time in
--       proportion to every event ever written.
--   bucket_writable, lock_key_quotas
--       plpgsql, whose plans are kept for the session: as SQL-language functions called
--       from plpgsql they were parsed and planned again on every PUT.

CREATE OR REPLACE FUNCTION outbox_batch(p_consumer text, p_limit integer)
RETURNS TABLE (bucket text, key text, events integer, last_xid xid8, last_id bigint)
LANGUAGE sql STABLE AS $$
	WITH batch AS (
		SELECT e.id, e.xid, e.bucket, e.key
		FROM event_outbox e
		WHERE (e.xid, e.id) >
		      ((SELECT coalesce(max(c.last_xid), '0') FROM outbox_cursors c
		        WHERE c.consumer = p_consumer),
		       (SELECT coalesce(max(c.last_id), 0) FROM outbox_cursors c
		        WHERE c.consumer = p_consumer))
		  AND e.xid < pg_snapshot_xmin(pg_current_snapshot())
		ORDER BY e.xid, e.id
		LIMIT p_limit
	), tail AS (
		SELECT b.xid, b.id, count(*) OVER () AS n FROM batch b
		ORDER BY b.xid DESC, b.id DESC LIMIT 1
	)
	SELECT k.bucket, k.key, t.n::integer, t.xid, t.id
	FROM tail t
	LEFT JOIN (SELECT DISTINCT b.bucket, b.key FROM batch b WHERE b.key <> '') k ON true
	ORDER BY k.bucket, k.key
$$;

-- The outbox's last row in (xid, id) order is after the cursor: read backwards from the end
-- of the index, one row, however long the outbox.
CREATE OR REPLACE FUNCTION outbox_behind(p_consumer text)
RETURNS boolean LANGUAGE sql STABLE AS $$
	SELECT coalesce(
	    (SELECT ROW(e.xid, e.id) FROM event_outbox e ORDER BY e.xid DESC, e.id DESC LIMIT 1) >
	    ROW((SELECT coalesce(max(c.last_xid), '0'::xid8) FROM outbox_cursors c
	         WHERE c.consumer = p_consumer),
	        (SELECT coalesce(max(c.last_id), 0) FROM outbox_cursors c
	         WHERE c.consumer = p_consumer)),
	    false)
$$;

CREATE OR REPLACE FUNCTION bucket_writable(p_bucket text)
RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
	gate bigint;
BEGIN
	SELECT write_gate INTO gate FROM buckets WHERE name = p_bucket;
	IF NOT FOUND THEN
		RETURN 'NoSuchBucket';
	END IF;
	RETURN CASE WHEN gate IS NULL THEN 'OK' ELSE 'SlowDown' END;
END
$$;

CREATE OR REPLACE FUNCTION lock_key_quotas(p_bucket text, p_key text, p_backend text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM 1 FROM backend_quotas
	WHERE backend = p_backend
	   OR backend IN (SELECT l.backend FROM object_locations l
	                  WHERE l.bucket = p_bucket AND l.key = p_key)
	ORDER BY backend
	FOR UPDATE;
END
$$;
