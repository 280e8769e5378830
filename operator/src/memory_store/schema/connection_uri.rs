//! Reading a `postgres://` connection URI without ever repeating its secrets.

use std::fmt;

use sqlx::postgres::PgConnectOptions;

/// Where a connection goes, in words safe for logs, conditions and Events: user, host, port and
/// database, never the password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionTarget {
    /// The role logged in as.
    pub user: String,
    /// The host name, address or Unix socket directory.
    pub host: String,
    /// The TCP port (also names the socket file for Unix sockets).
    pub port: u16,
    /// The database; PostgreSQL defaults it to the user's name.
    pub database: String,
}

impl ConnectionTarget {
    /// The target of parsed connect options.
    pub fn of(options: &PgConnectOptions) -> Self {
        let host = match options.get_socket() {
            Some(socket) => socket.display().to_string(),
            None => options.get_host().to_string(),
        };
        let user = options.get_username().to_string();
        // PostgreSQL connects to the database named like the user when none is given.
        let database = options.get_database().map_or_else(|| user.clone(), str::to_string);
        Self { user, host, port: options.get_port(), database }
    }
}

impl fmt::Display for ConnectionTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}:{}/{}", self.user, self.host, self.port, self.database)
    }
}

/// The URI with its credentials removed: the password in the user-info part and any `password`
/// query parameter are dropped, the user name kept. Text that is not a `scheme://` URI yields a
/// placeholder, since there is no telling which part of it is secret.
///
/// A password must be percent-encoded in a URI; when it is not and holds an `@`, this errs on the
/// safe side and may drop more than the password, never less.
pub fn strip_credentials(uri: &str) -> String {
    let Some(parts) = UriParts::split(uri) else {
        return "<not a connection URI>".to_string();
    };
    let mut out = format!("{}://", parts.scheme);
    if let Some(user) = parts.user {
        out.push_str(user);
        out.push('@');
    }
    out.push_str(parts.host_and_rest_without_query);
    let kept: Vec<&str> =
        parts.query.split('&').filter(|pair| !pair.is_empty() && !is_password_pair(pair)).collect();
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    out
}

/// Scrubs the secrets of one connection URI out of any text before it is shown.
///
/// PostgreSQL's own messages never echo a password, and the messages of this module are built
/// from [`ConnectionTarget`]s; this is the second line of defence for text that comes from
/// libraries (I/O, TLS and configuration errors) whose wording is not under our control.
#[derive(Clone, Debug, Default)]
pub(crate) struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// Knows the password of `uri` (raw and percent-decoded, from the user info and from a
    /// `password` query parameter) and the URI itself.
    pub(crate) fn for_uri(uri: &str) -> Self {
        let mut secrets = vec![uri.to_string()];
        if let Some(parts) = UriParts::split(uri) {
            let from_query = parts
                .query
                .split('&')
                .filter(|pair| is_password_pair(pair))
                .filter_map(|pair| pair.split_once('=').map(|(_, value)| value));
            for raw in parts.password.into_iter().chain(from_query) {
                secrets.push(raw.to_string());
                secrets.push(percent_decode(raw));
                // Query values may also encode a space as `+`.
                secrets.push(percent_decode(&raw.replace('+', " ")));
            }
        }
        secrets.retain(|s| !s.is_empty());
        // Longest first, so a secret that contains another is removed whole.
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
        Self { secrets }
    }

    /// `text` with every known secret replaced by `***`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "***");
            }
        }
        out
    }
}

/// The pieces of `scheme://[user[:password]@]host[:port][/path][?query][#fragment]`.
struct UriParts<'a> {
    scheme: &'a str,
    user: Option<&'a str>,
    password: Option<&'a str>,
    /// Host, port and path: everything after the user info up to the query.
    host_and_rest_without_query: &'a str,
    /// The query without its `?`, fragment removed; empty when there is none.
    query: &'a str,
}

