//! The history's read side over 1,000,000 recorded interactions (docs/history.md): statistics
//! over whole windows (target p95 < 50 ms) and a filtered list page, first and later (target
//! p95 < 10 ms).
//!
//! The interactions go through the recorder's own batch statement
//! (`agentry_recorder::write_events`, batches of 1,000 on 4 connections, as a recorder's
//! writers), so rollups and indexes are the real ones, into a schema of the benchmark's own on
//! the test PostgreSQL. They span the 7 days before the benchmark starts: 8 answering agents,
//! about 60 % queries, 25 % delegations and 15 % session requests, 3 % failed, latencies
//! spread log-uniformly from 5 ms to 60 s.
//!
//! `HISTORY_BENCH_INTERACTIONS` overrides the count.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agentry_history::interactions::{self, InteractionFilters, InteractionType};
use agentry_history::stats;
use agentry_protocol::Usage;
use agentry_protocol::events::{Event, EventBody, InteractionEvent};
use agentry_recorder::database;
use agentry_tests::recorder_fixture::{ScratchSchema, database_url};
use jiff::{SignedDuration, Timestamp};
use sqlx::PgPool;

const STATS_TARGET_MS: f64 = 50.0;
const LIST_TARGET_MS: f64 = 10.0;
const BATCH: u64 = 1_000;
const WRITERS: u64 = 4;
const AGENTS: u64 = 8;
const SPAN_MS: u64 = 7 * 24 * 3_600 * 1_000;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    if let Err(error) = runtime.block_on(run()) {
        eprintln!("history_queries failed: {error}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let total: u64 =
        std::env::var("HISTORY_BENCH_INTERACTIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let schema = ScratchSchema::new(&database_url());
    let options = database::parse_url(&database_url()).map_err(|e| e.to_string())?;
    let pool = database::pool(&options, &schema.name, 4).map_err(|e| e.to_string())?;
    database::migrate(&pool, &schema.name).await.map_err(|e| e.to_string())?;
    let end = Timestamp::now();
    let end_ms = u64::try_from(end.as_millisecond()).map_err(|e| e.to_string())?;
    let loaded = Instant::now();
    load(&pool, total, end_ms).await?;
    let load_time = loaded.elapsed();
    sqlx::query("ANALYZE").execute(&pool).await.map_err(|e| e.to_string())?;
    println!(
        "history_queries: {total} interactions over 7 days loaded through the recorder's batch statement in {load_time:.1?} ({:.0}/s)",
        total as f64 / load_time.as_secs_f64()
    );
    let hours = |h: i64| end.checked_sub(SignedDuration::from_hours(h)).unwrap_or(end);
    let odd = end.checked_sub(SignedDuration::from_secs(6 * 3600 + 37 * 60 + 13)).unwrap_or(end);
    let windows: [(&str, Timestamp, Option<&str>); 5] = [
        ("7 days, all agents", hours(7 * 24 + 1), None),
        ("24 h, all agents", hours(24), None),
        ("6 h 37 m 13 s, all agents", odd, None),
        ("7 days, agent-3", hours(7 * 24 + 1), Some("agent-3")),
        ("1 h, agent-5", hours(1), Some("agent-5")),
    ];
    let mut worst: f64 = 0.0;
    for (name, since, agent) in windows {
        let count = stats(&pool, "bench", since, end, agent).await.map_err(|e| e.to_string())?.totals.count;
        let p95 = p95_of(60, || async {
            stats(&pool, "bench", since, end, agent).await.map(|_| ()).map_err(|e| e.to_string())
        })
        .await?;
        worst = worst.max(p95);
        println!(
            "  stats {name:<28} {count:>8} interactions   p95 {p95:>7.2} ms (60 runs)   target < {STATS_TARGET_MS} ms"
        );
    }
    let lists = list_pages(&pool).await?;
    let list_worst = lists.iter().copied().fold(0.0, f64::max);
    println!(
        "  stats: {}; list pages: {}",
        verdict(worst < STATS_TARGET_MS),
        verdict(list_worst < LIST_TARGET_MS)
    );
    pool.close().await;
    Ok(())
}

fn verdict(ok: bool) -> &'static str {
    if ok { "target met" } else { "target NOT met" }
}

/// The filtered list pages: first, and the 20th through its cursor; their p95s.
async fn list_pages(pool: &PgPool) -> Result<Vec<f64>, String> {
    let filters = InteractionFilters {
        to: Some("agent-2".into()),
        r#type: Some(InteractionType::Delegation),
        ..Default::default()
    };
    let mut cursor = None;
    for _ in 0..19 {
        let page = interactions::list(pool, "bench", &filters, 50, cursor.as_deref())
            .await
            .map_err(|e| e.to_string())?;
        cursor = page.next;
    }
    let later = cursor.ok_or("fewer than 20 pages")?;
    let mut figures = Vec::new();
    for (name, cursor) in [("first page", None), ("20th page (cursor)", Some(later.as_str()))] {
        let p95 = p95_of(250, || async {
            let page =
                interactions::list(pool, "bench", &filters, 50, cursor).await.map_err(|e| e.to_string())?;
            if page.items.len() == 50 { Ok(()) } else { Err(format!("{name}: {} items", page.items.len())) }
        })
        .await?;
        println!(
            "  list to=agent-2&type=delegation limit 50, {name:<19} p95 {p95:>6.2} ms (250 runs)   target < {LIST_TARGET_MS} ms"
        );
        figures.push(p95);
    }
    Ok(figures)
}

/// The p95 of `runs` timed calls of `f`, milliseconds (after 3 untimed ones).
async fn p95_of<F, Fut>(runs: usize, mut f: F) -> Result<f64, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    for _ in 0..3 {
        f().await?;
    }
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        f().await?;
        times.push(started.elapsed());
    }
    times.sort_unstable();
    let index = (runs * 95).div_ceil(100).saturating_sub(1);
    Ok(times.get(index).copied().unwrap_or(Duration::ZERO).as_secs_f64() * 1_000.0)
}

