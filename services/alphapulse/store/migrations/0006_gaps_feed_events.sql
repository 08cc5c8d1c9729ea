-- Explicit loss: every gap the relay or a collector reports (gap frames), and rows the writer
-- itself had to drop when its spool was full. Consumers never have to guess what is missing.
CREATE TABLE IF NOT EXISTS gaps (
    id          bigint      GENERATED ALWAYS AS IDENTITY,
    time        timestamptz NOT NULL,             -- when the gap was detected
    source      text        NOT NULL,             -- relay | collector | writer
    feed        text        NOT NULL DEFAULT '',  -- ExchangeFeed name ('' when not feed-specific)
    exchange    text        NOT NULL DEFAULT '',
    reason      text        NOT NULL,             -- e.g. exchange_gap, reconnect, slow_consumer, spool_full
    seq_from    bigint,                           -- first missing sequence number, when known
    seq_to      bigint,                           -- last missing sequence number, when known
    missed      bigint,                           -- frames/rows missed, when known
    ts_start_ns bigint,                           -- time range the loss covers, when known
    ts_end_ns   bigint,
    detected_ns bigint      NOT NULL,
    detail      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (id),
    CONSTRAINT gaps_natural_key UNIQUE NULLS NOT DISTINCT (source, feed, reason, detected_ns, seq_from)
);
CREATE INDEX IF NOT EXISTS gaps_time ON gaps (time DESC);

-- Feed status changes (connected, disconnected, reconnecting, subscribed, ...): the context that
-- explains gaps and quiet periods.
CREATE TABLE IF NOT EXISTS feed_events (
    time     timestamptz NOT NULL,
    feed     text        NOT NULL,
    exchange text        NOT NULL DEFAULT '',
    kind     text        NOT NULL,
    detail   jsonb       NOT NULL DEFAULT '{}'::jsonb,
    ts_ns    bigint      NOT NULL,
    CONSTRAINT feed_events_natural_key UNIQUE (feed, ts_ns, kind)
);
CREATE INDEX IF NOT EXISTS feed_events_time ON feed_events (time DESC);
