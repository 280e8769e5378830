//! The `agentry` command line end to end, with the real binaries: the CLI reaches the API served
//! by the real operator through devcluster's service proxy, authenticated by ServiceAccount
//! tokens from TokenRequest and authorized by RBAC; the agents are real runners in simulated pods
//! answering with a scripted model, and the history is what the real recorder wrote.

mod access;
mod agentry;
mod ask;
mod chat;
mod dev;
mod world;
