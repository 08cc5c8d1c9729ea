-- Bookkeeping for the migration runner (alphapulse.store.migrations). The runner also creates this
-- table itself before reading it, so this file only documents it and adds what the runner does not
-- need to bootstrap. One numbered sequence for the whole project: 0001-0009 market data (storage),
-- 0010-0019 API (users, sessions, accounts, orders, fills, positions), 0020-0029 trading.
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text        NOT NULL,
    checksum    text        NOT NULL,           -- sha256 of the file's bytes, hex
    applied_at  timestamptz NOT NULL DEFAULT now(),
    duration_ms integer     NOT NULL DEFAULT 0
);

COMMENT ON TABLE schema_migrations IS 'Applied SQL migrations (alphapulse db migrate / db status).';

-- Which optional TimescaleDB features this database has, decided once at migration time so every
-- later migration (and `alphapulse db status`) reads the same answer:
--   'none'    plain PostgreSQL (or TimescaleDB available but not preloaded)
--   'apache'  hypertables, chunks, time_bucket (the Apache-2 edition)
--   'timescale' also compression, retention policies, continuous aggregates (Community license)
CREATE OR REPLACE FUNCTION ap_timescale_level() RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        RETURN 'none';
    END IF;
    IF coalesce(current_setting('timescaledb.license', true), 'apache') = 'timescale' THEN
        RETURN 'timescale';
    END IF;
    RETURN 'apache';
END;
$$;

-- Create the extension where the server can load it: it must be installed AND preloaded
-- (shared_preload_libraries), otherwise CREATE EXTENSION fails and we stay on plain PostgreSQL.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
       AND current_setting('shared_preload_libraries') LIKE '%timescaledb%' THEN
        CREATE EXTENSION IF NOT EXISTS timescaledb;
    END IF;
END;
$$;

-- Exact decimal from a fixed-point integer and its scale: ap_decimal(6000050, 2) = 60000.50.
-- Used by the writer to turn the wire's scaled int64 into NUMERIC on the server side.
CREATE OR REPLACE FUNCTION ap_decimal(raw bigint, scale smallint) RETURNS numeric
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    -- Multiplying by the literal 1e-<scale> is exact and keeps display scale = scale; both
    -- `raw / 10^scale` and `10::numeric ^ -scale` round away digits beyond 16 significant ones.
    SELECT raw::numeric * ('1e-' || scale::text)::numeric
$$;

-- Integer nanoseconds since the epoch to timestamptz (microsecond precision, truncated; the exact
-- ns stay in the ts_*_ns columns). Exact: microsecond counts stay below 2^53, so the float8 that
-- interval multiplication goes through holds them exactly.
CREATE OR REPLACE FUNCTION ap_ns_to_ts(ns bigint) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT timestamptz 'epoch' + ((ns / 1000) * interval '1 microsecond')
$$;

-- Turn a table into a hypertable where TimescaleDB is present; a no-op on plain PostgreSQL.
CREATE OR REPLACE FUNCTION ap_make_hypertable(tbl regclass, chunk interval) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF ap_timescale_level() <> 'none' THEN
        PERFORM create_hypertable(tbl, 'time', chunk_time_interval => chunk, if_not_exists => true);
    END IF;
END;
$$;

-- Compression and retention where the license allows them (neither is in the Apache-2 edition).
-- Documented API: ALTER TABLE ... SET (timescaledb.compress, ...), add_compression_policy,
-- add_retention_policy. retain => NULL keeps data forever.
CREATE OR REPLACE FUNCTION ap_timescale_policies(
    tbl regclass, segment_by text, order_by text, compress_after interval, retain interval
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF ap_timescale_level() <> 'timescale' THEN
        RETURN;
    END IF;
    EXECUTE format(
        'ALTER TABLE %s SET (timescaledb.compress, timescaledb.compress_segmentby = %L, '
        'timescaledb.compress_orderby = %L)', tbl, segment_by, order_by);
    PERFORM add_compression_policy(tbl, compress_after, if_not_exists => true);
    IF retain IS NOT NULL THEN
        PERFORM add_retention_policy(tbl, retain, if_not_exists => true);
    END IF;
END;
$$;
