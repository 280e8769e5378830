//! Readiness: whether a process should get traffic, as `/readyz` reports it.
//!
//! A [`Readiness`] is ready when it has at least one gate and every gate is open. Each part of a
//! process that readiness depends on holds its own [`ReadinessGate`] (the runner: connected to
//! NATS, subscribed; the operator: leading), so none needs to know about the others.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};

/// Gate counts shared by a readiness and its gates.
#[derive(Debug, Default)]
struct Gates {
    /// Gates made.
    total: AtomicUsize,
    /// Gates made and closed. Signed: two racing flips of one gate may briefly take it below
    /// zero (one gate's open counted before its close); it settles once both have landed.
    closed: AtomicIsize,
}

/// What `/readyz` reports; cheap to clone, every clone sees the same gates.
#[derive(Clone, Debug, Default)]
pub struct Readiness {
    gates: Arc<Gates>,
}

impl Readiness {
    /// A readiness with no gates yet, so not ready.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a gate, open or closed. A gate added later can make a ready process unready.
    #[must_use = "a gate dropped while closed keeps the process unready for good"]
    pub fn gate(&self, open: bool) -> ReadinessGate {
        // Counted as closed before it counts at all, so no reader sees a closed gate as open.
        if !open {
            self.gates.closed.fetch_add(1, Ordering::SeqCst);
        }
        self.gates.total.fetch_add(1, Ordering::SeqCst);
        ReadinessGate { gates: self.gates.clone(), open: Arc::new(AtomicBool::new(open)) }
    }

    /// Whether there is a gate and every gate is open.
    pub fn is_ready(&self) -> bool {
        self.gates.total.load(Ordering::SeqCst) > 0 && self.gates.closed.load(Ordering::SeqCst) == 0
    }
}

/// One condition of a [`Readiness`]; clones open and close the same gate.
#[derive(Clone, Debug)]
pub struct ReadinessGate {
    gates: Arc<Gates>,
    open: Arc<AtomicBool>,
}

impl ReadinessGate {
    /// Opens or closes the gate; setting the state it already has changes nothing.
    pub fn set(&self, open: bool) {
        let was_open = self.open.swap(open, Ordering::SeqCst);
        match (was_open, open) {
            (true, false) => {
                self.gates.closed.fetch_add(1, Ordering::SeqCst);
            }
            (false, true) => {
                self.gates.closed.fetch_sub(1, Ordering::SeqCst);
            }
            _ => {}
        }
    }

    /// Opens the gate.
    pub fn open(&self) {
        self.set(true);
    }

    /// Closes the gate.
    pub fn close(&self) {
        self.set(false);
    }

    /// Whether the gate is open.
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_gates_nothing_is_ready() {
        assert!(!Readiness::new().is_ready());
    }

    #[test]
    fn ready_only_while_every_gate_is_open() {
        let readiness = Readiness::new();
        let connected = readiness.gate(true);
        let serving = readiness.gate(false);
        assert!(!readiness.is_ready(), "serving is closed");
        serving.open();
        assert!(readiness.is_ready());
        connected.close();
        assert!(!readiness.is_ready(), "connected is closed");
        assert!(serving.is_open() && !connected.is_open());
        connected.open();
        assert!(readiness.is_ready());
    }

    #[test]
    fn setting_a_gate_twice_counts_once() {
        let readiness = Readiness::new();
        let gate = readiness.gate(false);
        gate.close();
        gate.open();
        assert!(readiness.is_ready(), "one close cancelled by one open");
        gate.open();
        gate.close();
        assert!(!readiness.is_ready(), "a second open did not bank an extra close");
        gate.open();
        assert!(readiness.is_ready());
    }

    #[test]
    fn clones_share_the_gate_and_the_readiness() {
        let readiness = Readiness::new();
        let gate = readiness.gate(false);
        let (seen_by, opened_by) = (readiness.clone(), gate.clone());
        opened_by.open();
        assert!(gate.is_open() && seen_by.is_ready());
    }

    #[test]
    fn a_closed_gate_added_later_makes_it_unready() {
        let readiness = Readiness::new();
        let _first = readiness.gate(true);
        assert!(readiness.is_ready());
        let second = readiness.gate(false);
        assert!(!readiness.is_ready());
        second.open();
        assert!(readiness.is_ready());
    }

    #[test]
    fn concurrent_flips_leave_the_count_consistent() {
        let readiness = Readiness::new();
        let gate = readiness.gate(false);
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let gate = gate.clone();
                std::thread::spawn(move || {
                    for n in 0..10_000 {
                        gate.set((n + i) % 2 == 0);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("thread");
        }
        gate.open();
        assert!(readiness.is_ready());
        gate.close();
        assert!(!readiness.is_ready());
    }
}
