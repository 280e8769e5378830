//! The router: every endpoint with its OpenAPI description, and the document itself.

mod agents;
mod costs;
mod failures;
mod interactions;
mod invoke;
mod invoke_stream;
mod memories;
mod performance;
mod query_params;
mod session_messages;
mod sessions;
mod tasks;

use agentry_api_contract::{MAX_BODY_BYTES, paths};
use axum::Json;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use utoipa::OpenApi;
use utoipa::openapi::OpenApi as OpenApiDocument;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api_error::ApiError;
use crate::api_state::ApiState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Agentry API", description = "Ask agents, run tasks, read sessions, interactions and cost. \
        Authenticate with a Kubernetes bearer token; each endpoint needs a verb on a resource of agentry.dev \
        in the namespace (docs/api.md)."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
struct ApiDoc;

/// Declares the bearer-token scheme every endpoint uses.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApiDocument) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

fn described_routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(agents::list_agents))
        .routes(routes!(agents::get_agent))
        .routes(routes!(performance::agent_performance))
        .routes(routes!(performance::select_agent))
        .routes(routes!(invoke::invoke))
        .routes(routes!(invoke_stream::invoke_stream))
        .routes(routes!(tasks::submit_task))
        .routes(routes!(tasks::get_task, tasks::cancel_task))
        .routes(routes!(sessions::list_sessions, sessions::create_session))
        .routes(routes!(sessions::get_session))
        .routes(routes!(sessions::end_session))
        .routes(routes!(sessions::list_messages, session_messages::post_message))
        .routes(routes!(interactions::list_interactions))
        .routes(routes!(interactions::get_interaction))
        .routes(routes!(interactions::interaction_stats))
        .routes(routes!(costs::cost_report))
        .routes(routes!(memories::list_memories, memories::store_memory))
        .routes(routes!(memories::query_memories))
        .routes(routes!(memories::list_blocks))
        .routes(routes!(memories::put_block))
}

/// The OpenAPI document of every endpoint.
pub fn openapi() -> OpenApiDocument {
    described_routes().into_openapi()
}

/// The API's router for `state`; unknown paths under `/api/v1` answer 404 with an error body.
pub fn router(state: ApiState) -> Router {
    let (router, document) = described_routes().split_for_parts();
    let document = Json(document);
    router
        .route(paths::OPENAPI, get(move || async move { document }))
        .fallback(|| async {
            ApiError::not_found("no such endpoint; the API's paths are in /api/v1/openapi.json")
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
