//! The task queue against the real NATS server: submit, claim, cancel, finish and wait, with the
//! compare-and-set rules that keep one result per task.

use std::time::Duration;

use agentry_protocol::tasks::TaskId;
use agentry_protocol::{AgentReply, AgentRequest, SubjectToken, TaskState};
use agentry_task_queue::{Claim, TaskQueue};
use agentry_tests::nats_fixture;
use futures::StreamExt;

async fn queue() -> (TaskQueue, SubjectToken, SubjectToken) {
    let client = nats_fixture::connect().await.expect("NATS");
    let queue = TaskQueue::open(async_nats::jetstream::new(client)).await.expect("queue opens");
    let namespace = SubjectToken::new(nats_fixture::unique_namespace("tq")).expect("token");
    (queue, namespace, SubjectToken::new("planner").expect("token"))
}

fn task_id() -> TaskId {
    TaskId::new(uuid::Uuid::new_v4().to_string()).expect("id")
}

#[tokio::test]
async fn a_submitted_task_is_delivered_once_claimed_and_finished() {
    let (queue, ns, agent) = queue().await;
    let task = task_id();
    let request = AgentRequest::new(task.as_str(), "plan the week");
    let queued = queue.submit(&ns, &agent, &request).await.expect("submitted");
    assert_eq!(queued.state, TaskState::Queued);
    // A resubmission within the window is one message in the stream.
    queue.submit(&ns, &agent, &request).await.expect("resubmitted");

    let consumer = queue.worker_consumer(&ns, &agent).await.expect("consumer");
    let mut batch =
        consumer.fetch().max_messages(10).expires(Duration::from_secs(2)).messages().await.expect("fetch");
    let message = batch.next().await.expect("one task").expect("message");
    let delivered: AgentRequest = serde_json::from_slice(&message.payload).expect("a request");
    assert_eq!(delivered.request_id, task.as_str());
    assert!(batch.next().await.is_none(), "the duplicate submission was stored once");

    let Claim::Run(claimed) = queue.claim(&ns, &agent, &task, 1, "pod-a").await.expect("claim") else {
        panic!("a queued task is claimed");
    };
    assert_eq!((claimed.record.state, claimed.record.attempts), (TaskState::Running, 1));
    let mut done = claimed.record.clone();
    done.state = TaskState::Succeeded;
    done.reply =
        Some(AgentReply::failure(task.as_str(), agentry_protocol::ErrorCode::Internal, "placeholder"));
    let stood = queue.finish(&claimed, done).await.expect("finished");
    assert_eq!(stood.state, TaskState::Succeeded);
    message.ack().await.expect("ack");

    let waited = queue.wait(&ns, &agent, &task, Duration::from_secs(5)).await.expect("ended");
    assert_eq!(waited.state, TaskState::Succeeded);
    // Once ended, a task is never claimed again and a resubmission returns its result.
    assert!(matches!(queue.claim(&ns, &agent, &task, 2, "pod-b").await.expect("claim"), Claim::Ended(_)));
    assert_eq!(queue.submit(&ns, &agent, &request).await.expect("again").state, TaskState::Succeeded);
    consumer_cleanup(&queue, &ns, &agent).await;
}

#[tokio::test]
async fn a_cancellation_wins_over_a_later_result() {
    let (queue, ns, agent) = queue().await;
    let task = task_id();
    queue.submit(&ns, &agent, &AgentRequest::new(task.as_str(), "x")).await.expect("submitted");
    let Claim::Run(claimed) = queue.claim(&ns, &agent, &task, 1, "pod-a").await.expect("claim") else {
        panic!("claimed");
    };
    let cancelled =
        queue.cancel(&ns, &agent, &task, "no longer needed").await.expect("cancel").expect("known");
    assert_eq!(cancelled.state, TaskState::Cancelled);
    assert!(queue.ended_elsewhere(&claimed).await.expect("read").is_some());
    let mut late = claimed.record.clone();
    late.state = TaskState::Succeeded;
    let stood = queue.finish(&claimed, late).await.expect("finish");
    assert_eq!((stood.state, stood.message.as_deref()), (TaskState::Cancelled, Some("no longer needed")));
    // Cancelling an unknown task says so; waiting on a cancelled one returns at once.
    assert!(queue.cancel(&ns, &agent, &task_id(), "x").await.expect("cancel").is_none());
    let waited = queue.wait(&ns, &agent, &task, Duration::from_secs(5)).await.expect("ended");
    assert_eq!(waited.state, TaskState::Cancelled);
    consumer_cleanup(&queue, &ns, &agent).await;
}

