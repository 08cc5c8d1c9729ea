-- API: users and roles. Sessions live in Redis (see docs/api.md); this table is the account of record.
-- Idempotent: every statement may run again on an up-to-date database.
CREATE TABLE IF NOT EXISTS users (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username            text        NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9_.-]{3,64}$'),
    password_hash       text        NOT NULL,
    role                text        NOT NULL CHECK (role IN ('admin', 'trader', 'viewer')),
    disabled            boolean     NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL DEFAULT now(),
    password_changed_at timestamptz NOT NULL DEFAULT now()
);
