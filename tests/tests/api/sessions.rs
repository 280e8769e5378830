//! `…/sessions`: an ad-hoc chat where each message is answered with the conversation so far,
//! its messages read back, ended; and the bad requests.

use agentry_api_contract::paths;
use agentry_tests::api_world::ApiWorld;
use agentry_tests::scripted_model::Step;
use serde_json::json;

use crate::binaries;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_session_remembers_the_conversation_and_ends() {
    let world = ApiWorld::start(binaries().await, "api-chat", |_| {}).await;
    let ns = world.ns().to_owned();
    let (status, session) = world
        .post(&paths::fill(paths::SESSIONS, &[&ns]), &json!({"agent": "worker", "title": "intro"}))
        .await;
    assert_eq!(status, 201, "{session}");
    assert_eq!(
        (session["type"].as_str(), session["phase"].as_str()),
        (Some("chat"), Some("Active")),
        "{session}"
    );
    let id = session["sessionId"].as_str().expect("an id").to_owned();
    let messages = paths::fill(paths::SESSION_MESSAGES, &[&ns, &id]);

    world.agent.model.extend([Step::text("Nice to meet you, Ada."), Step::text("Your name is Ada.")]);
    let (status, first) = world.post(&messages, &json!({"content": "My name is Ada."})).await;
    assert_eq!((status, first["output"].as_str()), (200, Some("Nice to meet you, Ada.")), "{first}");
    assert_eq!(first["sessionId"], id.as_str());
    let (status, second) = world.post(&messages, &json!({"content": "What is my name?"})).await;
    assert_eq!((status, second["output"].as_str()), (200, Some("Your name is Ada.")), "{second}");
    // The second model call saw the first exchange, in order, before the new message.
    let prompt = world.agent.model.requests().last().cloned().unwrap_or_default().to_string();
    let order = ["My name is Ada.", "Nice to meet you, Ada.", "What is my name?"].map(|t| prompt.find(t));
    assert!(
        order.iter().all(Option::is_some) && order.windows(2).all(|w| w[0] < w[1]),
        "history out of order: {prompt}"
    );

    let (status, page) = world.get(&messages).await;
    assert_eq!(status, 200, "{page}");
    let roles: Vec<_> =
        page["items"].as_array().expect("items").iter().map(|m| m["role"].as_str().unwrap_or("?")).collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant"], "{page}");

    let (status, listed) =
        world.get(&format!("{}?agent=worker&type=chat", paths::fill(paths::SESSIONS, &[&ns]))).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["items"][0]["sessionId"], id.as_str(), "{listed}");

    let end = paths::fill(paths::SESSION_END, &[&ns, &id]);
    let (status, ended) = world.post(&end, &json!({})).await;
    assert_eq!((status, ended["phase"].as_str()), (200, Some("Ended")), "{ended}");
    let (status, again) = world.post(&end, &json!({})).await;
    assert_eq!(status, 409, "{again}");
    let (status, refused) = world.post(&messages, &json!({"content": "still there?"})).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(world.agent.model.request_count(), 2, "the ended session's message reached no model");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_session_requests_are_refused_naming_the_field() {
    let world = ApiWorld::start(binaries().await, "api-chat-bad", |_| {}).await;
    let ns = world.ns().to_owned();
    let sessions = paths::fill(paths::SESSIONS, &[&ns]);
    let (status, error) = world.post(&sessions, &json!({"agent": "No Such"})).await;
    assert_eq!((status, error["field"].as_str()), (400, Some("agent")), "{error}");
    let (status, error) = world.post(&sessions, &json!({"agent": "absent"})).await;
    assert_eq!(status, 404, "{error}");
    let (status, error) = world.post(&sessions, &json!({"agent": "worker", "title": "t".repeat(201)})).await;
    assert_eq!((status, error["field"].as_str()), (400, Some("title")), "{error}");
    for (query, field) in [("limit=0", "limit"), ("cursor=not-a-cursor", "cursor"), ("since=monday", "since")]
    {
        let (status, error) = world.get(&format!("{sessions}?{query}")).await;
        assert_eq!((status, error["field"].as_str()), (400, Some(field)), "{query}: {error}");
    }
    let unknown = paths::fill(paths::SESSION, &[&ns, "no-such-session"]);
    let (status, error) = world.get(&unknown).await;
    assert_eq!(status, 404, "{error}");
    let (status, session) = world.post(&sessions, &json!({"agent": "worker"})).await;
    assert_eq!(status, 201, "{session}");
    let messages =
        paths::fill(paths::SESSION_MESSAGES, &[&ns, session["sessionId"].as_str().unwrap_or_default()]);
    let (status, error) = world.post(&messages, &json!({"content": ""})).await;
    assert_eq!((status, error["field"].as_str()), (400, Some("content")), "{error}");
    world.stop().await;
}
