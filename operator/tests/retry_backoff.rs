//! A reconcile that keeps failing is retried by the real kube-runtime Controller with growing
//! delays, per object, and each failure is counted by controller and reason.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentry_devcluster::DevCluster;
use agentry_operator::reconciler::controller_kit::{ControllerKit, WithKit, drive};
use agentry_operator::reconciler::error::ReconcileError;
use agentry_operator::reconciler::retry_backoff::BackoffPolicy;
use agentry_operator::runtime::metrics::OperatorMetrics;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::PostParams;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

struct Failing {
    kit: ControllerKit,
    attempts: Mutex<Vec<(String, Instant)>>,
}

impl WithKit for Failing {
    fn kit(&self) -> &ControllerKit {
        &self.kit
    }
}

async fn always_fails(object: Arc<ConfigMap>, ctx: Arc<Failing>) -> Result<Action, ReconcileError> {
    let mut attempts = ctx.attempts.lock().unwrap_or_else(|p| p.into_inner());
    attempts.push((object.name_any(), Instant::now()));
    Err(ReconcileError::MissingMetadata("anything, for the test"))
}

fn gaps(attempts: &[(String, Instant)], name: &str) -> Vec<Duration> {
    let times: Vec<Instant> = attempts.iter().filter(|(n, _)| n == name).map(|(_, t)| *t).collect();
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_reconcile_is_retried_with_growing_delays() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cluster = DevCluster::start().await.expect("devcluster");
    let client = cluster.client();
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let metrics = Arc::new(OperatorMetrics::new().expect("metrics"));
    let policy = BackoffPolicy { initial: Duration::from_millis(400), max: Duration::from_millis(3200) };
    let ctx = Arc::new(Failing {
        kit: ControllerKit::with_backoff("test", metrics.clone(), policy),
        attempts: Mutex::new(Vec::new()),
    });
    let controller = Controller::new(config_maps.clone(), watcher::Config::default());
    let running = tokio::spawn(drive(controller, always_fails, ctx.clone()));
    for name in ["first", "second"] {
        let object: ConfigMap =
            serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).expect("config map");
        config_maps.create(&PostParams::default(), &object).await.expect("created");
    }

    // 400, 800, 1600, 3200 ms: five attempts take at least 6 s. Delays this long keep
    // scheduling noise on a loaded machine small beside the schedule.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let done = {
            let attempts = ctx.attempts.lock().unwrap_or_else(|p| p.into_inner());
            ["first", "second"].iter().all(|n| attempts.iter().filter(|(a, _)| a == n).count() >= 5)
        };
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "five attempts of each object within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.abort();

    let attempts = ctx.attempts.lock().unwrap_or_else(|p| p.into_inner()).clone();
    for name in ["first", "second"] {
        let gaps = gaps(&attempts, name);
        let floors = [400, 800, 1600, 3200];
        for (gap, floor) in gaps.iter().zip(floors) {
            assert!(
                *gap >= Duration::from_millis(floor),
                "{name}: gaps {gaps:?} below the schedule {floors:?}"
            );
        }
        // Growing, not fixed: the first retry comes far sooner than the capped ones.
        assert!(gaps[0] < Duration::from_millis(1600), "{name}: first retry after {:?}", gaps[0]);
        assert!(gaps[3] > gaps[0] * 2, "{name}: gaps {gaps:?} do not grow");
    }
    let text = metrics.encode().expect("metrics");
    let line = text
        .lines()
        .find(|l| {
            l.starts_with(
                "agentry_operator_reconcile_errors_total{controller=\"test\",reason=\"missing_metadata\"}",
            )
        })
        .unwrap_or_else(|| panic!("no failure metric in\n{text}"));
    let counted: f64 = line.rsplit(' ').next().and_then(|v| v.parse().ok()).expect("a value");
    assert!(counted >= 10.0, "{line}");
}
