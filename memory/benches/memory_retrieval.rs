//! Top-10 retrieval over 100,000 memories of one agent (docs/memory.md), at 384 and 1,536
//! dimensions, through `MemoryStore::recall_by_vector` on the test PostgreSQL: the in-process
//! index (sign codes → int8 → exact f32 re-rank of rows read back from PostgreSQL). Targets:
//! p95 < 20 ms, recall@10 ≥ 0.95 against exact search over the f32 vectors.
//!
//! Vectors are clustered and of low intrinsic dimension, as real embeddings are, not uniform: a
//! latent point in 48 dimensions near one of 200 cluster centres (centres ~ N(0, 1), spread 0.6),
//! mapped to the embedding's dimensions by a fixed random linear map and normalised, then
//! `v = mapped + 0.45·global + 0.25·noise`, normalised (`global` a direction every vector shares,
//! `noise` a fresh random direction). Queries are new points drawn the same way. All memories have importance 0.5 and are stored at once, so the
//! score orders exactly as similarity and recall@10 compares like with like.
//!
//! `MEMORY_BENCH_COUNT` overrides the count, `MEMORY_BENCH_DIMENSIONS` the dimensions (comma
//! separated), `MEMORY_BENCH_SIGN_CANDIDATES` / `MEMORY_BENCH_INT8_CANDIDATES` the tuning.

use std::time::{Duration, Instant};

