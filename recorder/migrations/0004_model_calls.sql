-- One row per call to a model provider (after its retries): the `modelCall` events.
CREATE TABLE model_calls (
    event_id      text PRIMARY KEY,
    session_id    text,
    request_id    text NOT NULL,
    namespace     text NOT NULL,
    agent         text NOT NULL,
    model         text NOT NULL,
    provider      text NOT NULL,
    ok            boolean NOT NULL,
    error         text,
    latency_ms    bigint NOT NULL,
    attempts      integer NOT NULL,
    input_tokens  bigint NOT NULL,
    output_tokens bigint NOT NULL,
    cost_usd      double precision NOT NULL,
    created_at    timestamptz NOT NULL
);

CREATE INDEX model_calls_model_created_at ON model_calls (model, created_at);
CREATE INDEX model_calls_request_id ON model_calls (request_id);
CREATE INDEX model_calls_created_at ON model_calls (created_at);