impl<'a> UriParts<'a> {
    fn split(uri: &'a str) -> Option<Self> {
        let (scheme, rest) = uri.split_once("://")?;
        if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) {
            return None;
        }
        // The last `@` ends the user info: an unencoded `@` in a password then stays on the
        // secret side. An `@` in the query would make this drop the host as well, which only
        // loses information, never leaks it.
        let (userinfo, after) = match rest.rfind('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            Some(info) => match info.split_once(':') {
                Some((user, password)) => (Some(user), Some(password)),
                None => (Some(info), None),
            },
            None => (None, None),
        };
        let without_fragment = after.split_once('#').map_or(after, |(before, _)| before);
        let (host_and_rest_without_query, query) =
            without_fragment.split_once('?').unwrap_or((without_fragment, ""));
        Some(Self {
            scheme,
            user: user.filter(|u| !u.is_empty()),
            password,
            host_and_rest_without_query,
            query,
        })
    }
}

fn is_password_pair(pair: &str) -> bool {
    let key = pair.split_once('=').map_or(pair, |(key, _)| key);
    key.eq_ignore_ascii_case("password")
}

/// Decodes `%XX` escapes; anything malformed is kept as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_is_stripped_and_user_kept() {
        assert_eq!(
            strip_credentials("postgres://agentry:s3cret@db.example:5432/fleet"),
            "postgres://agentry@db.example:5432/fleet"
        );
    }

    #[test]
    fn uri_without_credentials_is_unchanged() {
        assert_eq!(strip_credentials("postgresql://db:5432/fleet"), "postgresql://db:5432/fleet");
        assert_eq!(strip_credentials("postgres://agentry@db/fleet"), "postgres://agentry@db/fleet");
    }

    #[test]
    fn password_query_parameter_is_dropped_and_others_kept() {
        assert_eq!(
            strip_credentials("postgres://u@h/db?sslmode=require&password=hunter2&application_name=x"),
            "postgres://u@h/db?sslmode=require&application_name=x"
        );
        assert_eq!(strip_credentials("postgres://h/db?PASSWORD=hunter2"), "postgres://h/db");
    }

    #[test]
    fn unencoded_at_sign_in_password_does_not_leak() {
        let stripped = strip_credentials("postgres://u:p@ss@h:5432/db");
        assert_eq!(stripped, "postgres://u@h:5432/db");
        assert!(!stripped.contains("ss"));
    }

    #[test]
    fn fragment_is_dropped() {
        assert_eq!(strip_credentials("postgres://u:pw@h/db#frag"), "postgres://u@h/db");
    }

    #[test]
    fn text_that_is_not_a_uri_is_not_repeated() {
        let dsn = "host=db user=u password=hunter2";
        let stripped = strip_credentials(dsn);
        assert!(!stripped.contains("hunter2"));
        assert_eq!(stripped, "<not a connection URI>");
    }

    #[test]
    fn redactor_scrubs_raw_and_decoded_passwords_and_the_uri() {
        let uri = "postgres://u:p%40ss%20w0rd@h/db?password=q%2Bz";
        let redactor = Redactor::for_uri(uri);
        let text = format!("a {uri} b p%40ss%20w0rd c p@ss w0rd d q+z e q%2Bz");
        let scrubbed = redactor.scrub(&text);
        for secret in [uri, "p%40ss%20w0rd", "p@ss w0rd", "q+z", "q%2Bz"] {
            assert!(!scrubbed.contains(secret), "{secret} left in {scrubbed}");
        }
        assert!(scrubbed.starts_with("a *** b *** c *** d *** e ***"), "{scrubbed}");
    }

    #[test]
    fn percent_decoding_keeps_malformed_escapes() {
        assert_eq!(percent_decode("a%2Fb%zz%4"), "a/b%zz%4");
    }

    #[test]
    fn target_displays_without_password() {
        let options: PgConnectOptions =
            "postgres://agentry:s3cret@db.example:6543/fleet".parse().expect("valid URI");
        let target = ConnectionTarget::of(&options);
        assert_eq!(target.to_string(), "agentry@db.example:6543/fleet");
    }
}
