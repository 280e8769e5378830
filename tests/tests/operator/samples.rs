//! Applying the samples: everything becomes Ready and the agents answer over NATS.

use agentry_crds::{Agent, AgentPhase, MemoryStore, Model, Tool};
use agentry_protocol::AgentRequest;
use agentry_tests::scripted_model::Step;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::{Api, Resource, ResourceExt};

use agentry_tests::operator_world::{World, condition_of};
use k8s_openapi::NamespaceResourceScope;

/// Waits for the `Ready` condition of each named object of kind `K` to be True.
async fn wait_ready<K>(world: &World, names: &[&str])
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + serde::Serialize,
{
    for name in names {
        world
            .wait_object::<K>(name, "Ready", |o| condition_of(o, "Ready").is_some_and(|c| c.is_true()))
            .await;
    }
}

pub(crate) async fn ask(world: &World, agent: &Agent, input: &str) -> agentry_protocol::AgentReply {
    let subject = agent.status.as_ref().and_then(|s| s.subject.clone()).expect("status.subject");
    // The status names the query root; the caller (the test, as the API) appends its token.
    let subject = format!("{subject}.{}", agentry_protocol::PlatformIdentity::Api.token());
    let request = AgentRequest::new(uuid_like(), input);
    let reply = world
        .nats
        .send_request(
            subject,
            async_nats::Request::new()
                .payload(serde_json::to_vec(&request).expect("json").into())
                .timeout(Some(std::time::Duration::from_secs(30))),
        )
        .await
        .expect("the runner answers");
    serde_json::from_slice(&reply.payload).expect("an AgentReply")
}

fn uuid_like() -> String {
    format!(
        "e2e-{}",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_samples_become_ready_and_answer_with_delegation() {
    let world = World::start("samples").await;
    let _operator = world.start_operator().await;
    world.apply_samples().await;

    wait_ready::<Model>(&world, &["gpt-4o-mini", "llama-local"]).await;
    wait_ready::<Tool>(&world, &["vehicle-telemetry", "ask-finance", "calculator"]).await;
    wait_ready::<MemoryStore>(&world, &["fleet-memory"]).await;
    let mut agents = Vec::new();
    for name in ["fleet-manager", "finance-officer", "sales-agent"] {
        // An Agent is Ready before its MemoryStore binds (memory never blocks it): wait for both.
        let agent = world
            .wait_agent_where(name, "Ready with its MemoryStore bound", |a| {
                let status = a.status.as_ref();
                status.is_some_and(|s| s.phase == Some(AgentPhase::Ready))
                    && condition_of(a, "MemoryBound").is_some_and(|c| c.is_true())
            })
            .await;
        let status = agent.status.clone().expect("status");
        assert_eq!(status.ready_replicas, Some(agent.spec.replicas), "{name}");
        assert_eq!(
            status.subject.as_deref(),
            Some(format!("agentry.{}.agent.{name}.query", world.ns).as_str())
        );
        assert!(status.config_hash.is_some());
        for type_ in ["ModelResolved", "ToolsResolved", "MemoryBound", "Available"] {
            assert!(
                status.conditions.iter().any(|c| c.type_ == type_ && c.is_true()),
                "{name} {type_}: {:#?}",
                status.conditions
            );
        }
        let uid = agent.meta().uid.clone();
        let owned_by_agent = |owners: Option<
            &Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>,
        >| {
            owners
                .is_some_and(|o| o.iter().any(|r| Some(&r.uid) == uid.as_ref() && r.controller == Some(true)))
        };
        let cm = Api::<ConfigMap>::namespaced(world.client.clone(), &world.ns)
            .get(&format!("{name}-runner"))
            .await
            .expect("configmap");
        assert!(owned_by_agent(cm.metadata.owner_references.as_ref()));
        let config = cm.data.as_ref().and_then(|d| d.get("runner.json")).expect("runner.json");
        assert!(!config.contains("sk-replace-me"), "no secret value in the ConfigMap");
        let dep = Api::<Deployment>::namespaced(world.client.clone(), &world.ns)
            .get(name)
            .await
            .expect("deployment");
        assert!(owned_by_agent(dep.metadata.owner_references.as_ref()));
        let svc =
            Api::<Service>::namespaced(world.client.clone(), &world.ns).get(name).await.expect("service");
        assert!(owned_by_agent(svc.metadata.owner_references.as_ref()));
        let np = Api::<NetworkPolicy>::namespaced(world.client.clone(), &world.ns)
            .get(name)
            .await
            .expect("networkpolicy");
        assert!(owned_by_agent(np.metadata.owner_references.as_ref()));
        agents.push(agent);
    }
    let tool =
        Api::<Tool>::namespaced(world.client.clone(), &world.ns).get("ask-finance").await.expect("tool");
    assert_eq!(tool.status.expect("status").used_by, ["fleet-manager", "sales-agent"]);

    world.model.push(Step::Text("412,300 USD remains.".into()));
    let reply = ask(&world, &agents[1], "Budget left?").await;
    assert_eq!(reply.output.as_deref(), Some("412,300 USD remains."), "{reply:?}");
    assert_eq!(reply.model.as_deref(), Some("gpt-4o-mini"));

    world.model.push(Step::ToolCalls(vec![(
        "ask-finance".into(),
        serde_json::json!({"question": "Approve 6,800 USD?"}),
    )]));
    world.model.push(Step::Text("Approved: 6,800 USD.".into()));
    world.model.push(Step::Echo);
    let reply = ask(&world, &agents[0], "Repair TRK-0042?").await;
    assert_eq!(reply.error, None, "{reply:?}");
    assert!(reply.output.as_deref().unwrap_or_default().contains("Approved: 6,800 USD."), "{reply:?}");
    let names: Vec<_> = reply.tool_calls.iter().map(|c| (c.name.as_str(), c.ok)).collect();
    assert_eq!(names, [("ask-finance", true)]);
    let agent_names: Vec<String> = agents.iter().map(|a| a.name_any()).collect();
    assert_eq!(agent_names.len(), 3);

    // Only the agents listing an Agent among their peers may call it, even on a bus without
    // per-agent credentials: no sample lists fleet-manager, so sales-agent is refused by name.
    let config = |name: &str| {
        let world = &world;
        let name = name.to_string();
        async move {
            let cm = Api::<ConfigMap>::namespaced(world.client.clone(), &world.ns)
                .get(&format!("{name}-runner"))
                .await
                .expect("configmap");
            let json = cm.data.and_then(|mut d| d.remove("runner.json")).expect("runner.json");
            serde_json::from_str::<serde_json::Value>(&json).expect("runner config")
        }
    };
    assert_eq!(
        config("finance-officer").await["allowedAgents"],
        serde_json::json!(["fleet-manager", "sales-agent"])
    );
    assert_eq!(config("fleet-manager").await["allowedAgents"], serde_json::json!([]));
    let request =
        AgentRequest { from: Some("sales-agent".into()), ..AgentRequest::new(uuid_like(), "Free truck?") };
    let caller = agentry_protocol::Caller::agent("sales-agent").expect("caller");
    let reply =
        agentry_tests::runner_fixture::send_as(&world.nats, &world.ns, "fleet-manager", &caller, &request)
            .await;
    let error = reply.error.expect("refused");
    assert_eq!(error.code, agentry_protocol::ErrorCode::Forbidden, "{error:?}");
    assert!(error.message.contains("sales-agent"), "{error:?}");
}
