//! The ledger against the real NATS server: compare-and-set under concurrent writers, replicas
//! seeing each other's spend, the day turning at midnight UTC, and a JetStream outage.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agentry_protocol::Usage;
use agentry_protocol::daily_usage::DailyUsage;
use agentry_protocol::subjects::SubjectToken;
use agentry_tests::nats_fixture::{self, PrivateNats};
use agentry_tests::polling::poll_until;
use async_nats::jetstream::{self, kv};

use super::day_totals::{Stored, Write};
use super::kv_sync::{DayKeys, add_to_record, open_bucket, read};
use super::{Clock, UsageLedger, utc_day};
use crate::metrics::RunnerMetrics;

/// 2026-11-30T23:59:59Z.
const LAST_SECOND_OF_A_DAY: u64 = 1_796_083_199;
/// Long enough for a loaded two-core machine; the conditions usually hold within milliseconds.
const SETTLE: Duration = Duration::from_secs(20);

struct Fixture {
    js: jetstream::Context,
    store: kv::Store,
    keys: DayKeys,
    namespace: String,
}

impl Fixture {
    async fn new(prefix: &str) -> Self {
        Self::at(&nats_fixture::nats_url(), prefix).await
    }

    async fn at(url: &str, prefix: &str) -> Self {
        let namespace = nats_fixture::unique_namespace(prefix);
        let js = jetstream(url).await;
        let store = open_bucket(&js).await.expect("bucket");
        let keys = DayKeys::new(&token(&namespace), &token("planner"));
        Self { js, store, keys, namespace }
    }

    /// A ledger on a connection of its own, as another replica would have.
    async fn ledger(&self, url: &str, limit: Option<f64>, clock: Clock) -> (UsageLedger, Arc<RunnerMetrics>) {
        let metrics = Arc::new(RunnerMetrics::new(&self.namespace, "planner").expect("metrics"));
        let (ledger, _task) =
            UsageLedger::start_with_clock(jetstream(url).await, self.keys.clone(), limit, &metrics, clock);
        (ledger, metrics)
    }

    async fn stored(&self, day: &str) -> DailyUsage {
        read(&self.store, &self.keys.key(day)).await.expect("read").usage
    }

    /// Waits until the record of `day` holds `requests` requests; returns it.
    async fn settled(&self, day: &str, requests: u64) -> DailyUsage {
        let key = self.keys.key(day);
        let settled = poll_until(SETTLE, || async {
            // Reads fail while a restarted server recovers its streams: polled again.
            let usage = read(&self.store, &key).await.ok()?.usage;
            (usage.requests == requests).then_some(usage)
        })
        .await;
        match settled {
            Ok(usage) => usage,
            Err(_) => panic!("{key} never held {requests} requests: {:?}", read(&self.store, &key).await),
        }
    }

    async fn purge(&self, days: &[&str]) {
        for day in days {
            let _ = self.store.purge(self.keys.key(day)).await;
        }
    }
}

async fn jetstream(url: &str) -> jetstream::Context {
    let client = async_nats::connect(url).await.unwrap_or_else(|e| panic!("NATS at {url}: {e}"));
    jetstream::new(client)
}

fn token(value: &str) -> SubjectToken {
    SubjectToken::new(value).expect("token")
}

fn system_clock() -> Clock {
    Arc::new(SystemTime::now)
}

/// A clock a test sets, in seconds since the Unix epoch.
fn settable_clock(secs: u64) -> (Arc<AtomicU64>, Clock) {
    let now = Arc::new(AtomicU64::new(secs));
    let read = now.clone();
    (now, Arc::new(move || UNIX_EPOCH + Duration::from_secs(read.load(Ordering::SeqCst))))
}

fn write(day: &str, amount: DailyUsage, guess: Option<Stored>) -> Write {
    Write { id: uuid::Uuid::new_v4().to_string(), day: day.to_string(), amount, guess }
}

fn cost(usd: f64) -> Usage {
    Usage { input_tokens: 100, output_tokens: 10, cost_usd: usd }
}

