//! Every kind of credentials a process can be given (always as files), against a real
//! nats-server configured for it: the right ones get in, the wrong ones and none are refused,
//! and no secret shows in an error.

use agentry_bus_identity::connection::{BusAuth, BusCredentials};
use agentry_bus_identity::{KeyRole, NKey};
use agentry_tests::secured_nats::SecuredNats;

/// A directory of secret files for one test.
struct Files(std::path::PathBuf);

impl Files {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("bus-credentials-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn write(&self, name: &str, text: &str) -> std::path::PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn connects(url: &str, credentials: BusCredentials) -> Result<(), String> {
    let auth = BusAuth::new(url, credentials, None);
    let client = auth.connect(async_nats::ConnectOptions::new()).await.map_err(|e| e.to_string())?;
    client.flush().await.map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_password_from_a_file_or_the_url_gets_in_and_a_wrong_one_does_not() {
    let nats =
        SecuredNats::start(r#"authorization { users: [ { user: "alice", password: "pw-correct-horse" } ] }"#)
            .await
            .unwrap();
    let files = Files::new("password");
    let good = BusCredentials::UserPassword {
        user: "alice".into(),
        password_file: files.write("pw", "pw-correct-horse\n"),
    };
    connects(&nats.url(), good).await.unwrap();
    let bad = BusCredentials::UserPassword {
        user: "alice".into(),
        password_file: files.write("bad", "pw-wrong-one"),
    };
    let err = connects(&nats.url(), bad).await.unwrap_err();
    assert!(err.to_lowercase().contains("authorization"), "{err}");
    assert!(!err.contains("pw-wrong-one"), "{err}");
    assert!(connects(&nats.url(), BusCredentials::None).await.is_err(), "no credentials got in");
    // The URL's own user:password is used, not passed to the server address, and never shown.
    let in_url = nats.url().replace("nats://", "nats://alice:pw-correct-horse@");
    connects(&in_url, BusCredentials::None).await.unwrap();
    let wrong_in_url = nats.url().replace("nats://", "nats://alice:pw-leaky@");
    let err = connects(&wrong_in_url, BusCredentials::None).await.unwrap_err();
    assert!(!err.contains("pw-leaky"), "{err}");
}

#[tokio::test]
async fn a_token_from_a_file_gets_in() {
    let nats = SecuredNats::start(r#"authorization { token: "tok-s3cret" }"#).await.unwrap();
    let files = Files::new("token");
    connects(&nats.url(), BusCredentials::TokenFile(files.write("token", "tok-s3cret"))).await.unwrap();
    let err =
        connects(&nats.url(), BusCredentials::TokenFile(files.write("bad", "tok-other"))).await.unwrap_err();
    assert!(!err.contains("tok-other"), "{err}");
}

#[tokio::test]
async fn an_nkey_seed_from_a_file_gets_in_and_a_wrong_seed_is_named_not_shown() {
    let user = NKey::generate(KeyRole::User);
    let nats =
        SecuredNats::start(&format!(r#"authorization {{ users: [ {{ nkey: "{}" }} ] }}"#, user.public_key()))
            .await
            .unwrap();
    let files = Files::new("nkey");
    let seed = user.seed().unwrap();
    connects(&nats.url(), BusCredentials::NkeySeedFile(files.write("user.nk", &seed))).await.unwrap();
    let other = NKey::generate(KeyRole::User).seed().unwrap();
    assert!(
        connects(&nats.url(), BusCredentials::NkeySeedFile(files.write("other.nk", &other))).await.is_err()
    );
    let account_seed = NKey::generate(KeyRole::Account).seed().unwrap();
    let err = connects(&nats.url(), BusCredentials::NkeySeedFile(files.write("acct.nk", &account_seed)))
        .await
        .unwrap_err();
    assert!(err.contains("acct.nk") && !err.contains(&account_seed), "{err}");
}
