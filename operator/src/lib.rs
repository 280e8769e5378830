//! The Agentry operator: controllers that turn Agentry manifests into running agents, its HTTP
//! API and metrics (DESIGN.md §3). Empty until the controllers land.
