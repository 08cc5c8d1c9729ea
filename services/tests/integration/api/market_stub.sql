-- Test-only stand-in for the storage issue's market-data tables (migrations 0002-0007 on branch
-- `store`), applied only when those migrations are not in this tree. Same tables, columns and
-- candle function as the real ones, minus the TimescaleDB branches.
CREATE TABLE IF NOT EXISTS instruments (
    instrument_id bigint      PRIMARY KEY,
    exchange      text        NOT NULL,
    symbol        text        NOT NULL,
    price_scale   smallint    NOT NULL,
    qty_scale     smallint    NOT NULL,
    first_seen    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT instruments_exchange_symbol UNIQUE (exchange, symbol)
);
CREATE TABLE IF NOT EXISTS trades (
    time           timestamptz NOT NULL,
    instrument_id  bigint      NOT NULL,
    trade_id       bigint      NOT NULL,
    side           text        NOT NULL,
    price          numeric     NOT NULL,
    qty            numeric     NOT NULL,
    seq            bigint      NOT NULL,
    ts_exchange_ns bigint      NOT NULL,
    ts_recv_ns     bigint      NOT NULL,
    CONSTRAINT trades_natural_key UNIQUE (instrument_id, trade_id, time)
);
CREATE INDEX IF NOT EXISTS trades_instrument_time ON trades (instrument_id, time DESC);
CREATE TABLE IF NOT EXISTS quotes (
    time           timestamptz NOT NULL,
    instrument_id  bigint      NOT NULL,
    bid_price      numeric     NOT NULL,
    bid_qty        numeric     NOT NULL,
    ask_price      numeric     NOT NULL,
    ask_qty        numeric     NOT NULL,
    seq            bigint      NOT NULL,
    ts_exchange_ns bigint      NOT NULL,
    ts_recv_ns     bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS quotes_instrument_time ON quotes (instrument_id, time DESC);
CREATE TABLE IF NOT EXISTS gaps (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time        timestamptz NOT NULL,
    source      text        NOT NULL,
    feed        text        NOT NULL DEFAULT '',
    exchange    text        NOT NULL DEFAULT '',
    reason      text        NOT NULL,
    missed      bigint,
    detected_ns bigint      NOT NULL
);
CREATE TABLE IF NOT EXISTS feed_events (
    time     timestamptz NOT NULL,
    feed     text        NOT NULL,
    exchange text        NOT NULL DEFAULT '',
    kind     text        NOT NULL,
    detail   jsonb       NOT NULL DEFAULT '{}'::jsonb,
    ts_ns    bigint      NOT NULL
);
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
