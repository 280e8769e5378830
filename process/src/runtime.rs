//! The async runtime a binary's work runs on, and the exit code its outcome becomes.

use std::fmt::Display;
use std::future::Future;
use std::process::ExitCode;

/// Runs `work` on a multi-threaded runtime (`worker_threads` of them, or one per core) and
/// turns its outcome into the exit code, logging a failure (its whole `{:#}` chain) as
/// "`binary` stopped".
pub fn block_on<E: Display>(
    binary: &str,
    worker_threads: Option<usize>,
    work: impl Future<Output = Result<(), E>>,
) -> ExitCode {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = worker_threads {
        builder.worker_threads(threads);
    }
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!(error = %err, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(work) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "{binary} stopped");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outcome_is_the_exit_code() {
        let ran_on_the_runtime = async {
            // Only a runtime with its drivers gives a handle and timers.
            tokio::runtime::Handle::current();
            tokio::time::sleep(std::time::Duration::ZERO).await;
            Ok::<(), String>(())
        };
        assert_eq!(block_on("test", Some(1), ran_on_the_runtime), ExitCode::SUCCESS);
        assert_eq!(block_on("test", None, async { Err("broken".to_string()) }), ExitCode::FAILURE);
    }
}
