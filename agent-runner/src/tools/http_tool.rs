//! `http` tools: one HTTP request per call, built from a URL template, literal and secret
//! headers and the call's arguments.

use std::collections::BTreeMap;
use std::error::Error as _;
use std::fmt::Write as _;
use std::sync::Arc;

use agentry_protocol::runner_config::{HttpMethod, SecretHeader};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use serde_json::Value;

use super::address_policy::{AddressPolicy, refusal_in};
use super::arguments::shorten;
use super::tool_config::http_client;
use super::url_template::{UrlTemplate, append_query};
use super::{ToolConfigError, ToolError, ToolFailure};

/// Characters of an error response's body quoted back to the model.
const ERROR_EXCERPT_CHARS: usize = 500;
/// Secret values shorter than this are not redacted from text: masking every occurrence of a
/// two-letter string would garble responses while protecting nothing worth the name.
const MIN_REDACTED_LEN: usize = 4;
/// What replaces a secret value in text that goes to the model or the logs.
const REDACTED: &str = "[REDACTED]";

/// A configured HTTP tool.
pub(crate) struct HttpTool {
    method: Method,
    template: UrlTemplate,
    headers: HeaderMap,
    /// Secret header values (and their token part), to be masked in every text produced.
    secrets: Vec<String>,
    max_response_bytes: usize,
    /// Arguments go in the query string (GET, DELETE) rather than a JSON body.
    arguments_in_query: bool,
    /// The addresses this tool may reach; its client's resolver and redirect policy hold it too.
    policy: Arc<AddressPolicy>,
    /// This tool's own client: its resolver and redirect policy enforce `policy`.
    client: reqwest::Client,
}

impl std::fmt::Debug for HttpTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values are left out: some of them are secrets.
        f.debug_struct("HttpTool")
            .field("method", &self.method)
            .field("url", &self.template.text())
            .finish_non_exhaustive()
    }
}

/// The parts of an `http` tool definition.
pub(crate) struct HttpToolConfig<'a> {
    pub(crate) tool: &'a str,
    pub(crate) url: &'a str,
    pub(crate) method: HttpMethod,
    pub(crate) headers: &'a BTreeMap<String, String>,
    pub(crate) secret_headers: &'a [SecretHeader],
    pub(crate) max_response_bytes: usize,
    /// CIDRs of non-public networks the tool may reach.
    pub(crate) allow_private_networks: &'a [String],
    /// Hosts the tool may reach whatever their addresses.
    pub(crate) allowed_hosts: &'a [String],
}

