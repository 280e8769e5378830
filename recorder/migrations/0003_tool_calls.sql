-- The audit trail of tool calls: one row per `toolCall` event. Arguments under secret-looking
-- keys are stored as "[redacted]".
CREATE TABLE tool_calls (
    event_id    text PRIMARY KEY,
    session_id  text,
    request_id  text NOT NULL,
    namespace   text NOT NULL,
    agent       text NOT NULL,
    tool        text NOT NULL,
    arguments   jsonb NOT NULL,
    ok          boolean NOT NULL,
    error       text,
    duration_ms bigint NOT NULL,
    created_at  timestamptz NOT NULL
);

CREATE INDEX tool_calls_agent_created_at ON tool_calls (agent, created_at);
CREATE INDEX tool_calls_tool_created_at ON tool_calls (tool, created_at);
CREATE INDEX tool_calls_request_id ON tool_calls (request_id);
CREATE INDEX tool_calls_created_at ON tool_calls (created_at);
