-- Authentication must find a key before the tenant is known. Runs as the platform role (owner,
-- which bypasses row-level security) and returns only what authentication needs.
CREATE OR REPLACE FUNCTION mboa_authenticate_api_key(p_secret_hash text)
RETURNS TABLE (
    id varchar, merchant_id varchar, livemode boolean, type varchar, scopes varchar[],
    expires_at timestamptz, revoked_at timestamptz, merchant_status varchar
)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT k.id, k.merchant_id, k.livemode, k.type, k.scopes, k.expires_at, k.revoked_at,
           m.status
    FROM api_keys k JOIN merchants m ON m.id = k.merchant_id
    WHERE k.secret_hash = p_secret_hash
$$;
