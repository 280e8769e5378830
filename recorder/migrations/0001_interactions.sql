-- One row per request an agent answered (or failed to): the `interaction` events.
CREATE TABLE interactions (
    event_id          text PRIMARY KEY,
    -- A request is answered once; a re-published answer under a new event id is the same row.
    request_id        text NOT NULL UNIQUE,
    -- The delegating request, for delegated ones (`<parent>.<suffix>`, delegation_depth > 0).
    parent_request_id text,
    session_id        text,
    namespace         text NOT NULL,
    -- The agent that published the event (the answering one).
    agent             text NOT NULL,
    from_agent        text,
    to_agent          text NOT NULL,
    -- `ok`, or the error code.
    outcome           text NOT NULL,
    error             text,
    query             text NOT NULL,
    response          text,
    latency_ms        bigint NOT NULL,
    model             text,
    input_tokens      bigint NOT NULL,
    output_tokens     bigint NOT NULL,
    cost_usd          double precision NOT NULL,
    delegation_depth  integer NOT NULL,
    created_at        timestamptz NOT NULL
);

CREATE INDEX interactions_from_agent_created_at ON interactions (from_agent, created_at);
CREATE INDEX interactions_to_agent_created_at ON interactions (to_agent, created_at);
CREATE INDEX interactions_session_id ON interactions (session_id);
CREATE INDEX interactions_created_at ON interactions (created_at);
CREATE INDEX interactions_error ON interactions (error);
