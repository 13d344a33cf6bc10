-- 008_replication.sql: what the replicator calls, one round trip per step.
--
--   outbox_batch      the next events after a consumer's cursor, as the distinct keys they
--                     touched, with the position to advance the cursor to
--   outbox_advance    move a consumer's cursor, once its batch is handled
--   outbox_behind     whether events wait after a consumer's cursor (not yet readable)
--   under_replicated  objects whose current version has fewer than N copies, a page at a time
--   begin_replica     choose a target for one more copy, reserve quota, write the intent
--   record_replica    the copy landed: record it only if its source copy still exists
--   abort_replica     the copy failed: drop the intent and its reservation
--   replica_lost      a copy whose intent another resolved: queue whatever may have landed
--   remove_excess     objects with more than N copies: move the surplus into cleanup_queue
--
-- Cursors.  An outbox id is drawn when the row is inserted, not when its transaction
-- commits, so ids can become visible out of order: a cursor on the id alone would skip a
-- row whose transaction committed after a later one.  Every outbox row therefore carries
-- the id of the transaction that wrote it (event_outbox.xid), and a consumer reads only rows
-- whose transaction is older than every transaction still running (pg_snapshot_xmin), in
-- (xid, id) order: such rows are final, and every row still to come sorts after them.  A
-- row waits at most as long as the oldest transaction still open; outbox_behind tells the
-- consumer to look again soon.  (Only transactions that wrote something count: a long
-- read-only query holds nothing back.)  A cursor moves only after its batch is handled: a
-- crash redoes the batch, which is harmless because the work is idempotent.  Rows written
-- before this migration all carry xid 1.
--
-- Replicas.  A replica of (bucket, key) is the source copy's stored bytes, streamed by the
-- replicator to the same backend object name on another backend, under a 'replica' intent
-- on that name (so no other write of the name runs meanwhile) with the stored size reserved.
-- record_replica takes the key's commit lock (the one commit_put takes) and the objects row,
-- so an overwrite or delete either committed before it (the source row is gone: the copy is
-- stale and its bytes are queued for cleanup) or waits for it (and then displaces the new
-- copy with the others).  The recorded size is the source row's.  Quota moves with the rows:
-- reserved at begin_replica, used (or orphan bytes, for bytes queued for cleanup) after.
--
-- Excess copies.  remove_excess keeps N copies of an object and queues the rest for
-- deletion, preferring to remove copies on draining backends, then on backends whose circuit
-- breaker is open (the caller names them: breakers live in processes), then on the fullest.

ALTER TABLE event_outbox ADD COLUMN xid xid8 NOT NULL DEFAULT '1';
ALTER TABLE event_outbox ALTER COLUMN xid SET DEFAULT pg_current_xact_id();
CREATE INDEX event_outbox_cursor ON event_outbox (xid, id);

ALTER TABLE outbox_cursors ADD COLUMN last_xid xid8 NOT NULL DEFAULT '0';
INSERT INTO outbox_cursors (consumer) VALUES ('replicator') ON CONFLICT DO NOTHING;

-- The next up to p_limit events after p_consumer's cursor (a consumer without a cursor row
-- starts at the beginning), as the distinct (bucket, key) they touched (bucket-level
-- events, with an empty key, are passed over: a batch of only those is one row with a NULL
-- bucket), each row carrying the number of events read and the position of the last (for
-- outbox_advance).  No rows: nothing readable after the cursor.
CREATE FUNCTION outbox_batch(p_consumer text, p_limit integer)
RETURNS TABLE (bucket text, key text, events integer, last_xid xid8, last_id bigint)
LANGUAGE sql STABLE AS $$
	WITH cur AS (
		SELECT coalesce(max(c.last_xid), '0') AS last_xid, coalesce(max(c.last_id), 0) AS last_id
		FROM outbox_cursors c WHERE c.consumer = p_consumer
	), batch AS (
		SELECT e.id, e.xid, e.bucket, e.key
		FROM event_outbox e, cur
		WHERE (e.xid, e.id) > (cur.last_xid, cur.last_id)
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

-- The batch up to (p_xid, p_id) is handled.  A cursor never moves back.
CREATE FUNCTION outbox_advance(p_consumer text, p_xid xid8, p_id bigint)
RETURNS void LANGUAGE sql AS $$
	INSERT INTO outbox_cursors AS c (consumer, last_xid, last_id, updated_at)
	VALUES (p_consumer, p_xid, p_id, now())
	ON CONFLICT (consumer) DO UPDATE
	SET last_xid = EXCLUDED.last_xid, last_id = EXCLUDED.last_id, updated_at = now()
	WHERE (c.last_xid, c.last_id) < (EXCLUDED.last_xid, EXCLUDED.last_id);
$$;

-- Events after p_consumer's cursor that outbox_batch cannot read yet (an older transaction
-- is still open), or that arrived since.
CREATE FUNCTION outbox_behind(p_consumer text)
RETURNS boolean LANGUAGE sql STABLE AS $$
	SELECT EXISTS (
		SELECT 1 FROM event_outbox e,
		    (SELECT coalesce(max(c.last_xid), '0') AS last_xid,
		            coalesce(max(c.last_id), 0) AS last_id
		     FROM outbox_cursors c WHERE c.consumer = p_consumer) cur
		WHERE (e.xid, e.id) > (cur.last_xid, cur.last_id))
