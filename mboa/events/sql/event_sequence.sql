-- Per-object sequence numbers and the stream position of every event (docs/events.md).
--
-- Filled here, not by the writers, so that every insert into `events` gets them, whether it comes
-- from the ORM (`mboa.events.service`) or from a bare asyncpg statement.
--
-- `sequence`: 1, 2, 3… per `object_id`, strictly increasing in the commit order of that object's
-- changes. The counter lives in `event_sequences`, one row per object, and is bumped with an
-- upsert. Its row lock serialises two transactions writing events for the same object: the second
-- waits at this statement until the first commits, then reads the committed counter. Every
-- writer today already holds the object's own row lock (`SELECT … FOR UPDATE` on the intent,
-- refund or payout) before it writes the event, so this wait never happens in practice; the
-- counter's lock makes the order hold for a writer that does not. The counter outlives the
-- retention prune of `events`, so an object's numbering never restarts.
--
-- `xact_id`: the writing transaction's id. The event stream (`mboa.events.stream`) reads only
-- events whose transaction precedes every transaction still running (`pg_snapshot_xmin`), so it
-- never skips an event that commits late with an older id.
CREATE OR REPLACE FUNCTION mboa_event_sequence() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_sequences AS s (object_id, merchant_id, livemode, last_sequence)
    VALUES (NEW.object_id, NEW.merchant_id, NEW.livemode, 1)
    ON CONFLICT (object_id) DO UPDATE SET last_sequence = s.last_sequence + 1
    RETURNING s.last_sequence INTO NEW.sequence;
    NEW.xact_id := pg_current_xact_id()::text::bigint;
    RETURN NEW;
END $$;

CREATE TRIGGER event_sequence BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION mboa_event_sequence();
