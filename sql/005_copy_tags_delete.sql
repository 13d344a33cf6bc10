-- 005_copy_tags_delete.sql: metadata-only copies, object tags, and batch deletes.
--
--   update_object_meta   CopyObject of an object onto itself with REPLACE
--   set_object_tags      PutObjectTagging / DeleteObjectTagging
--   delete_objects       DeleteObjects: up to 1000 keys in one transaction

CREATE FUNCTION update_object_meta(p_bucket text, p_key text, p_version bigint,
    p_content_type text, p_headers jsonb, p_user_meta jsonb, p_tags jsonb,
    OUT status text, OUT etag text)
LANGUAGE plpgsql AS $$
DECLARE
	o objects;
BEGIN
	UPDATE objects SET content_type = p_content_type, headers = coalesce(p_headers, '{}'),
	       user_meta = coalesce(p_user_meta, '{}'), tags = coalesce(p_tags, '{}'),
	       created_at = now()
	WHERE bucket = p_bucket AND key = p_key AND version = p_version
	RETURNING * INTO o;
	IF NOT FOUND THEN
		status := 'NoSuchKey';	-- changed or deleted meanwhile
		RETURN;
	END IF;
	INSERT INTO event_outbox (bucket, key, event, version, size, etag)
	VALUES (p_bucket, p_key, 's3:ObjectCreated:Copy', o.version, o.size, o.etag);
	PERFORM pg_notify('s3mux_notifier', '');
	status := 'OK';
	etag := o.etag;
END
$$;

CREATE FUNCTION set_object_tags(p_bucket text, p_key text, p_tags jsonb)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	o objects;
BEGIN
	UPDATE objects SET tags = coalesce(p_tags, '{}')
	WHERE bucket = p_bucket AND key = p_key
	RETURNING * INTO o;
	IF FOUND THEN
		INSERT INTO event_outbox (bucket, key, event, version, size, etag)
		VALUES (p_bucket, p_key, CASE WHEN p_tags IS NULL OR p_tags = '{}'
		        THEN 's3:ObjectTagging:Delete' ELSE 's3:ObjectTagging:Put' END,
		        o.version, o.size, o.etag);
		PERFORM pg_notify('s3mux_notifier', '');
		RETURN 'OK';
	END IF;
	PERFORM 1 FROM buckets WHERE name = p_bucket;
	RETURN CASE WHEN FOUND THEN 'NoSuchKey' ELSE 'NoSuchBucket' END;
END
$$;

-- One row per key: whether it existed (S3 reports both as deleted), plus the cleanup rows
-- created for the copies, so the caller can delete them at once.
CREATE FUNCTION delete_objects(p_bucket text, p_keys text[])
RETURNS TABLE (key text, status text, cleanup_ids bigint[])
LANGUAGE plpgsql AS $$
DECLARE
	k text;
	d record;
BEGIN
	PERFORM 1 FROM buckets WHERE name = p_bucket;
	IF NOT FOUND THEN
		key := NULL;
		status := 'NoSuchBucket';
		RETURN NEXT;
		RETURN;
	END IF;
	-- in key order, so that two batches over the same keys take their locks in one order
	FOR k IN SELECT DISTINCT x FROM unnest(p_keys) AS x ORDER BY x LOOP
		SELECT * INTO d FROM delete_object(p_bucket, k);
		key := k;
		status := d.status;
		cleanup_ids := d.cleanup_ids;
		RETURN NEXT;
	END LOOP;
END
$$;
