-- Order book levels, one row per level per frame: snapshots (flags bit 0) and incremental
-- updates; qty = 0 deletes the level. Flags bit 1 marks the last level of a batch (a consistent
-- book), as NautilusTrader's F_SNAPSHOT / F_LAST. Natural key as for quotes.
CREATE TABLE IF NOT EXISTS book_updates (
    time           timestamptz NOT NULL,
    instrument_id  bigint      NOT NULL,
    side           text        NOT NULL CHECK (side IN ('bid', 'ask')),
    price          numeric     NOT NULL,
    qty            numeric     NOT NULL,
    flags          smallint    NOT NULL DEFAULT 0,   -- 1 = snapshot, 2 = last in batch
    seq            bigint      NOT NULL,
    ts_exchange_ns bigint      NOT NULL,
    ts_recv_ns     bigint      NOT NULL,
    CONSTRAINT book_updates_natural_key UNIQUE (instrument_id, time, ts_recv_ns, seq)
);

SELECT ap_make_hypertable('book_updates', interval '6 hours');
DO $$
BEGIN
    IF ap_timescale_level() = 'none' THEN
        CREATE INDEX IF NOT EXISTS book_updates_time_brin ON book_updates USING brin (time);
    END IF;
END;
$$;
SELECT ap_timescale_policies('book_updates', 'instrument_id', 'time DESC', interval '1 day', interval '30 days');
