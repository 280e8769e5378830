//! Notifications: `agentry.<ns>.agent.<name>.notify.<caller>` reaches every replica of one
//! agent, `agentry.<ns>.broadcast` every agent of the namespace; each is counted by the sender
//! its subject names.

use std::time::Duration;

use agentry_protocol::Notification;
use agentry_protocol::subjects::{self, Caller, SubjectToken};
use agentry_tests::nats_fixture;
use agentry_tests::polling::poll_until;
use agentry_tests::runner_process::RunnerProcess;
use agentry_tests::scripted_model::{Flavor, ScriptedModel};

use crate::harness;

const RECEIVED: &str = "agentry_agent_messages_total";

/// The `received` count from `peer` on `runner`'s `/metrics`, if it has such a series.
async fn received_from(runner: &RunnerProcess, peer: &str) -> Option<f64> {
    let metrics = runner.metrics().await.ok()?;
    harness::metric_value(&metrics, RECEIVED, &[("peer", peer), ("direction", "received")])
}

fn notification(from: &str, topic: &str) -> bytes::Bytes {
    let notification = Notification {
        version: agentry_protocol::PROTOCOL_VERSION,
        from: Some(from.to_string()),
        topic: topic.to_string(),
        body: Some(serde_json::json!({"detail": topic})),
    };
    serde_json::to_vec(&notification).expect("notification serializes").into()
}

#[tokio::test]
async fn notify_reaches_every_replica_of_its_agent_and_broadcast_every_agent() {
    let model = ScriptedModel::start(Flavor::OpenAi).await;
    let ns = nats_fixture::unique_namespace("notify");
    let mut worker =
        harness::config(&ns, "worker", vec![harness::model("primary", &model.base_url())], vec![]);
    worker.peers = vec!["finance-officer".into()];
    let replica_one = harness::start(&worker).await;
    let replica_two = harness::start(&worker).await;
    let other =
        harness::start(&harness::config(&ns, "other", vec![harness::model("p", &model.base_url())], vec![]))
            .await;
    let nats = nats_fixture::connect().await.expect("nats");
    let token = |t: &str| SubjectToken::new(t).expect("subject token");
    let namespace = token(&ns);

    // Published in this order from one connection, so each subscription sees them in this order.
    let finance = Caller::agent("finance-officer").expect("caller");
    let worker_notify = subjects::notify(&namespace, &token("worker"), &finance);
    nats.publish(worker_notify.clone(), "not a notification".into()).await.expect("publish");
    nats.publish(subjects::broadcast(&namespace), notification("stranger", "budget-warning"))
        .await
        .expect("publish");
    nats.publish(
        subjects::notify(&namespace, &token("other"), &finance),
        notification("finance-officer", "ping"),
    )
    .await
    .expect("publish");
    nats.publish(worker_notify, notification("finance-officer", "config-changed")).await.expect("publish");
    nats.flush().await.expect("flush");

    for (name, replica) in [("one", &replica_one), ("two", &replica_two)] {
        // The peer's notification came last on the notify subscription: once it is counted, the
        // unreadable one before it has been handled too.
        poll_until(Duration::from_secs(10), || async {
            let peer = received_from(replica, "finance-officer").await?;
            let others = received_from(replica, "_other").await?;
            (peer >= 1.0 && others >= 1.0).then_some(())
        })
        .await
        .unwrap_or_else(|_| panic!("replica {name} did not count both notifications:\n{}", replica.output()));
        assert_eq!(received_from(replica, "finance-officer").await, Some(1.0), "replica {name}: notify");
        assert_eq!(
            received_from(replica, "_other").await,
            Some(1.0),
            "replica {name}: the broadcast, labelled _other (not a peer); nothing for the unreadable one"
        );
        poll_until(Duration::from_secs(10), || async {
            replica.output().contains("unreadable notification ignored").then_some(())
        })
        .await
        .unwrap_or_else(|_| panic!("replica {name} did not report the unreadable notification"));
    }

    // `other` hears the broadcast and its own notify, never the worker's; finance-officer is
    // not among its peers, so both count as `_other`.
    poll_until(Duration::from_secs(10), || async {
        (received_from(&other, "_other").await? >= 2.0).then_some(())
    })
    .await
    .unwrap_or_else(|_| panic!("other did not count its two notifications:\n{}", other.output()));
    assert_eq!(received_from(&other, "_other").await, Some(2.0));
    assert_eq!(received_from(&other, "finance-officer").await, None, "only peers get a series");
    assert!(!other.output().contains("unreadable notification"), "the worker's notify reached other");

    // Notifications are not queries: no request was answered and the model was never called.
    assert_eq!(model.request_count(), 0);
}
