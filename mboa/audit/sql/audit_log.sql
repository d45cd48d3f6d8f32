-- The audit log (docs/audit.md). Append-only, for its owner too: no UPDATE, DELETE or TRUNCATE.
-- Rows are written only by mboa_audit_append, a SECURITY DEFINER function owned by the NOLOGIN
-- role mboa_audit, which alone may INSERT into audit_log and move the chain's head.
CREATE OR REPLACE FUNCTION mboa_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION mboa_audit_append_only();

-- The canonical serialization a row's hash covers: a JSON array of every column but the hash
-- itself, in this order, created_at as integer microseconds since the epoch, before/after as
-- PostgreSQL writes jsonb (keys sorted). `mboa audit verify` recomputes it for every row.
CREATE OR REPLACE FUNCTION mboa_audit_canonical(
    seq bigint, id text, created_at timestamptz, merchant_id text, livemode boolean,
    actor_type text, actor_id text, actor_label text, action text, target_type text,
    target_id text, before jsonb, after jsonb, ip text, user_agent text, request_id text,
    prev_hash text
) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_array(
    seq, id, (extract(epoch FROM created_at) * 1000000)::bigint, merchant_id, livemode,
    actor_type, actor_id, actor_label, action, target_type, target_id, before, after, ip,
    user_agent, request_id, prev_hash
  )::text
$$;

CREATE OR REPLACE FUNCTION mboa_audit_hash(
    seq bigint, id text, created_at timestamptz, merchant_id text, livemode boolean,
    actor_type text, actor_id text, actor_label text, action text, target_type text,
    target_id text, before jsonb, after jsonb, ip text, user_agent text, request_id text,
    prev_hash text
) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT encode(sha256(convert_to(mboa_audit_canonical(
    seq, id, created_at, merchant_id, livemode, actor_type, actor_id, actor_label, action,
    target_type, target_id, before, after, ip, user_agent, request_id, prev_hash
  ), 'UTF8')), 'hex')
$$;

-- Append one row at the end of the chain, in the caller's transaction. The head row's lock
-- (FOR UPDATE) is held until that transaction ends, so concurrent appends take their turn and
-- each one links to the row committed before it. A caller scoped to a merchant (row-level
-- security's mboa.merchant_id) may write only that merchant's rows. The actor's label is the
-- user's email or the key's redacted form unless the caller gives one.
CREATE OR REPLACE FUNCTION mboa_audit_append(
    p_id text, p_merchant_id text, p_livemode boolean, p_actor_type text, p_actor_id text,
    p_actor_label text, p_action text, p_target_type text, p_target_id text, p_before jsonb,
    p_after jsonb, p_ip text, p_user_agent text, p_request_id text
) RETURNS TABLE (seq bigint, created_at timestamptz, hash text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
  tenant text := NULLIF(current_setting('mboa.merchant_id', true), '');
  head_seq bigint;
  head_hash text;
  label text := p_actor_label;
  new_seq bigint;
  new_created timestamptz;
  new_hash text;
BEGIN
  IF tenant IS NOT NULL AND p_merchant_id IS DISTINCT FROM tenant THEN
    RAISE EXCEPTION 'an audit row for another merchant than the transaction''s'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF label IS NULL AND p_actor_id IS NOT NULL THEN
    IF p_actor_type IN ('user', 'staff') THEN
      SELECT u.email INTO label FROM users u WHERE u.id = p_actor_id;
    ELSIF p_actor_type = 'api_key' THEN
      SELECT k.prefix || '…' || k.last4 INTO label FROM api_keys k WHERE k.id = p_actor_id;
    END IF;
  END IF;
  SELECT h.seq, h.hash INTO head_seq, head_hash FROM audit_chain_head h WHERE h.id FOR UPDATE;
  new_seq := head_seq + 1;
  new_created := clock_timestamp();
  new_hash := mboa_audit_hash(
    new_seq, p_id, new_created, p_merchant_id, p_livemode, p_actor_type, p_actor_id, label,
    p_action, p_target_type, p_target_id, p_before, p_after, p_ip, p_user_agent, p_request_id,
    head_hash
  );
  INSERT INTO audit_log (id, seq, created_at, merchant_id, livemode, actor_type, actor_id,
                         actor_label, action, target_type, target_id, before, after, ip,
                         user_agent, request_id, prev_hash, hash)
  VALUES (p_id, new_seq, new_created, p_merchant_id, p_livemode, p_actor_type, p_actor_id,
          label, p_action, p_target_type, p_target_id, p_before, p_after, p_ip, p_user_agent,
          p_request_id, head_hash, new_hash);
  UPDATE audit_chain_head h SET seq = new_seq, hash = new_hash WHERE h.id;
  RETURN QUERY SELECT new_seq, new_created, new_hash;
END $$;
