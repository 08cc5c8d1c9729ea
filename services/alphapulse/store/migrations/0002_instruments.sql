-- Instruments as announced by the collectors' instrument frames (from each venue's own metadata).
-- instrument_id is the protocol's symbol id: derived from exchange + normalized symbol, stable
-- across processes and machines, so it can key every market-data row without a lookup.
CREATE TABLE IF NOT EXISTS instruments (
    instrument_id bigint      PRIMARY KEY,
    exchange      text        NOT NULL,
    symbol        text        NOT NULL,           -- normalized BASE-QUOTE, e.g. BTC-USD
    price_scale   smallint    NOT NULL CHECK (price_scale BETWEEN 0 AND 18),
    qty_scale     smallint    NOT NULL CHECK (qty_scale BETWEEN 0 AND 18),
    first_seen    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT instruments_exchange_symbol UNIQUE (exchange, symbol)
);

COMMENT ON TABLE instruments IS
    'One row per (exchange, symbol); scales are the latest announced. Market-data rows store exact NUMERIC values, so a later scale change never reinterprets history.';
