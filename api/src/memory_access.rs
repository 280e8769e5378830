//! Reaching an Agent's long-term memory: the Agent's `memory.storeRef` names a MemoryStore, whose
//! Secret holds the PostgreSQL URI and whose `embedding` says how texts become vectors. Opened
//! stores are kept per MemoryStore (and reopened when its URI, schema or embedding change), so a
//! search does not reload the scope's index every time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use agentry_api_contract::ApiErrorCode;
use agentry_crds::{EmbeddingProvider, MemoryStore as MemoryStoreObject, Model, ModelProvider, SecretKeyRef};
use agentry_memory::{
    Embedder, EmbeddingEndpoint, HashingEmbedder, MemoryError, MemoryScope, MemoryStore, OpenAiEmbedder,
    StoreOptions,
};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use sha2::{Digest, Sha256};

use crate::agent_directory;
use crate::api_error::ApiError;
use crate::api_state::ApiState;

/// Connections per opened store: the API's memory calls are short.
const POOL_SIZE: u32 = 4;
/// OpenAI's API, for a Model of provider `openai` without `baseUrl`.
const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

/// An opened store and the fingerprint of its URI, schema and embedding.
type Opened = ([u8; 32], Arc<MemoryStore>);

/// Opened stores by namespace and MemoryStore name.
#[derive(Clone, Default)]
pub(crate) struct OpenStores {
    stores: Arc<Mutex<HashMap<(String, String), Opened>>>,
}

/// An Agent's memory, ready to use.
pub(crate) struct AgentMemory {
    /// The opened store.
    pub(crate) store: Arc<MemoryStore>,
    /// The Agent's own memories.
    pub(crate) scope: MemoryScope,
    /// The Agent's `memory.topK`.
    pub(crate) top_k: usize,
    /// The Agent's `memory.minScore`.
    pub(crate) min_score: Option<f32>,
}

/// The memory of Agent `name` in `ns`: 404 when there is no such Agent or it has no
/// `memory.storeRef`, 503 when its MemoryStore, Secret or database cannot be used.
pub(crate) async fn open(state: &ApiState, ns: &str, name: &str) -> Result<AgentMemory, ApiError> {
    let agent = agent_directory::get(state, ns, name).await?;
    let memory = agent.spec.memory.clone();
    let Some(store_name) = memory.as_ref().and_then(|m| m.store_ref.clone()) else {
        return Err(ApiError::not_found(format!(
            "Agent {name:?} has no long-term memory (spec.memory.storeRef is not set)"
        )));
    };
    let object = Api::<MemoryStoreObject>::namespaced(state.kube.clone(), ns)
        .get_opt(&store_name)
        .await
        .map_err(|e| ApiError::unavailable("the Kubernetes API (reading a MemoryStore)", &e))?
        .ok_or_else(|| {
            unavailable(format!("Agent {name:?} names MemoryStore {store_name:?}, which does not exist"))
        })?;
    let uri = secret_text(state, ns, &object.spec.postgres.connection_secret_ref).await?;
    let store = opened(state, ns, &store_name, &object, uri.trim()).await?;
    #[allow(clippy::cast_possible_truncation)] // 0..=1 by the CRD's schema.
    let min_score = memory.as_ref().and_then(|m| m.min_score).map(|s| s as f32);
    Ok(AgentMemory {
        store,
        scope: MemoryScope::agent(ns, name),
        top_k: memory.as_ref().and_then(|m| usize::try_from(m.top_k).ok()).unwrap_or(5),
        min_score,
    })
}

