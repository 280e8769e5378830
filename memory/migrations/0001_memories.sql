-- Long-term memories of agents (DESIGN.md §5).
--
-- Runs with search_path set to the MemoryStore's schema, so the names below land there.
--
-- `embedding` is a plain real[]: the machines' PostgreSQL has no pgvector extension, so
-- similarity is computed by the runner over the candidate rows an index narrows down. A later
-- migration can add a `vector` column where pgvector exists.
CREATE TABLE memories (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    agent       text        NOT NULL,
    namespace   text        NOT NULL,
    type        text        NOT NULL
                CHECK (type IN ('semantic', 'episodic', 'procedural', 'working')),
    content     text        NOT NULL,
    embedding   real[],
    importance  real        NOT NULL DEFAULT 0.5
                CHECK (importance >= 0 AND importance <= 1),
    tags        text[]      NOT NULL DEFAULT '{}',
    metadata    jsonb       NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz
);

-- Retrieval reads one agent's newest memories first.
CREATE INDEX memories_namespace_agent_created_at_idx
    ON memories (namespace, agent, created_at DESC);

-- Pruning looks only at memories that expire; most never do.
CREATE INDEX memories_expires_at_idx
    ON memories (expires_at)
    WHERE expires_at IS NOT NULL;
