-- Backtest runs: written by the trading issue's backtester, read (only) by the API.
CREATE TABLE IF NOT EXISTS backtest_runs (
    id          uuid        PRIMARY KEY,
    name        text        NOT NULL,
    strategy    text        NOT NULL,
    params      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    venues      text[]      NOT NULL DEFAULT '{}',
    symbols     text[]      NOT NULL DEFAULT '{}',
    data_start  timestamptz,
    data_end    timestamptz,
    status      text        NOT NULL DEFAULT 'finished' CHECK (status IN ('running', 'finished', 'failed')),
    metrics     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX IF NOT EXISTS backtest_runs_started_idx ON backtest_runs (started_at DESC, id);
