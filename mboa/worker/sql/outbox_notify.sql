-- Wake the relay (mboa.worker.relay, channel `mboa_outbox`) the moment a transaction that wrote
-- jobs commits: NOTIFY is delivered at commit.
CREATE OR REPLACE FUNCTION mboa_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_notify('mboa_outbox', ''); RETURN NULL; END $$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION mboa_outbox_notify();