/// The store of MemoryStore `store_name`, opened now or before for the same settings.
async fn opened(
    state: &ApiState,
    ns: &str,
    store_name: &str,
    object: &MemoryStoreObject,
    uri: &str,
) -> Result<Arc<MemoryStore>, ApiError> {
    let spec = &object.spec;
    let mut hash = Sha256::new();
    hash.update(uri.as_bytes());
    hash.update([0]);
    hash.update(spec.postgres.schema.as_bytes());
    hash.update(serde_json::to_vec(&spec.embedding).unwrap_or_default());
    let fingerprint: [u8; 32] = hash.finalize().into();
    let key = (ns.to_owned(), store_name.to_owned());
    {
        let stores = state.memory_stores.stores.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((kept, store)) = stores.get(&key)
            && *kept == fingerprint
        {
            return Ok(store.clone());
        }
    }
    let dimensions = usize::try_from(spec.embedding.dimensions)
        .map_err(|_| unavailable(format!("MemoryStore {store_name:?} has embedding.dimensions below 1")))?;
    let embedder = embedder(state, ns, object, dimensions).await?;
    let what = format!("MemoryStore {store_name:?}");
    let failed = |e: MemoryError| match e {
        // Settings, not connectivity: say what is wrong.
        MemoryError::Invalid(_) | MemoryError::DimensionMismatch { .. } => {
            unavailable(format!("{what}: {e}"))
        }
        other => ApiError::unavailable(&what, &other),
    };
    let pool = agentry_memory::store::pool(uri, &spec.postgres.schema, POOL_SIZE).map_err(failed)?;
    let store =
        Arc::new(MemoryStore::open(pool, embedder, StoreOptions::new(dimensions)).await.map_err(failed)?);
    let mut stores = state.memory_stores.stores.lock().unwrap_or_else(PoisonError::into_inner);
    stores.insert(key, (fingerprint, store.clone()));
    Ok(store)
}

/// How MemoryStore `object` turns texts into vectors: hashing, or its Model's `/embeddings`.
async fn embedder(
    state: &ApiState,
    ns: &str,
    object: &MemoryStoreObject,
    dimensions: usize,
) -> Result<Embedder, ApiError> {
    let embedding = &object.spec.embedding;
    let invalid = |e: MemoryError| unavailable(format!("the MemoryStore's embedding: {e}"));
    if embedding.provider == EmbeddingProvider::Hashing {
        return Ok(Embedder::Hashing(HashingEmbedder::new(dimensions).map_err(invalid)?));
    }
    let model_name = embedding.model_ref.clone().unwrap_or_default();
    let model = Api::<Model>::namespaced(state.kube.clone(), ns)
        .get_opt(&model_name)
        .await
        .map_err(|e| ApiError::unavailable("the Kubernetes API (reading a Model)", &e))?
        .ok_or_else(|| {
            unavailable(format!("the MemoryStore's embedding.modelRef {model_name:?} does not exist"))
        })?;
    let base_url = match (&model.spec.base_url, model.spec.provider) {
        (Some(url), _) => url.clone(),
        (None, ModelProvider::Openai) => OPENAI_BASE_URL.to_owned(),
        (None, _) => return Err(unavailable(format!("Model {model_name:?} has no baseUrl for embeddings"))),
    };
    let api_key = match &model.spec.api_key_secret_ref {
        Some(reference) => Some(secret_text(state, ns, reference).await?.trim().to_owned()),
        None => None,
    };
    let endpoint = EmbeddingEndpoint {
        base_url,
        model: embedding.model.clone().unwrap_or_else(|| model.spec.model.clone()),
        api_key,
        request_dimensions: false,
    };
    Ok(Embedder::OpenAi(OpenAiEmbedder::new(reqwest::Client::new(), endpoint, dimensions).map_err(invalid)?))
}

/// The text under `reference` in its Secret; the value never appears in an error.
async fn secret_text(state: &ApiState, ns: &str, reference: &SecretKeyRef) -> Result<String, ApiError> {
    let secret = Api::<Secret>::namespaced(state.kube.clone(), ns)
        .get_opt(&reference.name)
        .await
        .map_err(|e| ApiError::unavailable("the Kubernetes API (reading a Secret)", &e))?
        .ok_or_else(|| unavailable(format!("Secret {:?} does not exist", reference.name)))?;
    let in_data = secret.data.as_ref().and_then(|d| d.get(&reference.key)).map(|v| v.0.clone());
    let value = in_data
        .or_else(|| {
            secret.string_data.as_ref().and_then(|d| d.get(&reference.key)).map(|s| s.clone().into_bytes())
        })
        .ok_or_else(|| unavailable(format!("Secret {:?} has no key {:?}", reference.name, reference.key)))?;
    String::from_utf8(value).map_err(|_| {
        unavailable(format!("Secret {:?} key {:?} is not UTF-8 text", reference.name, reference.key))
    })
}

fn unavailable(message: String) -> ApiError {
    ApiError::new(ApiErrorCode::Unavailable, message)
}

/// A memory failure as an API error: bad input is a 400 naming `field`; the rest a 503 whose
/// cause is logged, not sent (it names the database's host).
pub(crate) fn memory_error(field: &str, error: MemoryError) -> ApiError {
    match error {
        MemoryError::Invalid(why) => ApiError::bad_field(field, why),
        other => ApiError::unavailable("the agent's memory store", &other),
    }
}
