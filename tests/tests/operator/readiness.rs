//! `Ready` as GitOps tools and `kubectl wait` read it: every sample Agent becomes Ready with the
//! real kubectl waiting for it, every kind's conditions carry the generation they describe, a
//! rolling update of the runners never makes an Agent not Ready, and a Session can be waited
//! for to start and to end.

use agentry_crds::{Agent, ConditionStatus, MemoryStore, Model, Session, Tool};
use agentry_tests::operator_world::{CONVERGE, World, apply, condition_of, session_sample};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

const SAMPLE_AGENTS: [&str; 3] = ["fleet-manager", "finance-officer", "sales-agent"];

/// Runs the real `kubectl` against the world's cluster in its namespace; returns its stdout.
async fn kubectl(world: &World, args: &[&str]) -> String {
    let output = tokio::process::Command::new("kubectl")
        .env("KUBECONFIG", world.kubeconfig())
        .args(["-n", &world.ns])
        .args(args)
        .output()
        .await
        .expect("kubectl runs");
    assert!(
        output.status.success(),
        "kubectl {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn wait_args(condition: &str, object: &str) -> Vec<String> {
    let timeout = format!("--timeout={}s", CONVERGE.as_secs());
    vec!["wait".into(), format!("--for=condition={condition}"), object.into(), timeout]
}

async fn kubectl_wait(world: &World, condition: &str, object: &str) -> String {
    let args = wait_args(condition, object);
    kubectl(world, &args.iter().map(String::as_str).collect::<Vec<_>>()).await
}

/// Objects of kind `K` whose status or a condition does not describe their current generation.
async fn stale_generations<K>(world: &World) -> Vec<String>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()> + Clone + DeserializeOwned + Serialize,
    K: std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(world.client.clone(), &world.ns);
    let list = api.list(&ListParams::default()).await.expect("list");
    let mut stale = Vec::new();
    for object in &list.items {
        let value = serde_json::to_value(object).expect("serializes");
        let generation = &value["metadata"]["generation"];
        let status = &value["status"];
        let conditions = status["conditions"].as_array().cloned().unwrap_or_default();
        let current = status["observedGeneration"] == *generation
            && !conditions.is_empty()
            && conditions.iter().all(|c| c["observedGeneration"] == *generation);
        if !current {
            stale.push(format!("{} {}: {status}", K::kind(&()), object.name_any()));
        }
    }
    assert!(!list.items.is_empty(), "no {} in the samples", K::kind(&()));
    stale
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_waits_for_every_sample_agent_and_for_a_session_to_end() {
    let world = World::start("ready").await;
    let _operator = world.start_operator().await;
    world.apply_samples().await;
    for agent in SAMPLE_AGENTS {
        let said = kubectl_wait(&world, "Ready", &format!("agent/{agent}")).await;
        assert!(said.contains("condition met"), "{said}");
    }
    let table = kubectl(&world, &["get", "agents"]).await;
    let header = table.lines().next().unwrap_or_default();
    assert!(header.contains("READY") && header.contains("REASON"), "{table}");
    for agent in SAMPLE_AGENTS {
        let row = table.lines().find(|l| l.starts_with(agent)).unwrap_or_default();
        assert!(row.contains(" True ") && row.contains("RunnersAvailable"), "{agent}: {table}");
    }
    world
        .eventually_explained(CONVERGE, "every status and condition at its object's generation", || async {
            let mut stale = stale_generations::<Agent>(&world).await;
            stale.extend(stale_generations::<Model>(&world).await);
            stale.extend(stale_generations::<Tool>(&world).await);
            stale.extend(stale_generations::<MemoryStore>(&world).await);
            stale.is_empty().then_some(()).ok_or(stale.join("\n"))
        })
        .await;

    let sample = session_sample(&world.ns);
    let name = sample["metadata"]["name"].as_str().expect("name").to_string();
    let active = world.record_condition::<Session>(&name, "Active").await;
    apply(&world.client, &sample).await;
    kubectl_wait(&world, "Ended", &format!("session/{name}")).await;
    kubectl_wait(&world, "Complete", &format!("session/{name}")).await;
    let statuses: Vec<ConditionStatus> = active.seen().into_iter().map(|c| c.status).collect();
    assert!(statuses.contains(&ConditionStatus::True), "Active was never True: {:?}", active.seen());
    let ended: Session = Api::namespaced(world.client.clone(), &world.ns).get(&name).await.expect("session");
    assert!(condition_of(&ended, "Active").is_some_and(|c| !c.is_true()), "an ended Session is not Active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_update_of_the_runners_keeps_the_agent_ready() {
    let world = World::start("ready-roll").await;
    let _operator = world.start_operator().await;
    world.apply_samples_without_memory().await;
    let ready = |a: &Agent| condition_of(a, "Ready").is_some_and(|c| c.is_true());
    let hash = |a: &Agent| a.status.as_ref().and_then(|s| s.config_hash.clone());
    // fleet-manager runs two runners: the rollout replaces them one at a time.
    let before = world
        .wait_agent_where("fleet-manager", "Ready and Available", |a| {
            ready(a) && condition_of(a, "Available").is_some_and(|c| c.is_true())
        })
        .await;
    let ready_history = world.record_condition::<Agent>("fleet-manager", "Ready").await;
    let available_history = world.record_condition::<Agent>("fleet-manager", "Available").await;
    let agents: Api<Agent> = Api::namespaced(world.client.clone(), &world.ns);
    let prompt = serde_json::json!({"spec": {"systemPrompt": "You run the fleet, now with a new prompt."}});
    agents.patch("fleet-manager", &PatchParams::default(), &Patch::Merge(prompt)).await.expect("patched");
    let after = world
        .wait_agent_where("fleet-manager", "a new config hash", |a| {
            hash(a).is_some() && hash(a) != hash(&before)
        })
        .await;
    let new_hash = hash(&after).unwrap_or_default();
    world
        .eventually_explained(CONVERGE, "the runner Deployment rolled out to the new config", || async {
            let deployments: Api<Deployment> = Api::namespaced(world.client.clone(), &world.ns);
            let deployment = deployments.get("fleet-manager").await.map_err(|e| e.to_string())?;
            rolled_out(&deployment, &new_hash).then_some(()).ok_or(format!("{:?}", deployment.status))
        })
        .await;
    world
        .wait_agent_where("fleet-manager", "Available again", |a| {
            condition_of(a, "Available")
                .is_some_and(|c| c.is_true() && c.observed_generation == a.metadata.generation)
        })
        .await;
    let seen = ready_history.seen();
    assert!(seen.iter().all(|c| c.is_true()), "Ready went False during the rollout: {seen:?}");
    let available = available_history.reasons();
    assert!(
        available.iter().any(|r| r != "MinimumReplicasAvailable"),
        "the rollout was never seen in progress: Available went through {available:?}"
    );
    assert!(
        ready_history.reasons().iter().any(|r| r == "RolloutInProgress"),
        "Ready never said the rollout was in progress: {:?}",
        ready_history.reasons()
    );
}

/// Whether every replica of `deployment` runs the template with config hash `hash` and is ready.
fn rolled_out(deployment: &Deployment, hash: &str) -> bool {
    let template = deployment.spec.as_ref().and_then(|s| s.template.metadata.as_ref());
    let annotated = template
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get("agentry.dev/config-hash"))
        .is_some_and(|h| h == hash);
    let desired = deployment.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let status = deployment.status.clone().unwrap_or_default();
    annotated
        && status.observed_generation == deployment.metadata.generation
        && status.updated_replicas == Some(desired)
        && status.ready_replicas == Some(desired)
        && status.replicas == Some(desired)
}
