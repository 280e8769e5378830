//! A PostgreSQL cluster of one test's own that asks for passwords (`scram-sha-256` for every
//! connection, unlike the shared test server, which trusts loopback logins): `initdb` in a
//! temporary directory, started on a free 127.0.0.1 port, stopped and removed when dropped.
//!
//! `initdb` refuses to run as root, so as root the cluster is made and run as the `postgres`
//! user (through `runuser`), as a packaged PostgreSQL is.
//!
//! Unlike the shared server, it can be stopped and started again ([`PrivatePostgres::stop`],
//! [`PrivatePostgres::revive`]) to test what a database outage does.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection};

/// How long the new cluster gets to accept logins.
const STARTUP: Duration = Duration::from_secs(60);
/// How often readiness is checked.
const POLL: Duration = Duration::from_millis(100);
/// The user that runs the cluster when the tests run as root.
const SERVICE_USER: &str = "postgres";

/// A running private cluster; its superuser is `postgres`.
pub struct PrivatePostgres {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    superuser_password: String,
    as_service_user: bool,
    /// Whether the server was last started rather than stopped.
    running: AtomicBool,
}

impl PrivatePostgres {
    /// Creates and starts a cluster; returns once the superuser can log in.
    pub async fn start() -> Result<Self, String> {
        let bin = bin_dir()?;
        let dir = std::env::temp_dir().join(format!("agentry-pg-{}", unique()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let as_service_user = std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let cluster = Self {
            dir,
            bin,
            port,
            superuser_password: format!("su-{}", &unique_hex()[..24]),
            as_service_user,
            running: AtomicBool::new(false),
        };
        cluster.init()?;
        cluster.wait_ready().await?;
        Ok(cluster)
    }

    /// A connection URI for `user` with `password` on database `postgres`.
    pub fn url(&self, user: &str, password: &str) -> String {
        format!("postgres://{user}:{password}@127.0.0.1:{}/postgres", self.port)
    }

    /// The superuser's connection URI.
    pub fn admin_url(&self) -> String {
        self.url("postgres", &self.superuser_password)
    }

    /// Runs one SQL statement as the superuser.
    pub async fn execute(&self, sql: &'static str) {
        let mut connection = PgConnection::connect(&self.admin_url())
            .await
            .unwrap_or_else(|e| panic!("superuser login to the private cluster: {e}"));
        sqlx::raw_sql(sql).execute(&mut connection).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        let _ = connection.close().await;
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn init(&self) -> Result<(), String> {
        let password_file = self.dir.join("superuser-password");
        std::fs::write(&password_file, &self.superuser_password)
            .map_err(|e| format!("writing {}: {e}", password_file.display()))?;
        if self.as_service_user {
            run(Command::new("chown").args(["-R", SERVICE_USER]).arg(&self.dir))?;
        }
        let mut initdb = self.command("initdb");
        initdb
            .arg("-D")
            .arg(self.data())
            .args(["-U", "postgres", "--auth=scram-sha-256", "--no-sync", "--no-locale", "-E", "UTF8"])
            .arg(format!("--pwfile={}", password_file.display()));
        run(&mut initdb)?;
        let settings = format!(
            "\nport = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nfsync = off\n",
            self.port,
            self.dir.display()
        );
        let conf = self.data().join("postgresql.conf");
        let mut text =
            std::fs::read_to_string(&conf).map_err(|e| format!("reading {}: {e}", conf.display()))?;
        text.push_str(&settings);
        std::fs::write(&conf, text).map_err(|e| format!("writing {}: {e}", conf.display()))?;
        let hba = std::fs::read_to_string(self.data().join("pg_hba.conf")).unwrap_or_default();
        if hba.lines().any(|l| !l.trim_start().starts_with('#') && l.split_whitespace().any(|w| w == "trust"))
        {
            return Err(format!("initdb left a trust rule in pg_hba.conf:\n{hba}"));
        }
        self.launch()
    }

    /// Starts the server on the existing data directory and port.
    fn launch(&self) -> Result<(), String> {
        // -W: do not wait here; readiness is polled with a deadline.
        let mut pg_ctl = self.command("pg_ctl");
        pg_ctl.arg("-D").arg(self.data()).arg("-l").arg(self.log_path()).args(["-W", "start"]);
        run(&mut pg_ctl)?;
        self.running.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Stops the server at once, as a crash would (`pg_ctl -m immediate`): open connections
    /// break, new ones are refused; the data stays for [`PrivatePostgres::revive`].
    pub fn stop(&self) -> Result<(), String> {
        let mut stop = self.command("pg_ctl");
        stop.arg("-D").arg(self.data()).args(["-m", "immediate", "-w", "stop"]);
        run(&mut stop)?;
        self.running.store(false, Ordering::SeqCst);
        Ok(())
    }

    /// Starts the stopped server again on the same data directory and port; returns once the
    /// superuser can log in.
    pub async fn revive(&self) -> Result<(), String> {
        self.launch()?;
        self.wait_ready().await
    }

    async fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP;
        loop {
            let error = match PgConnection::connect(&self.admin_url()).await {
                Ok(connection) => {
                    let _ = connection.close().await;
                    return Ok(());
                }
                Err(error) => error,
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "the private PostgreSQL did not accept logins within {STARTUP:?} ({error}); log:\n{}",
                    self.log()
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// A PostgreSQL program, run as the service user when the tests run as root.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if self.as_service_user {
            let mut command = Command::new("runuser");
            command.args(["-u", SERVICE_USER, "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if self.running.load(Ordering::SeqCst)
            && let Err(error) = self.stop()
        {
            eprintln!("stopping the private PostgreSQL: {error}");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The PostgreSQL programs: `AGENTRY_TEST_PG_BINDIR`, else `pg_config --bindir`, else the
/// Debian location of PostgreSQL 15.
fn bin_dir() -> Result<PathBuf, String> {
    let configured = std::env::var_os("AGENTRY_TEST_PG_BINDIR").map(PathBuf::from).or_else(|| {
        let output = Command::new("pg_config").arg("--bindir").output().ok()?;
        let dir = String::from_utf8(output.stdout).ok()?;
        output.status.success().then(|| PathBuf::from(dir.trim()))
    });
    let dir = configured.unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"));
    if Path::new(&dir).join("initdb").exists() {
        Ok(dir)
    } else {
        Err(format!("no initdb in {} (set AGENTRY_TEST_PG_BINDIR)", dir.display()))
    }
}

fn run(command: &mut Command) -> Result<(), String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running {:?}: {e}", command.get_program()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn unique() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Hex digits that differ from run to run: a password nobody guesses while the cluster lives.
fn unique_hex() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    let digest = Sha256::digest(format!("{nanos}-{}", unique()).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
