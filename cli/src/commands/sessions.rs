//! `agentry sessions list | show | new | send | end`.

use agentry_api_contract::paths;
use agentry_api_contract::sessions::{
    MessageList, MessageListQuery, SessionCreate, SessionList, SessionListQuery, SessionMessage,
    SessionMessagePost, SessionReply, SessionSummary,
};
use clap::{Args, Subcommand};
use http::Method;
use jiff::Timestamp;

use super::ask::{ANSWER_MARGIN, print_answer, read_input};
use super::pages::{self, Page};
use crate::connection::ApiClient;
use crate::output::{
    OutputFormat, Table, age_since, fields, one_line, print_line, print_list, print_object, print_text,
    time_and_age, tokens, usd,
};
use crate::timing::{Span, parse_instant, parse_timeout};

/// `agentry sessions`.
#[derive(Debug, Subcommand)]
pub(crate) enum SessionsCommand {
    /// List sessions, most recently active first.
    List(ListArgs),
    /// A session's summary and every message of it.
    Show {
        /// The session's id.
        id: String,
    },
    /// Start an ad-hoc chat session with an agent and print its id.
    New {
        /// The agent that answers.
        agent: String,
        /// A short title for lists.
        #[arg(long)]
        title: Option<String>,
    },
    /// Send a message to a session and print the agent's answer.
    Send {
        /// The session's id.
        id: String,
        /// The message (`-` reads it from stdin).
        message: String,
        /// How long the agent may take to answer (at most 600s).
        #[arg(long, value_parser = parse_timeout, default_value = "120s")]
        timeout: Span,
    },
    /// End an ad-hoc session.
    End {
        /// The session's id.
        id: String,
    },
}

/// `agentry sessions list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Only this agent's.
    #[arg(long)]
    agent: Option<String>,
    /// Only this type (chat, task, automation, collaboration, analysis).
    #[arg(long = "type", value_name = "TYPE")]
    session_type: Option<String>,
    /// Only this phase (Active, Ended, or a Session's phase).
    #[arg(long)]
    phase: Option<String>,
    /// Only those active since: a time (RFC 3339) or a duration back from now (2h, 7d).
    #[arg(long, value_parser = parse_instant)]
    since: Option<String>,
    /// Page size (1 to 500).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=500))]
    limit: Option<u32>,
    /// Follow every page, not only the first.
    #[arg(long)]
    all: bool,
}

/// Run `agentry sessions ...`.
pub(crate) async fn run(
    client: &mut ApiClient,
    command: SessionsCommand,
    format: OutputFormat,
) -> anyhow::Result<()> {
    match command {
        SessionsCommand::List(args) => list(client, args, format).await,
        SessionsCommand::Show { id } => show(client, &id, format).await,
        SessionsCommand::New { agent, title } => {
            let path = paths::fill(paths::SESSIONS, &[client.namespace()]);
            let session: SessionSummary = client.post(&path, &SessionCreate { agent, title }).await?;
            if !print_object(format, &session)? {
                print_line(&session.session_id)?;
            }
            Ok(())
        }
        SessionsCommand::Send { id, message, timeout } => {
            let post = SessionMessagePost {
                content: read_input(message)?,
                timeout_seconds: Some(u32::try_from(timeout.seconds()).unwrap_or(u32::MAX)),
            };
            client.set_deadline(timeout.duration() + ANSWER_MARGIN);
            let path = paths::fill(paths::SESSION_MESSAGES, &[client.namespace(), &id]);
            let reply: SessionReply = client.post(&path, &post).await?;
            print_answer(&reply, format)
        }
        SessionsCommand::End { id } => {
            let path = paths::fill(paths::SESSION_END, &[client.namespace(), &id]);
            let answer: Option<serde_json::Value> = client.call(Method::POST, &path).await?;
            if !print_object(format, &answer)? {
                print_line(&format!("session {id} ended"))?;
            }
            Ok(())
        }
    }
}

async fn list(client: &ApiClient, args: ListArgs, format: OutputFormat) -> anyhow::Result<()> {
    let path = paths::fill(paths::SESSIONS, &[client.namespace()]);
    let base = SessionListQuery {
        agent: args.agent,
        r#type: args.session_type,
        phase: args.phase,
        since: args.since,
        limit: args.limit,
        ..Default::default()
    };
    let page = pages::collect(args.all, |cursor| {
        let query = SessionListQuery { cursor, ..base.clone() };
        let path = &path;
        async move {
            let list: SessionList = client.get(path, &query).await?;
            Ok(Page { items: list.items, next: list.next })
        }
    })
    .await?;
    let list = SessionList { items: page.items, next: page.next };
    if print_object(format, &list)? {
        return Ok(());
    }
    print_list(&session_table(&list.items, Timestamp::now()), "sessions", client.namespace())?;
    pages::note_more(list.next.as_deref(), "sessions");
    Ok(())
}