fn within_epsilon(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_on_one_record_add_up_exactly() {
    let fixture = Fixture::new("ledger-cas").await;
    let key = fixture.keys.key("2026-11-30");
    let writers = 16;
    let adds_per_writer = 20;
    let mut tasks = Vec::new();
    for writer in 0..writers {
        // Two connections, as two replicas have.
        let (js, store) = if writer % 2 == 0 {
            (fixture.js.clone(), fixture.store.clone())
        } else {
            let js = jetstream(&nats_fixture::nats_url()).await;
            let store = open_bucket(&js).await.expect("bucket");
            (js, store)
        };
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0;
            for _ in 0..adds_per_writer {
                let amount = DailyUsage { input_tokens: 3, output_tokens: 1, cost_usd: 0.001, requests: 1 };
                let write = write("2026-11-30", amount, None);
                conflicts += add_to_record(&js, &store, &key, &write).await.expect("added").conflicts;
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for task in tasks {
        conflicts += task.await.expect("writer");
    }
    let total = fixture.stored("2026-11-30").await;
    let adds = writers * adds_per_writer;
    assert_eq!(total.requests, adds, "{total:?}");
    assert_eq!((total.input_tokens, total.output_tokens), (3 * adds, adds));
    assert!(within_epsilon(total.cost_usd, 0.001 * adds as f64), "{total:?}");
    assert!(conflicts > 0, "{writers} concurrent writers never collided: the test proves nothing");
    fixture.purge(&["2026-11-30"]).await;
}

#[tokio::test]
async fn a_stale_guess_is_corrected_and_a_repeated_write_is_not_counted_twice() {
    let fixture = Fixture::new("ledger-stale").await;
    let (js, store) = (&fixture.js, &fixture.store);
    let day = "2026-11-30";
    let key = fixture.keys.key(day);
    let amount = DailyUsage { cost_usd: 0.5, requests: 1, ..DailyUsage::default() };
    let first = add_to_record(js, store, &key, &write(day, amount, None)).await.expect("created");
    assert_eq!(first.conflicts, 0);

    // A writer that believes the record does not exist yet.
    let absent = write(day, amount, Some(Stored::default()));
    let second = add_to_record(js, store, &key, &absent).await.expect("added after a conflict");
    assert_eq!(second.conflicts, 1);
    // A writer holding the first revision, two writes behind.
    let stale = write(day, amount, Some(first.stored));
    let third = add_to_record(js, store, &key, &stale).await.expect("added after a conflict");
    assert_eq!(third.conflicts, 1);
    assert_eq!(third.stored.usage.requests, 3);

    // The third write again, as after a lost acknowledgement: dropped as a duplicate, even though
    // its guess is stale too.
    let repeated = add_to_record(js, store, &key, &stale).await.expect("duplicate");
    assert_eq!(repeated.stored, third.stored, "the record as the first attempt left it");
    assert_eq!(fixture.stored(day).await, DailyUsage { cost_usd: 1.5, requests: 3, ..DailyUsage::default() });
    fixture.purge(&[day]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_count_into_one_record_and_see_each_others_spend() {
    let fixture = Fixture::new("ledger-replicas").await;
    let url = nats_fixture::nats_url();
    let (a, _) = fixture.ledger(&url, Some(1.0), system_clock()).await;
    let (b, b_metrics) = fixture.ledger(&url, Some(1.0), system_clock()).await;
    assert!(a.wait_loaded(SETTLE).await && b.wait_loaded(SETTLE).await);
    let count = 150_u64;
    let spread = |ledger: UsageLedger| {
        tokio::spawn(async move {
            for _ in 0..count {
                ledger.record_request();
                ledger.record_usage(cost(0.004));
                // Spread out over the writes, so that the two replicas' writes interleave.
                tokio::task::yield_now().await;
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
            ledger
        })
    };
    let (a, b) = (spread(a), spread(b));
    let (a, b) = (a.await.expect("a"), b.await.expect("b"));
    let today = utc_day(SystemTime::now());
    let total = fixture.settled(&today, 2 * count).await;
    assert!(within_epsilon(total.cost_usd, 0.004 * 2.0 * count as f64), "{total:?}");
    assert_eq!(total.input_tokens, 100 * 2 * count);

    // Each replica's own spend (0.6) is under the limit; together they are over it.
    for ledger in [&a, &b] {
        let seen = poll_until(SETTLE, || async {
            let spent = ledger.exhausted()?;
            within_epsilon(spent, total.cost_usd).then_some(spent)
        })
        .await;
        assert!(seen.is_ok(), "a replica never saw the other's spend: {:?}", ledger.today());
    }
    let gauge = b_metrics.budget_spent_usd.get();
    assert!(within_epsilon(gauge, total.cost_usd), "gauge {gauge}");

    // A replica started now knows today's spend once loaded, before any write.
    let (c, _) = fixture.ledger(&url, Some(1.0), system_clock()).await;
    assert!(c.wait_loaded(SETTLE).await, "today's record read");
    assert!(within_epsilon(c.today().cost_usd, total.cost_usd), "{:?}", c.today());
    assert_eq!(c.today().requests, 2 * count);
    fixture.purge(&[&today]).await;
}

#[tokio::test]
async fn a_spent_budget_resets_at_midnight_utc() {
    let fixture = Fixture::new("ledger-midnight").await;
    let (now, clock) = settable_clock(LAST_SECOND_OF_A_DAY - 60);
    let (ledger, metrics) = fixture.ledger(&nats_fixture::nats_url(), Some(1.0), clock).await;
    ledger.record_request();
    ledger.record_usage(cost(1.25));
    assert_eq!(ledger.exhausted(), Some(1.25));
    fixture.settled("2026-11-30", 1).await;

    // Still spent in the last second of the day.
    now.store(LAST_SECOND_OF_A_DAY, Ordering::SeqCst);
    assert_eq!(ledger.exhausted(), Some(1.25));

    // At 00:00:00 UTC the new day starts with nothing spent, in its own record.
    now.store(LAST_SECOND_OF_A_DAY + 1, Ordering::SeqCst);
    assert_eq!(ledger.exhausted(), None);
    assert_eq!(metrics.budget_spent_usd.get(), 0.0);
    ledger.record_request();
    ledger.record_usage(cost(0.5));
    assert_eq!(ledger.exhausted(), None, "0.5 today, not 1.75");
    let new_day = fixture.settled("2026-12-01", 1).await;
    assert_eq!(new_day.cost_usd, 0.5);
    assert_eq!(fixture.stored("2026-11-30").await.cost_usd, 1.25, "yesterday's record is kept as it was");
    ledger.record_usage(cost(0.5));
    assert_eq!(ledger.exhausted(), Some(1.0));
    fixture.purge(&["2026-11-30", "2026-12-01"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_counted_while_jetstream_is_down_is_recorded_when_it_returns() {
    let mut nats = PrivateNats::start().await.expect("private NATS");
    let fixture = Fixture::at(&nats.url(), "ledger-outage").await;
    let (ledger, metrics) = fixture.ledger(&nats.url(), Some(8.0), system_clock()).await;
    let today = utc_day(SystemTime::now());
    ledger.record_request();
    ledger.record_usage(cost(1.0));
    fixture.settled(&today, 1).await;

    nats.kill();
    for _ in 0..3 {
        ledger.record_request();
        ledger.record_usage(cost(2.5));
    }
    // The budget is checked against what this replica counted, outage or not.
    assert_eq!(ledger.exhausted(), Some(8.5));
    // Down long enough for a write to fail (its acknowledgement times out after 5 s).
    let failed =
        poll_until(SETTLE, || async { (metrics.budget_sync_failures.get() > 0).then_some(()) }).await;
    assert!(failed.is_ok(), "no write failed while NATS was down");
    ledger.record_request();
    assert_eq!(ledger.today().requests, 5);

    nats.revive().await.expect("NATS back");
    let total = fixture.settled(&today, 5).await;
    assert_eq!(total.cost_usd, 8.5, "{total:?}");
    assert_eq!(total.input_tokens, 400);
    assert_eq!(ledger.exhausted(), Some(8.5), "not counted twice");
}
