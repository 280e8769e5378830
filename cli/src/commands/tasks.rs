//! `agentry tasks submit | get | cancel`: durable work an agent runs once, fetched later.

use std::time::{Duration, Instant};

use agentry_api_contract::paths;
use agentry_api_contract::tasks::{TaskPhase, TaskStatus, TaskSubmission};
use anyhow::bail;
use clap::Subcommand;
use http::Method;
use jiff::Timestamp;

use super::ask::{parse_budget, print_answer, read_input};
use crate::connection::ApiClient;
use crate::output::{OutputFormat, fields, print_line, print_object, print_text, time_and_age};
use crate::timing::{Span, parse_span};

/// First wait between polls of a task; it doubles up to [`MAX_POLL`].
const FIRST_POLL: Duration = Duration::from_millis(250);
const MAX_POLL: Duration = Duration::from_secs(2);

/// `agentry tasks`.
#[derive(Debug, Subcommand)]
pub(crate) enum TasksCommand {
    /// Submit a task to an agent and print its id (or, with --wait, its answer).
    Submit {
        /// The agent.
        agent: String,
        /// The task (`-` reads it from stdin).
        input: String,
        /// Your id for it: submitting the same id again within 10 minutes returns the first task.
        #[arg(long)]
        id: Option<String>,
        /// Stop the run once its model spend passes this many US dollars.
        #[arg(long, value_name = "USD", value_parser = parse_budget)]
        budget_usd: Option<f64>,
        /// Wait until the task ends and print its answer.
        #[arg(long)]
        wait: bool,
        /// With --wait: how long to wait.
        #[arg(long, value_parser = parse_span, default_value = "30m", requires = "wait")]
        timeout: Span,
    },
    /// A task's state and, once it ended, its answer.
    Get {
        /// The agent.
        agent: String,
        /// The task's id.
        id: String,
    },
    /// Cancel a task that has not ended.
    Cancel {
        /// The agent.
        agent: String,
        /// The task's id.
        id: String,
    },
}

/// Run `agentry tasks ...`.
pub(crate) async fn run(
    client: &mut ApiClient,
    command: TasksCommand,
    format: OutputFormat,
) -> anyhow::Result<()> {
    match command {
        TasksCommand::Submit { agent, input, id, budget_usd, wait, timeout } => {
            let submission =
                TaskSubmission { input: read_input(input)?, context: None, task_id: id, budget_usd };
            let path = paths::fill(paths::AGENT_TASKS, &[client.namespace(), &agent]);
            let task: TaskStatus = client.post(&path, &submission).await?;
            if wait {
                let task = wait_for_end(client, task, timeout.duration()).await?;
                return print_ended(&task, format);
            }
            if !print_object(format, &task)? {
                print_line(&task.task_id)?;
            }
            Ok(())
        }
        TasksCommand::Get { agent, id } => {
            let path = paths::fill(paths::AGENT_TASK, &[client.namespace(), &agent, &id]);
            let task: TaskStatus = client.get(&path, &()).await?;
            if !print_object(format, &task)? {
                print_text(&describe(&task, Timestamp::now()))?;
            }
            Ok(())
        }
        TasksCommand::Cancel { agent, id } => {
            let path = paths::fill(paths::AGENT_TASK, &[client.namespace(), &agent, &id]);
            let task: Option<TaskStatus> = client.call(Method::DELETE, &path).await?;
            if !print_object(format, &task)? {
                print_line(&cancel_outcome(&id, task.as_ref()))?;
            }
            Ok(())
        }
    }
}

/// What cancelling did: the API answers an ended task as it is, without cancelling it.
fn cancel_outcome(id: &str, task: Option<&TaskStatus>) -> String {
    match task.map(|t| t.phase) {
        None | Some(TaskPhase::Cancelled | TaskPhase::Queued | TaskPhase::Running) => {
            format!("task {id} cancelled")
        }
        Some(phase) => {
            format!("task {id} had already {}: nothing to cancel", format!("{phase:?}").to_lowercase())
        }
    }
}