$$;

-- Objects after (p_after_bucket, p_after_key), in that order, whose current version has at
-- least one copy and fewer than p_copies: up to p_limit of them, with their copy count.
-- Page on by passing the last row's (bucket, key); fewer than p_limit rows: the end.
CREATE FUNCTION under_replicated(p_copies integer, p_after_bucket text, p_after_key text,
    p_limit integer)
RETURNS TABLE (bucket text, key text, version bigint, copies integer)
LANGUAGE sql STABLE AS $$
	SELECT o.bucket, o.key, o.version, n.copies::integer
	FROM objects o
	CROSS JOIN LATERAL (
		SELECT count(*) AS copies FROM object_locations l
		WHERE l.bucket = o.bucket AND l.key = o.key AND l.version = o.version) n
	WHERE (o.bucket, o.key) > (coalesce(p_after_bucket, ''), coalesce(p_after_key, ''))
	  AND n.copies BETWEEN 1 AND p_copies - 1
	ORDER BY o.bucket, o.key
	LIMIT p_limit
$$;

-- One more copy of (p_bucket, p_key) toward p_copies.  p_version: the version the caller
-- wants copied, or NULL for the current one.  p_candidates: the backends that may be
-- written (healthy, under their monthly limits), in configured order; p_readable: those
-- that may be read.  The target holds no copy of the key, is not draining and has quota
-- room for the stored size; among those, the one with the largest free fraction of its
-- quota (no quota counts as all free), then the first in p_candidates.  The source is the
-- first readable backend holding the version.  Statuses:
--   OK         target, pending_id, source, version and size say what to copy
--   Enough     the object has p_copies copies already
--   NoSuchKey  the object is gone (or p_version is no longer its version)
--   NoSource   no readable backend holds a copy
--   NoTarget   no candidate can take another copy
--   Busy       another write of the key's name on the target is in progress
CREATE FUNCTION begin_replica(p_bucket text, p_key text, p_version bigint,
    p_candidates text[], p_readable text[], p_copies integer, p_owner text,
    OUT status text, OUT target text, OUT pending_id bigint, OUT source text,
    OUT version bigint, OUT size bigint)
LANGUAGE plpgsql AS $$
DECLARE
	o objects;
	have integer;
BEGIN
	SELECT * INTO o FROM objects WHERE bucket = p_bucket AND key = p_key;
	IF NOT FOUND OR (p_version IS NOT NULL AND o.version <> p_version) THEN
		status := 'NoSuchKey';
		RETURN;
	END IF;
	version := o.version;
	SELECT count(*) INTO have FROM object_locations l
	WHERE l.bucket = p_bucket AND l.key = p_key AND l.version = o.version;
	IF have >= p_copies THEN
		status := 'Enough';
		RETURN;
	END IF;
	SELECT l.backend, l.stored_size INTO source, size
	FROM object_locations l
	JOIN unnest(p_readable) WITH ORDINALITY AS r(name, ord) ON r.name = l.backend
	WHERE l.bucket = p_bucket AND l.key = p_key AND l.version = o.version
	ORDER BY r.ord LIMIT 1;
	IF NOT FOUND THEN
		status := 'NoSource';
		RETURN;
	END IF;
	FOR target IN
		SELECT q.backend
		FROM backend_quotas q
		JOIN unnest(p_candidates) WITH ORDINALITY AS c(name, ord) ON c.name = q.backend
		WHERE NOT q.draining AND quota_has_room(q, size)
		  AND NOT EXISTS (SELECT 1 FROM object_locations l WHERE l.bucket = p_bucket
		                  AND l.key = p_key AND l.backend = q.backend)
		ORDER BY CASE WHEN q.bytes_limit = 0 THEN 1.0
		              ELSE 1.0 - (q.bytes_used + q.bytes_reserved + q.orphan_bytes)::float8
		                         / q.bytes_limit END DESC,
		         c.ord
	LOOP
		-- the intent first: waiting on another writer of the name, hold no quota row
		INSERT INTO pending_objects (backend, bucket, key, kind, version, declared_size, owner)
		VALUES (target, p_bucket, p_key, 'replica', o.version, size, p_owner)
		ON CONFLICT DO NOTHING
		RETURNING pending_objects.id INTO pending_id;
		IF pending_id IS NULL THEN
			status := 'Busy';
			RETURN;
		END IF;
		UPDATE backend_quotas q SET bytes_reserved = q.bytes_reserved + size
		WHERE q.backend = target AND quota_has_room(q, size);
		IF NOT FOUND THEN	-- filled up since the SELECT
			DELETE FROM pending_objects WHERE id = pending_id;
			pending_id := NULL;
			CONTINUE;
		END IF;
		status := 'OK';
		RETURN;
	END LOOP;
	target := NULL;
	status := 'NoTarget';
