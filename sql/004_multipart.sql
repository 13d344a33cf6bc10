-- 004_multipart.sql: multipart uploads in the catalogue, so any front end serves any part.
--
--   create_multipart    choose the upload's backend, record the upload
--   begin_part          reserve quota for a part; returns where to write it
--   commit_part         record a part (replacing an earlier upload of its number)
--   abort_part          release a part's reservation after a failed upload
--   complete_begin      check the part list, reserve the object's bytes and its intent
--   complete_commit     record the object (commit_put) and queue the parts for deletion
--   abort_multipart     queue every part for deletion and forget the upload
--
-- Part bytes count in bytes_used of their backend while the upload is open; a part that is
-- replaced, or the parts of a completed or aborted upload, move to cleanup_queue (with
-- object_name set) and count as orphan bytes until they are deleted.

CREATE FUNCTION create_multipart(p_bucket text, p_key text, p_owner text, p_candidates text[],
    p_strategy text, p_content_type text, p_headers jsonb, p_user_meta jsonb, p_tags jsonb,
    p_checksum_algo text, OUT status text, OUT upload_id text, OUT backend text)
LANGUAGE plpgsql AS $$
DECLARE
BEGIN
	status := bucket_writable(p_bucket);
	IF status <> 'OK' THEN
		RETURN;
	END IF;
	SELECT o INTO backend
	FROM placement_order(p_candidates, p_strategy, 0, p_bucket, p_key) AS o LIMIT 1;
	IF backend IS NULL THEN
		status := 'InsufficientStorage';
		RETURN;
	END IF;
	upload_id := replace(gen_random_uuid()::text, '-', '');
	INSERT INTO multipart_uploads (upload_id, bucket, key, backend, owner, content_type,
	                               headers, user_meta, tags, checksum_algo)
	VALUES (upload_id, p_bucket, p_key, backend, p_owner, p_content_type,
	        coalesce(p_headers, '{}'), coalesce(p_user_meta, '{}'), coalesce(p_tags, '{}'),
	        p_checksum_algo);
	status := 'OK';
END
$$;

-- The part's object name on the backend carries a nonce, so two uploads of one part number
-- never write the same name.
CREATE FUNCTION begin_part(p_bucket text, p_key text, p_upload_id text, p_part integer,
    p_size bigint, OUT status text, OUT backend text, OUT object_name text)
LANGUAGE plpgsql AS $$
DECLARE
	u multipart_uploads;
BEGIN
	SELECT * INTO u FROM multipart_uploads
	WHERE upload_id = p_upload_id AND bucket = p_bucket AND key = p_key AND state = 'open';
	IF NOT FOUND THEN
		status := 'NoSuchUpload';
		RETURN;
	END IF;
	IF p_part < 1 OR p_part > 10000 THEN
		status := 'InvalidArgument';
		RETURN;
	END IF;
	UPDATE backend_quotas q SET bytes_reserved = q.bytes_reserved + p_size
	WHERE q.backend = u.backend AND quota_has_room(q, p_size);
	IF NOT FOUND THEN
		status := 'InsufficientStorage';
		RETURN;
	END IF;
	backend := u.backend;
	object_name := format('.s3mux-parts/%s/%s-%s', p_upload_id, p_part,
	                      replace(gen_random_uuid()::text, '-', ''));
	status := 'OK';
END
$$;

CREATE FUNCTION abort_part(p_backend text, p_size bigint)
RETURNS void LANGUAGE sql AS $$
	UPDATE backend_quotas SET bytes_reserved = bytes_reserved - p_size
	WHERE backend = p_backend;
$$;