fn session_table(sessions: &[SessionSummary], now: Timestamp) -> Table {
    let mut table =
        Table::new(&["ID", "AGENT", "TYPE", "PHASE", "TITLE", "MESSAGES", "COST", "LAST ACTIVE", "AGE"]);
    for s in sessions {
        table.push(vec![
            s.session_id.clone(),
            s.agent.clone(),
            s.r#type.clone().unwrap_or_default(),
            s.phase.clone().unwrap_or_default(),
            one_line(s.title.as_deref().unwrap_or_default(), 40),
            s.message_count.to_string(),
            usd(s.cost_usd),
            age_since(&s.last_activity_at, now),
            age_since(&s.started_at, now),
        ]);
    }
    table
}

/// The shape `sessions show -o json|yaml` prints.
#[derive(serde::Serialize)]
struct SessionWithMessages {
    session: SessionSummary,
    messages: Vec<SessionMessage>,
}

async fn show(client: &ApiClient, id: &str, format: OutputFormat) -> anyhow::Result<()> {
    let session: SessionSummary =
        client.get(&paths::fill(paths::SESSION, &[client.namespace(), id]), &()).await?;
    let path = paths::fill(paths::SESSION_MESSAGES, &[client.namespace(), id]);
    let messages = pages::collect(true, |cursor| {
        let query = MessageListQuery { limit: Some(agentry_api_contract::MAX_PAGE_SIZE), cursor };
        let path = &path;
        async move {
            let list: MessageList = client.get(path, &query).await?;
            Ok(Page { items: list.items, next: list.next })
        }
    })
    .await?
    .items;
    let shown = SessionWithMessages { session, messages };
    if print_object(format, &shown)? {
        return Ok(());
    }
    print_text(&describe(&shown, Timestamp::now()))?;
    Ok(())
}

fn describe(shown: &SessionWithMessages, now: Timestamp) -> String {
    let s = &shown.session;
    let mut text = fields(&[
        ("Session", s.session_id.clone()),
        ("Namespace", s.namespace.clone()),
        ("Agent", s.agent.clone()),
        ("Type", s.r#type.clone().unwrap_or_default()),
        ("Phase", s.phase.clone().unwrap_or_default()),
        ("Title", s.title.clone().unwrap_or_default()),
        ("Started", time_and_age(Some(&s.started_at), now)),
        ("Last activity", time_and_age(Some(&s.last_activity_at), now)),
        ("Ended", time_and_age(s.ended_at.as_deref(), now)),
        ("Messages", s.message_count.to_string()),
        ("Tokens", format!("{} in, {} out", tokens(s.input_tokens), tokens(s.output_tokens))),
        ("Cost", usd(s.cost_usd)),
    ]);
    for message in &shown.messages {
        let who = match &message.tool_name {
            Some(tool) => format!("{} ({tool})", message.role),
            None => message.role.clone(),
        };
        text.push_str(&format!("\n--- {who}, {} ago\n", age_since(&message.created_at, now)));
        text.push_str(message.content.trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> SessionSummary {
        SessionSummary {
            session_id: "s-1".into(),
            namespace: "fleet".into(),
            agent: "sales".into(),
            r#type: Some("chat".into()),
            phase: Some("Active".into()),
            title: None,
            started_at: "2026-11-30T11:00:00Z".into(),
            last_activity_at: "2026-11-30T11:58:00Z".into(),
            ended_at: None,
            message_count: 2,
            input_tokens: 120,
            output_tokens: 45,
            cost_usd: 0.0012,
        }
    }

    #[test]
    fn sessions_list_as_a_table() {
        let now: Timestamp = "2026-11-30T12:00:00Z".parse().unwrap();
        assert_eq!(
            session_table(&[summary()], now).render(),
            "ID    AGENT   TYPE   PHASE    TITLE    MESSAGES   COST      LAST ACTIVE   AGE\n\
             s-1   sales   chat   Active   <none>   2          $0.0012   2m            60m\n"
        );
    }

    #[test]
    fn a_session_shows_its_fields_then_its_messages_in_order() {
        let now: Timestamp = "2026-11-30T12:00:00Z".parse().unwrap();
        let message = |role: &str, content: &str, tool: Option<&str>| SessionMessage {
            role: role.into(),
            content: content.into(),
            agent: "sales".into(),
            request_id: "r-1".into(),
            tool_name: tool.map(str::to_string),
            created_at: "2026-11-30T11:59:00Z".into(),
        };
        let shown = SessionWithMessages {
            session: summary(),
            messages: vec![message("user", "Hello?", None), message("tool", "42\n", Some("calc"))],
        };
        let text = describe(&shown, now);
        assert!(text.starts_with("Session:        s-1\n"), "{text}");
        assert!(text.contains("Ended:          <none>\n"), "{text}");
        assert!(text.ends_with("\n--- user, 60s ago\nHello?\n\n--- tool (calc), 60s ago\n42\n"), "{text}");
    }
}
