//! The harness itself: an operator that dies fails the waiting test at once, with the operator's
//! exit status and its own last words, not with a convergence timeout a minute later.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use agentry_crds::AgentPhase;
use agentry_tests::operator_process::OperatorProcess;
use agentry_tests::operator_world::World;
use futures::FutureExt;

/// Runs `wait` expecting it to fail; returns its panic message and how long it took.
async fn failure_of(wait: impl std::future::Future<Output = ()>) -> (String, Duration) {
    let started = tokio::time::Instant::now();
    let outcome = AssertUnwindSafe(wait).catch_unwind().await;
    let payload = outcome.expect_err("the wait should have failed");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    (message, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dying_operator_fails_the_wait_at_once_with_its_error() {
    let world = World::start("crash").await;

    // Misconfigured: its Lease namespace does not exist, so leader election fails and the
    // process exits with the error.
    let options = world.operator_options().replica("lost", "no-such-namespace", 3);
    let lost =
        OperatorProcess::spawn(&world.binaries().operator, world.kubeconfig(), &options).expect("spawned");
    world.watch_operator(&lost);
    let (message, took) = failure_of(async {
        world.wait_agent("nobody", AgentPhase::Ready).await;
    })
    .await;
    assert!(took < Duration::from_secs(20), "the wait took {took:?}");
    assert!(message.contains("operator lost died (exit status: 1)"), "{message}");
    assert!(message.contains("leader election"), "the operator's own error is shown: {message}");
    drop(lost);

    // Killed behind the harness's back, as the OOM killer would (in a world of its own: the
    // first one rightly keeps failing for the operator that died there).
    let world = World::start("crash").await;
    let operator = world.start_operator().await;
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &operator.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let (message, took) = failure_of(async {
        world.eventually("something that never happens", || async { None::<()> }).await;
    })
    .await;
    assert!(took < Duration::from_secs(5), "the wait took {took:?}");
    assert!(message.contains("operator operator died (signal: 9 (SIGKILL))"), "{message}");
}
