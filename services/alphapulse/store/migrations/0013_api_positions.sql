-- API: positions per account and instrument (average-cost method) and the equity curve.
CREATE TABLE IF NOT EXISTS positions (
    account_id   bigint      NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    exchange     text        NOT NULL,
    symbol       text        NOT NULL,
    qty          numeric     NOT NULL DEFAULT 0,
    avg_price    numeric     NOT NULL DEFAULT 0,
    realised_pnl numeric     NOT NULL DEFAULT 0,
    fees         numeric     NOT NULL DEFAULT 0,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, exchange, symbol)
);

CREATE TABLE IF NOT EXISTS equity_history (
    account_id     bigint      NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    ts             timestamptz NOT NULL,
    equity         numeric     NOT NULL,
    realised_pnl   numeric     NOT NULL,
    unrealised_pnl numeric     NOT NULL,
    PRIMARY KEY (account_id, ts)
);
