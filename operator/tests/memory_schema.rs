//! The memory schema against the real PostgreSQL (`scripts/dev-services` starts one).
//!
//! URL from `AGENTRY_TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`.
//! Every test works in a schema of its own, dropped afterwards even when the test fails.
//!
//! About authentication failures: the shared server trusts loopback connections
//! (`pg_hba.conf`: `host all all 127.0.0.1/32 trust`), so a wrong password cannot fail a login
//! there; only a role that does not exist is refused. Passwords are therefore tested against a
//! cluster of the test's own that asks for them ([`PrivatePostgres`], `scram-sha-256`), and the
//! password exchange itself (what the client sends, SQLSTATE 28P01) against a minimal server in
//! this file that speaks just enough of the PostgreSQL protocol to ask for a password and refuse it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use agentry_operator::memory_schema::{self, StoreError};
use agentry_tests::private_postgres::PrivatePostgres;
use sqlx::{AssertSqlSafe, PgPool};

const TIMEOUT: Duration = Duration::from_secs(5);

fn admin_url() -> String {
    std::env::var("AGENTRY_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// The admin URL with another user and password (and optionally database).
fn url_as(user: &str, password: &str, database: Option<&str>) -> String {
    let admin = admin_url();
    let (scheme, rest) = admin.split_once("://").expect("a URL");
    let host_part = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let (host, db) = host_part.split_once('/').unwrap_or((host_part, "postgres"));
    format!("{scheme}://{user}:{password}@{host}/{}", database.unwrap_or(db))
}

async fn admin_pool() -> PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(TIMEOUT)
        .connect(&admin_url())
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL at {} not reachable ({e}); run scripts/dev-services", admin_url())
        })
}

fn unique(tag: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("agentry_test_{tag}_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A schema (and optionally a role) that is dropped when the guard goes, panics included.
struct Scratch {
    schema: String,
    role: Option<String>,
}

impl Scratch {
    fn new(tag: &str) -> Self {
        Self { schema: unique(tag), role: None }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let schema = self.schema.clone();
        let role = self.role.clone();
        // Drop runs inside the test's runtime; a thread with its own runtime may block.
        let cleanup = std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                let pool = admin_pool().await;
                sqlx::query(AssertSqlSafe(format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")))
                    .execute(&pool)
                    .await
                    .expect("drop schema");
                if let Some(role) = role {
                    sqlx::query(AssertSqlSafe(format!("DROP ROLE IF EXISTS \"{role}\"")))
                        .execute(&pool)
                        .await
                        .expect("drop role");
                }
            });
        });
        let _ = cleanup.join();
    }
}

async fn tables_in(pool: &PgPool, schema: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = $1 ORDER BY tablename")
        .bind(schema)
        .fetch_all(pool)
        .await
        .expect("list tables")
}

