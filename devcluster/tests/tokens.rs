//! ServiceAccount tokens (TokenRequest), TokenReview and the admin token, checked against what
//! kube-apiserver answers
//! (https://kubernetes.io/docs/reference/access-authn-authz/authentication/#service-account-tokens).

use std::time::Duration;

use agentry_devcluster::DevCluster;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenReview};
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::api::{Api, DeleteParams, PostParams};
use kube::core::response::Status;
use serde_json::{Value, json};

/// The apiserver's own audience (kind and kubeadm clusters).
const API_AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";

fn refused<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn service_account(cluster: &DevCluster, name: &str) -> ServiceAccount {
    let api: Api<ServiceAccount> = Api::namespaced(cluster.client(), "default");
    let account: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": name}})).expect("sa");
    api.create(&PostParams::default(), &account).await.expect("service account created")
}

/// A token for ServiceAccount `default/name`, with `spec` as given.
async fn request_token(cluster: &DevCluster, name: &str, spec: Value) -> Result<TokenRequest, kube::Error> {
    let api: Api<ServiceAccount> = Api::namespaced(cluster.client(), "default");
    let request: TokenRequest = serde_json::from_value(json!({"spec": spec})).expect("token request");
    api.create_token_request(name, &PostParams::default(), &request).await
}

/// The `status` of a TokenReview of `token` for `audiences`.
async fn review(cluster: &DevCluster, token: &str, audiences: &[&str]) -> Value {
    let api: Api<TokenReview> = Api::all(cluster.client());
    let review: TokenReview =
        serde_json::from_value(json!({"spec": {"token": token, "audiences": audiences}})).expect("review");
    let answer = api.create(&PostParams::default(), &review).await.expect("review answered");
    serde_json::to_value(answer.status).expect("json")
}

fn token_of(request: &TokenRequest) -> String {
    request.status.as_ref().map(|s| s.token.clone()).unwrap_or_default()
}

#[tokio::test]
async fn service_account_tokens_authenticate_as_their_account_for_their_audiences() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let account = service_account(&cluster, "api").await;
    let uid = account.metadata.uid.clone().unwrap_or_default();

    // expirationSeconds defaults to an hour; the audiences asked for are kept.
    let issued =
        request_token(&cluster, "api", json!({"audiences": ["agentry"]})).await.expect("token issued");
    assert_eq!(issued.spec.audiences, vec!["agentry".to_owned()]);
    assert_eq!(issued.spec.expiration_seconds, Some(3600));
    let expiry = issued.status.as_ref().map(|s| s.expiration_timestamp.0.as_second()).unwrap_or_default();
    let in_an_hour = jiff::Timestamp::now().as_second() + 3600;
    assert!((expiry - in_an_hour).abs() < 60, "expires at {expiry}, not in an hour");
    let token = token_of(&issued);

    // The ServiceAccount's user: its username, uid and groups, for the audience asked.
    let status = review(&cluster, &token, &["agentry"]).await;
    assert_eq!(status["authenticated"], true, "{status}");
    assert_eq!(status["user"]["username"], "system:serviceaccount:default:api");
    assert_eq!(status["user"]["uid"], uid);
    assert_eq!(
        status["user"]["groups"],
        json!(["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"])
    );
    assert_eq!(status["audiences"], json!(["agentry"]));
    // Several audiences asked: the answer names those the token is for.
    let status = review(&cluster, &token, &["other", "agentry"]).await;
    assert_eq!(status["audiences"], json!(["agentry"]), "{status}");

    // Audiences disjoint from the token's are refused, and so is the apiserver's own (what a
    // review naming no audiences asks for).
    let status = review(&cluster, &token, &["other"]).await;
    assert_eq!(status["authenticated"], false, "{status}");
    assert_eq!(
        status["error"],
        r#"[invalid bearer token, token audiences ["agentry"] is invalid for the target audiences ["other"]]"#
    );
    let status = review(&cluster, &token, &[]).await;
    assert_eq!(
        status["error"],
        format!(
            r#"[invalid bearer token, token audiences ["agentry"] is invalid for the target audiences ["{API_AUDIENCE}"]]"#
        )
    );

    // A token requested for no audience is for the apiserver's.
    let default = request_token(&cluster, "api", json!({})).await.expect("token issued");
    assert_eq!(default.spec.audiences, vec![API_AUDIENCE.to_owned()]);
    let status = review(&cluster, &token_of(&default), &[]).await;
    assert_eq!(status["authenticated"], true, "{status}");
    assert_eq!(status["audiences"], json!([API_AUDIENCE]));

    // Tokens are not guessable: a random string is no one.
    let status = review(&cluster, "not-a-token", &[]).await;
    assert_eq!(status["authenticated"], false);
    assert_eq!(status["error"], "invalid bearer token");
}

#[tokio::test]
async fn token_requests_are_refused_as_the_apiserver_refuses_them() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    service_account(&cluster, "api").await;

    let status = refused(request_token(&cluster, "ghost", json!({})).await);
    assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));
    assert_eq!(status.message, r#"serviceaccounts "ghost" not found"#);

    let status = refused(request_token(&cluster, "api", json!({"expirationSeconds": 599})).await);
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        status.message,
        r#"TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes"#
    );

    // A TokenReview needs a token.
    let api: Api<TokenReview> = Api::all(cluster.client());
    let empty: TokenReview = serde_json::from_value(json!({"spec": {"token": ""}})).expect("review");
    let status = refused(api.create(&PostParams::default(), &empty).await);
    assert_eq!(
        (status.code, status.message.as_str()),
        (400, "token is required for TokenReview in authentication")
    );
}

