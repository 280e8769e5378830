//! The recorder as the `_recorder` identity on an operator-mode nats-server: with its minted
//! credentials it creates its stream and consumer and records what an agent publishes under
//! its own name (a client without credentials is refused: bus-identity's bus_permissions).

use std::sync::Arc;
use std::time::Duration;

use agentry_bus_identity::bootstrap::Bootstrap;
use agentry_bus_identity::connection::{BusAuth, BusCredentials};
use agentry_bus_identity::permissions;
use agentry_process::Readiness;
use agentry_protocol::subjects::SubjectToken;
use agentry_recorder::{Recorder, RecorderMetrics, RecorderSettings, database};
use agentry_tests::polling::poll_until;
use agentry_tests::recorder_fixture::{ScratchSchema, database_url, event, interaction};
use agentry_tests::secured_nats::SecuredNats;
use sqlx::{AssertSqlSafe, PgPool};

const DEADLINE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn the_recorder_records_an_agents_events_with_its_own_identity() {
    let bootstrap = Bootstrap::generate().unwrap();
    let nats = SecuredNats::start(&bootstrap.server.render()).await.unwrap();
    let issuer = bootstrap.issuer().unwrap();
    let dir = std::env::temp_dir().join(format!("recorder-identity-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let recorder_creds = dir.join("_recorder.creds");
    std::fs::write(&recorder_creds, issuer.mint_platform("_recorder").unwrap().render().unwrap()).unwrap();

    let schema = ScratchSchema::new(&database_url());
    let mut settings = RecorderSettings::new(nats.url());
    settings.nats_credentials = BusCredentials::CredsFile(recorder_creds);
    settings.schema = schema.name.clone();
    settings.fetch_wait = Duration::from_millis(50);
    let readiness = Readiness::new();
    let metrics = Arc::new(RecorderMetrics::new().unwrap());
    let options = database::parse_url(&database_url()).unwrap();
    let recorder = Recorder::start(settings, &options, &readiness, metrics).await.unwrap();
    poll_until(DEADLINE, || async { readiness.is_ready().then_some(()) })
        .await
        .unwrap_or_else(|_| panic!("the recorder never became ready:\n{}", nats.log()));

    // An agent publishes its own event under its own name, with its own credentials.
    let (ns, agent) = (SubjectToken::new("fleet").unwrap(), SubjectToken::new("planner").unwrap());
    let agent_creds = dir.join("planner.creds");
    let minted = issuer.mint_agent(&ns, &agent, &[], Duration::from_secs(30)).unwrap();
    std::fs::write(&agent_creds, minted.render().unwrap()).unwrap();
    let inbox = permissions::agent_inbox_prefix(&ns, &agent);
    let auth = BusAuth::new(&nats.url(), BusCredentials::CredsFile(agent_creds), Some(inbox));
    let client = auth.connect(async_nats::ConnectOptions::new()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let recorded = event("fleet", "planner", "r-identity", None, interaction("user", "planner", "hello"));
    let subject = format!("agentry.fleet.events.planner.{}", recorded.body.kind());
    js.publish(subject, serde_json::to_vec(&recorded).unwrap().into()).await.unwrap().await.unwrap();

    let pool = PgPool::connect(&database_url()).await.unwrap();
    let sql = format!("SELECT count(*) FROM \"{}\".interactions WHERE event_id = $1", schema.name);
    poll_until(DEADLINE, || async {
        let n: Option<i64> =
            sqlx::query_scalar(AssertSqlSafe(sql.clone())).bind(&recorded.id).fetch_one(&pool).await.ok();
        (n == Some(1)).then_some(())
    })
    .await
    .expect("the agent's event is recorded");
    recorder.stop().await;

    let _ = std::fs::remove_dir_all(&dir);
}