#[tokio::test]
async fn migrate_creates_the_tables_in_the_schema() {
    let scratch = Scratch::new("create");
    let pool = memory_schema::connect(&admin_url(), &scratch.schema, TIMEOUT).await.expect("connect");
    let report = memory_schema::migrate(&pool, &scratch.schema).await.expect("migrate");
    assert_eq!(report.schema, scratch.schema);
    assert_eq!(report.version, memory_schema::latest_migration());
    assert_eq!(report.applied, vec![1, 2, 3]);

    let admin = admin_pool().await;
    assert_eq!(
        tables_in(&admin, &scratch.schema).await,
        vec!["_sqlx_migrations", "memories", "memory_blocks", "memory_changes", "memory_store_settings"]
    );

    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema = $1 AND table_name = 'memories' ORDER BY ordinal_position",
    )
    .bind(&scratch.schema)
    .fetch_all(&admin)
    .await
    .expect("columns");
    let expected = [
        ("id", "uuid"),
        ("agent", "text"),
        ("namespace", "text"),
        ("type", "text"),
        ("content", "text"),
        ("embedding", "ARRAY"),
        ("importance", "real"),
        ("tags", "ARRAY"),
        ("metadata", "jsonb"),
        ("created_at", "timestamp with time zone"),
        ("expires_at", "timestamp with time zone"),
    ];
    let columns: Vec<(&str, &str)> = columns.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    assert_eq!(columns, expected);

    let indexes: Vec<String> =
        sqlx::query_scalar("SELECT indexname::text FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname")
            .bind(&scratch.schema)
            .fetch_all(&admin)
            .await
            .expect("indexes");
    for index in ["memories_namespace_agent_created_at_idx", "memories_expires_at_idx", "memory_blocks_pkey"]
    {
        assert!(indexes.iter().any(|i| i == index), "{index} missing from {indexes:?}");
    }

    // The checks hold: unknown memory types and importance outside 0..1 are refused.
    let insert = |kind: &'static str, importance: f32| {
        sqlx::query("INSERT INTO memories (agent, namespace, type, content, importance) VALUES ('a', 'ns', $1, 'c', $2)")
            .bind(kind)
            .bind(importance)
            .execute(&pool)
    };
    insert("semantic", 0.5).await.expect("a valid memory");
    assert!(insert("bogus", 0.5).await.is_err(), "type check");
    assert!(insert("episodic", 1.5).await.is_err(), "importance check");
    sqlx::query(
        "INSERT INTO memory_blocks (namespace, agent, label, content) VALUES ('ns', 'a', 'persona', 'x') \
         ON CONFLICT (namespace, agent, label) DO UPDATE SET content = excluded.content",
    )
    .execute(&pool)
    .await
    .expect("a memory block");
}

#[tokio::test]
async fn migrating_twice_is_idempotent() {
    let scratch = Scratch::new("twice");
    let pool = memory_schema::connect(&admin_url(), &scratch.schema, TIMEOUT).await.expect("connect");
    let first = memory_schema::migrate(&pool, &scratch.schema).await.expect("first");
    let second = memory_schema::migrate(&pool, &scratch.schema).await.expect("second");
    assert_eq!(first.applied, vec![1, 2, 3]);
    assert!(second.applied.is_empty(), "{second:?}");
    assert_eq!(second.version, first.version);

    // A fresh pool (an operator restart) finds the schema migrated as well.
    let again = memory_schema::connect(&admin_url(), &scratch.schema, TIMEOUT).await.expect("reconnect");
    assert!(memory_schema::migrate(&again, &scratch.schema).await.expect("third").applied.is_empty());

    let admin = admin_pool().await;
    let rows: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT count(*) FROM \"{}\"._sqlx_migrations",
        scratch.schema
    )))
    .fetch_one(&admin)
    .await
    .expect("count");
    assert_eq!(rows, 3);
}

#[tokio::test]
async fn concurrent_migrations_all_succeed() {
    let scratch = Scratch::new("race");
    // Four replicas with pools of their own, starting together on a schema that does not exist.
    let mut pools = Vec::new();
    for _ in 0..4 {
        pools.push(memory_schema::connect(&admin_url(), &scratch.schema, TIMEOUT).await.expect("connect"));
    }
    let reports =
        futures::future::join_all(pools.iter().map(|p| memory_schema::migrate(p, &scratch.schema))).await;
    for report in &reports {
        let report = report.as_ref().expect("every replica's migration succeeds");
        assert_eq!(report.version, memory_schema::latest_migration());
    }

    let admin = admin_pool().await;
    assert_eq!(
        tables_in(&admin, &scratch.schema).await,
        vec!["_sqlx_migrations", "memories", "memory_blocks", "memory_changes", "memory_store_settings"]
    );
    let rows: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT version FROM \"{}\"._sqlx_migrations WHERE success ORDER BY version",
        scratch.schema
    )))
    .fetch_all(&admin)
    .await
    .expect("versions");
    assert_eq!(rows, vec![1, 2, 3], "each migration recorded exactly once");
}

