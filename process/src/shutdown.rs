//! The shutdown signal: what a pod receives when the kubelet stops it, or a developer's Ctrl-C.

/// Completes on SIGTERM (what the kubelet sends) or SIGINT.
pub async fn signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                // Without a SIGTERM handler the process still stops on SIGINT (and SIGTERM's default).
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = terminate => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn sigterm_completes_the_signal() {
        // Our own listener first: from then on SIGTERM is caught, never the default "terminate".
        let mut caught = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        let waiting = tokio::spawn(signal());
        // `signal()` only sees a SIGTERM sent after it starts listening, which this test cannot
        // observe: send one each round until it completes, within a deadline.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !waiting.is_finished() {
            assert!(tokio::time::Instant::now() < deadline, "SIGTERM never completed the signal");
            let sent = std::process::Command::new("kill")
                .args(["-TERM", &std::process::id().to_string()])
                .status()
                .expect("kill runs");
            assert!(sent.success());
            let _ = tokio::time::timeout(Duration::from_millis(100), caught.recv()).await;
        }
        waiting.await.expect("signal task");
    }
}
