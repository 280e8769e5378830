//! The Tool controller: a Tool is `Ready` when the runner can run it; `usedBy` names its Agents.

pub mod check;
pub mod controller;
pub mod watch_mappers;