#[tokio::test]
async fn memory_count_counts_rows() {
    let scratch = Scratch::new("count");
    let pool = memory_schema::connect(&admin_url(), &scratch.schema, TIMEOUT).await.expect("connect");
    memory_schema::migrate(&pool, &scratch.schema).await.expect("migrate");
    assert_eq!(memory_schema::memory_count(&pool).await.expect("count"), 0);
    for agent in ["a", "b", "c"] {
        sqlx::query(
            "INSERT INTO memories (agent, namespace, type, content) VALUES ($1, 'ns', 'episodic', 'x')",
        )
        .bind(agent)
        .execute(&pool)
        .await
        .expect("insert");
    }
    assert_eq!(memory_schema::memory_count(&pool).await.expect("count"), 3);
}

#[tokio::test]
async fn memory_count_before_migration_is_a_query_failure() {
    let scratch = Scratch::new("nocount");
    let pool = memory_schema::connect(&admin_url(), &scratch.schema, TIMEOUT).await.expect("connect");
    let error = memory_schema::memory_count(&pool).await.expect_err("no table yet");
    assert_eq!(error.reason(), "QueryFailed", "{error}");
    assert!(error.to_string().contains("42P01"), "{error}");
}

#[tokio::test]
async fn unknown_role_is_an_authentication_failure_without_the_password() {
    let password = "Sup3r-Secret-Pa55word";
    let role = unique("ghost");
    let uri = url_as(&role, password, None);
    let error = memory_schema::connect(&uri, "agentry", TIMEOUT).await.expect_err("unknown role");
    assert!(matches!(error, StoreError::AuthenticationFailed { .. }), "{error:?}");
    assert_eq!(error.reason(), "AuthenticationFailed");
    let (display, debug) = (error.to_string(), format!("{error:?}"));
    assert!(display.contains("does not exist"), "{display}");
    for text in [&display, &debug] {
        assert!(!text.contains(password), "password leaked: {text}");
        assert!(!text.contains(&uri), "URI leaked: {text}");
    }
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_the_right_one_connects() {
    // The shared server trusts loopback logins; this cluster asks every connection for a password.
    let server = PrivatePostgres::start().await.unwrap_or_else(|e| panic!("private PostgreSQL: {e}"));
    let (right, wrong) = ("right-Pa55word-abc", "wrong-Pa55word-xyz");
    server.execute("CREATE ROLE agentry LOGIN PASSWORD 'right-Pa55word-abc'").await;
    server.execute("GRANT CREATE ON DATABASE postgres TO agentry").await;

    let uri = server.url("agentry", wrong);
    let error = memory_schema::connect(&uri, "agentry_memory", TIMEOUT).await.expect_err("wrong password");
    assert!(matches!(error, StoreError::AuthenticationFailed { .. }), "{error:?}");
    assert_eq!(error.reason(), "AuthenticationFailed");
    let (display, debug) = (error.to_string(), format!("{error:?}"));
    assert!(display.contains("password authentication failed for user \"agentry\""), "{display}");
    for text in [&display, &debug] {
        for secret in [wrong, right, uri.as_str()] {
            assert!(!text.contains(secret), "{secret:?} leaked: {text}");
        }
    }

    // The right password logs in, and the role can create and migrate its schema.
    let pool = memory_schema::connect(&server.url("agentry", right), "agentry_memory", TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("the right password is accepted: {e}\n{}", server.log()));
    let user: String = sqlx::query_scalar("SELECT current_user::text").fetch_one(&pool).await.expect("query");
    assert_eq!(user, "agentry");
    let report = memory_schema::migrate(&pool, "agentry_memory").await.expect("migrate");
    assert_eq!(report.applied, vec![1, 2, 3]);
    pool.close().await;
}

#[tokio::test]
async fn role_without_create_is_permission_denied_until_the_schema_is_given_to_it() {
    let mut scratch = Scratch::new("perm");
    let role = unique("limited");
    scratch.role = Some(role.clone());
    let admin = admin_pool().await;
    sqlx::query(AssertSqlSafe(format!("CREATE ROLE \"{role}\" LOGIN PASSWORD 'limited-password'")))
        .execute(&admin)
        .await
        .expect("create role");
    let uri = url_as(&role, "limited-password", None);
    let pool = memory_schema::connect(&uri, &scratch.schema, TIMEOUT).await.expect("connect as limited role");

    let error = memory_schema::migrate(&pool, &scratch.schema).await.expect_err("may not create schemas");
    assert_eq!(error.reason(), "PermissionDenied", "{error}");
    assert!(!error.to_string().contains("limited-password"));

    // A schema created for the role by an administrator is used as it is.
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA \"{}\" AUTHORIZATION \"{role}\"", scratch.schema)))
        .execute(&admin)
        .await
        .expect("create schema for role");
    let report = memory_schema::migrate(&pool, &scratch.schema).await.expect("migrate in own schema");
    assert_eq!(report.applied, vec![1, 2, 3]);
    pool.close().await;
}

