//! `agentry agents list`, `agentry sessions new | send | show` and `agentry tasks submit --wait`
//! against the operator's agents.

use agentry_api_contract::tasks::{TaskPhase, TaskStatus};
use agentry_tests::operator_world::CONVERGE;
use agentry_tests::scripted_model::Step;
use serde_json::Value;

use crate::agentry::Caller;
use crate::world::{CliWorld, HELPER, REVIEWER};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_are_listed_ready_a_chat_keeps_its_messages_and_a_task_is_waited_for() {
    let world = CliWorld::start("cli-chat").await;
    the_agents_are_listed_ready(&world).await;
    a_chat_shows_its_messages_in_order(&world).await;

    world.world.model.push(Step::text("Week summarised."));
    let answer = world
        .succeed(&["tasks", "submit", HELPER, "Summarise the week.", "--id", "weekly-1", "--wait"])
        .await;
    assert_eq!(answer, "Week summarised.\n");
    let task: TaskStatus =
        world.run(Caller::Asker, &["tasks", "get", HELPER, "weekly-1", "-o", "json"]).await.json();
    assert_eq!((task.phase, task.attempts), (TaskPhase::Succeeded, 1), "{task:?}");
    assert_eq!(task.result.map(|r| r.output).as_deref(), Some("Week summarised."));
    world.stop().await;
}

/// `agents list`: both agents, Ready with their one replica.
async fn the_agents_are_listed_ready(world: &CliWorld) {
    let table = world.succeed(&["agents", "list"]).await;
    let rows: Vec<Vec<&str>> = table.lines().map(|line| line.split_whitespace().collect()).collect();
    assert_eq!(
        rows.first().map(|r| r[..4].to_vec()),
        Some(vec!["NAME", "ROLE", "PHASE", "READY"]),
        "{table}"
    );
    let agents: Vec<_> = rows[1..].iter().map(|r| (r[0], r[2], r[3])).collect();
    assert_eq!(agents, [(HELPER, "Ready", "1/1"), (REVIEWER, "Ready", "1/1")], "{table}");
}

/// `sessions new` prints an id; two `sessions send` print the model's answers; `sessions show`
/// lists the four messages, user and assistant in turn.
async fn a_chat_shows_its_messages_in_order(world: &CliWorld) {
    let id = world.succeed(&["sessions", "new", HELPER, "--title", "intro"]).await.trim().to_owned();
    assert!(!id.is_empty() && !id.contains(char::is_whitespace), "{id:?}");
    world.world.model.extend([Step::text("Nice to meet you, Ada."), Step::text("Your name is Ada.")]);
    assert_eq!(
        world.succeed(&["sessions", "send", &id, "My name is Ada."]).await,
        "Nice to meet you, Ada.\n"
    );
    assert_eq!(world.succeed(&["sessions", "send", &id, "What is my name?"]).await, "Your name is Ada.\n");

    let expected = [
        ("user", "My name is Ada."),
        ("assistant", "Nice to meet you, Ada."),
        ("user", "What is my name?"),
        ("assistant", "Your name is Ada."),
    ];
    world
        .world
        .eventually_explained(CONVERGE, "the session's four messages recorded", || async {
            let shown: Value =
                world.run(Caller::Asker, &["sessions", "show", &id, "-o", "json"]).await.json();
            let messages: Vec<(String, String)> = shown["messages"]
                .as_array()
                .map(|m| m.iter().map(|m| (text(&m["role"]), text(&m["content"]))).collect())
                .unwrap_or_default();
            let wanted: Vec<(String, String)> =
                expected.iter().map(|(r, c)| ((*r).to_owned(), (*c).to_owned())).collect();
            if messages == wanted { Ok(()) } else { Err(format!("{shown}")) }
        })
        .await;

    let shown = world.succeed(&["sessions", "show", &id]).await;
    assert!(shown.starts_with("Session:") && shown.contains(&id), "{shown}");
    let mut from = 0;
    for (role, content) in expected {
        let at = shown[from..]
            .find(&format!("--- {role}, "))
            .map(|i| i + from)
            .unwrap_or_else(|| panic!("no {role} message after byte {from}:\n{shown}"));
        let line_end = shown[at..].find('\n').map(|i| i + at + 1).unwrap_or(shown.len());
        assert!(shown[line_end..].starts_with(&format!("{content}\n")), "{role} {content:?} in:\n{shown}");
        from = line_end;
    }
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}
