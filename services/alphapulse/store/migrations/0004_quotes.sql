-- Top-of-book quotes. There is no venue id for a quote, so the natural key is the frame's own
-- identity: (instrument_id, time, ts_recv_ns, seq) — the collector's receive time and the feed's
-- sequence number; with the 32-bit wrapping sequence the receive time keeps it unique.
CREATE TABLE IF NOT EXISTS quotes (
    time           timestamptz NOT NULL,
    instrument_id  bigint      NOT NULL,
    bid_price      numeric     NOT NULL,
    bid_qty        numeric     NOT NULL,
    ask_price      numeric     NOT NULL,
    ask_qty        numeric     NOT NULL,
    seq            bigint      NOT NULL,
    ts_exchange_ns bigint      NOT NULL,
    ts_recv_ns     bigint      NOT NULL,
    CONSTRAINT quotes_natural_key UNIQUE (instrument_id, time, ts_recv_ns, seq)
);

SELECT ap_make_hypertable('quotes', interval '1 day');
DO $$
BEGIN
    IF ap_timescale_level() = 'none' THEN
        CREATE INDEX IF NOT EXISTS quotes_time_brin ON quotes USING brin (time);
    END IF;
END;
$$;
SELECT ap_timescale_policies('quotes', 'instrument_id', 'time DESC', interval '1 day', interval '90 days');