#[tokio::test]
async fn missing_database_is_database_not_found() {
    let database = unique("nodb");
    let error =
        memory_schema::connect(&url_as("postgres", "pw-not-shown", Some(&database)), "agentry", TIMEOUT)
            .await
            .expect_err("no such database");
    assert!(
        matches!(&error, StoreError::DatabaseNotFound { database: d, .. } if *d == database),
        "{error:?}"
    );
    assert!(!error.to_string().contains("pw-not-shown"));
}

#[tokio::test]
async fn refused_port_is_unreachable_quickly() {
    // Bind and drop a listener to find a port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let started = Instant::now();
    let error = memory_schema::connect(
        &format!("postgres://agentry:hunter2-secret@127.0.0.1:{port}/fleet"),
        "agentry",
        Duration::from_secs(10),
    )
    .await
    .expect_err("refused");
    assert_eq!(error.reason(), "Unreachable", "{error}");
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    assert!(error.to_string().contains(&format!("127.0.0.1:{port}")), "{error}");
    assert!(!error.to_string().contains("hunter2-secret"));
}

#[tokio::test]
async fn silent_server_is_unreachable_after_the_timeout() {
    // Accepts TCP connections (the kernel completes the handshake) but never answers.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let started = Instant::now();
    let error = memory_schema::connect(
        &format!("postgres://agentry:pw@127.0.0.1:{port}/fleet"),
        "agentry",
        Duration::from_millis(500),
    )
    .await
    .expect_err("silent");
    assert_eq!(error.reason(), "Unreachable", "{error}");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    drop(listener);
}

#[tokio::test]
async fn unknown_host_is_unreachable() {
    let error =
        memory_schema::connect("postgres://u:secret-pw@no-such-host.invalid:5432/db", "agentry", TIMEOUT)
            .await
            .expect_err("unknown host");
    assert_eq!(error.reason(), "Unreachable", "{error}");
    assert!(!error.to_string().contains("secret-pw"));
}

#[tokio::test]
async fn invalid_uris_are_refused_without_echoing_them() {
    for uri in
        ["mysql://u:secret-pw@h/db", "postgres://u:secret-pw@h:notaport/db", "host=h password=secret-pw"]
    {
        let error = memory_schema::connect(uri, "agentry", TIMEOUT).await.expect_err(uri);
        assert_eq!(error.reason(), "InvalidConnectionUri", "{uri}: {error}");
        assert!(!error.to_string().contains("secret-pw"), "{error}");
    }
}

#[tokio::test]
async fn bad_schema_names_are_refused() {
    for schema in ["Bad", "a-b", "1x", "pg_temp_x", "x\"; DROP TABLE y; --", ""] {
        let error = memory_schema::connect(&admin_url(), schema, TIMEOUT).await.expect_err(schema);
        assert_eq!(error.reason(), "InvalidSchemaName", "{schema}");
    }
    let scratch = Scratch::new("badname");
    let pool = memory_schema::connect(&admin_url(), &scratch.schema, TIMEOUT).await.expect("connect");
    let error = memory_schema::migrate(&pool, "Bad-Name").await.expect_err("bad name");
    assert_eq!(error.reason(), "InvalidSchemaName");
}

