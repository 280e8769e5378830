-- Memory blocks (DESIGN.md §2, Agent `memory.blocks`): labelled text an agent always sees in its
-- prompt, highest priority first. One row per (namespace, agent, label), so writing a block is
-- an upsert.
CREATE TABLE memory_blocks (
    namespace   text        NOT NULL,
    agent       text        NOT NULL,
    label       text        NOT NULL,
    content     text        NOT NULL,
    priority    integer     NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace, agent, label)
);