END
$$;

-- Bytes of (p_bucket, p_key) that may now be on p_backend without a catalogued copy (a stale
-- or failed replica): queue the name for deletion with p_size orphan bytes, unless a
-- catalogued copy holds the name.  Whatever deletions of the name were queued before are
-- dropped, their bytes released: the replica's write replaced those bytes.  Returns the
-- cleanup row's id, or NULL.
CREATE FUNCTION replica_orphan(p_backend text, p_bucket text, p_key text, p_version bigint,
    p_size bigint, p_reason text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	cid bigint;
BEGIN
	IF EXISTS (SELECT 1 FROM object_locations l WHERE l.bucket = p_bucket AND l.key = p_key
	           AND l.backend = p_backend) THEN
		RETURN NULL;
	END IF;
	PERFORM forget_replaced(p_bucket, p_key, p_backend);
	INSERT INTO cleanup_queue (backend, bucket, key, version, reason, size)
	VALUES (p_backend, p_bucket, p_key, p_version, p_reason, p_size)
	RETURNING id INTO cid;
	UPDATE backend_quotas SET orphan_bytes = orphan_bytes + p_size WHERE backend = p_backend;
	RETURN cid;
END
$$;

-- The copy of intent p_pending_id landed on its backend, read from p_source_backend at
-- p_version.  Locks go in the order the cleanup role's take them (cleanup rows, then quota
-- rows, then the intent), and the intent is deleted last: a claim of the name waits on a
-- deleted intent, and must not hold what this still needs.  Statuses:
--   OK            recorded: the new copy is catalogued, its quota settled
--   Stale         the source copy was overwritten or deleted meanwhile: the intent is
--                 dropped and the copied bytes queued for cleanup (cleanup_id)
--   NoSuchIntent  the intent was resolved by another (the reaper): nothing done here; the
--                 caller queues its bytes with abort_replica's rule (replica_lost)
CREATE FUNCTION record_replica(p_pending_id bigint, p_source_backend text, p_version bigint,
    OUT status text, OUT cleanup_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
	p pending_objects;
	src object_locations;
BEGIN
	SELECT * INTO p FROM pending_objects WHERE id = p_pending_id AND kind = 'replica'
	FOR UPDATE;
	IF NOT FOUND THEN
		status := 'NoSuchIntent';
		RETURN;
	END IF;
	-- the commit lock of the key, then its objects row: overwrites (commit_put) and deletes
	-- (delete_object) of the key are either done or wait until this one is
	PERFORM pg_advisory_xact_lock(hashtextextended(p.bucket || '/' || p.key, 0));
	PERFORM 1 FROM objects o WHERE o.bucket = p.bucket AND o.key = p.key
	    AND o.version = p_version FOR SHARE;
	IF FOUND THEN
		SELECT * INTO src FROM object_locations l
		WHERE l.bucket = p.bucket AND l.key = p.key AND l.backend = p_source_backend
		  AND l.version = p_version;
	END IF;
	IF src.backend IS NULL THEN
		cleanup_id := replica_orphan(p.backend, p.bucket, p.key, p_version, p.declared_size,
		    'stale replica');
		UPDATE backend_quotas SET bytes_reserved = bytes_reserved - p.declared_size
		WHERE backend = p.backend;
		status := 'Stale';
	ELSE
		PERFORM forget_replaced(p.bucket, p.key, p.backend);
		INSERT INTO object_locations (bucket, key, backend, version, stored_size, codec,
		                              key_id)
		VALUES (p.bucket, p.key, p.backend, src.version, src.stored_size, src.codec,
		        src.key_id);
		UPDATE backend_quotas
		SET bytes_reserved = bytes_reserved - p.declared_size,
		    bytes_used = bytes_used + src.stored_size
		WHERE backend = p.backend;
		status := 'OK';
	END IF;
	DELETE FROM pending_objects WHERE id = p.id;
END
$$;

-- The copy of intent p_pending_id failed.  Drop the intent and its reservation.  When bytes
-- may have landed all the same (p_maybe_written: a driver whose failed write can leave the
-- new bytes, or a copy stopped while it was finishing), queue the name for cleanup with the
-- declared size.  Returns the cleanup row's id; NULL when nothing was queued (or the intent
-- was gone already).
CREATE FUNCTION abort_replica(p_pending_id bigint, p_maybe_written boolean DEFAULT true)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	p pending_objects;
	cid bigint;
