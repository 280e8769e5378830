//! Each Agent's own NATS identity: with the account signing key, the operator mints the Agent's
//! credentials into a Secret the runner mounts, from the Agent's peers, and mints them again when
//! the peers change. Against an operator-mode nats-server, so the runners and the operator only
//! get in with what was minted.

use agentry_bus_identity::bootstrap::{Bootstrap, write_private};
use agentry_bus_identity::connection::BusAuth;
use agentry_bus_identity::{BusCredentials, UserCreds, jwt};
use agentry_crds::{Agent, AgentPhase};
use agentry_protocol::messages::AgentRequest;
use agentry_protocol::subjects::SubjectToken;
use agentry_protocol::{TaskId, TaskState};
use agentry_task_queue::TaskQueue;
use agentry_tests::operator_world::{CONVERGE, World};
use agentry_tests::runner_fixture::ask_agent;
use agentry_tests::scripted_model::Step;
use agentry_tests::secured_nats::SecuredNats;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};

/// The Agent's minted credentials, their fingerprint annotation, and the JWT's `pub.allow`.
async fn minted(world: &World, agent: &str) -> Option<(String, Vec<String>, UserCreds)> {
    let secrets: Api<Secret> = Api::namespaced(world.client.clone(), &world.ns);
    let secret = secrets.get_opt(&format!("{agent}-nats")).await.ok().flatten()?;
    let fingerprint = secret.annotations().get("agentry.dev/nats-permissions")?.clone();
    let bytes = secret.data.as_ref()?.get("user.creds")?.0.clone();
    let creds = UserCreds::parse(&String::from_utf8(bytes).ok()?, "the Secret").ok()?;
    let (_, nats) = jwt::decode(&creds.jwt).ok()?;
    let allow =
        nats["pub"]["allow"].as_array()?.iter().filter_map(|s| s.as_str().map(String::from)).collect();
    Some((fingerprint, allow, creds))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_agent_gets_its_own_nats_identity_minted_again_when_its_peers_change() {
    let world = World::start("natsid").await;
    let bootstrap = Bootstrap::generate().expect("keys");
    let nats = SecuredNats::start(&bootstrap.server.render()).await.expect("operator-mode nats-server");
    let dir = std::env::temp_dir().join(format!("natsid-{}", world.ns));
    std::fs::create_dir_all(&dir).expect("dir");
    let seed = write_private(&dir.join("signing.seed"), &bootstrap.signing.seed().expect("seed"))
        .expect("seed file");
    let operator_creds = bootstrap.issuer().expect("issuer").mint_platform("_operator").expect("creds");
    let creds = write_private(&dir.join("operator.creds"), &operator_creds.render().expect("creds"))
        .expect("creds file");
    let mut options = world.operator_options();
    options.nats_url = nats.url();
    options.extra_args = vec![
        "--secret-namespaces".into(),
        world.ns.clone(),
        "--nats-credentials-file".into(),
        creds.display().to_string(),
        "--nats-account-signing-key-file".into(),
        seed.display().to_string(),
        "--nats-account".into(),
        bootstrap.account.public_key(),
    ];
    let _operator = world.start_operator_with(&options).await;
    world.apply_samples_without_memory().await;

    // Ready: the runner connected to the operator-mode server with the credentials mounted from
    // its Secret (a client without valid ones is refused).
    let before = world.wait_agent("finance-officer", AgentPhase::Ready).await;
    let (fingerprint, allow, first) =
        minted(&world, "finance-officer").await.expect("the Agent's credentials");
    let ns = &world.ns;
    assert!(allow.contains(&format!("agentry.{ns}.agent.sales-agent.query.finance-officer")), "{allow:?}");
    assert!(!allow.iter().any(|s| s.contains("fleet-manager.query")), "{allow:?}");
    let secret: Secret =
        Api::namespaced(world.client.clone(), ns).get("finance-officer-nats").await.expect("secret");
    let owner = secret.owner_references().first().cloned().expect("owned");
    assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("Agent", "finance-officer"));

    // The ConfigMap names the file, never the credentials; the pod mounts the Secret read-only.
    let config_map: ConfigMap =
        Api::namespaced(world.client.clone(), ns).get("finance-officer-runner").await.expect("cm");
    let rendered = config_map.data.unwrap_or_default().remove("runner.json").unwrap_or_default();
    assert!(rendered.contains("\"credentialsFile\""), "{rendered}");
    assert!(!rendered.contains(&first.key.seed().expect("seed")) && !rendered.contains(&first.jwt));
    let deployment: Deployment =
        Api::namespaced(world.client.clone(), ns).get("finance-officer").await.expect("deploy");
    let pod = deployment.spec.and_then(|s| s.template.spec).expect("pod spec");
    let volume =
        pod.volumes.unwrap_or_default().into_iter().find(|v| v.secret.is_some()).expect("secret volume");
    let source = volume.secret.clone().expect("a Secret volume");
    assert_eq!(source.secret_name.as_deref(), Some("finance-officer-nats"));
    assert_eq!(source.default_mode, Some(0o440), "readable by the runner's group only");
    let fs_group = pod.security_context.as_ref().and_then(|c| c.fs_group);
    assert_eq!(fs_group, pod.security_context.as_ref().and_then(|c| c.run_as_user), "the runner's group");
    let mount = pod.containers[0]
        .volume_mounts
        .clone()
        .unwrap_or_default()
        .into_iter()
        .find(|m| m.name == volume.name);
    assert_eq!(mount.and_then(|m| m.read_only), Some(true));

    // The runner works under its minted identity: it binds the tasks consumer the operator
    // made, claims and finishes the task in its records, acknowledges it, and publishes its
    // events into the stream the operator made.
    let api_creds = bootstrap.issuer().expect("issuer").mint_platform("_api").expect("creds");
    let api_path =
        write_private(&dir.join("api.creds"), &api_creds.render().expect("creds")).expect("creds file");
    let auth = BusAuth::new(&nats.url(), BusCredentials::CredsFile(api_path), Some("_INBOX._api".into()));
    let client = auth.connect(async_nats::ConnectOptions::new()).await.expect("_api connects");
    let js = async_nats::jetstream::new(client);
    let queue = TaskQueue::open(js.clone()).await.expect("task queue");
    let (ns_token, agent_token) =
        (SubjectToken::new(ns.clone()).expect("ns"), SubjectToken::new("finance-officer").expect("agent"));
    world.model.push(Step::Echo);
    queue
        .submit(&ns_token, &agent_token, &AgentRequest::new("identity-task", "hello"))
        .await
        .expect("submitted");
    let task = TaskId::new("identity-task".to_string()).expect("task id");
    let record = queue.wait(&ns_token, &agent_token, &task, CONVERGE).await.expect("the task ends");
    assert_eq!(record.state, TaskState::Succeeded, "{record:?}");
    let events = js.get_stream("AGENTRY_EVENTS").await.expect("the events stream");
    let subject = format!("agentry.{ns}.events.finance-officer.interaction");
    world
        .eventually_within(CONVERGE, "the runner's interaction event in the stream", || async {
            events.get_last_raw_message_by_subject(&subject).await.ok()
        })
        .await;

    // Request-reply under the minted identities: the API asks finance-officer on its own caller
    // subject and gets the reply in its own inbox; fleet-manager delegates to finance-officer, a
    // peer its credentials allow it to call, and replies under the response permission.
    let api = js.client();
    world.model.push(Step::Text("412,300 USD remains.".into()));
    let reply = ask_agent(&api, ns, "finance-officer", "Budget left?").await;
    assert_eq!(reply.output.as_deref(), Some("412,300 USD remains."), "{reply:?}");
    world.model.push(Step::ToolCalls(vec![(
        "ask-finance".into(),
        serde_json::json!({"question": "Approve 6,800 USD?"}),
    )]));
    world.model.push(Step::Text("Approved: 6,800 USD.".into()));
    world.model.push(Step::Echo);
    let reply = ask_agent(&api, ns, "fleet-manager", "Repair TRK-0042?").await;
    assert_eq!(reply.error, None, "{reply:?}");
    assert!(reply.output.as_deref().unwrap_or_default().contains("Approved: 6,800 USD."), "{reply:?}");

    // New peers: new credentials, and a new config hash so the runners reconnect with them.
    let agents: Api<Agent> = Api::namespaced(world.client.clone(), ns);
    let patch = serde_json::json!({"spec": {"peers": ["sales-agent", "fleet-manager"]}});
    agents.patch("finance-officer", &PatchParams::default(), &Patch::Merge(patch)).await.expect("patched");
    let hash_of = |a: &Agent| a.status.as_ref().and_then(|s| s.config_hash.clone());
    world
        .wait_agent_where("finance-officer", "Ready with a new config hash", |a| {
            hash_of(a) != hash_of(&before)
                && a.status.as_ref().and_then(|s| s.phase) == Some(AgentPhase::Ready)
        })
        .await;
    let (new_fingerprint, allow, second) = world
        .eventually_within(CONVERGE, "credentials minted for the new peers", || async {
            minted(&world, "finance-officer").await.filter(|(f, _, _)| *f != fingerprint)
        })
        .await;
    assert_ne!(new_fingerprint, fingerprint);
    assert_ne!(second.key.public_key(), first.key.public_key());
    assert!(allow.contains(&format!("agentry.{ns}.agent.fleet-manager.query.finance-officer")), "{allow:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_in_the_nats_url_is_used_but_never_shown() {
    let world = World::start("natspw").await;
    let password = "pw-never-shown-7f3a";
    let nats = SecuredNats::start(&format!(
        r#"authorization {{ users: [ {{ user: "agentry", password: "{password}" }} ] }}"#
    ))
    .await
    .expect("nats-server with a password");
    let mut options = world.operator_options();
    options.nats_url = nats.url().replace("nats://", &format!("nats://agentry:{password}@"));
    // Debug level: async-nats's own connection logs are in the output too.
    options.log_filter = "debug".into();
    let operator = world.start_operator_with(&options).await;
    world.apply_samples_without_memory().await;
    world
        .eventually_within(CONVERGE, "the operator connected to NATS with the URL's password", || async {
            operator.log().contains("task queue and usage buckets open").then_some(())
        })
        .await;
    let config_maps: Api<ConfigMap> = Api::namespaced(world.client.clone(), &world.ns);
    let rendered = world
        .eventually_within(CONVERGE, "the runner ConfigMap", || async {
            let cm = config_maps.get_opt("finance-officer-runner").await.ok().flatten()?;
            cm.data?.remove("runner.json")
        })
        .await;
    let config: serde_json::Value = serde_json::from_str(&rendered).expect("runner config");
    assert_eq!(config["nats"]["url"], nats.url(), "the runners get the URL without credentials");
    let log = operator.log();
    assert!(log.contains("***@127.0.0.1"), "the URL is logged redacted");
    assert!(!log.contains(password), "the password is in the operator's log");
    let agents: Api<Agent> = Api::namespaced(world.client.clone(), &world.ns);
    let listed =
        serde_json::to_string(&agents.list(&Default::default()).await.expect("agents").items).expect("json");
    assert!(!listed.contains(password), "the password is in an Agent's status");
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(world.client.clone(), &world.ns);
    let listed =
        serde_json::to_string(&events.list(&Default::default()).await.expect("events").items).expect("json");
    assert!(!listed.contains(password), "the password is in an Event");
}
