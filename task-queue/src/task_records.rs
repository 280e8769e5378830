//! Reading and compare-and-set writing of task records in the state bucket.

use agentry_protocol::TaskRecord;
use async_nats::jetstream::kv;

/// A record with the revision it was read at, for a compare-and-set write.
#[derive(Clone, Debug, PartialEq)]
pub struct VersionedRecord {
    /// The record.
    pub record: TaskRecord,
    /// Its revision in the bucket.
    pub revision: u64,
}

/// Why a record could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The bucket could not be read.
    #[error("reading task record {key}: {source}")]
    Read {
        /// The record's key.
        key: String,
        /// Why.
        #[source]
        source: kv::EntryError,
    },
    /// The bucket could not be written.
    #[error("writing task record {key}: {message}")]
    Write {
        /// The record's key.
        key: String,
        /// Why.
        message: String,
    },
    /// The stored value is not a task record.
    #[error("task record {key} is not valid JSON of a task record: {source}")]
    Corrupt {
        /// The record's key.
        key: String,
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },
}

/// The record under `key`, if there is one.
pub(crate) async fn load(store: &kv::Store, key: &str) -> Result<Option<VersionedRecord>, RecordError> {
    let entry =
        store.entry(key).await.map_err(|source| RecordError::Read { key: key.to_string(), source })?;
    let Some(entry) = entry.filter(|e| e.operation == kv::Operation::Put) else {
        return Ok(None);
    };
    parse(key, &entry.value).map(|record| Some(VersionedRecord { record, revision: entry.revision }))
}

/// Parses a stored record.
pub(crate) fn parse(key: &str, value: &[u8]) -> Result<TaskRecord, RecordError> {
    serde_json::from_slice(value).map_err(|source| RecordError::Corrupt { key: key.to_string(), source })
}

/// Writes `record` where none exists; `None` when one already does.
pub(crate) async fn create(
    store: &kv::Store,
    key: &str,
    record: &TaskRecord,
) -> Result<Option<u64>, RecordError> {
    match store.create(key, encode(record)).await {
        Ok(revision) => Ok(Some(revision)),
        Err(err) if err.kind() == kv::CreateErrorKind::AlreadyExists => Ok(None),
        Err(err) => Err(RecordError::Write { key: key.to_string(), message: err.to_string() }),
    }
}

/// Replaces the record read at `revision`; `None` when it has changed since.
pub(crate) async fn replace(
    store: &kv::Store,
    key: &str,
    record: &TaskRecord,
    revision: u64,
) -> Result<Option<u64>, RecordError> {
    match store.update(key, encode(record), revision).await {
        Ok(revision) => Ok(Some(revision)),
        Err(err) if err.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(None),
        Err(err) => Err(RecordError::Write { key: key.to_string(), message: err.to_string() }),
    }
}

fn encode(record: &TaskRecord) -> bytes::Bytes {
    // A record holds only strings, numbers and a reply that came from JSON: it always serializes.
    serde_json::to_vec(record).unwrap_or_default().into()
}
