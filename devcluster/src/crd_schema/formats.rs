//! String formats kube-apiserver validates in CRD schemas (kube-openapi `strfmt.Default`, limited to
//! apiextensions' supported set), mapped to what the `jsonschema` crate checks.

use std::net::IpAddr;

/// The `jsonschema` format that checks a Kubernetes format, or `None` when it is not checked
/// (unknown formats are ignored, as the apiserver strips them before validating).
pub(crate) fn json_schema_format(format: &str) -> Option<&'static str> {
    // go-openapi matches format names with dashes removed: `date-time` == `datetime`.
    Some(match format.replace('-', "").as_str() {
        "datetime" => "date-time",
        "date" => "date",
        "email" => "email",
        "hostname" => "hostname",
        "ipv4" => "ipv4",
        "ipv6" => "ipv6",
        "uri" => "k8s-uri",
        "uuid" => "k8s-uuid",
        "uuid3" => "k8s-uuid3",
        "uuid4" => "k8s-uuid4",
        "uuid5" => "k8s-uuid5",
        "byte" => "k8s-byte",
        "cidr" => "k8s-cidr",
        "mac" => "k8s-mac",
        _ => return None,
    })
}

/// Whether a string has a format.
type FormatCheck = fn(&str) -> bool;

/// The custom formats [`json_schema_format`] names, with their checks.
pub(crate) const CUSTOM_FORMATS: [(&str, FormatCheck); 8] = [
    ("k8s-uri", is_request_uri),
    ("k8s-uuid", |s| is_uuid(s, None)),
    ("k8s-uuid3", |s| is_uuid(s, Some(b'3'))),
    ("k8s-uuid4", |s| is_uuid(s, Some(b'4'))),
    ("k8s-uuid5", |s| is_uuid(s, Some(b'5'))),
    ("k8s-byte", is_base64),
    ("k8s-cidr", is_cidr),
    ("k8s-mac", is_mac),
];

/// Go `url.ParseRequestURI`, roughly: an absolute URI (`scheme:…`) or an absolute path.
fn is_request_uri(s: &str) -> bool {
    if s.chars().any(|c| c.is_ascii_control() || c == ' ') {
        return false;
    }
    if s.starts_with('/') {
        return true;
    }
    let Some((scheme, _)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// `(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?V[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$`, V the version.
fn is_uuid(s: &str, version: Option<u8>) -> bool {
    let mut groups = Vec::with_capacity(5);
    let mut rest = s;
    for (i, len) in [8, 4, 4, 4, 12].into_iter().enumerate() {
        if i > 0 {
            rest = rest.strip_prefix('-').unwrap_or(rest);
        }
        let Some(group) = rest.get(..len) else {
            return false;
        };
        if !group.bytes().all(|b| b.is_ascii_hexdigit()) {
            return false;
        }
        groups.push(group.as_bytes());
        rest = &rest[len..];
    }
    if !rest.is_empty() {
        return false;
    }
    match version {
        None => true,
        Some(v) => {
            groups[2][0] == v
                && (v == b'3' || matches!(groups[3][0].to_ascii_lowercase(), b'8' | b'9' | b'a' | b'b'))
        }
    }
}

/// Go `base64.StdEncoding.DecodeString` succeeds (it skips line breaks).
fn is_base64(s: &str) -> bool {
    let data: Vec<u8> = s.bytes().filter(|b| !matches!(b, b'\r' | b'\n')).collect();
    if !data.len().is_multiple_of(4) {
        return false;
    }
    let padding = data.iter().rev().take_while(|b| **b == b'=').count();
    padding <= 2
        && data[..data.len() - padding].iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/'))
}

/// Go `net.ParseCIDR`: an address, `/`, and a prefix length that fits it.
fn is_cidr(s: &str) -> bool {
    let Some((ip, prefix)) = s.split_once('/') else {
        return false;
    };
    let Ok(ip) = ip.parse::<IpAddr>() else {
        return false;
    };
    let bits = if ip.is_ipv4() { 32 } else { 128 };
    !prefix.is_empty()
        && prefix.bytes().all(|b| b.is_ascii_digit())
        && prefix.parse::<u32>().is_ok_and(|p| p <= bits)
}

/// Go `net.ParseMAC`: 6, 8 or 20 octets as `xx:xx:…`, `xx-xx-…` or `xxxx.xxxx.…`.
fn is_mac(s: &str) -> bool {
    let hex = |g: &str, len: usize| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit());
    let sizes = |octets: usize| matches!(octets, 6 | 8 | 20);
    for separator in [':', '-'] {
        if s.contains(separator) {
            let groups: Vec<&str> = s.split(separator).collect();
            return sizes(groups.len()) && groups.iter().all(|g| hex(g, 2));
        }
    }
    let groups: Vec<&str> = s.split('.').collect();
    sizes(groups.len() * 2) && groups.iter().all(|g| hex(g, 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The apiserver accepts these forms (kube-openapi strfmt) and refuses the others.
    #[test]
    fn formats_accept_what_kubernetes_accepts() {
        assert!(is_uuid("6ba7b810-9dad-11d1-80b4-00c04fd430c8", None));
        assert!(is_uuid("6BA7B8109DAD11D180B400C04FD430C8", None));
        assert!(is_uuid("f47ac10b-58cc-4372-a567-0e02b2c3d479", Some(b'4')));
        assert!(!is_uuid("f47ac10b-58cc-4372-c567-0e02b2c3d479", Some(b'4')));
        assert!(!is_uuid("not-a-uuid", None));
        assert!(is_base64("aGVsbG8="));
        assert!(!is_base64("aGVsbG8"));
        assert!(is_cidr("10.0.0.0/8") && is_cidr("fd00::/64"));
        assert!(!is_cidr("10.0.0.0/33") && !is_cidr("10.0.0.0"));
        assert!(is_mac("00:00:5e:00:53:01") && is_mac("0000.5e00.5301"));
        assert!(!is_mac("00:00:5e:00:53"));
        assert!(is_request_uri("https://example.com/x") && is_request_uri("/v1/path"));
        assert!(!is_request_uri("example.com"));
    }
}
