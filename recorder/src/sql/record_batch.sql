-- Writes one batch of events in one statement: each table's new rows from parallel arrays
-- (UNNEST), skipping events already stored (ON CONFLICT DO NOTHING: idempotent on the event
-- id, and for interactions on the request id too), then folds the rows actually inserted, and
-- only those, into their sessions. Returns how many rows each table gained.
WITH interaction_rows AS (
    INSERT INTO interactions (event_id, request_id, parent_request_id, session_id, namespace, agent,
        from_agent, to_agent, outcome, error, query, response, latency_ms, model, input_tokens,
        output_tokens, cost_usd, delegation_depth, created_at)
    SELECT event_id, request_id, parent_request_id, session_id, namespace, agent, from_agent, to_agent,
        outcome, error, query, response, latency_ms, model, input_tokens, output_tokens, cost_usd,
        delegation_depth, timestamptz 'epoch' + time_ms * interval '1 millisecond'
    FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
        $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::int8[], $14::text[],
        $15::int8[], $16::int8[], $17::float8[], $18::int4[], $19::int8[])
        AS t(event_id, request_id, parent_request_id, session_id, namespace, agent, from_agent,
            to_agent, outcome, error, query, response, latency_ms, model, input_tokens, output_tokens,
            cost_usd, delegation_depth, time_ms)
    ON CONFLICT DO NOTHING
    RETURNING session_id, namespace, agent, created_at
), message_rows AS (
    INSERT INTO messages (event_id, session_id, request_id, namespace, agent, role, content, tool_name,
        input_tokens, output_tokens, cost_usd, created_at)
    SELECT event_id, session_id, request_id, namespace, agent, role, content, tool_name, input_tokens,
        output_tokens, cost_usd, timestamptz 'epoch' + time_ms * interval '1 millisecond'
    FROM UNNEST($20::text[], $21::text[], $22::text[], $23::text[], $24::text[], $25::text[],
        $26::text[], $27::text[], $28::int8[], $29::int8[], $30::float8[], $31::int8[])
        AS t(event_id, session_id, request_id, namespace, agent, role, content, tool_name,
            input_tokens, output_tokens, cost_usd, time_ms)
    ON CONFLICT DO NOTHING
    RETURNING session_id, namespace, agent, created_at
), tool_call_rows AS (
    INSERT INTO tool_calls (event_id, session_id, request_id, namespace, agent, tool, arguments, ok,
        error, duration_ms, created_at)
    SELECT event_id, session_id, request_id, namespace, agent, tool, arguments, ok, error, duration_ms,
        timestamptz 'epoch' + time_ms * interval '1 millisecond'
    FROM UNNEST($32::text[], $33::text[], $34::text[], $35::text[], $36::text[], $37::text[],
        $38::jsonb[], $39::bool[], $40::text[], $41::int8[], $42::int8[])
        AS t(event_id, session_id, request_id, namespace, agent, tool, arguments, ok, error,
            duration_ms, time_ms)
    ON CONFLICT DO NOTHING
    RETURNING session_id, namespace, agent, created_at
), model_call_rows AS (
    INSERT INTO model_calls (event_id, session_id, request_id, namespace, agent, model, provider, ok,
        error, latency_ms, attempts, input_tokens, output_tokens, cost_usd, created_at)
    SELECT event_id, session_id, request_id, namespace, agent, model, provider, ok, error, latency_ms,
        attempts, input_tokens, output_tokens, cost_usd,
        timestamptz 'epoch' + time_ms * interval '1 millisecond'
    FROM UNNEST($43::text[], $44::text[], $45::text[], $46::text[], $47::text[], $48::text[],
        $49::text[], $50::bool[], $51::text[], $52::int8[], $53::int4[], $54::int8[], $55::int8[],
        $56::float8[], $57::int8[])
        AS t(event_id, session_id, request_id, namespace, agent, model, provider, ok, error,
            latency_ms, attempts, input_tokens, output_tokens, cost_usd, time_ms)
    ON CONFLICT DO NOTHING
    RETURNING session_id, namespace, agent, created_at, input_tokens, output_tokens, cost_usd
), session_events AS (
    SELECT session_id, namespace, agent, created_at, 0 AS messages, 0::int8 AS input_tokens,
        0::int8 AS output_tokens, 0::float8 AS cost_usd
    FROM interaction_rows WHERE session_id IS NOT NULL
    UNION ALL
    SELECT session_id, namespace, agent, created_at, 1, 0, 0, 0
    FROM message_rows WHERE session_id IS NOT NULL
    UNION ALL
    SELECT session_id, namespace, agent, created_at, 0, 0, 0, 0
    FROM tool_call_rows WHERE session_id IS NOT NULL
    UNION ALL
    SELECT session_id, namespace, agent, created_at, 0, input_tokens, output_tokens, cost_usd
    FROM model_call_rows WHERE session_id IS NOT NULL
), session_rows AS (
    INSERT INTO sessions AS s (session_id, namespace, agent, first_event_at, last_event_at,
        message_count, input_tokens, output_tokens, cost_usd)
    SELECT session_id, (array_agg(namespace ORDER BY created_at))[1],
        (array_agg(agent ORDER BY created_at))[1], min(created_at), max(created_at), sum(messages),
        sum(input_tokens), sum(output_tokens), sum(cost_usd)
    FROM session_events
    GROUP BY session_id
    -- One lock order for every writer, so concurrent recorders do not deadlock on sessions.
    ORDER BY session_id
    ON CONFLICT (session_id) DO UPDATE SET
        namespace = CASE WHEN excluded.first_event_at < s.first_event_at
            THEN excluded.namespace ELSE s.namespace END,
        agent = CASE WHEN excluded.first_event_at < s.first_event_at
            THEN excluded.agent ELSE s.agent END,
        first_event_at = least(s.first_event_at, excluded.first_event_at),
        last_event_at = greatest(s.last_event_at, excluded.last_event_at),
        message_count = s.message_count + excluded.message_count,
        input_tokens = s.input_tokens + excluded.input_tokens,
        output_tokens = s.output_tokens + excluded.output_tokens,
        cost_usd = s.cost_usd + excluded.cost_usd
    RETURNING 1
)
SELECT (SELECT count(*) FROM interaction_rows) AS interactions,
    (SELECT count(*) FROM message_rows) AS messages,
    (SELECT count(*) FROM tool_call_rows) AS tool_calls,
    (SELECT count(*) FROM model_call_rows) AS model_calls,
    (SELECT count(*) FROM session_rows) AS sessions