#[tokio::test]
async fn a_wait_hears_the_end_written_after_it_began() {
    let (queue, ns, agent) = queue().await;
    let task = task_id();
    queue.submit(&ns, &agent, &AgentRequest::new(task.as_str(), "x")).await.expect("submitted");
    let waiting = tokio::spawn({
        let (queue, ns, agent, task) = (queue.clone(), ns.clone(), agent.clone(), task.clone());
        async move { queue.wait(&ns, &agent, &task, Duration::from_secs(30)).await }
    });
    let Claim::Run(claimed) = queue.claim(&ns, &agent, &task, 1, "pod-a").await.expect("claim") else {
        panic!("claimed");
    };
    let mut done = claimed.record.clone();
    done.state = TaskState::Failed;
    done.message = Some("finished while waited for".into());
    queue.finish(&claimed, done).await.expect("finished");
    let ended = waiting.await.expect("wait task").expect("ended");
    assert_eq!(
        (ended.state, ended.message.as_deref()),
        (TaskState::Failed, Some("finished while waited for"))
    );
    consumer_cleanup(&queue, &ns, &agent).await;
}

#[tokio::test]
async fn a_bad_task_id_is_refused_naming_the_field() {
    let (queue, ns, agent) = queue().await;
    let err = queue.submit(&ns, &agent, &AgentRequest::new("a.b", "x")).await.expect_err("refused");
    assert!(err.to_string().starts_with("requestId: task id \"a.b\" contains '.'"), "{err}");
    let wait =
        queue.wait(&ns, &agent, &task_id(), Duration::from_millis(300)).await.expect_err("nothing ends");
    assert!(wait.to_string().contains("had not ended"), "{wait}");
}

/// The durable consumer outlives the test otherwise (for a day, its inactive threshold).
async fn consumer_cleanup(queue: &TaskQueue, ns: &SubjectToken, agent: &SubjectToken) {
    let consumer = queue.worker_consumer(ns, agent).await.expect("consumer");
    let name = consumer.cached_info().name.clone();
    let js = async_nats::jetstream::new(nats_fixture::connect().await.expect("NATS"));
    let stream = js.get_stream(agentry_protocol::subjects::TASKS_STREAM).await.expect("stream");
    stream.delete_consumer(&name).await.expect("consumer deleted");
}

#[tokio::test]
async fn an_answer_too_long_for_one_message_is_kept_cut_and_said_so() {
    let (queue, ns, agent) = queue().await;
    let task = task_id();
    queue.submit(&ns, &agent, &AgentRequest::new(task.as_str(), "write a lot")).await.expect("submitted");
    let Claim::Run(claimed) = queue.claim(&ns, &agent, &task, 1, "pod-a").await.expect("claim") else {
        panic!("claimed");
    };
    let mut done = claimed.record.clone();
    done.state = TaskState::Succeeded;
    let mut reply = AgentReply::failure(task.as_str(), agentry_protocol::ErrorCode::Internal, "");
    (reply.error, reply.output) = (None, Some("x".repeat(2 * 1024 * 1024)));
    done.reply = Some(reply);

    let stood =
        queue.finish(&claimed, done).await.expect("a record over the NATS payload limit is still written");
    let stored = queue.wait(&ns, &agent, &task, Duration::from_secs(5)).await.expect("ended");
    assert_eq!(stored, stood);
    assert_eq!(stored.state, TaskState::Succeeded);
    let output = stored.reply.and_then(|r| r.output).expect("an answer");
    assert_eq!(output.len(), agentry_protocol::tasks::MAX_TASK_OUTPUT_BYTES);
    assert!(stored.message.expect("said so").contains("cut from 2097152"));
    consumer_cleanup(&queue, &ns, &agent).await;
}