use agentry_memory::{
    Embedder, HashingEmbedder, MemoryScope, MemoryStore, SearchTuning, StoreOptions, VectorIndex, schema,
    store,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const P95_TARGET_MS: f64 = 20.0;
const RECALL_TARGET: f64 = 0.95;
const QUERIES: usize = 300;
const TOP_K: usize = 10;
/// The vectors' intrinsic dimension.
const LATENT: usize = 48;
/// Clusters (topics) in the latent space.
const CLUSTERS: usize = 200;
/// Spread of a memory around its cluster centre, per latent dimension (centres spread 1.0).
const SPREAD: f32 = 0.6;
/// Weight of the direction every vector shares (real embeddings are anisotropic).
const OFFSET: f32 = 0.45;
/// Weight of full-dimensional noise.
const NOISE: f32 = 0.25;
const COPY_BATCH: usize = 1_000;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    if let Err(error) = runtime.block_on(run()) {
        eprintln!("memory_retrieval failed: {error}");
        std::process::exit(1);
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn run() -> Result<(), String> {
    let count: usize = env_or("MEMORY_BENCH_COUNT", 100_000);
    let dimensions: Vec<usize> = std::env::var("MEMORY_BENCH_DIMENSIONS")
        .unwrap_or_else(|_| "384,1536".into())
        .split(',')
        .filter_map(|d| d.trim().parse().ok())
        .collect();
    let defaults = SearchTuning::default();
    let tuning = SearchTuning {
        sign_candidates: env_or("MEMORY_BENCH_SIGN_CANDIDATES", defaults.sign_candidates),
        int8_candidates: env_or("MEMORY_BENCH_INT8_CANDIDATES", defaults.int8_candidates),
    };
    println!(
        "memory_retrieval: {count} memories of one agent, {QUERIES} queries, top-{TOP_K}, tuning {tuning:?}"
    );
    let mut failed = false;
    for dims in dimensions {
        failed |= !bench(count, dims, tuning).await?;
    }
    if failed {
        return Err("a target was missed".into());
    }
    Ok(())
}

/// Whether the targets were met.
async fn bench(count: usize, dims: usize, tuning: SearchTuning) -> Result<bool, String> {
    let url = std::env::var("AGENTRY_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let schema_name = format!("agentry_membench_{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let pool = store::pool(&url, &schema_name, 4).map_err(|e| e.to_string())?;
    let outcome = bench_in(&pool, &schema_name, count, dims, tuning).await;
    let drop = format!("DROP SCHEMA IF EXISTS \"{schema_name}\" CASCADE");
    let _ = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&pool).await;
    outcome
}

async fn bench_in(
    pool: &sqlx::PgPool,
    schema_name: &str,
    count: usize,
    dims: usize,
    tuning: SearchTuning,
) -> Result<bool, String> {
    schema::migrate(pool, schema_name).await.map_err(|e| e.to_string())?;
    let mut corpus = Corpus::new(dims, 0x5eed_0000 + dims as u64);
    let vectors: Vec<Vec<f32>> = (0..count).map(|_| corpus.draw()).collect();
    let loaded = Instant::now();
    copy_in(pool, &vectors).await?;
    println!("  {dims} dims: {count} memories copied into PostgreSQL in {:.1?}", loaded.elapsed());

    let embedder = Embedder::Hashing(HashingEmbedder::new(dims).map_err(|e| e.to_string())?);
    let options = StoreOptions { tuning, ..StoreOptions::new(dims) };
    let store = MemoryStore::open(pool.clone(), embedder, options).await.map_err(|e| e.to_string())?;
    let scope = MemoryScope::agent("bench", "agent-0");
    let rss_before = rss_bytes();
    let started = Instant::now();
    store.recall_by_vector(&scope, corpus.draw(), TOP_K, -1.0).await.map_err(|e| e.to_string())?;
    let load_time = started.elapsed();
    let (indexed, heap) = store.index_size(&scope).await.ok_or("the index did not load")?;
    let rss_growth = rss_bytes().saturating_sub(rss_before);

    let queries: Vec<Vec<f32>> = (0..QUERIES).map(|_| corpus.draw()).collect();
    let mut latencies = Vec::with_capacity(QUERIES);
    let mut hits = 0usize;
    for query in &queries {
        let started = Instant::now();
        let found =
            store.recall_by_vector(&scope, query.clone(), TOP_K, -1.0).await.map_err(|e| e.to_string())?;
        latencies.push(started.elapsed());
        let exact = exact_top(&vectors, query, TOP_K);
        let found: Vec<usize> = found.iter().filter_map(|m| m.memory.content.parse().ok()).collect();
        hits += found.iter().filter(|i| exact.contains(i)).count();
    }
    latencies.sort();
    let (p50, p95) = (ms(latencies[QUERIES / 2]), ms(latencies[QUERIES * 95 / 100]));
    let recall = hits as f64 / (QUERIES * TOP_K) as f64;
    let per_100k = |bytes: usize| bytes as f64 / indexed.max(1) as f64 * 100_000.0 / 1_048_576.0;
    println!(
        "  {dims} dims: index of {indexed} loaded in {load_time:.1?}; heap {:.1} MiB per 100,000 memories \
         (RSS grew {:.1} MiB; as f32 it would be {:.1} MiB)",
        per_100k(heap),
        rss_growth as f64 / 1_048_576.0,
        (dims * 4 * 100_000) as f64 / 1_048_576.0
    );
    println!(
        "  {dims} dims: top-{TOP_K}  p50 {p50:>6.2} ms  p95 {p95:>6.2} ms (target < {P95_TARGET_MS} ms)   \
         recall@{TOP_K} {recall:.3} (target ≥ {RECALL_TARGET})"
    );
    breakdown(pool, &vectors, &queries, tuning).await?;
    Ok(p95 < P95_TARGET_MS && recall >= RECALL_TARGET)
}

/// Where the time goes: the index's two stages alone, and a bare PostgreSQL round trip.
async fn breakdown(
    pool: &sqlx::PgPool,
    vectors: &[Vec<f32>],
    queries: &[Vec<f32>],
    tuning: SearchTuning,
) -> Result<(), String> {
    let centre = agentry_memory::vector_index::centre_of(
        vectors[0].len(),
        vectors.iter().take(4096).map(Vec::as_slice),
    );
    let mut index = VectorIndex::new(vectors[0].len(), centre);
    for vector in vectors {
        index.upsert(uuid::Uuid::new_v4(), vector);
    }
    let mut stages = Vec::with_capacity(queries.len());
    for query in queries {
        let started = Instant::now();
        std::hint::black_box(index.candidates(query, tuning));
        stages.push(started.elapsed());
    }
    let mut round_trips = Vec::with_capacity(queries.len());
    for _ in queries {
        let started = Instant::now();
        sqlx::query("SELECT 1").execute(pool).await.map_err(|e| e.to_string())?;
        round_trips.push(started.elapsed());
    }
    stages.sort();
    round_trips.sort();
    let n = queries.len();
    println!(
        "  {} dims: of which in-process stages p50 {:.2} ms p95 {:.2} ms; a bare PostgreSQL round trip p50 {:.2} ms p95 {:.2} ms",
        vectors[0].len(),
        ms(stages[n / 2]),
        ms(stages[n * 95 / 100]),
        ms(round_trips[n / 2]),
        ms(round_trips[n * 95 / 100])
    );
    Ok(())
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The positions of the `k` vectors most similar to `query`, by exact f32 dot product.
fn exact_top(vectors: &[Vec<f32>], query: &[f32], k: usize) -> Vec<usize> {
    let mut scored: Vec<(usize, f32)> =
        vectors.iter().enumerate().map(|(i, v)| (i, v.iter().zip(query).map(|(a, b)| a * b).sum())).collect();
    scored.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
    scored.truncate(k);
    scored.into_iter().map(|(i, _)| i).collect()
}

/// Inserts the memories in batches (content = the vector's position, for the recall check).
/// Each batch's vectors travel as one binary `real[]` parameter sliced per row in SQL: no float
/// parsing on either side.
async fn copy_in(pool: &sqlx::PgPool, vectors: &[Vec<f32>]) -> Result<(), String> {
    let dims = vectors[0].len();
    for (batch, chunk) in vectors.chunks(COPY_BATCH).enumerate() {
        let flat: Vec<f32> = chunk.iter().flatten().copied().collect();
        let first = i64::try_from(batch * COPY_BATCH).map_err(|e| e.to_string())?;
        let rows = i32::try_from(chunk.len()).map_err(|e| e.to_string())?;
        let dims = i32::try_from(dims).map_err(|e| e.to_string())?;
        sqlx::query(
            "INSERT INTO memories (namespace, agent, type, content, embedding, importance) \
             SELECT 'bench', 'agent-0', 'semantic', ($1 + i - 1)::text, ($2::real[])[(i - 1) * $3 + 1 : i * $3], 0.5 \
             FROM generate_series(1, $4) AS i",
        )
        .bind(first)
        .bind(&flat)
        .bind(dims)
        .bind(rows)
        .execute(pool)
        .await
        .map_err(|e| e.to_string())?;
    }
    // What autovacuum would have done long before an agent has 100,000 memories; without
    // statistics the planner cannot tell the change log's indexes apart.
    for table in ["memories", "memory_changes"] {
        let analyze = format!("ANALYZE {table}");
        sqlx::query(sqlx::AssertSqlSafe(analyze)).execute(pool).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Clustered unit vectors of low intrinsic dimension: a latent point near one of the cluster
/// centres, mapped linearly to `dims`, plus a shared offset and a little full-dimensional noise.
struct Corpus {
    rng: StdRng,
    dims: usize,
    global: Vec<f32>,
    /// `LATENT` directions in `dims`, the columns of the linear map.
    basis: Vec<Vec<f32>>,
    centres: Vec<Vec<f32>>,
}

impl Corpus {
    fn new(dims: usize, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let global = gaussian_direction(&mut rng, dims);
        let basis = (0..LATENT).map(|_| gaussian_direction(&mut rng, dims)).collect();
        let centres = (0..CLUSTERS).map(|_| (0..LATENT).map(|_| gaussian(&mut rng)).collect()).collect();
        Self { rng, dims, global, basis, centres }
    }

    fn draw(&mut self) -> Vec<f32> {
        let centre = &self.centres[self.rng.random_range(0..CLUSTERS)];
        let latent: Vec<f32> = centre.iter().map(|c| c + SPREAD * gaussian(&mut self.rng)).collect();
        let mut mapped = vec![0.0f32; self.dims];
        for (z, direction) in latent.iter().zip(&self.basis) {
            mapped.iter_mut().zip(direction).for_each(|(m, d)| *m += z * d);
        }
        normalise(&mut mapped);
        let noise = gaussian_direction(&mut self.rng, self.dims);
        let mut v: Vec<f32> =
            (0..self.dims).map(|i| mapped[i] + OFFSET * self.global[i] + NOISE * noise[i]).collect();
        normalise(&mut v);
        v
    }
}

fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= norm);
}

/// A standard normal sample (Box–Muller).
fn gaussian(rng: &mut StdRng) -> f32 {
    let (u1, u2): (f32, f32) = (rng.random::<f32>().max(1e-12), rng.random());
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// A uniformly random unit direction (normalised Gaussian, by Box–Muller).
fn gaussian_direction(rng: &mut StdRng, dims: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..dims).map(|_| gaussian(rng)).collect();
    normalise(&mut v);
    v
}

/// This process's resident set, from /proc (0 where there is none).
fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<usize>().ok()))
        .map_or(0, |pages| pages * 4096)
}
