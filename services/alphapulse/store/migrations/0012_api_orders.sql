-- API: orders, their fills, and every order event received from the trading engine.
-- The API inserts an order (status 'pending_new') before queueing it on the Redis stream
-- `alphapulse:orders`; events from `alphapulse:order-events` move it through its life cycle.
CREATE TABLE IF NOT EXISTS orders (
    id               uuid        PRIMARY KEY,
    account_id       bigint      NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    user_id          bigint      REFERENCES users (id) ON DELETE SET NULL,
    client_order_id  text        CHECK (client_order_id ~ '^[A-Za-z0-9_.:-]{1,64}$'),
    exchange         text        NOT NULL,
    symbol           text        NOT NULL,
    side             text        NOT NULL CHECK (side IN ('buy', 'sell')),
    type             text        NOT NULL CHECK (type IN ('market', 'limit')),
    time_in_force    text        NOT NULL CHECK (time_in_force IN ('gtc', 'ioc', 'fok')),
    quantity         numeric     NOT NULL CHECK (quantity > 0),
    limit_price      numeric     CHECK (limit_price > 0),
    status           text        NOT NULL CHECK (status IN (
                         'pending_new', 'accepted', 'partially_filled', 'filled', 'cancelled', 'rejected')),
    reject_reason    text,
    filled_qty       numeric     NOT NULL DEFAULT 0,
    avg_fill_price   numeric,
    fees             numeric     NOT NULL DEFAULT 0,
    venue_order_id   text,
    created_ns       bigint      NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    cancel_requested_at timestamptz,
    CHECK ((type = 'limit') = (limit_price IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS orders_account_created_idx ON orders (account_id, created_at DESC, id);
CREATE INDEX IF NOT EXISTS orders_open_idx ON orders (status) WHERE status IN ('pending_new', 'accepted', 'partially_filled');
CREATE UNIQUE INDEX IF NOT EXISTS orders_client_id_uq ON orders (account_id, client_order_id)
    WHERE client_order_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS fills (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id    uuid        NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    fill_id     text        NOT NULL,
    account_id  bigint      NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    exchange    text        NOT NULL,
    symbol      text        NOT NULL,
    side        text        NOT NULL CHECK (side IN ('buy', 'sell')),
    price       numeric     NOT NULL CHECK (price > 0),
    qty         numeric     NOT NULL CHECK (qty > 0),
    fee         numeric     NOT NULL DEFAULT 0,
    fee_asset   text,
    liquidity   text        CHECK (liquidity IN ('maker', 'taker')),
    ts          timestamptz NOT NULL,
    ts_ns       bigint      NOT NULL,
    UNIQUE (order_id, fill_id)
);
CREATE INDEX IF NOT EXISTS fills_account_ts_idx ON fills (account_id, ts DESC, id DESC);

-- One row per stream entry applied: makes the consumer idempotent across restarts and replicas.
CREATE TABLE IF NOT EXISTS order_events (
    stream_id   text        PRIMARY KEY,
    order_id    uuid,
    type        text        NOT NULL,
    payload     jsonb       NOT NULL,
    outcome     text        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS order_events_order_idx ON order_events (order_id);
