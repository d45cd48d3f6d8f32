-- Webhook fan-out (docs/webhooks.md §Fan-out): every statement that writes events also writes,
-- in the same transaction, one outbox job `webhooks.fan_out` naming the new events whose
-- merchant and mode have an enabled endpoint. Writers pay no extra round trip and cannot forget
-- it; a merchant without endpoints costs one index probe. The job (mboa/webhooks/tasks.py)
-- matches `enabled_events` and creates one delivery, and one delivery job, per endpoint.
-- It runs as the writer: under the API role, row-level security shows it the writer's own
-- merchant's endpoints, which are the only ones its events can concern.
CREATE OR REPLACE FUNCTION mboa_webhooks_fan_out() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox (task, queue, payload, job_id, delay_ms)
    SELECT 'webhooks.fan_out', '', jsonb_build_object('event_ids', jsonb_agg(e.id ORDER BY e.id)),
           'webhooks.fan_out:' || min(e.id), 0
    FROM new_events e
    WHERE EXISTS (
        SELECT 1 FROM webhook_endpoints w
        WHERE w.merchant_id = e.merchant_id AND w.livemode = e.livemode
          AND w.status = 'enabled' AND w.deleted_at IS NULL)
    HAVING count(*) > 0;
    RETURN NULL;
END $$;

CREATE TRIGGER events_fan_out AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION mboa_webhooks_fan_out();