BEGIN
	SELECT * INTO p FROM pending_objects WHERE id = p_pending_id AND kind = 'replica'
	FOR UPDATE;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF p_maybe_written THEN	-- in record_replica's order: cleanup rows, quota, intent
		cid := replica_orphan(p.backend, p.bucket, p.key, p.version, p.declared_size,
		    'failed replica');
	END IF;
	UPDATE backend_quotas SET bytes_reserved = bytes_reserved - p.declared_size
	WHERE backend = p.backend;
	DELETE FROM pending_objects WHERE id = p.id;
	RETURN cid;
END
$$;

-- A replica whose intent another resolved (record_replica said NoSuchIntent) may still
-- have landed: queue its name for cleanup unless a copy or a write in progress holds it.
CREATE FUNCTION replica_lost(p_backend text, p_bucket text, p_key text, p_version bigint,
    p_size bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_advisory_xact_lock(hashtextextended(p_bucket || '/' || p_key, 0));
	IF EXISTS (SELECT 1 FROM pending_objects p WHERE p.backend = p_backend
	           AND p.bucket = p_bucket AND p.key = p_key) THEN
		RETURN NULL;
	END IF;
	RETURN replica_orphan(p_backend, p_bucket, p_key, p_version, p_size, 'lost replica');
END
$$;

-- Objects after (p_after_bucket, p_after_key) with more than p_copies copies, up to
-- p_limit of them in (bucket, key) order: the surplus copies move to cleanup_queue (reason
-- 'excess'), their bytes from used to orphan, never leaving fewer than p_copies.  Copies
-- go in this order: on a draining backend, on one named in p_broken, on the fullest (used,
-- reserved and orphan bytes over the quota; no quota counts as empty), then by backend
-- name.  One row per copy removed, with its cleanup row, and one row with NULL backend and
-- cleanup_id for an object passed over because a write or delete of it is under way (it
-- waits for the next call; this one takes no lock that such a write holds, so it never
-- waits on one while holding quota rows); page on from the last row's (bucket, key), and
-- stop at an empty answer.
CREATE FUNCTION remove_excess(p_copies integer, p_broken text[], p_after_bucket text,
    p_after_key text, p_limit integer)
RETURNS TABLE (bucket text, key text, backend text, cleanup_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
	o record;
	l record;
	have integer;
BEGIN
	FOR o IN
		SELECT x.bucket, x.key FROM object_locations x
		WHERE (x.bucket, x.key) > (coalesce(p_after_bucket, ''), coalesce(p_after_key, ''))
		GROUP BY x.bucket, x.key
		HAVING count(*) > p_copies
		ORDER BY x.bucket, x.key
		LIMIT p_limit
	LOOP
		bucket := o.bucket;
		key := o.key;
		backend := NULL;
		cleanup_id := NULL;
		IF NOT pg_try_advisory_xact_lock(hashtextextended(o.bucket || '/' || o.key, 0)) THEN
			RETURN NEXT;
			CONTINUE;
		END IF;
		PERFORM 1 FROM objects WHERE objects.bucket = o.bucket AND objects.key = o.key
		FOR SHARE SKIP LOCKED;
		IF NOT FOUND THEN
			RETURN NEXT;	-- being deleted (or gone)
			CONTINUE;
		END IF;
		SELECT count(*) INTO have FROM object_locations x
		WHERE x.bucket = o.bucket AND x.key = o.key;
		CONTINUE WHEN have <= p_copies;
		FOR l IN
			SELECT x.backend, x.version, x.stored_size
			FROM object_locations x JOIN backend_quotas q ON q.backend = x.backend
			WHERE x.bucket = o.bucket AND x.key = o.key
			ORDER BY q.draining DESC,
			         (x.backend = ANY(coalesce(p_broken, '{}'))) DESC,
			         CASE WHEN q.bytes_limit = 0 THEN 0.0
			              ELSE (q.bytes_used + q.bytes_reserved + q.orphan_bytes)::float8
			                   / q.bytes_limit END DESC,
			         x.backend
			LIMIT have - p_copies
		LOOP
			DELETE FROM object_locations x
			WHERE x.bucket = o.bucket AND x.key = o.key AND x.backend = l.backend;
			INSERT INTO cleanup_queue (backend, bucket, key, version, reason, size)
			VALUES (l.backend, o.bucket, o.key, l.version, 'excess', l.stored_size)
			RETURNING id INTO cleanup_id;
			UPDATE backend_quotas q
			SET bytes_used = q.bytes_used - l.stored_size,
			    orphan_bytes = q.orphan_bytes + l.stored_size
			WHERE q.backend = l.backend;
			backend := l.backend;
			RETURN NEXT;
		END LOOP;
	END LOOP;
END
$$;