impl HttpTool {
    /// Checks the definition and resolves the secret headers through `env`.
    pub(crate) fn new(
        config: HttpToolConfig<'_>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ToolConfigError> {
        let tool = config.tool;
        let method = match config.method {
            HttpMethod::Get => Method::GET,
            HttpMethod::Post => Method::POST,
            HttpMethod::Put => Method::PUT,
            HttpMethod::Patch => Method::PATCH,
            HttpMethod::Delete => Method::DELETE,
        };
        if config.max_response_bytes == 0 {
            return Err(ToolConfigError::Invalid {
                tool: tool.into(),
                reason: "maxResponseBytes must be at least 1".into(),
            });
        }
        let template = UrlTemplate::parse(config.url)
            .map_err(|reason| ToolConfigError::InvalidUrl { tool: tool.into(), reason })?;
        if !config.secret_headers.is_empty() && template.host_has_placeholder() {
            return Err(ToolConfigError::InvalidUrl {
                tool: tool.into(),
                reason: "a tool with secret headers cannot take its host from the model: the URL's \
                         host may not contain a {placeholder}"
                    .into(),
            });
        }
        let policy =
            AddressPolicy::new(config.allow_private_networks, config.allowed_hosts).map_err(|e| {
                ToolConfigError::Invalid { tool: tool.into(), reason: format!("allowPrivateNetworks: {e}") }
            })?;
        let policy = Arc::new(policy);

        let mut headers = HeaderMap::new();
        for (name, value) in config.headers {
            let header = header_name(tool, name)?;
            let value = HeaderValue::from_str(value).map_err(|_| ToolConfigError::InvalidHeader {
                tool: tool.into(),
                header: name.clone(),
                reason: "the value is not a valid HTTP header value".into(),
            })?;
            headers.insert(header, value);
        }
        let mut secrets = Vec::new();
        for secret in config.secret_headers {
            let header = header_name(tool, &secret.name)?;
            let missing = || ToolConfigError::MissingSecret {
                tool: tool.into(),
                header: secret.name.clone(),
                env: secret.env.clone(),
            };
            let raw = env(&secret.env).ok_or_else(missing)?;
            // Secrets written with `echo` or a text editor often end in a newline, which no
            // header may contain; it is never meant as part of the value.
            let text = raw.trim_end_matches(['\r', '\n']);
            if text.is_empty() {
                return Err(missing());
            }
            let mut value = HeaderValue::from_str(text).map_err(|_| ToolConfigError::InvalidHeader {
                tool: tool.into(),
                header: secret.name.clone(),
                reason: format!(
                    "the value of environment variable {} is not a valid HTTP header value",
                    secret.env
                ),
            })?;
            value.set_sensitive(true);
            headers.insert(header, value);
            secrets.push(text.to_string());
            // `Bearer <token>`: a server echoing only the token must not reveal it either.
            if let Some((_, token)) = text.rsplit_once(' ') {
                secrets.push(token.to_string());
            }
        }
        secrets.retain(|s| s.len() >= MIN_REDACTED_LEN);
        // Longest first, so a value is masked whole before any part of it.
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();

        let arguments_in_query = config.method.arguments_in_query();
        Ok(Self {
            method,
            template,
            headers,
            secrets,
            max_response_bytes: config.max_response_bytes,
            arguments_in_query,
            client: http_client(policy.clone())?,
            policy,
        })
    }

    /// Sends the request for `arguments` (already validated against the schema) and returns the
    /// response body, or an error whose text contains no secret.
    pub(crate) async fn call(&self, arguments: &Value) -> Result<String, ToolError> {
        self.send(arguments).await.map_err(|e| ToolError { message: self.redact(&e.message), ..e })
    }

    async fn send(&self, arguments: &Value) -> Result<String, ToolError> {
        let (mut url, rest) = self.template.expand(arguments).map_err(ToolError::invalid_arguments)?;
        let body = if self.arguments_in_query {
            let Value::Object(map) = rest else {
                return Err(ToolError::invalid_arguments(format!(
                    "{} tools take their arguments as a JSON object",
                    self.method
                )));
            };
            append_query(&mut url, &map);
            None
        } else {
            Some(rest)
        };
        if let Err(refused) = self.policy.check_url(&url) {
            return Err(ToolError { failure: ToolFailure::AddressRefused, message: refused.to_string() });
        }
        let mut request = self.client.request(self.method.clone(), url.clone()).headers(self.headers.clone());
        if let Some(body) = &body {
            request = request.json(body);
        }
        let shown = display_url(&url);

        let mut response = request.send().await.map_err(|e| self.send_failure(&shown, e))?;
        let status = response.status();
        let (body, truncated) = read_capped(&mut response, self.max_response_bytes).await.map_err(|e| {
            ToolError::error(format!("{} {shown}: reading the response failed: {}", self.method, describe(e)))
        })?;
        let text = text_of(&body, truncated);
        if !status.is_success() {
            let excerpt = shorten(self.redact(&text).trim(), ERROR_EXCERPT_CHARS);
            let mut message = format!("HTTP {status} from {} {shown}", self.method);
            if !excerpt.is_empty() {
                let _ = write!(message, ": {excerpt}");
            }
            return Err(ToolError::error(message));
        }
        let mut content = self.redact(&text);
        if truncated {
            let _ = write!(content, "\n[response truncated: it exceeded {} bytes]", self.max_response_bytes);
        }
        Ok(content)
    }

