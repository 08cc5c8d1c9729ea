-- Trades. Natural key (instrument_id, time, trade_id): the venue's trade id is unique per
-- instrument, and TimescaleDB requires the partitioning column in every unique index. Replaying
-- the same frames hits the key and inserts nothing (INSERT ... ON CONFLICT DO NOTHING). Its column
-- order (instrument, then time) also makes it the index for "this instrument over this range", so
-- there is no second btree to maintain on every insert (measured: indexes are most of the cost).
CREATE TABLE IF NOT EXISTS trades (
    time           timestamptz NOT NULL,          -- exchange time, microseconds (for bucketing)
    instrument_id  bigint      NOT NULL,
    trade_id       bigint      NOT NULL,          -- the venue's trade id
    side           text        NOT NULL CHECK (side IN ('buy', 'sell', 'unknown')),  -- taker side
    price          numeric     NOT NULL,          -- exact, display scale = the instrument's price scale
    qty            numeric     NOT NULL,
    seq            bigint      NOT NULL,          -- the feed's frame sequence number
    ts_exchange_ns bigint      NOT NULL,          -- exact exchange time, ns since the epoch
    ts_recv_ns     bigint      NOT NULL,          -- collector receive time, ns since the epoch
    CONSTRAINT trades_natural_key UNIQUE (instrument_id, time, trade_id)
);

SELECT ap_make_hypertable('trades', interval '1 day');
-- On plain PostgreSQL a BRIN index serves time-range scans (export, candles) for a few pages of
-- index; a hypertable already has its own time index per chunk.
DO $$
BEGIN
    IF ap_timescale_level() = 'none' THEN
        CREATE INDEX IF NOT EXISTS trades_time_brin ON trades USING brin (time);
    END IF;
END;
$$;
SELECT ap_timescale_policies('trades', 'instrument_id', 'time DESC, trade_id', interval '2 days', NULL);
