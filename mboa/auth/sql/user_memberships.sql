-- A dashboard user's merchants, before any tenant is chosen. Runs as the platform role (owner,
-- which bypasses row-level security) and returns only what a login needs.
CREATE OR REPLACE FUNCTION mboa_user_memberships(p_user_id text)
RETURNS TABLE (merchant_id varchar, role varchar, merchant_name varchar, merchant_status varchar)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT mm.merchant_id, mm.role, m.name, m.status
    FROM merchant_members mm JOIN merchants m ON m.id = mm.merchant_id
    WHERE mm.user_id = p_user_id
    ORDER BY mm.merchant_id
$$;