    /// A request that failed: an address refusal (by the resolver or on a redirect) says only
    /// that, under its own outcome; anything else names the cause.
    fn send_failure(&self, shown: &str, error: reqwest::Error) -> ToolError {
        if let Some(refused) = refusal_in(&error) {
            return ToolError { failure: ToolFailure::AddressRefused, message: refused.to_string() };
        }
        ToolError::error(format!("{} {shown} failed: {}", self.method, describe(error)))
    }

    /// `text` with every secret header value masked.
    fn redact(&self, text: &str) -> String {
        let mut text = text.to_string();
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), REDACTED);
            }
        }
        text
    }
}

fn header_name(tool: &str, name: &str) -> Result<HeaderName, ToolConfigError> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| ToolConfigError::InvalidHeader {
        tool: tool.into(),
        header: name.into(),
        reason: "not a valid HTTP header name".into(),
    })
}

/// The URL as shown in messages: without credentials or query string (which can be long and
/// repeats the model's own arguments).
fn display_url(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// An error with its causes, which reqwest keeps in the source chain (e.g. "connection refused").
fn describe(error: reqwest::Error) -> String {
    // The URL is shown by the caller, without credentials or query.
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            let _ = write!(text, ": {cause_text}");
        }
        source = cause.source();
    }
    text
}

/// Reads at most `cap` bytes of the body; the flag says whether more was left unread.
async fn read_capped(
    response: &mut reqwest::Response,
    cap: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = cap - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

/// The body as text; a multi-byte character cut by truncation is dropped rather than shown as
/// a replacement character.
fn text_of(body: &[u8], truncated: bool) -> String {
    match std::str::from_utf8(body) {
        Ok(text) => text.to_string(),
        Err(e) if truncated && e.error_len().is_none() => {
            String::from_utf8_lossy(&body[..e.valid_up_to()]).into_owned()
        }
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_urls_carry_no_credentials_or_query() {
        let url = Url::parse("https://user:pw@h/p?q=1#f").expect("url");
        assert_eq!(display_url(&url), "https://h/p");
    }

    #[test]
    fn truncated_text_drops_a_cut_character() {
        let body = "né".as_bytes();
        assert_eq!(text_of(&body[..2], true), "n");
        assert_eq!(text_of(body, false), "né");
    }

    #[test]
    fn secret_values_never_reach_messages() {
        let secret = [SecretHeader { name: "Authorization".into(), env: "TOKEN".into() }];
        let tool = HttpTool::new(
            HttpToolConfig {
                tool: "t",
                url: "http://h/",
                method: HttpMethod::Get,
                headers: &BTreeMap::new(),
                secret_headers: &secret,
                max_response_bytes: 10,
                allow_private_networks: &[],
                allowed_hosts: &[],
            },
            &|name| (name == "TOKEN").then(|| "Bearer s3cr3t-token\n".to_string()),
        )
        .expect("tool");
        assert_eq!(tool.redact("got Bearer s3cr3t-token"), "got [REDACTED]");
        assert_eq!(tool.redact("token=s3cr3t-token"), "token=[REDACTED]");
        assert!(!format!("{tool:?}").contains("s3cr3t"));
        assert_eq!(tool.headers.get("authorization").map(HeaderValue::is_sensitive), Some(true));
    }

    #[test]
    fn configuration_errors_name_the_variable_never_a_value() {
        let secret = [SecretHeader { name: "X-Api-Key".into(), env: "API_KEY".into() }];
        let no_headers = BTreeMap::new();
        let config = || HttpToolConfig {
            tool: "weather",
            url: "http://h/",
            method: HttpMethod::Get,
            headers: &no_headers,
            secret_headers: &secret,
            max_response_bytes: 10,
            allow_private_networks: &[],
            allowed_hosts: &[],
        };
        let err = HttpTool::new(config(), &|_| None).expect_err("missing");
        assert!(err.to_string().contains("API_KEY") && err.to_string().contains("weather"), "{err}");
        let err = HttpTool::new(config(), &|_| Some("bad\u{7f}value".into())).expect_err("invalid");
        assert!(err.to_string().contains("API_KEY") && !err.to_string().contains("bad"), "{err}");
    }
}
