-- 001_schema.sql: the catalogue's tables.
--
-- One row in objects per live object (bucket, key); one row in object_locations per copy of
-- it on a backend.  A PUT first writes an intent into pending_objects, whose unique
-- (backend, bucket, key) also serialises writers of one backend object name; commit_put
-- (a function in a later migration) promotes it.  Quota counters move in the same
-- transactions as the rows they account for.  Key columns use the "C" collation so that
-- listings come out in the byte order S3 uses.

CREATE TABLE backends (
	name		text PRIMARY KEY,
	driver		text NOT NULL CHECK (driver IN ('fs', 's3')),
	added_at	timestamptz NOT NULL DEFAULT now()
);

-- Bytes per backend.  bytes_used = sum of object_locations.stored_size on it;
-- bytes_reserved = sum of the declared sizes of its pending intents;
-- orphan_bytes = bytes of displaced copies still waiting in cleanup_queue or cleanup_dlq.
CREATE TABLE backend_quotas (
	backend		text PRIMARY KEY REFERENCES backends(name),
	bytes_limit	bigint NOT NULL DEFAULT 0 CHECK (bytes_limit >= 0),	-- 0: no limit
	bytes_used	bigint NOT NULL DEFAULT 0 CHECK (bytes_used >= 0),
	bytes_reserved	bigint NOT NULL DEFAULT 0 CHECK (bytes_reserved >= 0),
	orphan_bytes	bigint NOT NULL DEFAULT 0 CHECK (orphan_bytes >= 0),
	draining	boolean NOT NULL DEFAULT false
);

-- Monthly usage per backend; month is the first day of the month (UTC).
CREATE TABLE backend_usage (
	backend		text NOT NULL REFERENCES backends(name),
	month		date NOT NULL,
	requests	bigint NOT NULL DEFAULT 0,
	egress_bytes	bigint NOT NULL DEFAULT 0,
	ingress_bytes	bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (backend, month)
);

CREATE TABLE buckets (
	name		text COLLATE "C" PRIMARY KEY,
	owner		text NOT NULL,			-- the access key that created it
	region		text NOT NULL DEFAULT 'us-east-1',
	codec		text NOT NULL DEFAULT 'none' CHECK (codec IN ('none', 'zstd')),
	key_id		text,				-- encryption key id, or null
	soft_quota	bigint NOT NULL DEFAULT 0,
	write_gate	bigint,				-- the job holding the gate, or null
	created_at	timestamptz NOT NULL DEFAULT now()
);

-- Every write gets a new version from this sequence: it orders writes of one key and is the
-- sequencer of its events.
CREATE SEQUENCE object_version_seq;

CREATE TABLE objects (
	bucket		text COLLATE "C" NOT NULL REFERENCES buckets(name),
	key		text COLLATE "C" NOT NULL,
	version		bigint NOT NULL,
	size		bigint NOT NULL CHECK (size >= 0),
	etag		text NOT NULL,
	content_type	text,
	headers		jsonb NOT NULL DEFAULT '{}',	-- content-encoding, cache-control, ...
	user_meta	jsonb NOT NULL DEFAULT '{}',	-- x-amz-meta-*
	tags		jsonb NOT NULL DEFAULT '{}',
	checksum_algo	text,
	checksum	text,
	parts		integer NOT NULL DEFAULT 0,	-- multipart: number of parts
	part_sizes	bigint[],			-- multipart: the size of each part
	created_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (bucket, key)
);

CREATE TABLE object_locations (
	bucket		text COLLATE "C" NOT NULL,
	key		text COLLATE "C" NOT NULL,
	backend		text NOT NULL REFERENCES backends(name),
	version		bigint NOT NULL,		-- the objects.version these bytes are
	stored_size	bigint NOT NULL CHECK (stored_size >= 0),
	codec		text NOT NULL DEFAULT 'none',
	key_id		text,
	created_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (bucket, key, backend),
	FOREIGN KEY (bucket, key) REFERENCES objects(bucket, key)
);
CREATE INDEX object_locations_backend ON object_locations (backend);

