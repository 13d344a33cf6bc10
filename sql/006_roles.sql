-- 006_roles.sql: what the cleanup and reaper roles call, one round trip per step.
--
--   claim_cleanups        the cleanup role's claim: due rows, and rows whose claim outlived
--                         the grace period (a dead claimer's, counted as reclaimed)
--   unclaim_cleanup       give a claimed row back untried (the role is stopping)
--   move_cleanup_to_dlq   a row out of retries goes to cleanup_dlq; its bytes stay counted
--   cleanup_next_due      how long until a row can next be claimed (the role sleeps that long)
--   dlq_requeue           an operator sends a dead letter back to the queue, attempts reset
--   dlq_forget            an operator writes a dead letter off, orphan bytes and all
--   stale_pending         intents older than an age, a page at a time
--   resolve_pending       the reaper's verdict on one stale intent: promote, drop, release
--   stale_uploads         multipart uploads older than an age, a page at a time
--   reap_upload           abort one stale upload: its parts go to cleanup_queue
--
-- Every insert into cleanup_queue wakes the cleanup role (NOTIFY s3mux_cleanup, sent only
-- if the transaction commits).

CREATE FUNCTION cleanup_queue_notify()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('s3mux_cleanup', '');
	RETURN NULL;
END
$$;

CREATE TRIGGER cleanup_queue_wake AFTER INSERT ON cleanup_queue
	FOR EACH STATEMENT EXECUTE FUNCTION cleanup_queue_notify();

-- The reaper asks whether a key was deleted after an intent began; the outbox is append-only
-- in time order, so a BRIN index on its time costs next to nothing to keep.
CREATE INDEX event_outbox_at ON event_outbox USING brin (at);

-- Up to p_limit rows, claimed for p_owner: rows due (next_attempt_at passed) that nobody
-- holds, and rows whose claim is older than p_grace (the claimer died or hung: the claim is
-- taken over, reclaimed = true, previous_owner says whose it was).  Rows that
-- cleanup_claim_row settles or leaves (a write of the name in progress) do not count
-- against p_limit, so an empty answer means nothing more can be claimed now.
CREATE FUNCTION claim_cleanups(p_owner text, p_limit integer, p_grace interval)
RETURNS TABLE (id bigint, backend text, bucket text, key text, object_name text,
    size bigint, attempts integer, claim_token bigint, reclaimed boolean,
    previous_owner text)
LANGUAGE plpgsql AS $$
DECLARE
	c cleanup_queue;
	n integer := 0;
BEGIN
	FOR c IN
		SELECT * FROM cleanup_queue q
		WHERE q.next_attempt_at <= now()
		  AND (q.claimed_at IS NULL OR q.claimed_at < now() - p_grace)
		ORDER BY q.next_attempt_at, q.id
		FOR UPDATE SKIP LOCKED
	LOOP
		EXIT WHEN n >= p_limit;
		claim_token := cleanup_claim_row(c, p_owner);
		CONTINUE WHEN claim_token IS NULL;
		id := c.id;
		backend := c.backend;
		bucket := c.bucket;
		key := c.key;
		object_name := c.object_name;
		size := c.size;
		attempts := c.attempts;
		reclaimed := c.claimed_at IS NOT NULL;
		previous_owner := c.claimed_by;
		n := n + 1;
		RETURN NEXT;
	END LOOP;
END
$$;

CREATE FUNCTION unclaim_cleanup(p_id bigint, p_token bigint)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	c cleanup_queue := cleanup_claimed(p_id, p_token);
BEGIN
	IF c.id IS NULL THEN
		RETURN false;
	END IF;
	UPDATE cleanup_queue SET claimed_at = NULL, claimed_by = NULL, claim_token = NULL
	WHERE id = p_id;
	DELETE FROM pending_objects WHERE id = p_token AND kind = 'delete';
	RETURN true;
END
$$;

-- The claimed row's last attempt failed too: move it to cleanup_dlq with that attempt
-- counted.  orphan_bytes is left alone: the bytes are still on the backend.  False when the
-- claim is no longer the caller's.
CREATE FUNCTION move_cleanup_to_dlq(p_id bigint, p_token bigint, p_error text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	c cleanup_queue := cleanup_claimed(p_id, p_token);
BEGIN
	IF c.id IS NULL THEN
		RETURN false;
	END IF;
	INSERT INTO cleanup_dlq (id, backend, bucket, key, object_name, version, reason, size,
	                         attempts, last_error, created_at)
	VALUES (c.id, c.backend, c.bucket, c.key, c.object_name, c.version, c.reason, c.size,
	        c.attempts + 1, p_error, c.created_at);
	DELETE FROM cleanup_queue WHERE id = p_id;
	DELETE FROM pending_objects WHERE id = p_token AND kind = 'delete';
	RETURN true;
END
$$;

-- Milliseconds until a row can next be claimed (0: one can be now), or NULL when the queue
-- is empty.
CREATE FUNCTION cleanup_next_due(p_grace interval)
RETURNS bigint LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN s.at IS NOT NULL
	            THEN greatest(0, ceil(extract(epoch FROM s.at - now()) * 1000))::bigint END
	FROM (SELECT min(CASE WHEN q.claimed_at IS NULL THEN q.next_attempt_at
	                      ELSE greatest(q.next_attempt_at, q.claimed_at + p_grace) END) AS at
	      FROM cleanup_queue q) s
$$;

-- Send a dead letter back to the queue under its old id, due now, attempts reset; its
-- bytes were never released, so the quota is untouched.
CREATE FUNCTION dlq_requeue(p_id bigint)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	d cleanup_dlq;
BEGIN
	DELETE FROM cleanup_dlq WHERE id = p_id RETURNING * INTO d;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	INSERT INTO cleanup_queue (id, backend, bucket, key, object_name, version, reason, size,
	                           attempts, next_attempt_at, last_error, created_at)
	VALUES (d.id, d.backend, d.bucket, d.key, d.object_name, d.version, d.reason, d.size,
	        0, now(), d.last_error, d.created_at);
	RETURN true;
END
$$;

-- Write a dead letter off: the operator has dealt with the bytes (or accepts them).  The row
-- goes and its bytes stop counting as orphans.  No row: backend is NULL.
CREATE FUNCTION dlq_forget(p_id bigint, OUT backend text, OUT size bigint)
LANGUAGE plpgsql AS $$
DECLARE
	d cleanup_dlq;
BEGIN
	DELETE FROM cleanup_dlq WHERE id = p_id RETURNING * INTO d;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	UPDATE backend_quotas q SET orphan_bytes = q.orphan_bytes - d.size
	WHERE q.backend = d.backend;
	backend := d.backend;
	size := d.size;
END
$$;

-- Intents older than p_min_age with an id above p_after, in id order.
CREATE FUNCTION stale_pending(p_min_age interval, p_after bigint, p_limit integer)
RETURNS TABLE (id bigint, backend text, bucket text, key text, kind text,
    declared_size bigint, version bigint)
LANGUAGE sql STABLE AS $$
	SELECT p.id, p.backend, p.bucket, p.key, p.kind, p.declared_size, p.version
	FROM pending_objects p
	WHERE p.created_at < now() - p_min_age AND p.id > p_after
	ORDER BY p.id
	LIMIT p_limit
$$;

-- Resolve the stale intent p_id in one transaction.  The caller looked at the backend
-- first: p_found_size and p_found_mtime (seconds since the epoch) describe what is stored
-- under the intent's name, both NULL when nothing is; p_etag is the MD5 of those bytes in
-- hex, or NULL when it was not computed.  The bytes are the intent's when their size is the
-- declared one and they were written after the intent began (two seconds of slack for
-- timestamps kept in whole seconds); older bytes of that size are what the writer meant to
-- replace.  Outcomes:
--
--   promoted    a 'put' intent whose bytes are there and that nothing newer superseded:
--               recorded as commit_put would (the stored size, ETag p_etag or '' when
--               unknown, no content type or metadata), displacing older copies
--   superseded  a later write of the key committed (objects.version is newer), or the key
--               (or its bucket) was deleted after the intent began: dropped
--   missing     the intent's bytes never reached the backend: dropped
--   dropped     a 'replica' intent: dropped (a replica is only ever recorded by its writer)
--   released    a 'delete' intent: the cleanup claim that held it is dead; the row is
--               given back to the queue
--   gone        no such intent any more (another reaper, or its writer, resolved it)
--   young       the intent is not older than p_min_age (after all): left alone
--
-- Dropping releases the intent's reservation (abort_put).  When the intent's bytes are on
-- the backend and no catalogued copy claims the name, they are queued for deletion:
-- cleanup_id names the row.
CREATE FUNCTION resolve_pending(p_id bigint, p_min_age interval, p_found_size bigint,
    p_found_mtime bigint, p_etag text,
    OUT outcome text, OUT version bigint, OUT cleanup_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
	p pending_objects;
	current bigint;
	ours boolean;
	c record;
BEGIN
	SELECT * INTO p FROM pending_objects WHERE id = p_id FOR UPDATE;
	IF NOT FOUND THEN
		outcome := 'gone';
		RETURN;
	END IF;
	IF p.created_at > now() - p_min_age THEN
		outcome := 'young';
		RETURN;
	END IF;
	IF p.kind = 'delete' THEN
		UPDATE cleanup_queue q SET claimed_at = NULL, claimed_by = NULL, claim_token = NULL
		WHERE q.claim_token = p.id;
		DELETE FROM pending_objects WHERE id = p.id;
		outcome := 'released';
		RETURN;
	END IF;
	-- the same key lock as commit_put: no commit of this key runs while we decide
	PERFORM pg_advisory_xact_lock(hashtextextended(p.bucket || '/' || p.key, 0));
	ours := p_found_size IS NOT NULL AND p_found_size = p.declared_size
	    AND (p_found_mtime IS NULL
	         OR to_timestamp(p_found_mtime) >= p.created_at - interval '2 seconds');
	SELECT o.version INTO current FROM objects o WHERE o.bucket = p.bucket AND o.key = p.key;
	IF current > p.version
	   OR NOT EXISTS (SELECT 1 FROM buckets b WHERE b.name = p.bucket)
	   OR EXISTS (
	    SELECT 1 FROM event_outbox e
	    WHERE e.at >= p.created_at AND e.bucket = p.bucket AND e.key = p.key
	      AND e.event LIKE 's3:ObjectRemoved:%') THEN
		outcome := 'superseded';
	ELSIF NOT ours THEN
		outcome := 'missing';
	ELSIF p.kind <> 'put' THEN
		outcome := 'dropped';
	ELSE
		SELECT * INTO c FROM commit_put(p.id, p_found_size, coalesce(p_etag, ''), NULL,
		    NULL, NULL, NULL, NULL, NULL, p_found_size, 'none', NULL, 0);
		IF c.status <> 'OK' THEN
			RAISE EXCEPTION 'resolve_pending: commit_put of intent % answered %', p.id,
			    c.status;
		END IF;
		outcome := 'promoted';
		version := c.version;
		RETURN;
	END IF;
	PERFORM abort_put(p.id);
	IF ours AND NOT EXISTS (SELECT 1 FROM object_locations l WHERE l.bucket = p.bucket
	                        AND l.key = p.key AND l.backend = p.backend) THEN
		INSERT INTO cleanup_queue (backend, bucket, key, version, reason, size)
		VALUES (p.backend, p.bucket, p.key, p.version, 'stale intent', p_found_size)
		RETURNING cleanup_queue.id INTO cleanup_id;
		UPDATE backend_quotas q SET orphan_bytes = q.orphan_bytes + p_found_size
		WHERE q.backend = p.backend;
	END IF;
END
$$;

-- Multipart uploads older than p_min_age with an id above p_after, in id order: open ones;
-- 'completing' ones whose Complete is no longer in progress (its intent on the object's
-- name is gone); and completed ones, kept until now for a repeated Complete.
CREATE FUNCTION stale_uploads(p_min_age interval, p_after text, p_limit integer)
RETURNS TABLE (upload_id text, bucket text, key text, backend text, state text)
LANGUAGE sql STABLE AS $$
	SELECT u.upload_id, u.bucket, u.key, u.backend, u.state
	FROM multipart_uploads u
	WHERE u.created_at < now() - p_min_age AND u.upload_id > p_after
	  AND (u.state IN ('open', 'completed', 'aborted')
	       OR NOT EXISTS (SELECT 1 FROM pending_objects p WHERE p.backend = u.backend
	                      AND p.bucket = u.bucket AND p.key = u.key AND p.kind = 'put'))
	ORDER BY u.upload_id
	LIMIT p_limit
$$;

-- Abort one stale upload as abort_multipart does: its parts go to cleanup_queue (their
-- bytes become orphans until deleted) and the upload is forgotten.  Status 'aborted' (with
-- the cleanup rows of the parts), 'forgotten' (a completed upload: only its row goes),
-- 'busy' (a Complete is in progress), 'young' or 'gone'.
CREATE FUNCTION reap_upload(p_upload_id text, p_min_age interval,
    OUT status text, OUT cleanup_ids bigint[])
LANGUAGE plpgsql AS $$
DECLARE
	u multipart_uploads;
BEGIN
	SELECT * INTO u FROM multipart_uploads WHERE upload_id = p_upload_id FOR UPDATE;
	IF NOT FOUND THEN
		status := 'gone';
		RETURN;
	END IF;
	IF u.created_at > now() - p_min_age THEN
		status := 'young';
		RETURN;
	END IF;
	IF u.state = 'completing' AND EXISTS (SELECT 1 FROM pending_objects p
	    WHERE p.backend = u.backend AND p.bucket = u.bucket AND p.key = u.key
	      AND p.kind = 'put') THEN
		status := 'busy';
		RETURN;
	END IF;
	IF u.state IN ('open', 'completing') THEN
		cleanup_ids := drop_parts(p_upload_id, 'stale upload');
		status := 'aborted';
	ELSE
		status := 'forgotten';
	END IF;
	DELETE FROM multipart_uploads WHERE upload_id = p_upload_id;
END
$$;
