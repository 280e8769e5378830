//! `agentry ask`, whole and streamed, and `agentry interactions` counting what was asked.

use std::time::Duration;

use agentry_api_contract::history::{InteractionList, InteractionStats};
use agentry_api_contract::invoke::InvokeResponse;
use agentry_tests::operator_world::CONVERGE;
use agentry_tests::scripted_model::{Step, StreamGate};
use tokio::io::AsyncReadExt;

use crate::agentry::Caller;
use crate::world::{CliWorld, HELPER};

/// How long the first streamed token may take to reach the CLI's stdout.
const FIRST_TOKEN: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_prints_the_answer_streams_it_before_the_run_ends_and_the_history_counts_it() {
    let world = CliWorld::start("cli-ask").await;
    world.world.model.extend([Step::text("Four."), Step::text("Five.")]);
    assert_eq!(world.succeed(&["ask", HELPER, "What is 2 + 2?"]).await, "Four.\n");
    let response: InvokeResponse =
        world.run(Caller::Asker, &["ask", HELPER, "And 2 + 3?", "-o", "json"]).await.json();
    assert_eq!(response.output, "Five.");
    assert!(!response.request_id.is_empty() && response.usage.cost_usd > 0.0, "{response:?}");

    streams_the_first_token_before_the_model_finishes(&world).await;
    the_statistics_count_the_three_requests(&world).await;
    world.stop().await;
}

/// `ask --stream` with the model holding its answer after the first piece: the CLI prints that
/// piece and is still running; once released it prints the rest and exits 0.
async fn streams_the_first_token_before_the_model_finishes(world: &CliWorld) {
    let gate = StreamGate::new();
    world.world.model.push(Step::held(Step::text("Streams arrive piece by piece"), &gate));
    let mut child = world
        .agentry(Caller::Asker, &["ask", HELPER, "Stream, please.", "--stream"])
        .spawn()
        .expect("agentry starts");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut printed = Vec::new();
    let mut buffer = [0u8; 256];
    while printed.is_empty() {
        let read = tokio::time::timeout(FIRST_TOKEN, stdout.read(&mut buffer))
            .await
            .unwrap_or_else(|_| panic!("no token on stdout within {FIRST_TOKEN:?} while the model held"))
            .expect("reading stdout");
        assert!(read > 0, "stdout closed before any token");
        printed.extend_from_slice(&buffer[..read]);
    }
    assert_eq!(String::from_utf8_lossy(&printed), "Streams", "only the first piece, the rest is held");
    assert!(child.try_wait().expect("its state").is_none(), "the CLI must still be waiting for the rest");

    gate.release();
    stdout.read_to_end(&mut printed).await.expect("reading the rest");
    let output = tokio::time::timeout(CONVERGE, child.wait_with_output())
        .await
        .expect("the CLI exits once the run ended")
        .expect("its exit");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&printed), "Streams arrive piece by piece\n");
}

/// `interactions stats` (its table and its JSON) counts the three asks, with a p95, and
/// `interactions list` shows the asker's ServiceAccount as the one who asked.
async fn the_statistics_count_the_three_requests(world: &CliWorld) {
    let stats: InteractionStats = world
        .world
        .eventually_explained(CONVERGE, "the three asks in the statistics", || async {
            let stats: InteractionStats =
                world.run(Caller::Asker, &["interactions", "stats", "-o", "json"]).await.json();
            if stats.totals.count == 3 { Ok(stats) } else { Err(format!("{stats:?}")) }
        })
        .await;
    assert_eq!(stats.totals.errors, 0, "{stats:?}");
    assert!(stats.totals.latency_ms.p95.is_some_and(|ms| ms > 0.0), "{stats:?}");
    let by_type: Vec<_> = stats.by_type.iter().map(|g| (g.key.as_str(), g.totals.count)).collect();
    assert_eq!(by_type, [("query", 3)], "{stats:?}");
    let by_agent: Vec<_> = stats.by_agent.iter().map(|g| (g.key.as_str(), g.totals.count)).collect();
    assert_eq!(by_agent, [(HELPER, 3)], "{stats:?}");

    let table = world.succeed(&["interactions", "stats"]).await;
    let field = |label: &str| {
        table
            .lines()
            .find_map(|line| line.strip_prefix(label))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {label} line in:\n{table}"))
            .to_owned()
    };
    assert_eq!(field("Interactions:"), "3", "{table}");
    assert_eq!(field("Errors:"), "0 (0.0%)", "{table}");
    assert_eq!(field("Cost:"), "<$0.0001", "three calls of 4.5 millionths: spent, if little");
    let p95 = field("Latency:")
        .split(", ")
        .find_map(|part| part.strip_prefix("p95 ").map(str::to_owned))
        .unwrap_or_else(|| panic!("no p95 in:\n{table}"));
    assert!(p95.starts_with(|c: char| c.is_ascii_digit()) && p95.ends_with('s'), "p95 {p95:?} in:\n{table}");

    let list: InteractionList =
        world.run(Caller::Asker, &["interactions", "list", "-o", "json"]).await.json();
    let asker = format!("system:serviceaccount:{}:asker", world.ns());
    let askers: Vec<_> = list.items.iter().map(|i| i.from_agent.as_deref()).collect();
    assert_eq!(askers, [Some(asker.as_str()); 3], "the history names who asked: {list:?}");
}
