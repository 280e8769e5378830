//! The bus contract enforced by a real nats-server in operator mode, with credentials minted by
//! this crate: who may connect, subscribe, publish, reply and work tasks (docs/security.md).

use std::time::Duration;

use agentry_bus_identity::bootstrap::Bootstrap;
use agentry_bus_identity::connection::{BusAuth, BusCredentials};
use agentry_bus_identity::permissions;
use agentry_bus_identity::{KeyRole, NKey, UserCreds, UserIssuer};
use agentry_protocol::messages::AgentRequest;
use agentry_protocol::subjects::SubjectToken;
use agentry_tests::secured_nats::SecuredNats;
use async_nats::{Client, Event, ServerError};
use futures::StreamExt as _;
use tokio::sync::mpsc;

/// How long anything the server does may take before the test fails (generous: the machine
/// running the tests may be busy; a passing test never waits this long).
const DEADLINE: Duration = Duration::from_secs(30);
/// How long a request waits for its answer: a refused request is never answered, so the tests
/// that expect a refusal wait this long for it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(8);
const NS: &str = "fleet";

fn token(s: &str) -> SubjectToken {
    SubjectToken::new(s).unwrap()
}

/// A server trusting a fresh operator, and the issuer of its account's users.
struct Bus {
    nats: SecuredNats,
    issuer: UserIssuer,
    dir: std::path::PathBuf,
}

impl Bus {
    async fn start() -> Self {
        let bootstrap = Bootstrap::generate().unwrap();
        let nats = SecuredNats::start(&bootstrap.server.render()).await.unwrap();
        let dir = std::env::temp_dir().join(format!("bus-permissions-{}", unique()));
        std::fs::create_dir_all(&dir).unwrap();
        Self { nats, issuer: bootstrap.issuer().unwrap(), dir }
    }

    /// Connects as agent `name` of [`NS`] with `peers`, through a `.creds` file.
    async fn agent(&self, name: &str, peers: &[&str]) -> Conn {
        let peers: Vec<_> = peers.iter().map(|p| token(p)).collect();
        let creds =
            self.issuer.mint_agent(&token(NS), &token(name), &peers, Duration::from_secs(30)).unwrap();
        self.connect(name, creds, permissions::agent_inbox_prefix(&token(NS), &token(name))).await
    }

    /// Connects as the platform identity `identity`.
    async fn platform(&self, identity: &str) -> Conn {
        let creds = self.issuer.mint_platform(identity).unwrap();
        self.connect(identity, creds, permissions::platform_inbox_prefix(identity)).await
    }

