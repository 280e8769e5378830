//! `agentry-nats-bootstrap --out DIR`: generates the NATS operator, system account, Agentry
//! account and its signing key, the nats-server configuration fragment, and the platform
//! identities' credentials (docs/security.md, "Identity on the bus").

use std::path::PathBuf;
use std::process::ExitCode;

use agentry_bus_identity::bootstrap::Bootstrap;
use clap::Parser;

/// Generates NATS decentralized-auth material for Agentry.
#[derive(Parser)]
#[command(name = "agentry-nats-bootstrap", version)]
struct Args {
    /// Directory to write into (created if missing); every file is written mode 0600.
    #[arg(long)]
    out: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let written = Bootstrap::generate()
        .map_err(|e| e.to_string())
        .and_then(|b| b.write(&args.out).map_err(|e| e.to_string()));
    match written {
        Ok(files) => {
            for file in files {
                println!("wrote {}", file.display());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("agentry-nats-bootstrap: {error}");
            ExitCode::FAILURE
        }
    }
}
