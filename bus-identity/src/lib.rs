//! NATS identities for Agentry (docs/security.md, "Identity on the bus").
//!
//! NATS decentralized authentication: an operator key vouches for the Agentry account, whose
//! signing key vouches for one user per identity (each Agent, and the platform processes
//! `_operator`, `_recorder`, `_api`). A user JWT carries that identity's subject permissions
//! ([`permissions`]), so the server enforces them and new identities need no server restart.
//!
//! This crate mints the keys ([`nkey`]), the JWTs ([`jwt`]), the `.creds` files ([`creds`]) and
//! the server's configuration ([`server_config`], [`bootstrap`]); and it turns a credentials
//! reference into async-nats `ConnectOptions` ([`connection`]) for every process that connects.

pub mod bootstrap;
pub mod claims;
pub mod connection;
pub mod creds;
pub mod issuer;
pub mod jwt;
pub mod nkey;
pub mod permissions;
pub mod server_config;

pub use claims::{AccountSpec, UserSpec};
pub use connection::{BusAuth, BusCredentials, BusUrl, CredentialArgs, CredentialsError};
pub use creds::UserCreds;
pub use issuer::UserIssuer;
pub use nkey::{KeyError, KeyRole, NKey};
pub use permissions::Permissions;
