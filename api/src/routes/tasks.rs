//! `POST …/agents/{name}/tasks`, `GET` and `DELETE …/tasks/{task_id}`: durable tasks.

use agentry_api_contract::paths;
use agentry_api_contract::tasks::{TaskPhase, TaskStatus, TaskSubmission};
use agentry_protocol::tasks::{TaskId, TaskRecord, TaskState};
use agentry_protocol::{AgentRequest, RequestLimits};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::agent_call::{self, reply_to_response};
use crate::api_error::ApiError;
use crate::api_state::ApiState;
use crate::authentication::Caller;
use crate::authorization::Access;
use crate::bounded_json::BoundedJson;
use crate::query_bounds::{budget, identifier, input_text, object_name};
use crate::routes::failures::Failures;

/// Queues a task; the same `taskId` again returns the first. Needs `create tasks`.
#[utoipa::path(post, path = paths::AGENT_TASKS, tag = "tasks",
    params(("ns" = String, Path, description = "Namespace"), ("name" = String, Path, description = "Agent")),
    request_body = TaskSubmission,
    responses((status = 202, description = "Queued (or already known)", body = TaskStatus), Failures))]
pub(crate) async fn submit_task(
    State(state): State<ApiState>,
    caller: Caller,
    Path((ns, name)): Path<(String, String)>,
    BoundedJson(body): BoundedJson<TaskSubmission>,
) -> Result<(StatusCode, Json<TaskStatus>), ApiError> {
    object_name("namespace", &ns)?;
    object_name("name", &name)?;
    input_text("input", &body.input)?;
    let task_id = match &body.task_id {
        Some(id) => identifier("taskId", id)?.to_owned(),
        None => agent_call::new_request_id(),
    };
    let limits = budget(body.budget_usd)?.map(|b| RequestLimits { budget_usd: Some(b), max_messages: None });
    state.access_reviews.require(&caller, Access::new("create", "tasks", &ns)).await?;
    let request = AgentRequest {
        from: Some(caller.username.clone()),
        context: body.context,
        limits,
        ..AgentRequest::new(task_id, body.input)
    };
    let (ns_token, agent_token) = agent_call::tokens(&ns, &name)?;
    let record = state
        .tasks()
        .await?
        .submit(&ns_token, &agent_token, &request)
        .await
        .map_err(|e| ApiError::unavailable("the task queue (NATS JetStream)", &e))?;
    Ok((StatusCode::ACCEPTED, Json(task_status(record))))
}

/// A task's state, and its result once it ended. Needs `get tasks`.
#[utoipa::path(get, path = paths::AGENT_TASK, tag = "tasks",
    params(("ns" = String, Path, description = "Namespace"), ("name" = String, Path, description = "Agent"),
        ("task_id" = String, Path, description = "Task id")),
    responses((status = 200, body = TaskStatus), Failures))]
pub(crate) async fn get_task(
    State(state): State<ApiState>,
    caller: Caller,
    Path((ns, name, task_id)): Path<(String, String, String)>,
) -> Result<Json<TaskStatus>, ApiError> {
    let (ns_token, agent_token, task) = task_path(&ns, &name, &task_id)?;
    state.access_reviews.require(&caller, Access::new("get", "tasks", &ns)).await?;
    let record = state
        .tasks()
        .await?
        .record(&ns_token, &agent_token, &task)
        .await
        .map_err(|e| ApiError::unavailable("the task queue (NATS JetStream)", &e))?
        .ok_or_else(|| no_such_task(&name, &task_id))?;
    Ok(Json(task_status(record.record)))
}

/// Cancels a task that has not ended; an ended one is returned as it is. Needs `delete tasks`.
#[utoipa::path(delete, path = paths::AGENT_TASK, tag = "tasks",
    params(("ns" = String, Path, description = "Namespace"), ("name" = String, Path, description = "Agent"),
        ("task_id" = String, Path, description = "Task id")),
    responses((status = 200, body = TaskStatus), Failures))]
pub(crate) async fn cancel_task(
    State(state): State<ApiState>,
    caller: Caller,
    Path((ns, name, task_id)): Path<(String, String, String)>,
) -> Result<Json<TaskStatus>, ApiError> {
    let (ns_token, agent_token, task) = task_path(&ns, &name, &task_id)?;
    state.access_reviews.require(&caller, Access::new("delete", "tasks", &ns)).await?;
    let reason = format!("cancelled through the API by {}", caller.username);
    let record = state
        .tasks()
        .await?
        .cancel(&ns_token, &agent_token, &task, &reason)
        .await
        .map_err(|e| ApiError::unavailable("the task queue (NATS JetStream)", &e))?
        .ok_or_else(|| no_such_task(&name, &task_id))?;
    Ok(Json(task_status(record)))
}

type TaskPath = (agentry_protocol::subjects::SubjectToken, agentry_protocol::subjects::SubjectToken, TaskId);

fn task_path(ns: &str, name: &str, task_id: &str) -> Result<TaskPath, ApiError> {
    object_name("namespace", ns)?;
    object_name("name", name)?;
    identifier("taskId", task_id)?;
    let (ns_token, agent_token) = agent_call::tokens(ns, name)?;
    let task = TaskId::new(task_id).map_err(|e| ApiError::bad_field("taskId", e.to_string()))?;
    Ok((ns_token, agent_token, task))
}

fn no_such_task(agent: &str, task_id: &str) -> ApiError {
    ApiError::not_found(format!("agent {agent:?} has no task {task_id:?} (tasks are kept 7 days)"))
}

/// What the API tells about `record`.
fn task_status(record: TaskRecord) -> TaskStatus {
    let phase = match record.state {
        TaskState::Queued => TaskPhase::Queued,
        TaskState::Running => TaskPhase::Running,
        TaskState::Succeeded => TaskPhase::Succeeded,
        TaskState::Failed => TaskPhase::Failed,
        TaskState::Cancelled => TaskPhase::Cancelled,
    };
    let error_code = record.reply.as_ref().and_then(|r| r.error.as_ref()).map(|e| e.code.as_str().to_owned());
    let result = record
        .reply
        .filter(|r| r.error.is_none())
        .and_then(|reply| reply_to_response(&record.agent, reply, None).ok());
    TaskStatus {
        task_id: record.task_id,
        agent: record.agent,
        phase,
        attempts: record.attempts,
        submitted_at: record.submitted_ms.and_then(rfc3339),
        finished_at: record.finished_ms.and_then(rfc3339),
        message: record.message,
        result,
        error_code,
    }
}

/// `ms` since the epoch as RFC 3339.
pub(crate) fn rfc3339(ms: u64) -> Option<String> {
    let ms = i64::try_from(ms).ok()?;
    jiff::Timestamp::from_millisecond(ms).ok().map(|t| t.to_string())
}
