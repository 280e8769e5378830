//! Name patterns shared by the kinds' schemas.

/// An RFC 1123 DNS label: what an Agent's name, and every reference to an Agent, must be.
///
/// Agent names become NATS subject tokens (`agentry.<ns>.agent.<name>.query`), so `.`, `*`, `>`
/// and whitespace must never reach them; a DNS label excludes all four.
pub const DNS_LABEL_PATTERN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/// An RFC 1123 DNS subdomain: the names of Models, Tools, MemoryStores and Secrets.
pub const DNS_SUBDOMAIN_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// A key of a Secret's `data`.
pub const SECRET_KEY_PATTERN: &str = r"^[-._a-zA-Z0-9]+$";