#[tokio::test]
async fn pool_for_another_schema_is_not_migrated_into_the_wrong_place() {
    let scratch = Scratch::new("wrongpool");
    let other = Scratch::new("other");
    let pool = memory_schema::connect(&admin_url(), &other.schema, TIMEOUT).await.expect("connect");
    let error = memory_schema::migrate(&pool, &scratch.schema).await.expect_err("search_path mismatch");
    assert_eq!(error.reason(), "MigrationFailed", "{error}");
    let admin = admin_pool().await;
    assert!(tables_in(&admin, &scratch.schema).await.is_empty());
    assert!(tables_in(&admin, &other.schema).await.is_empty());
}

/// Serves one connection the way a PostgreSQL that wants a password does, refuses the password
/// with SQLSTATE 28P01, and returns the password the client sent.
fn password_refusing_server() -> (u16, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        let mut first = read_startup(&mut stream);
        // SSLRequest (code 80877103): say no, then the real startup message follows.
        if first.len() == 4 && first == 80_877_103u32.to_be_bytes() {
            stream.write_all(b"N").expect("ssl no");
            first = read_startup(&mut stream);
        }
        assert_eq!(&first[..4], &196_608u32.to_be_bytes(), "protocol 3.0 startup");
        // AuthenticationCleartextPassword.
        stream.write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3]).expect("ask for password");
        let mut tag = [0u8; 1];
        stream.read_exact(&mut tag).expect("password message");
        assert_eq!(tag[0], b'p');
        let body = read_body(&mut stream);
        let password = String::from_utf8_lossy(body.strip_suffix(&[0]).unwrap_or(&body)).into_owned();
        let mut fields = Vec::new();
        for (code, value) in [
            (b'S', "FATAL"),
            (b'V', "FATAL"),
            (b'C', "28P01"),
            (b'M', "password authentication failed for user \"agentry\""),
        ] {
            fields.push(code);
            fields.extend_from_slice(value.as_bytes());
            fields.push(0);
        }
        fields.push(0);
        let mut message = vec![b'E'];
        let length = u32::try_from(fields.len() + 4).expect("a short message");
        message.extend_from_slice(&length.to_be_bytes());
        message.extend_from_slice(&fields);
        stream.write_all(&message).expect("error response");
        password
    });
    (port, handle)
}

fn read_body(stream: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).expect("length");
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize - 4];
    stream.read_exact(&mut body).expect("body");
    body
}

fn read_startup(stream: &mut TcpStream) -> Vec<u8> {
    read_body(stream)
}

#[tokio::test]
async fn refused_password_is_an_authentication_failure_without_the_password() {
    let (port, server) = password_refusing_server();
    let password = "p@ss/w0rd with spaces";
    let encoded = "p%40ss%2Fw0rd%20with%20spaces";
    let uri = format!("postgres://agentry:{encoded}@127.0.0.1:{port}/fleet?sslmode=prefer");
    let error = memory_schema::connect(&uri, "agentry", TIMEOUT).await.expect_err("refused password");
    let sent = server.join().expect("server");
    assert_eq!(sent, password, "the client really sent the (decoded) password");

    assert!(matches!(error, StoreError::AuthenticationFailed { .. }), "{error:?}");
    let (display, debug) = (error.to_string(), format!("{error:?}"));
    assert!(display.contains("password authentication failed"), "{display}");
    assert!(display.contains(&format!("agentry@127.0.0.1:{port}/fleet")), "{display}");
    for text in [&display, &debug] {
        for secret in [password, encoded, uri.as_str()] {
            assert!(!text.contains(secret), "{secret:?} leaked: {text}");
        }
    }
}
