-- Test-only stand-in for the storage issue's market-data tables, applied only when the real
-- migrations (0001-0009) have not created them. Column names follow the contract the API reads.
CREATE TABLE IF NOT EXISTS instruments (
    exchange        text    NOT NULL,
    symbol          text    NOT NULL,
    native_symbol   text    NOT NULL,
    price_scale     integer NOT NULL,
    qty_scale       integer NOT NULL,
    price_increment numeric,
    qty_increment   numeric,
    PRIMARY KEY (exchange, symbol)
);
CREATE TABLE IF NOT EXISTS trades (
    exchange    text        NOT NULL,
    symbol      text        NOT NULL,
    trade_id    bigint      NOT NULL,
    side        text        NOT NULL,
    price       numeric     NOT NULL,
    qty         numeric     NOT NULL,
    ts_exchange timestamptz NOT NULL,
    ts_recv     timestamptz NOT NULL,
    PRIMARY KEY (exchange, symbol, ts_exchange, trade_id)
);
CREATE TABLE IF NOT EXISTS quotes (
    exchange    text        NOT NULL,
    symbol      text        NOT NULL,
    bid_price   numeric,
    bid_qty     numeric,
    ask_price   numeric,
    ask_qty     numeric,
    ts_exchange timestamptz,
    ts_recv     timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS quotes_latest_idx ON quotes (exchange, symbol, ts_recv DESC);
CREATE TABLE IF NOT EXISTS gaps (
    exchange text        NOT NULL,
    symbol   text,
    reason   text        NOT NULL,
    ts_recv  timestamptz NOT NULL
);