fn has_ended(phase: TaskPhase) -> bool {
    matches!(phase, TaskPhase::Succeeded | TaskPhase::Failed | TaskPhase::Cancelled)
}

/// Poll the task until it ends or `timeout` passes.
async fn wait_for_end(
    client: &ApiClient,
    mut task: TaskStatus,
    timeout: Duration,
) -> anyhow::Result<TaskStatus> {
    let path = paths::fill(paths::AGENT_TASK, &[client.namespace(), &task.agent, &task.task_id]);
    let started = Instant::now();
    let mut pause = FIRST_POLL;
    while !has_ended(task.phase) {
        if started.elapsed() >= timeout {
            bail!(
                "task {} is still {:?} after {}s (see `agentry tasks get`)",
                task.task_id,
                task.phase,
                timeout.as_secs()
            );
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_POLL);
        task = client.get(&path, &()).await?;
    }
    Ok(task)
}

/// An ended task: its answer, or why it has none (and a failure exit).
fn print_ended(task: &TaskStatus, format: OutputFormat) -> anyhow::Result<()> {
    if format != OutputFormat::Table {
        print_object(format, task)?;
    } else if let Some(result) = &task.result {
        print_answer(result, format)?;
    }
    match task.phase {
        TaskPhase::Succeeded => Ok(()),
        phase => {
            let why = task.message.as_deref().unwrap_or("no reason given");
            let code = task.error_code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default();
            let phase = format!("{phase:?}").to_lowercase();
            bail!("task {} {phase}: {why}{code}", task.task_id)
        }
    }
}

fn describe(task: &TaskStatus, now: Timestamp) -> String {
    let mut text = fields(&[
        ("Task", task.task_id.clone()),
        ("Agent", task.agent.clone()),
        ("Phase", format!("{:?}", task.phase)),
        ("Attempts", task.attempts.to_string()),
        ("Submitted", time_and_age(task.submitted_at.as_deref(), now)),
        ("Finished", time_and_age(task.finished_at.as_deref(), now)),
        ("Message", task.message.clone().unwrap_or_default()),
        ("Error code", task.error_code.clone().unwrap_or_default()),
    ]);
    if let Some(result) = &task.result {
        text.push_str(&format!("\nResult (request {}):\n{}\n", result.request_id, result.output.trim_end()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_describes_its_state_and_answer() {
        let task: TaskStatus = serde_json::from_value(serde_json::json!({
            "taskId": "t-1", "agent": "ops", "phase": "succeeded", "attempts": 1,
            "submittedAt": "2026-11-30T11:58:00Z", "finishedAt": "2026-11-30T11:59:00Z",
            "result": {"requestId": "r-9", "output": "Done.", "usage": {"inputTokens": 1, "outputTokens": 2, "costUsd": 0.0},
                       "messageCount": 2}
        }))
        .unwrap();
        let text = describe(&task, "2026-11-30T12:00:00Z".parse().unwrap());
        assert!(text.starts_with("Task:        t-1\nAgent:       ops\nPhase:       Succeeded\n"), "{text}");
        assert!(text.contains("Finished:    2026-11-30T11:59:00Z (60s ago)\n"), "{text}");
        assert!(text.ends_with("\nResult (request r-9):\nDone.\n"), "{text}");
    }

    #[test]
    fn a_failed_task_is_an_error_naming_why() {
        let task: TaskStatus = serde_json::from_value(serde_json::json!({
            "taskId": "t-2", "agent": "ops", "phase": "failed", "attempts": 3,
            "message": "the model refused", "errorCode": "model_error"
        }))
        .unwrap();
        let err = print_ended(&task, OutputFormat::Table).unwrap_err().to_string();
        assert_eq!(err, "task t-2 failed: the model refused (model_error)");
    }
}
