-- API: trading accounts (paper by default) and their balances per asset.
CREATE TABLE IF NOT EXISTS accounts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text        NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
    owner_id      bigint      NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    kind          text        NOT NULL DEFAULT 'paper' CHECK (kind IN ('paper', 'live')),
    base_currency text        NOT NULL DEFAULT 'USDT' CHECK (base_currency ~ '^[A-Z0-9]{2,12}$'),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS accounts_owner_idx ON accounts (owner_id);

CREATE TABLE IF NOT EXISTS balances (
    account_id bigint      NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    asset      text        NOT NULL CHECK (asset ~ '^[A-Z0-9]{2,12}$'),
    amount     numeric     NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, asset)
);
