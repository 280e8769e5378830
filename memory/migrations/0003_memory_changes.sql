-- The change log the runners' in-process memory indexes follow (docs/memory.md), and the
-- store's recorded settings.
--
-- Every insert, update and delete of a memory appends a row here, in the same transaction, from
-- a trigger: whoever writes memories (a runner, the API, the operator's pruning) keeps every
-- index in sync without knowing about it. A runner reads the rows of its scope past its cursor
-- before each search, so a memory stored through one replica is found through another.
CREATE TABLE memory_changes (
    seq         bigserial   PRIMARY KEY,
    namespace   text        NOT NULL,
    agent       text        NOT NULL,
    memory_id   uuid        NOT NULL,
    deleted     boolean     NOT NULL,
    -- The writing transaction: a reader re-reads the rows of transactions that were still open
    -- at its previous look, as their seqs may lie behind its cursor.
    xid         xid8        NOT NULL DEFAULT pg_current_xact_id(),
    changed_at  timestamptz NOT NULL DEFAULT now()
);

-- A reader asks for its scope's rows past its cursor, and for the rows of transactions that were
-- open when it last looked: sequence numbers are taken before commit, so a row can become
-- visible behind the cursor.
CREATE INDEX memory_changes_namespace_agent_seq_idx ON memory_changes (namespace, agent, seq);
CREATE INDEX memory_changes_namespace_agent_xid_idx ON memory_changes (namespace, agent, xid);
CREATE INDEX memory_changes_namespace_seq_idx ON memory_changes (namespace, seq);
CREATE INDEX memory_changes_namespace_xid_idx ON memory_changes (namespace, xid);

CREATE FUNCTION memories_record_change() RETURNS trigger
LANGUAGE plpgsql
-- The tables of the migration's schema, whatever search_path the writer has.
SET search_path FROM CURRENT
AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO memory_changes (namespace, agent, memory_id, deleted)
        VALUES (OLD.namespace, OLD.agent, OLD.id, true);
        RETURN OLD;
    END IF;
    INSERT INTO memory_changes (namespace, agent, memory_id, deleted)
    VALUES (NEW.namespace, NEW.agent, NEW.id, false);
    RETURN NEW;
END;
$$;

CREATE TRIGGER memories_record_change
    AFTER INSERT OR UPDATE OR DELETE ON memories
    FOR EACH ROW EXECUTE FUNCTION memories_record_change();

-- What the store was opened with: a store keeps its embedding's dimensions for life.
CREATE TABLE memory_store_settings (
    key         text        PRIMARY KEY,
    value       text        NOT NULL
);