CREATE FUNCTION commit_part(p_upload_id text, p_backend text, p_bucket text, p_key text,
    p_part integer, p_declared bigint, p_size bigint, p_etag text, p_checksum text,
    p_object_name text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	u multipart_uploads;
	old multipart_parts;
BEGIN
	UPDATE backend_quotas SET bytes_reserved = bytes_reserved - p_declared,
	                          bytes_used = bytes_used + p_size
	WHERE backend = p_backend;
	SELECT * INTO u FROM multipart_uploads WHERE upload_id = p_upload_id FOR UPDATE;
	IF NOT FOUND OR u.state <> 'open' THEN
		-- aborted or completed meanwhile: the new part is an orphan at once
		INSERT INTO cleanup_queue (backend, bucket, key, object_name, reason, size)
		VALUES (p_backend, p_bucket, p_key, p_object_name, 'part of a closed upload', p_size);
		UPDATE backend_quotas SET bytes_used = bytes_used - p_size,
		                          orphan_bytes = orphan_bytes + p_size
		WHERE backend = p_backend;
		RETURN 'NoSuchUpload';
	END IF;
	DELETE FROM multipart_parts WHERE upload_id = p_upload_id AND part_number = p_part
	RETURNING * INTO old;
	IF old.upload_id IS NOT NULL THEN
		INSERT INTO cleanup_queue (backend, bucket, key, object_name, reason, size)
		VALUES (u.backend, u.bucket, u.key, old.object_name, 'replaced part', old.size);
		UPDATE backend_quotas SET bytes_used = bytes_used - old.size,
		                          orphan_bytes = orphan_bytes + old.size
		WHERE backend = u.backend;
	END IF;
	INSERT INTO multipart_parts (upload_id, part_number, size, etag, checksum, object_name)
	VALUES (p_upload_id, p_part, p_size, p_etag, p_checksum, p_object_name);
	RETURN 'OK';
END
$$;

-- Queue the parts of an upload for deletion, releasing their bytes to orphans.
CREATE FUNCTION drop_parts(p_upload_id text, p_reason text)
RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE
	u multipart_uploads;
	ids bigint[];
	total bigint;
BEGIN
	SELECT * INTO u FROM multipart_uploads WHERE upload_id = p_upload_id;
	WITH gone AS (
		DELETE FROM multipart_parts WHERE upload_id = p_upload_id RETURNING *),
	queued AS (
		INSERT INTO cleanup_queue (backend, bucket, key, object_name, reason, size)
		SELECT u.backend, u.bucket, u.key, g.object_name, p_reason, g.size FROM gone g
		RETURNING id, size)
	SELECT array_agg(id), coalesce(sum(size), 0) INTO ids, total FROM queued;
	UPDATE backend_quotas SET bytes_used = bytes_used - total, orphan_bytes = orphan_bytes + total
	WHERE backend = u.backend;
	RETURN ids;
END
$$;

CREATE FUNCTION abort_multipart(p_bucket text, p_key text, p_upload_id text,
    OUT status text, OUT cleanup_ids bigint[])
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM 1 FROM multipart_uploads
	WHERE upload_id = p_upload_id AND bucket = p_bucket AND key = p_key AND state = 'open'
	FOR UPDATE;
	IF NOT FOUND THEN
		status := 'NoSuchUpload';
		RETURN;
	END IF;
	cleanup_ids := drop_parts(p_upload_id, 'aborted upload');
	DELETE FROM multipart_uploads WHERE upload_id = p_upload_id;
	status := 'OK';
END
$$;

-- p_parts and p_etags: the part list of the request, in its order.  Checks it, marks the
-- upload 'completing' and takes the object's intent.  Returns the part object names in order
-- and the object's size and ETag.  An upload already completed answers 'Completed' with the
-- ETag it got, so a repeated request succeeds again.
CREATE FUNCTION complete_begin(p_bucket text, p_key text, p_upload_id text, p_parts integer[],
    p_etags text[], p_owner text, p_min_part bigint, p_if_none_match boolean,
    p_if_match text,
    OUT status text, OUT backend text, OUT pending_id bigint, OUT names text[],
    OUT sizes bigint[], OUT total bigint, OUT etag text, OUT bad_part integer,
    OUT checksum_algo text, OUT checksums text[])
LANGUAGE plpgsql AS $$
DECLARE
	u multipart_uploads;
	p multipart_parts;
	i integer;
	md5s bytea := ''::bytea;
BEGIN
	SELECT * INTO u FROM multipart_uploads
	WHERE upload_id = p_upload_id AND bucket = p_bucket AND key = p_key FOR UPDATE;
	IF NOT FOUND THEN
		status := 'NoSuchUpload';
		RETURN;
	END IF;
	IF u.state = 'completed' THEN
		status := 'Completed';
		etag := u.result_etag;
		total := u.result_size;
		RETURN;
	END IF;
	IF u.state <> 'open' THEN
		status := 'NoSuchUpload';
		RETURN;
	END IF;
	IF bucket_writable(p_bucket) = 'SlowDown' THEN
		status := 'SlowDown';
		RETURN;
	END IF;
	IF coalesce(array_length(p_parts, 1), 0) = 0 THEN
		status := 'MalformedXML';
		RETURN;
	END IF;
	status := write_condition(p_bucket, p_key, p_if_none_match, p_if_match);
	IF status <> 'OK' THEN
		RETURN;
	END IF;
	total := 0;
	names := '{}';
	checksums := '{}';
	checksum_algo := u.checksum_algo;
	sizes := '{}';
	-- first the list itself (order, existence, ETags), then the sizes
	FOR i IN 1 .. array_length(p_parts, 1) LOOP
		IF i > 1 AND p_parts[i] <= p_parts[i - 1] THEN
			status := 'InvalidPartOrder';
			bad_part := p_parts[i];
			RETURN;
		END IF;
		SELECT * INTO p FROM multipart_parts
		WHERE upload_id = p_upload_id AND part_number = p_parts[i];
		IF NOT FOUND OR p.etag <> p_etags[i] THEN
			status := 'InvalidPart';
			bad_part := p_parts[i];
			RETURN;
		END IF;
		names := names || p.object_name;
		checksums := checksums || p.checksum;
		sizes := sizes || p.size;
		total := total + p.size;
		md5s := md5s || decode(p.etag, 'hex');
	END LOOP;
	FOR i IN 1 .. array_length(p_parts, 1) - 1 LOOP
		IF sizes[i] < p_min_part THEN
			status := 'EntityTooSmall';
			bad_part := p_parts[i];
			RETURN;
		END IF;
	END LOOP;
	etag := md5(md5s) || '-' || array_length(p_parts, 1);
	-- the intent, then the reservation, then the condition again: as begin_put does
	INSERT INTO pending_objects (backend, bucket, key, kind, version, declared_size, owner)
	VALUES (u.backend, p_bucket, p_key, 'put', nextval('object_version_seq'), total, p_owner)
	ON CONFLICT DO NOTHING
	RETURNING pending_objects.id INTO pending_id;
	IF pending_id IS NULL THEN
		status := 'Busy';
		RETURN;
	END IF;
	status := recheck_condition(p_bucket, p_key, p_if_none_match, p_if_match, pending_id);
	IF status <> 'OK' THEN
		pending_id := NULL;
		RETURN;
	END IF;
	UPDATE backend_quotas q SET bytes_reserved = q.bytes_reserved + total
	WHERE q.backend = u.backend AND quota_has_room(q, total);
	IF NOT FOUND THEN
		DELETE FROM pending_objects WHERE id = pending_id;
		pending_id := NULL;
		status := 'InsufficientStorage';
		RETURN;
	END IF;
	UPDATE multipart_uploads SET state = 'completing' WHERE upload_id = p_upload_id;
	backend := u.backend;
	status := 'OK';
END
$$;

-- The assembled object failed to reach the backend: reopen the upload, drop the intent.
CREATE FUNCTION complete_failed(p_upload_id text, p_pending_id bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM abort_put(p_pending_id);
	UPDATE multipart_uploads SET state = 'open'
	WHERE upload_id = p_upload_id AND state = 'completing';
END
$$;

CREATE FUNCTION complete_commit(p_upload_id text, p_pending_id bigint, p_etag text,
    p_size bigint, p_sizes bigint[], p_if_none_match boolean, p_if_match text,
    p_checksum text,
    OUT status text, OUT version bigint, OUT cleanup_ids bigint[])
LANGUAGE plpgsql AS $$
DECLARE
	u multipart_uploads;
	c record;
BEGIN
	SELECT * INTO u FROM multipart_uploads WHERE upload_id = p_upload_id FOR UPDATE;
	SELECT * INTO c FROM commit_put(p_pending_id, p_size, p_etag, u.content_type, u.headers,
	    u.user_meta, u.tags, u.checksum_algo, p_checksum, p_size, 'none', NULL,
	    array_length(p_sizes, 1), 's3:ObjectCreated:CompleteMultipartUpload',
	    p_if_none_match, p_if_match);
	status := c.status;
	version := c.version;
	IF status <> 'OK' THEN
		UPDATE multipart_uploads SET state = 'open'
		WHERE upload_id = p_upload_id AND state = 'completing';
		RETURN;
	END IF;
	UPDATE objects SET part_sizes = p_sizes WHERE bucket = u.bucket AND key = u.key;
	cleanup_ids := drop_parts(p_upload_id, 'completed upload');
	UPDATE multipart_uploads SET state = 'completed', result_etag = p_etag, result_size = p_size
	WHERE upload_id = p_upload_id;
END
$$;

-- One page of ListMultipartUploads: open uploads after (key_marker, upload_id_marker).
CREATE FUNCTION list_multipart(p_bucket text, p_prefix text, p_key_marker text,
    p_upload_marker text, p_max integer)
RETURNS TABLE (key text, upload_id text, owner text, initiated bigint)
LANGUAGE sql STABLE AS $$
	SELECT u.key, u.upload_id, u.owner, extract(epoch FROM u.created_at)::bigint
	FROM multipart_uploads u
	WHERE u.bucket = p_bucket AND u.state = 'open' AND starts_with(u.key, p_prefix)
	  AND (u.key > p_key_marker
	       OR (u.key = p_key_marker AND p_upload_marker <> '' AND u.upload_id > p_upload_marker))
	ORDER BY u.key, u.upload_id
	LIMIT p_max + 1
$$;
