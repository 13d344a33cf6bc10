-- 002_write_path.sql: the write path as functions, one round trip per step.
--
--   register_backend   make a configured backend known (and its quota limit current)
--   begin_put          choose a backend with room, reserve quota, write the pending intent
--   commit_put         promote the intent: record the copy, displace the other copies into
--                      cleanup_queue, settle quota, append to event_outbox, NOTIFY
--   abort_put          drop the intent and release its reservation
--   delete_object      remove an object from the catalogue, queueing its copies for cleanup
--   claim_cleanup_ids  take cleanup rows for deletion, locking their names
--   finish_cleanup     a backend delete succeeded: drop the row, release its orphan bytes
--   release_cleanup    a backend delete failed: count it and schedule a retry
--
-- Statuses are S3 error codes where one applies, so the front end maps them directly.
--
-- A claim on a cleanup row carries a fencing token (cleanup_queue.claim_token): only the
-- holder of the row's current token settles it, so a claimer that stalled past the grace
-- period, and lost the row to another, can no longer finish or release it.  For a row of a
-- (bucket, key) name the token is the id of the 'delete' intent the claim holds on the name;
-- for a part or temp name (object_name set) it comes from the same sequence, so a token never
-- names an intent it does not hold.

CREATE FUNCTION register_backend(p_name text, p_driver text, p_bytes_limit bigint)
RETURNS void LANGUAGE sql AS $$
	INSERT INTO backends (name, driver) VALUES (p_name, p_driver)
		ON CONFLICT (name) DO UPDATE SET driver = EXCLUDED.driver;
	INSERT INTO backend_quotas (backend, bytes_limit) VALUES (p_name, p_bytes_limit)
		ON CONFLICT (backend) DO UPDATE SET bytes_limit = EXCLUDED.bytes_limit;
$$;

-- Room on a backend for `size` more bytes (used + reserved + orphans count against it).
CREATE FUNCTION quota_has_room(q backend_quotas, size bigint)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
	SELECT q.bytes_limit = 0
	    OR q.bytes_used + q.bytes_reserved + q.orphan_bytes + size <= q.bytes_limit
$$;

-- p_candidates: the backends the caller may use (healthy, under their monthly limits), in
-- configured order.  p_strategy: 'pack' (first with room) or 'spread' (most free fraction).
-- A backend that already holds the key is preferred, so an overwrite lands in place.
-- A conditional write: If-None-Match: * (p_if_none_match) fails when the key exists;
-- If-Match (p_if_match, an ETag) fails when the key is missing or has another ETag.
-- Checked here and again in commit_put, atomically with the commit.
CREATE FUNCTION write_condition(p_bucket text, p_key text, p_if_none_match boolean,
    p_if_match text)
RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
	current_etag text;
BEGIN
	IF NOT coalesce(p_if_none_match, false) AND p_if_match IS NULL THEN
		RETURN 'OK';
	END IF;
	SELECT etag INTO current_etag FROM objects WHERE bucket = p_bucket AND key = p_key;
	IF p_if_none_match AND FOUND THEN
		RETURN 'PreconditionFailed';
	END IF;
	IF p_if_match IS NOT NULL AND NOT FOUND THEN
		RETURN 'NoSuchKey';
	END IF;
	IF p_if_match IS NOT NULL AND p_if_match <> '*' AND current_etag <> p_if_match THEN
		RETURN 'PreconditionFailed';
	END IF;
	RETURN 'OK';
END
$$;

-- Lock, in name order, the quota rows a change of (bucket, key) touches: p_backend's and
-- those of every backend holding a copy.  Two commits of different keys with copies on the
-- same backends then never take two quota rows in opposite orders.
CREATE FUNCTION lock_key_quotas(p_bucket text, p_key text, p_backend text)
RETURNS void LANGUAGE sql AS $$
	SELECT 1 FROM backend_quotas
	WHERE backend = p_backend
	   OR backend IN (SELECT l.backend FROM object_locations l
	                  WHERE l.bucket = p_bucket AND l.key = p_key)
	ORDER BY backend
	FOR UPDATE