#[tokio::test]
async fn tokens_expire_a_minute_after_their_expiry() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    service_account(&cluster, "api").await;
    let issued = request_token(&cluster, "api", json!({"expirationSeconds": 600})).await.expect("issued");
    let token = token_of(&issued);

    // kube-apiserver allows a minute of clock skew past `exp`.
    cluster.advance_token_clock(Duration::from_secs(630));
    assert_eq!(review(&cluster, &token, &[]).await["authenticated"], true);
    cluster.advance_token_clock(Duration::from_secs(31));
    let status = review(&cluster, &token, &[]).await;
    assert_eq!(status["authenticated"], false, "{status}");
    assert_eq!(status["error"], "[invalid bearer token, service account token has expired]");
}

#[tokio::test]
async fn deleting_the_service_account_invalidates_its_tokens() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let first = service_account(&cluster, "api").await;
    let token = token_of(&request_token(&cluster, "api", json!({})).await.expect("issued"));
    assert_eq!(review(&cluster, &token, &[]).await["authenticated"], true);

    let api: Api<ServiceAccount> = Api::namespaced(cluster.client(), "default");
    api.delete("api", &DeleteParams::default()).await.expect("deleted");
    let status = review(&cluster, &token, &[]).await;
    assert_eq!(status["authenticated"], false);
    assert_eq!(status["error"], r#"[invalid bearer token, serviceaccounts "api" not found]"#);

    // An account of the same name made again is another account: the old token stays refused.
    let second = service_account(&cluster, "api").await;
    let status = review(&cluster, &token, &[]).await;
    let (old, new) = (first.metadata.uid.unwrap_or_default(), second.metadata.uid.unwrap_or_default());
    assert_eq!(
        status["error"],
        format!("[invalid bearer token, service account UID ({new}) does not match claim ({old})]")
    );
}

#[tokio::test]
async fn the_admin_token_is_in_the_kubeconfig_and_authenticates_a_master() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let token = cluster.admin_token().to_owned();
    assert!(token.len() >= 40, "a short admin token: {} characters", token.len());
    let kubeconfig = std::fs::read_to_string(cluster.kubeconfig_path()).expect("kubeconfig");
    assert!(kubeconfig.contains(&format!("token: {token}")), "{kubeconfig}");

    let status = review(&cluster, &token, &[]).await;
    assert_eq!(status["authenticated"], true, "{status}");
    assert_eq!(status["user"]["username"], "devcluster-admin");
    assert_eq!(status["user"]["groups"], json!(["system:masters", "system:authenticated"]));
    assert_eq!(status["audiences"], json!([API_AUDIENCE]));
    // A static token is for the apiserver only: a review for another audience refuses it.
    let status = review(&cluster, &token, &["agentry"]).await;
    assert_eq!(
        (status["authenticated"].clone(), status["error"].clone()),
        (json!(false), json!("invalid bearer token"))
    );
}

#[tokio::test]
async fn tokens_bound_to_a_pod_live_as_long_as_the_pod() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    service_account(&cluster, "runner").await;
    let pods: Api<Pod> = Api::namespaced(cluster.client(), "default");
    let pod = |name: &str, account: &str| -> Pod {
        serde_json::from_value(json!({"metadata": {"name": name},
            "spec": {"serviceAccountName": account, "containers": [{"name": "runner", "image": "agentry-runner"}]}}))
        .expect("pod")
    };
    let runner = pods.create(&PostParams::default(), &pod("runner-0", "runner")).await.expect("pod created");
    pods.create(&PostParams::default(), &pod("other-0", "default")).await.expect("pod created");
    let bound_to = |kind: &str, api_version: &str, name: &str| json!({"boundObjectRef": {"apiVersion": api_version, "kind": kind, "name": name}});

    let issued = request_token(&cluster, "runner", bound_to("Pod", "v1", "runner-0")).await.expect("issued");
    assert_eq!(issued.spec.bound_object_ref.as_ref().and_then(|r| r.name.as_deref()), Some("runner-0"));
    let token = token_of(&issued);
    let status = review(&cluster, &token, &[]).await;
    assert_eq!(status["authenticated"], true, "{status}");
    let extra = &status["user"]["extra"];
    assert_eq!(extra["authentication.kubernetes.io/pod-name"], json!(["runner-0"]));
    assert_eq!(
        extra["authentication.kubernetes.io/pod-uid"],
        json!([runner.metadata.uid.unwrap_or_default()])
    );
    assert!(
        extra["authentication.kubernetes.io/credential-id"][0]
            .as_str()
            .is_some_and(|id| id.starts_with("JTI="))
    );

    // A pod of another account, or an object that cannot hold tokens, is refused.
    let status = refused(request_token(&cluster, "runner", bound_to("Pod", "v1", "other-0")).await);
    assert_eq!(
        (status.code, status.message.as_str()),
        (
            400,
            r#"cannot bind token for serviceaccount "runner" to pod running with serviceaccount "default""#
        )
    );
    let status =
        refused(request_token(&cluster, "runner", bound_to("Deployment", "apps/v1", "runner")).await);
    assert_eq!(
        (status.code, status.message.as_str()),
        (400, "cannot bind token to object of type apps/v1, Kind=Deployment")
    );

    // The pod gone, the token is refused though unexpired.
    pods.delete("runner-0", &DeleteParams::default()).await.expect("deleted");
    let status = review(&cluster, &token, &[]).await;
    assert_eq!(status["authenticated"], false, "{status}");
    assert_eq!(status["error"], "[invalid bearer token, service account token has been invalidated]");
}
