//! A child the API server refused to write, told apart from a failure worth retrying: a
//! refusal goes into the Agent's status and an Event, naming the child and the server's reason.

use agentry_crds::reasons;

use crate::reconciler::error::ReconcileError;

/// The API server's refusal to write one of the runner's objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The `Available` condition's reason: [`reasons::APPLY_REFUSED`] when the spec must change,
    /// [`reasons::CHILD_WRITE_REFUSED`] when the operator lacks a permission or an admission
    /// plugin forbids the write.
    pub reason: &'static str,
    /// Which child, and the API server's message.
    pub message: String,
}

/// Why writing a child failed.
#[derive(Debug)]
pub enum ChildWriteError {
    /// The API server refused it: retrying the same write cannot help.
    Refused(Refusal),
    /// Anything else (the API unreachable, a conflict): retried with backoff.
    Failed(ReconcileError),
}

impl ChildWriteError {
    /// Classifies the error of writing `kind` `name`.
    pub fn of(kind: &str, name: &str, err: ReconcileError) -> Self {
        let ReconcileError::Kube(kube::Error::Api(status)) = &err else { return Self::Failed(err) };
        let reason = match status.code {
            400 | 422 => reasons::APPLY_REFUSED,
            // RBAC, or OwnerReferencesPermissionEnforcement: "cannot set an ownerRef on a
            // resource you can't delete".
            403 => reasons::CHILD_WRITE_REFUSED,
            _ => return Self::Failed(err),
        };
        let message = format!("the API server refused to write {kind} {name:?}: {}", status.message);
        Self::Refused(Refusal { reason, message })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16, message: &str) -> ReconcileError {
        let status =
            serde_json::json!({"status": "Failure", "message": message, "reason": "x", "code": code});
        ReconcileError::Kube(kube::Error::Api(serde_json::from_value(status).expect("a Status")))
    }

    #[test]
    fn a_forbidden_child_write_names_the_child_and_the_servers_message() {
        let message =
            r#"configmaps "a-runner" is forbidden: cannot set an ownerRef on a resource you can't delete"#;
        let ChildWriteError::Refused(refusal) =
            ChildWriteError::of("ConfigMap", "a-runner", api_error(403, message))
        else {
            panic!("a 403 is a refusal")
        };
        assert_eq!(refusal.reason, "ChildWriteRefused");
        assert_eq!(
            refusal.message,
            format!("the API server refused to write ConfigMap \"a-runner\": {message}")
        );
    }

    #[test]
    fn an_invalid_child_is_a_spec_to_change_and_other_failures_are_retried() {
        let invalid = ChildWriteError::of("Deployment", "a", api_error(422, "spec.x: Invalid"));
        assert!(matches!(invalid, ChildWriteError::Refused(Refusal { reason: "ApplyRefused", .. })));
        for code in [409, 429, 500, 503] {
            let failed = ChildWriteError::of("Service", "a", api_error(code, "try again"));
            assert!(matches!(failed, ChildWriteError::Failed(_)), "{code} is retried");
        }
        let unreachable = ChildWriteError::of("Service", "a", ReconcileError::MissingMetadata("name"));
        assert!(matches!(unreachable, ChildWriteError::Failed(_)));
    }
}
