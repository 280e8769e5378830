//! NATS and PostgreSQL must answer before anything starts. When one does not, and
//! `scripts/dev-services` of an Agentry checkout can be found (above the working directory or
//! the executable), it is run, as the tests' command runs it; otherwise the error says to.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

/// How long one connection attempt may take.
const CONNECT: Duration = Duration::from_secs(2);
/// The script that starts both, relative to a checkout.
const SCRIPT: &str = "scripts/dev-services";

/// Returns once both answer, or says which does not and what to do.
pub(crate) async fn ensure(nats_url: &str, database_url: &str) -> anyhow::Result<()> {
    let services = [("NATS", address(nats_url, 4222)?), ("PostgreSQL", address(database_url, 5432)?)];
    let silent = missing(&services).await;
    if silent.is_empty() {
        return Ok(());
    }
    let Some(script) = find_script() else {
        anyhow::bail!(
            "{} not answering: start them (scripts/dev-services in an Agentry checkout does) and run agentry dev again",
            silent.join(" and ")
        );
    };
    println!("agentry dev: {} not answering; running {}", silent.join(" and "), script.display());
    let status = tokio::process::Command::new(&script)
        .status()
        .await
        .with_context(|| format!("running {}", script.display()))?;
    anyhow::ensure!(status.success(), "{} failed ({status})", script.display());
    let still = missing(&services).await;
    anyhow::ensure!(
        still.is_empty(),
        "{} still not answering after {}",
        still.join(" and "),
        script.display()
    );
    Ok(())
}

/// `NAME at HOST:PORT` of each service that refuses a connection.
async fn missing(services: &[(&str, String)]) -> Vec<String> {
    let mut silent = Vec::new();
    for (name, address) in services {
        let connected = tokio::time::timeout(CONNECT, tokio::net::TcpStream::connect(address.as_str())).await;
        if !matches!(connected, Ok(Ok(_))) {
            silent.push(format!("{name} at {address}"));
        }
    }
    silent
}

/// `host:port` of a URL such as `nats://127.0.0.1:4222` or `postgres://user:pw@host/db`,
/// with `default_port` when it names none.
fn address(url: &str, default_port: u16) -> anyhow::Result<String> {
    let (_, rest) =
        url.split_once("://").with_context(|| format!("{} is not a URL (scheme://host…)", redact(url)))?;
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    anyhow::ensure!(!host_port.is_empty(), "{} names no host", redact(url));
    let has_port = host_port.rsplit_once(':').is_some_and(|(_, port)| port.parse::<u16>().is_ok());
    Ok(if has_port { host_port.to_string() } else { format!("{host_port}:{default_port}") })
}

/// The URL without what precedes `@` (a password), for messages.
fn redact(url: &str) -> String {
    let Some((_, host)) = url.rsplit_once('@') else {
        return url.to_string();
    };
    match url.split_once("://") {
        Some((scheme, _)) => format!("{scheme}://…@{host}"),
        None => format!("…@{host}"),
    }
}

fn find_script() -> Option<PathBuf> {
    let starts = [std::env::current_dir().ok(), std::env::current_exe().ok()];
    starts.into_iter().flatten().find_map(|start| above(&start))
}

fn above(start: &Path) -> Option<PathBuf> {
    start.ancestors().map(|dir| dir.join(SCRIPT)).find(|script| script.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_come_from_urls_with_default_ports() {
        assert_eq!(address("nats://127.0.0.1:4222", 4222).expect("nats"), "127.0.0.1:4222");
        assert_eq!(address("nats://localhost", 4222).expect("no port"), "localhost:4222");
        let pg = address("postgres://u:secret@db.local:6543/x?sslmode=disable", 5432).expect("pg");
        assert_eq!(pg, "db.local:6543");
        assert_eq!(address("postgres://postgres@127.0.0.1/postgres", 5432).expect("pg"), "127.0.0.1:5432");
    }

    #[test]
    fn a_bad_url_is_named_without_its_password() {
        let err = address("u:secret@host", 5432).expect_err("no scheme").to_string();
        assert!(err.contains("is not a URL") && !err.contains("secret"), "{err}");
    }

    #[tokio::test]
    async fn a_closed_port_is_reported_by_name_and_address() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let open = listener.local_addr().expect("addr").to_string();
        let closed = {
            let gone = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            gone.local_addr().expect("addr").to_string()
        };
        let silent = missing(&[("NATS", open), ("PostgreSQL", closed.clone())]).await;
        assert_eq!(silent, [format!("PostgreSQL at {closed}")]);
    }
}
