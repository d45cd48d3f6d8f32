-- The public pages' GETs in one round trip each (docs/checkout.md, "Who may read what"): the
-- payment page (`/pay/cs_…_<secret>`, its `/status` and `/events`) and a payment link's page
-- (`/l/plink_…`). Like `public_tenant.sql`, these run as the platform role (which bypasses
-- row-level security), so each one states what it may return: the one row its URL names
-- (a session only when its id AND secret match), and rows of that row's own merchant and mode
-- only (every join repeats `merchant_id` and `livemode`). They return what the page shows and
-- nothing else: no secret, no full phone number (the attempt's is masked), no operator
-- reference; the merchant's logo as its storage key, which the page turns into a signed URL
-- (docs/storage.md): read as `to_jsonb(m) ->> 'logo_key'`, not `m.logo_key`, because revision
-- 0012 loads this same file before 0013 adds the column (NULL until then). They only read (STABLE: PostgreSQL refuses a write in them).
CREATE OR REPLACE FUNCTION mboa_checkout_page(p_id text, p_secret text)
RETURNS TABLE (
    id text,
    livemode boolean,
    merchant_name text,
    status text,
    amount bigint,
    currency text,
    description text,
    locale text,
    phone text,
    success_url text,
    cancel_url text,
    completion_message text,
    expires_at timestamptz,
    intent_status text,
    error_code text,
    succeeded_at timestamptz,
    attempt_id text,
    attempt_status text,
    flow text,
    provider text,
    phone_masked text,
    redirect_url text,
    operator_transaction_id text,
    prompt_sent boolean,
    merchant_logo_key text
)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT s.id::text, s.livemode, m.name::text, s.status::text, s.amount, s.currency::text,
        s.description::text, s.locale::text, s.phone::text, s.success_url::text,
        s.cancel_url::text, s.completion_message::text, s.expires_at,
        i.status::text, i.last_payment_error ->> 'code', i.succeeded_at,
        a.id::text, a.status::text, a.flow::text, a.provider::text, a.phone_masked::text,
        a.redirect_url::text, a.operator_transaction_id::text,
        a.operator_reference IS NOT NULL AND a.sent_at IS NOT NULL,
        to_jsonb(m) ->> 'logo_key'
    FROM checkout_sessions s
    JOIN merchants m ON m.id = s.merchant_id
    JOIN payment_intents i
        ON i.id = s.payment_intent_id AND i.merchant_id = s.merchant_id
        AND i.livemode = s.livemode
    LEFT JOIN payment_attempts a
        ON a.id = i.latest_attempt_id AND a.merchant_id = s.merchant_id
        AND a.livemode = s.livemode
    -- The primary key finds the row; the secret is compared for that row only. Plain `=` is
    -- no timing oracle worth the name: 192 random bits, compared as whole strings (a length
    -- check, then memcmp), and nanoseconds of difference behind a network round trip.
    WHERE s.id = p_id AND s.url_secret = p_secret
$$;

CREATE OR REPLACE FUNCTION mboa_payment_link_page(p_id text)
RETURNS TABLE (
    id text,
    livemode boolean,
    merchant_name text,
    active boolean,
    currency text,
    amount bigint,
    min_amount bigint,
    max_amount bigint,
    description text,
    fields jsonb,
    merchant_logo_key text
)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT l.id::text, l.livemode, m.name::text, l.active, l.currency::text, l.amount,
        l.min_amount, l.max_amount, l.description::text, l.fields,
        to_jsonb(m) ->> 'logo_key'
    FROM payment_links l
    JOIN merchants m ON m.id = l.merchant_id
    WHERE l.id = p_id
$$;
