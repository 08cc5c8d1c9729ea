-- OHLCV candles from trades. One query shape everywhere: ap_candles(width, from, to[, ids]) reads
-- trades with date_bin (plain PostgreSQL 14+, and hypertables: date_bin buckets equal
-- time_bucket's for widths that divide a day, both anchored at the epoch). Open/close are the
-- first/last trade by (exchange time in ns, trade id), so ties are broken the same way in SQL and
-- in DuckDB (alphapulse.analytics).

-- first/last aggregates for plain PostgreSQL (TimescaleDB's first()/last() take a time argument
-- and are not in core). Used with ORDER BY inside the call: ap_first(price ORDER BY ts, id).
CREATE OR REPLACE FUNCTION ap_first_step(anyelement, anyelement) RETURNS anyelement
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS 'SELECT $1';
CREATE OR REPLACE FUNCTION ap_last_step(anyelement, anyelement) RETURNS anyelement
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS 'SELECT $2';
CREATE OR REPLACE AGGREGATE ap_first(anyelement) (SFUNC = ap_first_step, STYPE = anyelement, PARALLEL = SAFE);
CREATE OR REPLACE AGGREGATE ap_last(anyelement) (SFUNC = ap_last_step, STYPE = anyelement, PARALLEL = SAFE);

CREATE OR REPLACE FUNCTION ap_candles(
    p_width interval, p_from timestamptz, p_to timestamptz, p_instruments bigint[] DEFAULT NULL
) RETURNS TABLE (
    bucket timestamptz, instrument_id bigint, open numeric, high numeric, low numeric,
    close numeric, volume numeric, notional numeric, trades bigint
)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT date_bin(p_width, t.time, timestamptz 'epoch') AS bucket,
           t.instrument_id,
           ap_first(t.price ORDER BY t.ts_exchange_ns, t.trade_id),
           max(t.price),
           min(t.price),
           ap_last(t.price ORDER BY t.ts_exchange_ns, t.trade_id),
           sum(t.qty),
           sum(t.price * t.qty),
           count(*)
      FROM trades AS t
     WHERE t.time >= p_from AND t.time < p_to
       AND (p_instruments IS NULL OR t.instrument_id = ANY (p_instruments))
     GROUP BY 1, 2
     ORDER BY 2, 1
$$;

-- candles_1s / candles_1m / candles_1h for dashboards (Grafana): continuous aggregates where the
-- TimescaleDB license has them (refreshed by a policy), plain views otherwise. Same columns.
DO $$
DECLARE
    spec record;
BEGIN
    FOR spec IN SELECT * FROM (VALUES
        ('candles_1s', interval '1 second', interval '10 minutes', interval '2 seconds', interval '1 second'),
        ('candles_1m', interval '1 minute', interval '2 hours',    interval '1 minute',  interval '1 minute'),
        ('candles_1h', interval '1 hour',   interval '3 days',     interval '1 hour',    interval '10 minutes')
    ) AS s(name, width, start_offset, end_offset, schedule)
    LOOP
        IF ap_timescale_level() = 'timescale' THEN
            EXECUTE format(
                'CREATE MATERIALIZED VIEW IF NOT EXISTS %I WITH (timescaledb.continuous) AS '
                'SELECT time_bucket(%L, time) AS bucket, instrument_id, '
                'first(price, time) AS open, max(price) AS high, min(price) AS low, '
                'last(price, time) AS close, sum(qty) AS volume, sum(price * qty) AS notional, '
                'count(*) AS trades FROM trades GROUP BY 1, 2 WITH NO DATA',
                spec.name, spec.width);
            PERFORM add_continuous_aggregate_policy(
                spec.name::regclass, start_offset => spec.start_offset,
                end_offset => spec.end_offset, schedule_interval => spec.schedule, if_not_exists => true);
        ELSE
            EXECUTE format(
                'CREATE OR REPLACE VIEW %I AS '
                'SELECT date_bin(%L, time, timestamptz ''epoch'') AS bucket, instrument_id, '
                'ap_first(price ORDER BY ts_exchange_ns, trade_id) AS open, max(price) AS high, '
                'min(price) AS low, ap_last(price ORDER BY ts_exchange_ns, trade_id) AS close, '
                'sum(qty) AS volume, sum(price * qty) AS notional, count(*) AS trades '
                'FROM trades GROUP BY 1, 2',
                spec.name, spec.width);
        END IF;
    END LOOP;
END;
$$;

-- Readable views with exchange and symbol for people and dashboards.
CREATE OR REPLACE VIEW trades_named AS
SELECT t.time, i.exchange, i.symbol, t.side, t.price, t.qty, t.trade_id, t.seq,
       t.ts_exchange_ns, t.ts_recv_ns, t.instrument_id
  FROM trades AS t JOIN instruments AS i USING (instrument_id);

CREATE OR REPLACE VIEW quotes_named AS
SELECT q.time, i.exchange, i.symbol, q.bid_price, q.bid_qty, q.ask_price, q.ask_qty,
       q.ask_price - q.bid_price AS spread, q.seq, q.ts_exchange_ns, q.ts_recv_ns, q.instrument_id
  FROM quotes AS q JOIN instruments AS i USING (instrument_id);
