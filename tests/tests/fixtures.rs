//! The shared fixtures themselves, as the suites of other crates rely on them: the one-agent
//! runner fixture answers through NATS, with the runner binary built from this tree, and sends
//! the model its configured key.

use agentry_tests::binaries;
use agentry_tests::runner_fixture::{MODEL_KEY, OneAgent};
use agentry_tests::scripted_model::Step;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_agent_answers_and_sends_the_model_its_key() {
    let built = tokio::task::spawn_blocking(binaries::built)
        .await
        .expect("the build task")
        .unwrap_or_else(|err| panic!("{err}"));
    let agent = OneAgent::start(&built.runner, "fixture", |config| {
        config.system_prompt = Some("You check fixtures.".into());
    })
    .await;
    agent.model.push(Step::text("fixture ok"));

    let reply = agent.ask("Are you there?").await;

    assert_eq!(reply.output.as_deref(), Some("fixture ok"), "{reply:?}");
    let recorded = agent.model.recorded();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].header("authorization"), Some(format!("Bearer {MODEL_KEY}").as_str()));
    assert_eq!(recorded[0].body["messages"][0]["content"], "You check fixtures.", "adjust was applied");
    assert_eq!(recorded[0].body["messages"][1]["content"], "Are you there?");
}
