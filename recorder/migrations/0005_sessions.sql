-- One row per session seen in any event, aggregated as events arrive: each event counts once,
-- when its own row is first inserted.
CREATE TABLE sessions (
    session_id     text PRIMARY KEY,
    -- Of the earliest event seen.
    namespace      text NOT NULL,
    agent          text NOT NULL,
    first_event_at timestamptz NOT NULL,
    last_event_at  timestamptz NOT NULL,
    -- `message` events.
    message_count  bigint NOT NULL DEFAULT 0,
    -- Summed over `modelCall` events: every token spent, once, whichever agent spent it.
    input_tokens   bigint NOT NULL DEFAULT 0,
    output_tokens  bigint NOT NULL DEFAULT 0,
    cost_usd       double precision NOT NULL DEFAULT 0
);

CREATE INDEX sessions_last_event_at ON sessions (last_event_at);
