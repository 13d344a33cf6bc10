-- 003_read_path.sql: buckets, object look-up and listings, one round trip each.
--
--   create_bucket   'OK' | 'BucketAlreadyOwnedByYou' | 'BucketAlreadyExists'
--   delete_bucket   'OK' | 'NoSuchBucket' | 'BucketNotEmpty'
--   get_object      the object's row and the backends holding it (NoSuchBucket / NoSuchKey)
--   list_objects    one page of keys and common prefixes, skipping whole prefixes at once

CREATE FUNCTION create_bucket(p_name text, p_owner text, p_region text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	existing text;
BEGIN
	INSERT INTO buckets (name, owner, region) VALUES (p_name, p_owner, p_region)
	ON CONFLICT (name) DO NOTHING;
	IF FOUND THEN
		INSERT INTO event_outbox (bucket, key, event) VALUES (p_name, '', 's3:BucketCreated');
		RETURN 'OK';
	END IF;
	SELECT owner INTO existing FROM buckets WHERE name = p_name;
	RETURN CASE WHEN existing = p_owner THEN 'BucketAlreadyOwnedByYou'
	            ELSE 'BucketAlreadyExists' END;
END
$$;

CREATE FUNCTION delete_bucket(p_name text)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	PERFORM 1 FROM buckets WHERE name = p_name FOR UPDATE;
	IF NOT FOUND THEN
		RETURN 'NoSuchBucket';
	END IF;
	IF EXISTS (SELECT 1 FROM objects WHERE bucket = p_name)
	   OR EXISTS (SELECT 1 FROM pending_objects WHERE bucket = p_name AND kind = 'put')
	   OR EXISTS (SELECT 1 FROM multipart_uploads WHERE bucket = p_name AND state = 'open') THEN
		RETURN 'BucketNotEmpty';
	END IF;
	DELETE FROM multipart_uploads WHERE bucket = p_name;
	DELETE FROM buckets WHERE name = p_name;
	INSERT INTO event_outbox (bucket, key, event) VALUES (p_name, '', 's3:BucketRemoved');
	RETURN 'OK';
END
$$;

CREATE FUNCTION get_object(p_bucket text, p_key text,
    OUT status text, OUT version bigint, OUT size bigint, OUT etag text,
    OUT content_type text, OUT headers jsonb, OUT user_meta jsonb, OUT tags jsonb,
    OUT checksum_algo text, OUT checksum text, OUT parts integer, OUT mtime bigint,
    OUT backends text[], OUT part_sizes bigint[])
LANGUAGE plpgsql STABLE AS $$
BEGIN
	SELECT 'OK', o.version, o.size, o.etag, o.content_type, o.headers, o.user_meta, o.tags,
	       o.checksum_algo, o.checksum, o.parts, extract(epoch FROM o.created_at)::bigint,
	       (SELECT array_agg(l.backend ORDER BY l.created_at)
	        FROM object_locations l
	        WHERE l.bucket = o.bucket AND l.key = o.key AND l.version = o.version),
	       o.part_sizes
	INTO status, version, size, etag, content_type, headers, user_meta, tags,
	     checksum_algo, checksum, parts, mtime, backends, part_sizes
	FROM objects o WHERE o.bucket = p_bucket AND o.key = p_key;
	IF FOUND THEN
		RETURN;
	END IF;
	PERFORM 1 FROM buckets WHERE name = p_bucket;
	status := CASE WHEN FOUND THEN 'NoSuchKey' ELSE 'NoSuchBucket' END;
END
$$;

-- One page of a listing: rows after p_after (exclusive), keys under p_prefix, with keys that
-- hold p_delimiter after the prefix rolled up into one common-prefix row each.  Returns up
-- to p_max + 1 rows (the extra one tells the caller the listing is truncated); a row's
-- `next` is the position to continue after it.  A status row comes first.
CREATE FUNCTION list_objects(p_bucket text, p_prefix text, p_delimiter text, p_after text,
    p_max integer)
RETURNS TABLE (kind text, key text, size bigint, etag text, mtime bigint, next text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	cursor_key text := coalesce(p_after, '');
	inclusive boolean := false;	-- whether cursor_key itself may be listed
	r record;
	n integer := 0;
	plen integer := length(p_prefix);
	pos integer;
	cp text;
	restart boolean;
BEGIN
	PERFORM 1 FROM buckets WHERE name = p_bucket;
	IF NOT FOUND THEN
		kind := 'NoSuchBucket';
		RETURN NEXT;
		RETURN;
	END IF;
	kind := 'OK';
	RETURN NEXT;
	IF cursor_key < p_prefix THEN
		cursor_key := p_prefix;		-- the prefix itself may be a key
		inclusive := true;
	ELSIF p_delimiter <> '' AND starts_with(cursor_key, p_prefix) THEN
		-- a marker inside a rolled-up group: the group was listed, skip all of it
		pos := strpos(substr(cursor_key, plen + 1), p_delimiter);
		IF pos > 0 THEN
			cursor_key := left(cursor_key, plen + pos - 1 + length(p_delimiter)) || chr(1114111);
		END IF;
	END IF;
	LOOP
		restart := false;
		FOR r IN
			SELECT o.key, o.size, o.etag, extract(epoch FROM o.created_at)::bigint AS mtime
			FROM objects o
			WHERE o.bucket = p_bucket
			  AND o.key >= cursor_key AND (inclusive OR o.key <> cursor_key)
			ORDER BY o.key
		LOOP
			IF NOT starts_with(r.key, p_prefix) THEN
				RETURN;
			END IF;
			IF n > p_max THEN
				RETURN;
			END IF;
			pos := CASE WHEN p_delimiter = '' THEN 0
			            ELSE strpos(substr(r.key, plen + 1), p_delimiter) END;
			IF pos > 0 THEN
				cp := left(r.key, plen + pos - 1 + length(p_delimiter));
				kind := 'prefix'; key := cp; size := NULL; etag := NULL; mtime := NULL;
				next := cp || chr(1114111);
				RETURN NEXT;
				n := n + 1;
				cursor_key := next;
				inclusive := false;
				restart := true;
				EXIT;
			END IF;
			kind := 'key'; key := r.key; size := r.size; etag := r.etag; mtime := r.mtime;
			next := r.key;
			RETURN NEXT;
			n := n + 1;
			cursor_key := r.key;
		END LOOP;
		EXIT WHEN NOT restart;
	END LOOP;
END
$$;