    async fn connect(&self, name: &str, creds: UserCreds, inbox: String) -> Conn {
        let path = self.dir.join(format!("{name}.creds"));
        std::fs::write(&path, creds.render().unwrap()).unwrap();
        let auth = BusAuth::new(&self.nats.url(), BusCredentials::CredsFile(path), Some(inbox));
        let (events_tx, events) = mpsc::unbounded_channel();
        let base = async_nats::ConnectOptions::new().request_timeout(Some(REQUEST_TIMEOUT)).event_callback(
            move |event| {
                let events_tx = events_tx.clone();
                async move {
                    let _ = events_tx.send(event);
                }
            },
        );
        let client =
            auth.connect(base).await.unwrap_or_else(|e| panic!("{name} connects: {e}\n{}", self.nats.log()));
        Conn { client, events }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn unique() -> String {
    format!("{}-{:?}", std::process::id(), std::time::SystemTime::now())
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect()
}

/// A client and the events (server errors among them) async-nats reports for it.
struct Conn {
    client: Client,
    events: mpsc::UnboundedReceiver<Event>,
}

impl Conn {
    /// Waits for the server's permissions violation for `what` ("Publish" or "Subscription") to
    /// `subject`, skipping other events.
    async fn violation(&mut self, what: &str, subject: &str) {
        let wanted = format!("permissions violation for {what} to \"{subject}\"").to_lowercase();
        let seen = tokio::time::timeout(DEADLINE, async {
            while let Some(event) = self.events.recv().await {
                if let Event::ServerError(ServerError::Other(message)) = &event
                    && message.to_lowercase().contains(&wanted)
                {
                    return Ok(());
                }
            }
            Err("the client closed")
        })
        .await;
        assert!(matches!(seen, Ok(Ok(()))), "no violation {wanted:?} within {DEADLINE:?}: {seen:?}");
    }

    /// Returns once the server has handled everything this client sent before (subscriptions
    /// included): a request the server itself answers comes back after them.
    async fn synced(&self) {
        self.client.request("$JS.API.INFO", "".into()).await.expect("the server answers");
    }

    /// Asserts the server reported no error so far: a request answered by the server after
    /// everything sent before it is the deadline for any error those would cause.
    async fn no_violation(&mut self) {
        self.client.flush().await.unwrap();
        self.client.request("$JS.API.INFO", "".into()).await.unwrap();
        while let Ok(event) = self.events.try_recv() {
            if let Event::ServerError(error) = event {
                panic!("unexpected server error: {error}");
            }
        }
    }
}

/// True when nothing is ready on the subscription right now.
fn nothing_ready(subscriber: &mut async_nats::Subscriber) -> bool {
    futures::FutureExt::now_or_never(subscriber.next()).is_none()
}

#[tokio::test]
async fn a_client_without_valid_credentials_is_refused() {
    let bus = Bus::start().await;
    let anonymous = async_nats::ConnectOptions::new().connect(bus.nats.url()).await;
    let error = anonymous.err().map(|e| e.to_string().to_lowercase());
    assert!(error.as_deref().is_some_and(|e| e.contains("authorization")), "no credentials: {error:?}");
    // A rogue account's user, however well-formed, is not trusted by the server.
    let rogue_account = NKey::generate(KeyRole::Account);
    let rogue = UserIssuer::from_key(&rogue_account.public_key(), rogue_account.clone()).unwrap();
    let path = bus.dir.join("rogue.creds");
    std::fs::write(&path, rogue.mint_platform("_api").unwrap().render().unwrap()).unwrap();
    let auth = BusAuth::new(&bus.nats.url(), BusCredentials::CredsFile(path), None);
    assert!(
        auth.connect(async_nats::ConnectOptions::new()).await.is_err(),
        "a rogue account's user connected"
    );
}

#[tokio::test]
async fn an_agent_cannot_read_or_join_another_agents_queries() {
    let bus = Bus::start().await;
    let mut a = bus.agent("a", &[]).await;
    let b = bus.agent("b", &[]).await;
    let api = bus.platform("_api").await;
    let queries_of_b = "agentry.fleet.agent.b.query.*";
    let mut served = b.client.queue_subscribe(queries_of_b, "fleet.b".into()).await.unwrap();
    let mut snooped = a.client.subscribe(queries_of_b).await.unwrap();
    a.violation("Subscription", queries_of_b).await;
    let mut joined = a.client.queue_subscribe(queries_of_b, "fleet.b".into()).await.unwrap();
    a.violation("Subscription", queries_of_b).await;
    // b itself may not subscribe outside its queue group either (its replicas share the work).
    let mut b_alone = b.client.subscribe(queries_of_b).await.unwrap();
    b.synced().await;
    for i in 0..10 {
        api.client.publish("agentry.fleet.agent.b.query._api", format!("{i}").into()).await.unwrap();
    }
    for _ in 0..10 {
        let message = tokio::time::timeout(DEADLINE, served.next()).await.unwrap().unwrap();
        assert_eq!(message.subject.as_str(), "agentry.fleet.agent.b.query._api");
    }
    // All ten reached b's queue group; neither of a's subscriptions got any of them.
    assert!(nothing_ready(&mut snooped), "a read b's query");
    assert!(nothing_ready(&mut joined), "a answered in b's queue group");
    assert!(nothing_ready(&mut b_alone), "a plain subscription to the queries was allowed");
}

#[tokio::test]
async fn an_agent_calls_only_its_peers_under_its_own_name() {
    let bus = Bus::start().await;
    let mut a = bus.agent("a", &["b"]).await;
    let b = bus.agent("b", &[]).await;
    let c = bus.agent("c", &[]).await;
    let mut queries =
        b.client.queue_subscribe("agentry.fleet.agent.b.query.*", "fleet.b".into()).await.unwrap();
    let mut c_queries =
        c.client.queue_subscribe("agentry.fleet.agent.c.query.*", "fleet.c".into()).await.unwrap();
    b.synced().await;
    c.synced().await;
    let responder = tokio::spawn(async move {
        let request = queries.next().await.unwrap();
        // The caller's name is the subject's last token; the reply goes by response permission.
        let caller = request.subject.as_str().rsplit('.').next().unwrap().to_string();
        b.client.publish(request.reply.unwrap(), format!("hello {caller}").into()).await.unwrap();
        b.client.flush().await.unwrap();
        b
    });
    let reply = a.client.request("agentry.fleet.agent.b.query.a", "hi".into()).await.expect("b answers a");
    assert_eq!(reply.payload.as_ref(), b"hello a");
    let mut b = responder.await.unwrap();
    b.no_violation().await;
    for forged in
        ["agentry.fleet.agent.c.query.a", "agentry.fleet.agent.b.query.p", "agentry.fleet.agent.p.query.b"]
    {
        a.client.publish(forged, "refused".into()).await.unwrap();
        a.violation("Publish", forged).await;
    }
    a.no_violation().await;
    assert!(nothing_ready(&mut c_queries), "c received a's query");
}

#[tokio::test]
async fn an_eavesdropper_hears_nothing_and_inboxes_are_private() {
    let bus = Bus::start().await;
    let mut a = bus.agent("a", &["b"]).await;
    let mut b = bus.agent("b", &[]).await;
    for subject in ["_INBOX.>", "agentry.>", "_INBOX.fleet.b.>", "agentry.fleet.events.>"] {
        let _denied = a.client.subscribe(subject).await.unwrap();
        a.violation("Subscription", subject).await;
    }
    let mut own = a.client.subscribe("_INBOX.fleet.a.mine").await.unwrap();
    a.no_violation().await;
    // b may not write into a's inbox unless answering a request of a's.
    b.client.publish("_INBOX.fleet.a.mine", "forged reply".into()).await.unwrap();
    b.violation("Publish", "_INBOX.fleet.a.mine").await;
    let api = bus.platform("_api").await;
    let mut notes = a.client.subscribe("agentry.fleet.agent.a.notify.*").await.unwrap();
    a.synced().await;
    api.client.publish("agentry.fleet.agent.a.notify._api", "note".into()).await.unwrap();
    let note = tokio::time::timeout(DEADLINE, notes.next()).await.unwrap().unwrap();
    assert_eq!(note.subject.as_str(), "agentry.fleet.agent.a.notify._api");
    assert!(nothing_ready(&mut own), "b's forged reply reached a's inbox");
}

#[tokio::test]
async fn an_agent_publishes_events_under_its_own_name_only() {
    let bus = Bus::start().await;
    let operator = bus.platform("_operator").await;
    let js = async_nats::jetstream::new(operator.client.clone());
    let mut stream = js
        .get_or_create_stream(async_nats::jetstream::stream::Config {
            name: "AGENTRY_EVENTS".into(),
            subjects: vec!["agentry.*.events.>".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let mut a = bus.agent("a", &[]).await;
    let a_js = async_nats::jetstream::new(a.client.clone());
    a_js.publish("agentry.fleet.events.a.interaction", "{}".into()).await.unwrap().await.unwrap();
    a.no_violation().await;
    for forged in ["agentry.fleet.events.b.interaction", "agentry.fleet.events.session"] {
        let _unacked = a_js.publish(forged, "forged".into()).await.unwrap();
        a.violation("Publish", forged).await;
    }
    assert_eq!(stream.info().await.unwrap().state.messages, 1, "only a's own event is stored");
}

#[tokio::test]
async fn an_agent_works_its_own_tasks_and_cannot_bind_anothers() {
    let bus = Bus::start().await;
    let operator = bus.platform("_operator").await;
    let queue = open_queue(&operator.client).await;
    let (ns, a_name, b_name) = (token(NS), token("a"), token("b"));
    queue.worker_consumer(&ns, &a_name).await.unwrap();
    queue.worker_consumer(&ns, &b_name).await.unwrap();
    queue.submit(&ns, &a_name, &AgentRequest::new("task-1", "plan")).await.unwrap();

    let mut a = bus.agent("a", &[]).await;
    let a_queue = open_queue(&a.client).await;
    let consumer = a_queue.worker_consumer(&ns, &a_name).await.unwrap();
    let mut batch = consumer.fetch().max_messages(1).expires(DEADLINE).messages().await.unwrap();
    let message = tokio::time::timeout(DEADLINE, batch.next()).await.unwrap().unwrap().unwrap();
    let task = agentry_protocol::TaskId::new("task-1".to_string()).unwrap();
    let agentry_task_queue::Claim::Run(claimed) = a_queue.claim(&ns, &a_name, &task, 1, "a-0").await.unwrap()
    else {
        panic!("the task had ended");
    };
    let mut done = claimed.record.clone();
    done.state = agentry_protocol::TaskState::Succeeded;
    a_queue.finish(&claimed, done).await.unwrap();
    message.double_ack().await.unwrap();
    a.no_violation().await;
    let record = queue.wait(&ns, &a_name, &task, DEADLINE).await.unwrap();
    assert_eq!(record.state, agentry_protocol::TaskState::Succeeded);

    // Runners only bind: the streams are the platform's.
    let _ = a.client.publish("$JS.API.STREAM.DELETE.AGENTRY_TASKS", "".into()).await;
    a.violation("Publish", "$JS.API.STREAM.DELETE.AGENTRY_TASKS").await;

    // b's consumer and b's records are out of a's reach.
    assert!(a_queue.worker_consumer(&ns, &b_name).await.is_err(), "a bound b's consumer");
    a.violation("Publish", "$JS.API.CONSUMER.INFO.AGENTRY_TASKS.tasks_fleet_b").await;
    assert!(a_queue.claim(&ns, &b_name, &task, 1, "a-0").await.is_err(), "a touched b's task record");
}

async fn open_queue(client: &Client) -> agentry_task_queue::TaskQueue {
    agentry_task_queue::TaskQueue::open(async_nats::jetstream::new(client.clone())).await.unwrap()
}

#[tokio::test]
async fn replies_are_bounded_in_count() {
    let bus = Bus::start().await;
    let mut a = bus.agent("a", &["b"]).await;
    // b may send two messages per request it received.
    let (ns, name) = (token(NS), token("b"));
    let mut limited = permissions::agent(&ns, &name, &[], Duration::from_secs(30));
    limited.response = Some(agentry_bus_identity::permissions::ResponseRule {
        max_messages: 2,
        ttl: Duration::from_secs(30),
    });
    let creds = bus.issuer.mint("fleet/b", &limited).unwrap();
    let mut b = bus.connect("b", creds, permissions::agent_inbox_prefix(&ns, &name)).await;
    let mut queries =
        b.client.queue_subscribe("agentry.fleet.agent.b.query.*", "fleet.b".into()).await.unwrap();
    b.synced().await;
    let mut replies = a.client.subscribe("_INBOX.fleet.a.stream").await.unwrap();
    a.client
        .publish_with_reply("agentry.fleet.agent.b.query.a", "_INBOX.fleet.a.stream", "go".into())
        .await
        .unwrap();
    a.no_violation().await;
    let request = tokio::time::timeout(DEADLINE, queries.next()).await.unwrap().unwrap();
    let reply = request.reply.unwrap();
    for chunk in ["one", "two", "three"] {
        b.client.publish(reply.clone(), chunk.into()).await.unwrap();
    }
    b.violation("Publish", "_INBOX.fleet.a.stream").await;
    for expected in ["one", "two"] {
        let got = tokio::time::timeout(DEADLINE, replies.next()).await.unwrap().unwrap();
        assert_eq!(got.payload.as_ref(), expected.as_bytes());
    }
    assert!(nothing_ready(&mut replies), "a third reply got through");
}
