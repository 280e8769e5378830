-- The read side of the history (agentry-history, docs/history.md): interaction types, the
-- indexes its lists page through, the rollups its statistics read, and sessions' lifecycle.

-- How a request came: `delegation` (from another agent, depth > 0), `session` (a session's own
-- request) or `query` (from outside). Computed as the row is inserted, so lists filter on it
-- through an index.
ALTER TABLE interactions ADD COLUMN type text GENERATED ALWAYS AS (
    CASE WHEN delegation_depth > 0 THEN 'delegation'
         WHEN session_id IS NOT NULL THEN 'session'
         ELSE 'query' END) STORED;

-- Lists are per namespace, newest first, paged by (created_at, request_id): one index per filter
-- with that order after it. They replace the namespace-less ones.
DROP INDEX interactions_from_agent_created_at;
DROP INDEX interactions_to_agent_created_at;
DROP INDEX interactions_session_id;
CREATE INDEX interactions_ns_created ON interactions (namespace, created_at, request_id);
CREATE INDEX interactions_ns_from ON interactions (namespace, from_agent, created_at, request_id);
CREATE INDEX interactions_ns_to ON interactions (namespace, to_agent, created_at, request_id);
CREATE INDEX interactions_ns_type ON interactions (namespace, type, created_at, request_id);
CREATE INDEX interactions_ns_session ON interactions (namespace, session_id, created_at, request_id);
-- Errors are few: `outcome=error` pages through them alone.
CREATE INDEX interactions_ns_errors ON interactions (namespace, created_at, request_id)
    WHERE outcome <> 'ok';

-- Interactions summed per namespace, answering agent, type and time bucket, in three grains
-- (minute, hour, UTC day), maintained by the recorder in the same statement as the rows it
-- inserts (and only those). Statistics read whole days, hours and minutes of a window.
CREATE TABLE interaction_rollups (
    namespace         text NOT NULL,
    -- 60, 3600 or 86400.
    grain_seconds     integer NOT NULL,
    bucket_start      timestamptz NOT NULL,
    agent             text NOT NULL,
    type              text NOT NULL,
    count             bigint NOT NULL,
    errors            bigint NOT NULL,
    input_tokens      bigint NOT NULL,
    output_tokens     bigint NOT NULL,
    cost_usd          double precision NOT NULL,
    -- Latency histogram, sparse and sorted: each element is `bucket << 40 | count`. Bucket 0
    -- holds latencies under 1 ms; bucket b >= 1 holds [2^((b-1)/8), 2^(b/8)) ms (at most 255).
    latency_histogram bigint[] NOT NULL,
    PRIMARY KEY (namespace, grain_seconds, bucket_start, agent, type)
);

-- The histogram bucket of a latency in milliseconds (see interaction_rollups).
CREATE FUNCTION latency_bucket(latency_ms bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN latency_ms < 1 THEN 0
        -- The epsilon puts exact powers of two in the bucket they start.
        ELSE least(255, floor(8 * ln(latency_ms::float8) / ln(2::float8) + 1e-9)::bigint + 1) END
$$;

-- Two sparse histograms added bucket by bucket.
CREATE FUNCTION latency_histogram_merge(a bigint[], b bigint[]) RETURNS bigint[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_agg((bucket << 40) | n ORDER BY bucket), '{}')
    FROM (SELECT e >> 40 AS bucket, sum(e & 1099511627775)::bigint AS n
          FROM unnest(a || b) AS e GROUP BY 1) s
$$;

-- Costs by day read model calls of one namespace in a window.
CREATE INDEX model_calls_ns_created_at ON model_calls (namespace, created_at);

-- A declared Session's lifecycle (`session` events from the operator), once per event.
CREATE TABLE session_events (
    event_id     text PRIMARY KEY,
    session_id   text NOT NULL,
    request_id   text NOT NULL,
    namespace    text NOT NULL,
    agent        text NOT NULL,
    session_type text NOT NULL,
    phase        text NOT NULL,
    created_at   timestamptz NOT NULL
);

CREATE INDEX session_events_created_at ON session_events (created_at);

-- What a session is, besides its activity: the Session's type and phase (from its `session`
-- events, the latest by time winning) or, for ad-hoc sessions started through the API, `chat`
-- and Active/Ended. The recorder's activity upsert never overwrites these.
ALTER TABLE sessions
    ADD COLUMN type text,
    ADD COLUMN phase text,
    -- Time of the event (or API call) that set `phase`: an older one arriving later loses.
    ADD COLUMN phase_at timestamptz,
    ADD COLUMN title text,
    ADD COLUMN ended_at timestamptz,
    ADD COLUMN created_by_api boolean NOT NULL DEFAULT false;

-- Session lists: per namespace, most recently active first, paged by (last_event_at, session_id).
CREATE INDEX sessions_ns_activity ON sessions (namespace, last_event_at, session_id);
CREATE INDEX sessions_ns_agent_activity ON sessions (namespace, agent, last_event_at, session_id);
CREATE INDEX sessions_ns_type_activity ON sessions (namespace, type, last_event_at, session_id);
CREATE INDEX sessions_ns_phase_activity ON sessions (namespace, phase, last_event_at, session_id);