/// Writes `total` interactions on [`WRITERS`] connections, in batches of [`BATCH`].
async fn load(pool: &PgPool, total: u64, end_ms: u64) -> Result<(), String> {
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut writers = Vec::new();
    for _ in 0..WRITERS {
        let (pool, next) = (pool.clone(), next.clone());
        writers.push(tokio::spawn(async move {
            loop {
                let first = next.fetch_add(BATCH, std::sync::atomic::Ordering::Relaxed);
                if first >= total {
                    return Ok::<(), String>(());
                }
                let batch: Vec<Event> =
                    (first..(first + BATCH).min(total)).map(|i| synthetic(i, total, end_ms)).collect();
                agentry_recorder::write_events(&pool, batch).await.map_err(|e| e.to_string())?;
            }
        }));
    }
    for writer in writers {
        writer.await.map_err(|e| e.to_string())??;
    }
    Ok(())
}

/// A pseudo-random number from `i` and `salt` (splitmix64).
fn mix(i: u64, salt: u64) -> u64 {
    let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(salt);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The `i`-th of `total` interactions, in time order over the 7 days before `end_ms`.
// The latency is at most 60,000: the `as` cannot cut it.
#[allow(clippy::cast_possible_truncation)]
fn synthetic(i: u64, total: u64, end_ms: u64) -> Event {
    let time_ms = end_ms - SPAN_MS + i * (SPAN_MS / total.max(1));
    let agent = format!("agent-{}", mix(i, 1) % AGENTS);
    let kind = mix(i, 2) % 100;
    let (depth, session, from) = match kind {
        0..60 => (0, None, "caller".to_string()),
        60..85 => (1, None, format!("agent-{}", mix(i, 3) % AGENTS)),
        _ => (0, Some(format!("session-{}", i / 50)), "session".to_string()),
    };
    // Log-uniform from 5 ms to 60 s.
    let latency_ms = (5.0 * (12_000f64).powf((mix(i, 4) % 10_000) as f64 / 10_000.0)) as u64;
    let failed = mix(i, 5) % 100 < 3;
    let request_id = if depth > 0 { format!("b{i}.d") } else { format!("b{i}") };
    Event {
        id: format!("e{i}"),
        time_ms,
        namespace: "bench".into(),
        agent: agent.clone(),
        request_id,
        session_id: session,
        body: EventBody::Interaction(InteractionEvent {
            from_agent: Some(from),
            to_agent: agent,
            query: format!("question {i}: what is the budget for Q{}?", i % 4 + 1),
            response: (!failed).then(|| format!("answer {i}")),
            error: failed.then_some(agentry_protocol::ErrorCode::Timeout),
            latency_ms,
            model: Some("gpt-bench".into()),
            usage: Usage { input_tokens: 100 + i % 50, output_tokens: 20, cost_usd: 0.0001 },
            delegation_depth: depth,
        }),
    }
}
