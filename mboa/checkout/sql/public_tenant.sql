-- The payment page (`/pay/cs_…_<secret>`) and a payment link's page (`/l/plink_…`) are public:
-- nobody authenticates, so the merchant is not known until the URL is read. These functions run
-- as the platform role (which bypasses row-level security) and return only the tenant of the
-- one row the URL names; the page then reads and writes as the API role scoped to that tenant,
-- so row-level security keeps every other merchant's rows out of reach.
CREATE OR REPLACE FUNCTION mboa_checkout_session_tenant(p_id text, p_secret text)
RETURNS TABLE (merchant_id varchar, livemode boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT s.merchant_id, s.livemode
    FROM checkout_sessions s
    WHERE s.id = p_id AND s.url_secret = p_secret
$$;

CREATE OR REPLACE FUNCTION mboa_payment_link_tenant(p_id text)
RETURNS TABLE (merchant_id varchar, livemode boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT l.merchant_id, l.livemode
    FROM payment_links l
    WHERE l.id = p_id
$$;
