-- Writes one batch of events in one statement: each table's new rows from parallel arrays
-- (UNNEST), skipping events already stored (ON CONFLICT DO NOTHING: idempotent on the event
-- id, and for interactions on the request id too), then folds the rows actually inserted, and
-- only those, into their sessions and the interaction rollups. Returns how many rows each table
-- gained.
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
    RETURNING session_id, namespace, agent, created_at, to_agent, type, outcome, latency_ms,
        input_tokens, output_tokens, cost_usd
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
), session_event_rows AS (
    INSERT INTO session_events (event_id, session_id, request_id, namespace, agent, session_type,
        phase, created_at)
    SELECT event_id, session_id, request_id, namespace, agent, session_type, phase,
        timestamptz 'epoch' + time_ms * interval '1 millisecond'
    FROM UNNEST($58::text[], $59::text[], $60::text[], $61::text[], $62::text[], $63::text[],
        $64::text[], $65::int8[])
        AS t(event_id, session_id, request_id, namespace, agent, session_type, phase, time_ms)
    ON CONFLICT DO NOTHING
    RETURNING session_id, namespace, agent, created_at, session_type, phase
), session_activity AS (
    SELECT session_id, namespace, agent, created_at, 0 AS messages, 0::int8 AS input_tokens,
        0::int8 AS output_tokens, 0::float8 AS cost_usd, NULL::text AS session_type,
        NULL::text AS phase
    FROM interaction_rows WHERE session_id IS NOT NULL
    UNION ALL
    SELECT session_id, namespace, agent, created_at, 1, 0, 0, 0, NULL, NULL
    FROM message_rows WHERE session_id IS NOT NULL
    UNION ALL
    SELECT session_id, namespace, agent, created_at, 0, 0, 0, 0, NULL, NULL
    FROM tool_call_rows WHERE session_id IS NOT NULL
    UNION ALL
    SELECT session_id, namespace, agent, created_at, 0, input_tokens, output_tokens, cost_usd,
        NULL, NULL
    FROM model_call_rows WHERE session_id IS NOT NULL
    UNION ALL
    SELECT session_id, namespace, agent, created_at, 0, 0, 0, 0, session_type, phase
    FROM session_event_rows
), session_totals AS (
    SELECT session_id, (array_agg(namespace ORDER BY created_at))[1] AS namespace,
        (array_agg(agent ORDER BY created_at))[1] AS agent, min(created_at) AS first_event_at,
        max(created_at) AS last_event_at, sum(messages) AS message_count,
        sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
        sum(cost_usd) AS cost_usd,
        (array_agg(session_type ORDER BY created_at DESC)
            FILTER (WHERE session_type IS NOT NULL))[1] AS type,
        (array_agg(phase ORDER BY created_at DESC) FILTER (WHERE phase IS NOT NULL))[1] AS phase,
        max(created_at) FILTER (WHERE phase IS NOT NULL) AS phase_at
    FROM session_activity
    GROUP BY session_id
), session_rows AS (
    INSERT INTO sessions AS s (session_id, namespace, agent, first_event_at, last_event_at,
        message_count, input_tokens, output_tokens, cost_usd, type, phase, phase_at, ended_at)
    SELECT session_id, namespace, agent, first_event_at, last_event_at, message_count,
        input_tokens, output_tokens, cost_usd, type, phase, phase_at,
        CASE WHEN phase IN ('Succeeded', 'Failed', 'Expired') THEN phase_at END
    FROM session_totals
    -- One lock order for every writer, so concurrent recorders do not deadlock on sessions.
    ORDER BY session_id
    ON CONFLICT (session_id) DO UPDATE SET
        -- A session started through the API keeps the namespace and agent it was made with.
        namespace = CASE WHEN excluded.first_event_at < s.first_event_at AND NOT s.created_by_api
            THEN excluded.namespace ELSE s.namespace END,
        agent = CASE WHEN excluded.first_event_at < s.first_event_at AND NOT s.created_by_api
            THEN excluded.agent ELSE s.agent END,
        type = coalesce(s.type, excluded.type),
        -- The latest lifecycle event wins, whatever order they arrive in.
        phase = CASE WHEN excluded.phase_at >= coalesce(s.phase_at, '-infinity')
            THEN excluded.phase ELSE s.phase END,
        ended_at = CASE WHEN excluded.phase_at >= coalesce(s.phase_at, '-infinity')
            THEN excluded.ended_at ELSE s.ended_at END,
        phase_at = greatest(s.phase_at, excluded.phase_at),
        first_event_at = least(s.first_event_at, excluded.first_event_at),
        last_event_at = greatest(s.last_event_at, excluded.last_event_at),
        message_count = s.message_count + excluded.message_count,
        input_tokens = s.input_tokens + excluded.input_tokens,
        output_tokens = s.output_tokens + excluded.output_tokens,
        cost_usd = s.cost_usd + excluded.cost_usd
    RETURNING 1
), rollup_rows AS (
    -- The interactions inserted, summed per bucket of each grain and per latency bucket, then
    -- per rollup row with their sparse histogram.
    INSERT INTO interaction_rollups AS r (namespace, grain_seconds, bucket_start, agent, type,
        count, errors, input_tokens, output_tokens, cost_usd, latency_histogram)
    SELECT namespace, grain, bucket_start, agent, type, sum(n), sum(errors), sum(input_tokens),
        sum(output_tokens), sum(cost_usd), array_agg((latency << 40) | n ORDER BY latency)
    FROM (
        SELECT i.namespace, g.grain,
            date_bin(make_interval(secs => g.grain), i.created_at, timestamptz 'epoch')
                AS bucket_start,
            i.to_agent AS agent, i.type, latency_bucket(i.latency_ms) AS latency, count(*) AS n,
            count(*) FILTER (WHERE i.outcome <> 'ok') AS errors,
            sum(i.input_tokens) AS input_tokens, sum(i.output_tokens) AS output_tokens,
            sum(i.cost_usd) AS cost_usd
        FROM interaction_rows i CROSS JOIN (VALUES (60), (3600), (86400)) AS g(grain)
        GROUP BY 1, 2, 3, 4, 5, 6
    ) per_latency
    GROUP BY namespace, grain, bucket_start, agent, type
    -- One lock order for every writer, as for sessions.
    ORDER BY namespace, grain, bucket_start, agent, type
    ON CONFLICT (namespace, grain_seconds, bucket_start, agent, type) DO UPDATE SET
        count = r.count + excluded.count,
        errors = r.errors + excluded.errors,
        input_tokens = r.input_tokens + excluded.input_tokens,
        output_tokens = r.output_tokens + excluded.output_tokens,
        cost_usd = r.cost_usd + excluded.cost_usd,
        latency_histogram = latency_histogram_merge(r.latency_histogram, excluded.latency_histogram)
    RETURNING 1
)
SELECT (SELECT count(*) FROM interaction_rows) AS interactions,
    (SELECT count(*) FROM message_rows) AS messages,
    (SELECT count(*) FROM tool_call_rows) AS tool_calls,
    (SELECT count(*) FROM model_call_rows) AS model_calls,
    (SELECT count(*) FROM session_event_rows) AS session_events,
    (SELECT count(*) FROM session_rows) AS sessions
