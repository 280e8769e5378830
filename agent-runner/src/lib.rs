//! The agent runner: the process in every agent pod that answers its NATS subject by running the
//! agent loop (DESIGN.md §4). Empty until the runner lands.
