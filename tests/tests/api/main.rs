//! The HTTP API end to end: served over real HTTP, authenticated and authorized by devcluster,
//! asking a real runner over NATS and reading what the real recorder wrote to PostgreSQL. Each
//! endpoint is checked on its happy path and on a bad request.

mod access;
mod agents;
mod history;
mod invoke;
mod memories;
mod sessions;
mod stream;
mod tasks;

use agentry_tests::binaries::{self, Binaries};

async fn binaries() -> &'static Binaries {
    tokio::task::spawn_blocking(binaries::built)
        .await
        .expect("the build task")
        .unwrap_or_else(|err| panic!("{err}"))
}
