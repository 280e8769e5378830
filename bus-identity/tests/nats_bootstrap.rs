//! `agentry-nats-bootstrap --out DIR` gives everything a nats-server and the platform need: the
//! server started with its configuration fragment lets each platform identity in with its
//! `.creds`, and users minted with the signing key it wrote.

use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;

use agentry_bus_identity::connection::{BusAuth, BusCredentials};
use agentry_bus_identity::{UserIssuer, permissions};
use agentry_tests::secured_nats::SecuredNats;

#[tokio::test]
async fn the_bootstrap_output_configures_a_server_that_admits_its_identities() {
    let dir = std::env::temp_dir().join(format!("nats-bootstrap-{}", std::process::id()));
    let output =
        Command::new(env!("CARGO_BIN_EXE_agentry-nats-bootstrap")).arg("--out").arg(&dir).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.lines().all(|l| l.starts_with("wrote ")), "only the files written: {stdout}");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        assert_eq!(entry.metadata().unwrap().permissions().mode() & 0o777, 0o600, "{:?}", entry.path());
    }
    let nats =
        SecuredNats::start(&std::fs::read_to_string(dir.join("nats-server.conf")).unwrap()).await.unwrap();
    for identity in ["_operator", "_recorder", "_api"] {
        let creds = BusCredentials::CredsFile(dir.join(format!("{identity}.creds")));
        let auth = BusAuth::new(&nats.url(), creds, Some(permissions::platform_inbox_prefix(identity)));
        let client = auth.connect(async_nats::ConnectOptions::new()).await.unwrap();
        // JetStream is on for the account: the platform's request is answered.
        client.request("$JS.API.INFO", "".into()).await.unwrap();
    }
    // The signing key it wrote mints users the server accepts.
    let account = std::fs::read_to_string(dir.join("account.pub")).unwrap();
    let seed = std::fs::read_to_string(dir.join("account-signing.seed")).unwrap();
    let issuer = UserIssuer::new(&account, &seed, "account-signing.seed").unwrap();
    std::fs::write(dir.join("x.creds"), issuer.mint_platform("_x").unwrap().render().unwrap()).unwrap();
    let auth = BusAuth::new(&nats.url(), BusCredentials::CredsFile(dir.join("x.creds")), None);
    auth.connect(async_nats::ConnectOptions::new()).await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
