//! Starting runners against real NATS and a scripted model, and asking them questions: the
//! shared runner fixture of `agentry-tests` (whose `OneAgent` sets up the common one-runner
//! case in one call), with the runner binary cargo built for these tests.

use std::path::Path;

use agentry_protocol::RunnerConfig;
pub(crate) use agentry_tests::metrics_text::metric_value;
use agentry_tests::runner_fixture;
pub(crate) use agentry_tests::runner_fixture::{
    MODEL_KEY, MODEL_KEY_ENV, TEST_CALLER, ask, ask_agent, calculator, config, model, query_subject, send,
    send_as, send_raw,
};
use agentry_tests::runner_process::RunnerProcess;

/// The runner binary built by cargo for these tests.
pub(crate) fn runner_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_agentry-runner"))
}

/// Starts the runner binary with `config`, waiting until it is ready.
pub(crate) async fn start(config: &RunnerConfig) -> RunnerProcess {
    runner_fixture::start(runner_binary(), config).await
}
