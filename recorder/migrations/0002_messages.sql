-- The conversation: one row per `message` event.
CREATE TABLE messages (
    event_id      text PRIMARY KEY,
    session_id    text,
    -- The request the message belongs to: joins interactions, tool_calls and model_calls.
    request_id    text NOT NULL,
    namespace     text NOT NULL,
    agent         text NOT NULL,
    role          text NOT NULL,
    content       text NOT NULL,
    -- For role `tool`: the tool whose result this is.
    tool_name     text,
    -- For role `assistant`: what producing it cost.
    input_tokens  bigint,
    output_tokens bigint,
    cost_usd      double precision,
    created_at    timestamptz NOT NULL
);

CREATE INDEX messages_session_id_created_at ON messages (session_id, created_at);
CREATE INDEX messages_request_id ON messages (request_id);
CREATE INDEX messages_created_at ON messages (created_at);