$$;

-- May a write go to the bucket?  'OK', 'NoSuchBucket', or 'SlowDown' while a maintenance job
-- holds its write gate (clients retry a 503 SlowDown).
CREATE FUNCTION bucket_writable(p_bucket text)
RETURNS text LANGUAGE sql STABLE AS $$
	SELECT coalesce((SELECT CASE WHEN write_gate IS NULL THEN 'OK' ELSE 'SlowDown' END
	                 FROM buckets WHERE name = p_bucket), 'NoSuchBucket')
$$;

-- The backends a write of p_size bytes may go to, best first: those in p_candidates (in
-- configured order) with room, not draining; a backend already holding (p_bucket, p_key)
-- first (so an overwrite lands in place); then by strategy: 'spread' most free fraction
-- first, 'pack' configured order.  With p_in_place, only backends holding the key.
CREATE FUNCTION placement_order(p_candidates text[], p_strategy text, p_size bigint,
    p_bucket text, p_key text, p_in_place boolean DEFAULT false)
RETURNS SETOF text LANGUAGE sql STABLE AS $$
	SELECT q.backend
	FROM backend_quotas q
	JOIN unnest(p_candidates) WITH ORDINALITY AS c(name, ord) ON c.name = q.backend
	CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM object_locations l
	     WHERE l.bucket = p_bucket AND l.key = p_key AND l.backend = q.backend) AS holds) h
	WHERE NOT q.draining AND quota_has_room(q, p_size) AND (h.holds OR NOT p_in_place)
	ORDER BY h.holds DESC,
	         CASE WHEN p_strategy = 'spread' THEN
	              CASE WHEN q.bytes_limit = 0 THEN 1.0
	                   ELSE 1.0 - (q.bytes_used + q.bytes_reserved + q.orphan_bytes)::float8
	                              / q.bytes_limit END
	              ELSE 0 END DESC,
	         c.ord
$$;

-- A conditional write checks its condition again once it holds its intent, under the key's
-- lock: a commit of the key that was still in flight at the first check has landed by now.
-- The locks come in commit_put's order: the intent, the key, then quota rows (the caller
-- reserves after this).  When the condition no longer holds, the intent is given back.
CREATE FUNCTION recheck_condition(p_bucket text, p_key text, p_if_none_match boolean,
    p_if_match text, p_pending_id bigint)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	status text;
BEGIN
	IF NOT coalesce(p_if_none_match, false) AND p_if_match IS NULL THEN
		RETURN 'OK';
	END IF;
	PERFORM pg_advisory_xact_lock(hashtextextended(p_bucket || '/' || p_key, 0));
	status := write_condition(p_bucket, p_key, p_if_none_match, p_if_match);
	IF status <> 'OK' THEN
		DELETE FROM pending_objects WHERE id = p_pending_id;
	END IF;
	RETURN status;
END
$$;

CREATE FUNCTION begin_put(p_bucket text, p_key text, p_size bigint, p_owner text,
    p_candidates text[], p_strategy text, p_kind text DEFAULT 'put',
    p_if_none_match boolean DEFAULT false, p_if_match text DEFAULT NULL,
    OUT status text, OUT backend text, OUT pending_id bigint, OUT version bigint)
LANGUAGE plpgsql AS $$
DECLARE
	b record;