-- A write (or a delete by the cleanup role) in progress on one backend object name.
CREATE TABLE pending_objects (
	id		bigserial PRIMARY KEY,
	backend		text NOT NULL REFERENCES backends(name),
	bucket		text COLLATE "C" NOT NULL,
	key		text COLLATE "C" NOT NULL,
	kind		text NOT NULL DEFAULT 'put' CHECK (kind IN ('put', 'replica', 'delete')),
	version		bigint NOT NULL,
	declared_size	bigint NOT NULL DEFAULT 0,
	owner		text NOT NULL,			-- "frontend:<host>:<pid>", ...
	created_at	timestamptz NOT NULL DEFAULT now(),
	UNIQUE (backend, bucket, key)
);
CREATE INDEX pending_objects_age ON pending_objects (created_at);

CREATE TABLE multipart_uploads (
	upload_id	text PRIMARY KEY,
	bucket		text COLLATE "C" NOT NULL REFERENCES buckets(name),
	key		text COLLATE "C" NOT NULL,
	backend		text NOT NULL REFERENCES backends(name),
	owner		text NOT NULL,
	content_type	text,
	headers		jsonb NOT NULL DEFAULT '{}',
	user_meta	jsonb NOT NULL DEFAULT '{}',
	tags		jsonb NOT NULL DEFAULT '{}',
	checksum_algo	text,
	state		text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'completing', 'completed', 'aborted')),
	result_etag	text,				-- once completed: for a repeated Complete
	result_size	bigint,
	created_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX multipart_uploads_list ON multipart_uploads (bucket, key, created_at);

CREATE TABLE multipart_parts (
	upload_id	text NOT NULL REFERENCES multipart_uploads(upload_id) ON DELETE CASCADE,
	part_number	integer NOT NULL CHECK (part_number BETWEEN 1 AND 10000),
	size		bigint NOT NULL,
	etag		text NOT NULL,
	checksum	text,
	object_name	text NOT NULL,			-- where the part is on the upload's backend
	created_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (upload_id, part_number)
);

-- Backend objects to delete: displaced copies, aborted uploads, failed writes.
CREATE TABLE cleanup_queue (
	id		bigserial PRIMARY KEY,
	backend		text NOT NULL REFERENCES backends(name),
	bucket		text COLLATE "C" NOT NULL,
	key		text COLLATE "C" NOT NULL,
	object_name	text,				-- a part or temp name, when not (bucket, key)
	version		bigint,				-- the version the bytes were, when known
	reason		text NOT NULL,
	size		bigint NOT NULL DEFAULT 0,
	attempts	integer NOT NULL DEFAULT 0,
	next_attempt_at	timestamptz NOT NULL DEFAULT now(),
	claimed_at	timestamptz,
	claimed_by	text,
	claim_token	bigint,
	last_error	text,
	created_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cleanup_queue_due ON cleanup_queue (next_attempt_at);

CREATE TABLE cleanup_dlq (
	id		bigint PRIMARY KEY,		-- the cleanup_queue id it had
	backend		text NOT NULL REFERENCES backends(name),
	bucket		text COLLATE "C" NOT NULL,
	key		text COLLATE "C" NOT NULL,
	object_name	text,
	version		bigint,
	reason		text NOT NULL,
	size		bigint NOT NULL DEFAULT 0,
	attempts	integer NOT NULL,
	last_error	text,
	created_at	timestamptz NOT NULL,
	failed_at	timestamptz NOT NULL DEFAULT now()
);

-- Every successful mutation appends here; consumers read it on their own cursors.
CREATE TABLE event_outbox (
	id		bigserial PRIMARY KEY,
	bucket		text COLLATE "C" NOT NULL,
	key		text COLLATE "C" NOT NULL,
	event		text NOT NULL,			-- "s3:ObjectCreated:Put", ...
	version		bigint,
	size		bigint,
	etag		text,
	at		timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE outbox_cursors (
	consumer	text PRIMARY KEY,		-- "replicator", "notifier", ...
	last_id		bigint NOT NULL DEFAULT 0,
	updated_at	timestamptz NOT NULL DEFAULT now()
);
