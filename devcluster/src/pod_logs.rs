//! The output of simulated pods' processes, kept for the `pods/log` subresource (`kubectl logs`):
//! per pod, the current run's output and the previous run's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Keep at most this much output per container (older output is dropped, as log rotation would).
const MAX_BYTES: usize = 4 * 1024 * 1024;

/// One container's output, current run and previous run.
#[derive(Default)]
struct ContainerLog {
    current: Vec<u8>,
    previous: Vec<u8>,
}

/// Logs by (namespace, pod).
#[derive(Clone, Default)]
pub(crate) struct PodLogs {
    logs: Arc<Mutex<HashMap<(String, String), ContainerLog>>>,
}

impl PodLogs {
    fn lock(&self) -> MutexGuard<'_, HashMap<(String, String), ContainerLog>> {
        // A panic while appending leaves at worst a partial chunk of output; go on.
        self.logs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Append output of the pod's process.
    pub(crate) fn append(&self, namespace: &str, pod: &str, bytes: &[u8]) {
        let mut logs = self.lock();
        let log = logs.entry((namespace.to_owned(), pod.to_owned())).or_default();
        log.current.extend_from_slice(bytes);
        if log.current.len() > MAX_BYTES {
            let excess = log.current.len() - MAX_BYTES;
            log.current.drain(..excess);
        }
    }

    /// The process restarted: its output so far becomes the `previous` log.
    pub(crate) fn restarted(&self, namespace: &str, pod: &str) {
        let mut logs = self.lock();
        let log = logs.entry((namespace.to_owned(), pod.to_owned())).or_default();
        log.previous = std::mem::take(&mut log.current);
    }

    /// Forget a deleted pod's output.
    pub(crate) fn remove(&self, namespace: &str, pod: &str) {
        self.lock().remove(&(namespace.to_owned(), pod.to_owned()));
    }

    /// The log text of the current run (or the `previous` one), its last `tail_lines` if given.
    pub(crate) fn text(
        &self,
        namespace: &str,
        pod: &str,
        previous: bool,
        tail_lines: Option<usize>,
    ) -> String {
        let logs = self.lock();
        let Some(log) = logs.get(&(namespace.to_owned(), pod.to_owned())) else { return String::new() };
        let bytes = if previous { &log.previous } else { &log.current };
        let text = String::from_utf8_lossy(bytes).into_owned();
        match tail_lines {
            Some(n) => {
                let lines: Vec<&str> = text.lines().collect();
                let start = lines.len().saturating_sub(n);
                lines[start..].iter().map(|l| format!("{l}\n")).collect()
            }
            None => text,
        }
    }

    /// How many bytes of the current run's output are kept.
    pub(crate) fn current_len(&self, namespace: &str, pod: &str) -> usize {
        self.lock().get(&(namespace.to_owned(), pod.to_owned())).map_or(0, |l| l.current.len())
    }

    /// The current run's output from byte `seen` on, or `None` once that run is over (the
    /// process restarted, so its output moved to `previous`, or the pod went).
    pub(crate) fn output_since(&self, namespace: &str, pod: &str, seen: usize) -> Option<Vec<u8>> {
        match self.lock().get(&(namespace.to_owned(), pod.to_owned())) {
            Some(log) if log.current.len() >= seen => Some(log.current[seen..].to_vec()),
            _ => None,
        }
    }
}
