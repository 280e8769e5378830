//! The nats-server configuration for operator mode with a memory resolver: the trusted operator,
//! the system account, and the account JWTs preloaded. Holds JWTs and public keys only.

use std::fmt::Write as _;

/// What a nats-server needs to trust Agentry's identities.
#[derive(Clone, Debug)]
pub struct OperatorMode {
    /// The operator JWT (inlined: nats-server accepts a JWT where it expects the file).
    pub operator_jwt: String,
    /// The system account's public key.
    pub system_account: String,
    /// Account public keys and their JWTs, the system account's included.
    pub accounts: Vec<(String, String)>,
}

impl OperatorMode {
    /// The configuration fragment: `operator`, `system_account`, `resolver: MEMORY` and
    /// `resolver_preload`.
    pub fn render(&self) -> String {
        let mut text = format!(
            "operator: \"{}\"\nsystem_account: {}\nresolver: MEMORY\nresolver_preload: {{\n",
            self.operator_jwt, self.system_account
        );
        for (account, jwt) in &self.accounts {
            // Writing to a String cannot fail.
            let _ = writeln!(text, "  {account}: \"{jwt}\"");
        }
        text.push_str("}\n");
        text
    }
}
