-- 007_usage.sql: monthly usage per backend.
--
--   add_usage   add the deltas each process counted and return this month's totals

CREATE FUNCTION add_usage(p_backends text[], p_requests bigint[], p_egress bigint[],
    p_ingress bigint[])
RETURNS TABLE (backend text, requests bigint, egress_bytes bigint, ingress_bytes bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	this_month date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
BEGIN
	INSERT INTO backend_usage AS u (backend, month, requests, egress_bytes, ingress_bytes)
	SELECT d.b, this_month, d.r, d.e, d.i
	FROM unnest(p_backends, p_requests, p_egress, p_ingress) AS d(b, r, e, i)
	WHERE EXISTS (SELECT 1 FROM backends WHERE name = d.b)
	ORDER BY d.b
	ON CONFLICT (backend, month) DO UPDATE SET
		requests = u.requests + EXCLUDED.requests,
		egress_bytes = u.egress_bytes + EXCLUDED.egress_bytes,
		ingress_bytes = u.ingress_bytes + EXCLUDED.ingress_bytes;
	RETURN QUERY
	SELECT u.backend, u.requests, u.egress_bytes, u.ingress_bytes
	FROM backend_usage u
	WHERE u.month = this_month AND u.backend = ANY(p_backends);
END
$$;
