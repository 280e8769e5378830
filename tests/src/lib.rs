//! End-to-end tests across crates, on devcluster with real NATS and PostgreSQL (DESIGN.md §7).
//! Empty until there are two crates to test together.
