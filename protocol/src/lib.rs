//! The contract between the agent runner, the operator and any NATS client: subjects, wire
//! messages, events and the runner's configuration (DESIGN.md §4–5). Empty until the runner lands.