BEGIN
	status := bucket_writable(p_bucket);
	IF status <> 'OK' THEN
		RETURN;
	END IF;
	status := write_condition(p_bucket, p_key, p_if_none_match, p_if_match);
	IF status <> 'OK' THEN
		RETURN;
	END IF;
	-- If-Match writes in place, so the name's intent serialises it with other writers
	FOR b IN
		SELECT o AS name FROM placement_order(p_candidates, p_strategy, p_size, p_bucket,
		    p_key, p_if_match IS NOT NULL) AS o
	LOOP
		-- The intent first, then the reservation: abort_put deletes an intent and then
		-- updates its quota row, and an insert here waits for an uncommitted delete of the
		-- same name; holding the quota row meanwhile would deadlock with it.
		INSERT INTO pending_objects (backend, bucket, key, kind, version, declared_size, owner)
		VALUES (b.name, p_bucket, p_key, p_kind, nextval('object_version_seq'), p_size, p_owner)
		ON CONFLICT DO NOTHING
		RETURNING pending_objects.id, pending_objects.version INTO pending_id, version;
		IF pending_id IS NULL THEN
			status := 'Busy';	-- another write of this key on this backend is in progress
			RETURN;
		END IF;
		status := recheck_condition(p_bucket, p_key, p_if_none_match, p_if_match,
		    pending_id);
		IF status <> 'OK' THEN
			pending_id := NULL;
			version := NULL;
			RETURN;
		END IF;
		UPDATE backend_quotas q SET bytes_reserved = q.bytes_reserved + p_size
		WHERE q.backend = b.name AND quota_has_room(q, p_size);
		IF FOUND THEN
			backend := b.name;
			RETURN;
		END IF;
		DELETE FROM pending_objects WHERE id = pending_id;	-- filled up since the SELECT
		pending_id := NULL;
		version := NULL;
	END LOOP;
	status := 'InsufficientStorage';
END
$$;

-- Move every copy of (bucket, key) except the one on p_keep into cleanup_queue, counting
-- their bytes as orphans.  Returns the number of copies displaced.
CREATE FUNCTION displace_copies(p_bucket text, p_key text, p_keep text, p_reason text)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	l record;
	n integer := 0;
BEGIN
	FOR l IN
		DELETE FROM object_locations
		WHERE bucket = p_bucket AND key = p_key AND backend IS DISTINCT FROM p_keep
		RETURNING backend, version, stored_size
	LOOP
		INSERT INTO cleanup_queue (backend, bucket, key, version, reason, size)
		VALUES (l.backend, p_bucket, p_key, l.version, p_reason, l.stored_size);
		UPDATE backend_quotas
		SET bytes_used = bytes_used - l.stored_size,
		    orphan_bytes = orphan_bytes + l.stored_size
		WHERE backend = l.backend;
		n := n + 1;
	END LOOP;
	RETURN n;
END
$$;

