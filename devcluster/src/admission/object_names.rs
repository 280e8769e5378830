//! `metadata.name` rules, as `ValidateObjectMeta` checks them.

use crate::crd_schema::{CauseReason, FieldCause};
use crate::resources::ResourceDesc;

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

/// `metadata.name` must be a DNS subdomain (a DNS label for namespaces), as `ValidateObjectMeta` checks.
pub(crate) fn name_causes(desc: &ResourceDesc, name: &str) -> Vec<FieldCause> {
    let cause = |reason, message: String| vec![FieldCause { field: "metadata.name".into(), reason, message }];
    if name.is_empty() {
        return cause(
            CauseReason::FieldValueRequired,
            "Required value: name or generateName is required".into(),
        );
    }
    let label = desc.kind == "Namespace";
    let max = if label { 63 } else { 253 };
    let mut problems = Vec::new();
    if name.len() > max {
        problems.push(format!("must be no more than {max} characters"));
    }
    let valid_part = |part: &str| {
        !part.is_empty()
            && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !part.starts_with('-')
            && !part.ends_with('-')
    };
    let valid = if label { valid_part(name) } else { name.split('.').all(valid_part) };
    if !valid {
        problems.push(if label { LABEL_MSG } else { SUBDOMAIN_MSG }.to_owned());
    }
    problems
        .into_iter()
        .flat_map(|p| cause(CauseReason::FieldValueInvalid, format!("Invalid value: {name:?}: {p}")))
        .collect()
}
