//! An Agent's status shows what its runners spent today, read from the `AGENTRY_DAILY_USAGE`
//! bucket they keep (written here as a runner would).

use std::time::Duration;

use agentry_crds::Agent;
use agentry_protocol::SubjectToken;
use agentry_protocol::daily_usage::{
    DAILY_USAGE_BUCKET, DAILY_USAGE_TTL_SECONDS, DailyUsage, daily_usage_key,
};
use agentry_tests::operator_world::World;
use kube::Api;
use kube::api::{Patch, PatchParams};

use crate::session_fixtures::paused_agent;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_status_shows_its_usage_today() {
    let world = World::start("usage").await;
    let _operator = world.start_operator().await;
    paused_agent(&world, "planner").await;
    // With nothing spent yet, today shows zero.
    let day = k8s_openapi::jiff::Timestamp::now().strftime("%Y-%m-%d").to_string();
    world
        .wait_agent_where("planner", "usage today with nothing spent", |a| {
            a.status.as_ref().and_then(|s| s.usage.as_ref()).is_some_and(|u| u.day == day && u.requests == 0)
        })
        .await;

    let js = async_nats::jetstream::new(world.nats.clone());
    js.get_or_create_stream(agentry_task_queue::key_value_stream_config(
        DAILY_USAGE_BUCKET,
        "Agentry spend per agent and UTC day",
        Duration::from_secs(DAILY_USAGE_TTL_SECONDS),
    ))
    .await
    .expect("the bucket's stream");
    let bucket = js.get_key_value(DAILY_USAGE_BUCKET).await.expect("the bucket");
    let (ns, agent) =
        (SubjectToken::new(world.ns.clone()).expect("ns"), SubjectToken::new("planner").expect("agent"));
    let key = daily_usage_key(&ns, &agent, &day);
    let spent = DailyUsage { input_tokens: 1200, output_tokens: 300, cost_usd: 0.42, requests: 3 };
    bucket.put(key.as_str(), serde_json::to_vec(&spent).expect("json").into()).await.expect("put");
    // Any reconcile reads it (the periodic one comes within a minute); a label change brings one now.
    let agents: Api<Agent> = Api::namespaced(world.client.clone(), &world.ns);
    let label = serde_json::json!({"metadata": {"labels": {"touched": "yes"}}});
    agents.patch("planner", &PatchParams::default(), &Patch::Merge(label)).await.expect("label");
    let agent = world
        .wait_agent_where("planner", "usage today of 0.42 USD", |a| {
            a.status.as_ref().and_then(|s| s.usage.as_ref()).is_some_and(|u| u.usage.cost_usd == 0.42)
        })
        .await;
    let usage = agent.status.and_then(|s| s.usage).expect("usage");
    assert_eq!(
        (usage.day.as_str(), usage.usage.input_tokens, usage.usage.output_tokens, usage.requests),
        (day.as_str(), 1200, 300, 3)
    );
    let _ = bucket.delete(key.as_str()).await;
}