-- The bytes of (bucket, key) on p_backend were just overwritten in place: forget the copy
-- that was there and any queued or dead-lettered deletion of that name, releasing their
-- bytes (a dead letter left in place would one day delete the new bytes).
CREATE FUNCTION forget_replaced(p_bucket text, p_key text, p_backend text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	freed_used bigint;
	freed_orphans bigint;
	freed_dead bigint;
BEGIN
	DELETE FROM object_locations
	WHERE bucket = p_bucket AND key = p_key AND backend = p_backend
	RETURNING stored_size INTO freed_used;
	WITH gone AS (
		DELETE FROM cleanup_queue
		WHERE backend = p_backend AND bucket = p_bucket AND key = p_key
		  AND object_name IS NULL
		RETURNING size)
	SELECT coalesce(sum(size), 0) INTO freed_orphans FROM gone;
	WITH gone AS (
		DELETE FROM cleanup_dlq
		WHERE backend = p_backend AND bucket = p_bucket AND key = p_key
		  AND object_name IS NULL
		RETURNING size)
	SELECT coalesce(sum(size), 0) INTO freed_dead FROM gone;
	freed_orphans := freed_orphans + freed_dead;
	UPDATE backend_quotas
	SET bytes_used = bytes_used - coalesce(freed_used, 0),
	    orphan_bytes = orphan_bytes - freed_orphans
	WHERE backend = p_backend;
END
$$;

CREATE FUNCTION commit_put(p_pending_id bigint, p_size bigint, p_etag text,
    p_content_type text, p_headers jsonb, p_user_meta jsonb, p_tags jsonb,
    p_checksum_algo text, p_checksum text, p_stored_size bigint, p_codec text, p_key_id text,
    p_parts integer, p_event text DEFAULT 's3:ObjectCreated:Put',
    p_if_none_match boolean DEFAULT false, p_if_match text DEFAULT NULL,
    OUT status text, OUT version bigint, OUT displaced integer)
LANGUAGE plpgsql AS $$
DECLARE
	p pending_objects;
BEGIN
	-- The intent is locked now and deleted last.  Deleted first, it would make a claim of
	-- this name's cleanup row (which inserts a 'delete' intent on the name) wait for this
	-- transaction, while forget_replaced here waits for that claim's row: a deadlock.
	SELECT * INTO p FROM pending_objects WHERE id = p_pending_id FOR UPDATE;
	IF NOT FOUND THEN
		status := 'NoSuchIntent';	-- already resolved (aborted or reaped)
		RETURN;
	END IF;
	-- commits of one key go one at a time, so a condition checked here still holds at the end
	PERFORM pg_advisory_xact_lock(hashtextextended(p.bucket || '/' || p.key, 0));
	PERFORM lock_key_quotas(p.bucket, p.key, p.backend);
	status := write_condition(p.bucket, p.key, p_if_none_match, p_if_match);
	IF status <> 'OK' THEN
		-- lost a race with another writer: these bytes hold no catalogued copy (the
		-- intent kept writers of this name out), so they are an orphan to delete
		UPDATE backend_quotas SET bytes_reserved = bytes_reserved - p.declared_size,
		                          orphan_bytes = orphan_bytes + p_stored_size
		WHERE backend = p.backend;
		INSERT INTO cleanup_queue (backend, bucket, key, version, reason, size)
		VALUES (p.backend, p.bucket, p.key, p.version, 'failed condition', p_stored_size);
		DELETE FROM pending_objects WHERE id = p.id;
		RETURN;
	END IF;
	version := nextval('object_version_seq');
	PERFORM forget_replaced(p.bucket, p.key, p.backend);
	displaced := displace_copies(p.bucket, p.key, p.backend, 'displaced');
	INSERT INTO objects (bucket, key, version, size, etag, content_type, headers, user_meta,
	                     tags, checksum_algo, checksum, parts, created_at)
	VALUES (p.bucket, p.key, version, p_size, p_etag, p_content_type,
	        coalesce(p_headers, '{}'), coalesce(p_user_meta, '{}'), coalesce(p_tags, '{}'),
	        p_checksum_algo, p_checksum, coalesce(p_parts, 0), now())
	ON CONFLICT (bucket, key) DO UPDATE SET
		version = EXCLUDED.version, size = EXCLUDED.size, etag = EXCLUDED.etag,
		content_type = EXCLUDED.content_type, headers = EXCLUDED.headers,
		user_meta = EXCLUDED.user_meta, tags = EXCLUDED.tags,
		checksum_algo = EXCLUDED.checksum_algo, checksum = EXCLUDED.checksum,
		parts = EXCLUDED.parts, created_at = EXCLUDED.created_at;
	INSERT INTO object_locations (bucket, key, backend, version, stored_size, codec, key_id)
	VALUES (p.bucket, p.key, p.backend, version, p_stored_size, coalesce(p_codec, 'none'),
	        p_key_id);
	UPDATE backend_quotas
	SET bytes_reserved = bytes_reserved - p.declared_size,
	    bytes_used = bytes_used + p_stored_size
	WHERE backend = p.backend;
	INSERT INTO event_outbox (bucket, key, event, version, size, etag)
	VALUES (p.bucket, p.key, p_event, version, p_size, p_etag);
	DELETE FROM pending_objects WHERE id = p.id;
	PERFORM pg_notify('s3mux_replicator', ''), pg_notify('s3mux_notifier', '');
	status := 'OK';
END
$$;

-- The upload failed before its bytes replaced anything: drop the intent.
CREATE FUNCTION abort_put(p_pending_id bigint)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	p pending_objects;
BEGIN
	DELETE FROM pending_objects WHERE id = p_pending_id RETURNING * INTO p;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	UPDATE backend_quotas SET bytes_reserved = bytes_reserved - p.declared_size
	WHERE backend = p.backend;
	RETURN true;
END
$$;

-- Remove (bucket, key) from the catalogue.  Returns the cleanup rows created, so the caller
-- can try the backend deletes at once (finish_cleanup) and leave failures to the cleanup role.
CREATE FUNCTION delete_object(p_bucket text, p_key text,
    OUT status text, OUT cleanup_ids bigint[])
LANGUAGE plpgsql AS $$
DECLARE
	o objects;
BEGIN
	PERFORM 1 FROM buckets WHERE name = p_bucket;
	IF NOT FOUND THEN
		status := 'NoSuchBucket';
		RETURN;
	END IF;
	-- the lock commit_put holds: a commit of this key takes the copies' rows and then the
	-- object's, so taking the object's row first without it would deadlock with one
	PERFORM pg_advisory_xact_lock(hashtextextended(p_bucket || '/' || p_key, 0));
	PERFORM lock_key_quotas(p_bucket, p_key, NULL);
	SELECT * INTO o FROM objects WHERE bucket = p_bucket AND key = p_key FOR UPDATE;
	IF NOT FOUND THEN
		status := 'NoSuchKey';		-- S3 answers 204 all the same
		RETURN;
	END IF;
	PERFORM displace_copies(p_bucket, p_key, NULL, 'deleted');
	DELETE FROM objects WHERE bucket = p_bucket AND key = p_key;
	SELECT array_agg(id ORDER BY id) INTO cleanup_ids FROM cleanup_queue
	WHERE bucket = p_bucket AND key = p_key AND version <= o.version AND reason = 'deleted'
	  AND claimed_at IS NULL;
	INSERT INTO event_outbox (bucket, key, event, version, size, etag)
	VALUES (p_bucket, p_key, 's3:ObjectRemoved:Delete', o.version, o.size, o.etag);
	PERFORM pg_notify('s3mux_replicator', ''), pg_notify('s3mux_notifier', '');
	status := 'OK';
END
$$;

-- Settle a cleanup row whose bytes are gone (deleted, or overwritten by a catalogued copy):
-- drop it, release its orphan bytes and the 'delete' intent its claim held.
CREATE FUNCTION cleanup_settle(c cleanup_queue)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM cleanup_queue WHERE id = c.id;
	UPDATE backend_quotas SET orphan_bytes = orphan_bytes - c.size WHERE backend = c.backend;
	IF c.claim_token IS NOT NULL THEN
		DELETE FROM pending_objects WHERE id = c.claim_token AND kind = 'delete';
	END IF;
END
$$;

-- Claim one cleanup row, locked by the caller, for p_owner.  A claim left by a claimer that
-- died gives up its intent first.  Returns the new fencing token, or NULL when there is
-- nothing to delete now: the name holds a catalogued copy again (its bytes were rewritten
-- in place: the row is settled at once) or a write of the name is in progress (the row is
-- left unclaimed, for later).  A claimed (bucket, key) row holds a 'delete' intent on its
-- name, so no write of that name can start until the row is settled or released.
CREATE FUNCTION cleanup_claim_row(c cleanup_queue, p_owner text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	token bigint;
BEGIN
	IF c.claim_token IS NOT NULL THEN
		DELETE FROM pending_objects WHERE id = c.claim_token AND kind = 'delete';
		c.claim_token := NULL;
	END IF;
	IF c.object_name IS NULL THEN
		IF EXISTS (SELECT 1 FROM object_locations l WHERE l.bucket = c.bucket
		           AND l.key = c.key AND l.backend = c.backend) THEN
			PERFORM cleanup_settle(c);
			RETURN NULL;
		END IF;
		INSERT INTO pending_objects (backend, bucket, key, kind, version, owner)
		VALUES (c.backend, c.bucket, c.key, 'delete', coalesce(c.version, 0), p_owner)
		ON CONFLICT DO NOTHING
		RETURNING pending_objects.id INTO token;
		IF token IS NULL THEN
			UPDATE cleanup_queue q SET claimed_at = NULL, claimed_by = NULL, claim_token = NULL
			WHERE q.id = c.id AND q.claimed_at IS NOT NULL;
			RETURN NULL;
		END IF;
	ELSE
		token := nextval(pg_get_serial_sequence('pending_objects', 'id'));
	END IF;
	UPDATE cleanup_queue q SET claimed_at = now(), claimed_by = p_owner, claim_token = token
	WHERE q.id = c.id;
	RETURN token;
END
$$;

-- The front end's claim: the rows of p_ids that nobody holds, for deletion right away.
CREATE FUNCTION claim_cleanup_ids(p_ids bigint[], p_owner text)
RETURNS TABLE (id bigint, backend text, bucket text, key text, object_name text,
    claim_token bigint)
LANGUAGE plpgsql AS $$
DECLARE
	c cleanup_queue;
BEGIN
	FOR c IN
		SELECT * FROM cleanup_queue q
		WHERE q.id = ANY(p_ids) AND q.claimed_at IS NULL
		ORDER BY q.id FOR UPDATE SKIP LOCKED
	LOOP
		claim_token := cleanup_claim_row(c, p_owner);
		CONTINUE WHEN claim_token IS NULL;
		id := c.id;
		backend := c.backend;
		bucket := c.bucket;
		key := c.key;
		object_name := c.object_name;
		RETURN NEXT;
	END LOOP;
END
$$;

-- The claimed row p_id, locked, when p_token is its current claim; NULL otherwise.
CREATE FUNCTION cleanup_claimed(p_id bigint, p_token bigint)
RETURNS cleanup_queue LANGUAGE plpgsql AS $$
DECLARE
	c cleanup_queue;
BEGIN
	SELECT * INTO c FROM cleanup_queue WHERE id = p_id FOR UPDATE;
	IF NOT FOUND OR c.claim_token IS DISTINCT FROM p_token OR p_token IS NULL THEN
		RETURN NULL;
	END IF;
	RETURN c;
END
$$;

-- A claimed delete succeeded.  False when the claim is no longer the caller's.
CREATE FUNCTION finish_cleanup(p_id bigint, p_token bigint)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	c cleanup_queue := cleanup_claimed(p_id, p_token);
BEGIN
	IF c.id IS NULL THEN
		RETURN false;
	END IF;
	PERFORM cleanup_settle(c);
	RETURN true;
END
$$;

-- A claimed delete failed: count the attempt, record why, let it be retried after
-- p_retry_after (the cleanup role is told).  False when the claim is no longer the caller's.
CREATE FUNCTION release_cleanup(p_id bigint, p_token bigint, p_error text,
    p_retry_after interval)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	c cleanup_queue := cleanup_claimed(p_id, p_token);
BEGIN
	IF c.id IS NULL THEN
		RETURN false;
	END IF;
	UPDATE cleanup_queue
	SET attempts = attempts + 1, last_error = p_error,
	    next_attempt_at = now() + p_retry_after,
	    claimed_at = NULL, claimed_by = NULL, claim_token = NULL
	WHERE id = p_id;
	DELETE FROM pending_objects WHERE id = p_token AND kind = 'delete';
	PERFORM pg_notify('s3mux_cleanup', '');
	RETURN true;
END
$$;
