//! NATS JWTs (version 2): `base64url(header).base64url(claims).base64url(signature)`, no padding,
//! the header `{"typ":"JWT","alg":"ed25519-nkey"}`, signed by the issuer's NKey.
//!
//! The claims carry `jti` (base32 without padding of the SHA-512/256 of the standard claims, as
//! nats-io/jwt computes it), `iat`, `iss` (the signer's public key), `name`, `sub` (the public key
//! the JWT is about) and `nats` (the type-specific part, with `type` and `version: 2`).

use data_encoding::{BASE32_NOPAD, BASE64URL_NOPAD};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512_256};

use crate::nkey::{self, NKey};

/// The JWT header NATS expects for NKey-signed claims.
const HEADER: &str = r#"{"typ":"JWT","alg":"ed25519-nkey"}"#;

/// Why a JWT could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    /// The claims could not be serialized.
    #[error("serializing JWT claims: {0}")]
    Serialize(#[from] serde_json::Error),
    /// Signing failed.
    #[error(transparent)]
    Key(#[from] nkey::KeyError),
    /// The text is not three base64url parts holding JSON.
    #[error("not a NATS JWT: {0}")]
    Malformed(&'static str),
    /// The signature does not match the issuer's key.
    #[error("the JWT's signature does not verify with its issuer {issuer}")]
    BadSignature {
        /// The claimed issuer.
        issuer: String,
    },
}

/// The standard claims, in the order nats-io/jwt serializes them (for the `jti` hash).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct StandardClaims {
    /// Unique id: hash of the other standard claims.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub jti: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Issuer's public key.
    pub iss: String,
    /// A human name.
    pub name: String,
    /// Subject's public key.
    pub sub: String,
}

#[derive(Serialize, Deserialize)]
struct Claims<N> {
    #[serde(flatten)]
    standard: StandardClaims,
    nats: N,
}

/// Encodes and signs claims about `subject` named `name`, issued by `issuer` at `issued_at`
/// (Unix seconds), with the type-specific `nats` part.
pub fn encode<N: Serialize>(
    issuer: &NKey,
    subject: &str,
    name: &str,
    issued_at: i64,
    nats: &N,
) -> Result<String, JwtError> {
    let mut standard = StandardClaims {
        jti: String::new(),
        iat: issued_at,
        iss: issuer.public_key(),
        name: name.to_string(),
        sub: subject.to_string(),
    };
    standard.jti = BASE32_NOPAD.encode(&Sha512_256::digest(serde_json::to_vec(&standard)?));
    let claims = serde_json::to_vec(&Claims { standard, nats })?;
    let signed = format!("{}.{}", BASE64URL_NOPAD.encode(HEADER.as_bytes()), BASE64URL_NOPAD.encode(&claims));
    let signature = issuer.sign(signed.as_bytes())?;
    Ok(format!("{signed}.{}", BASE64URL_NOPAD.encode(&signature)))
}

/// The standard claims and `nats` part of `jwt`, once its signature verifies with its `iss`.
pub fn decode(jwt: &str) -> Result<(StandardClaims, serde_json::Value), JwtError> {
    let mut parts = jwt.trim().split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed("expected three dot-separated parts"));
    };
    let header: serde_json::Value = serde_json::from_slice(&base64(header)?)?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("ed25519-nkey") {
        return Err(JwtError::Malformed("the header's alg is not ed25519-nkey"));
    }
    let decoded: Claims<serde_json::Value> = serde_json::from_slice(&base64(claims)?)?;
    let signed = &jwt.trim()[..header_and_claims_len(jwt.trim())];
    if !nkey::verify(&decoded.standard.iss, signed.as_bytes(), &base64(signature)?) {
        return Err(JwtError::BadSignature { issuer: decoded.standard.iss });
    }
    Ok((decoded.standard, decoded.nats))
}

fn base64(part: &str) -> Result<Vec<u8>, JwtError> {
    BASE64URL_NOPAD.decode(part.as_bytes()).map_err(|_| JwtError::Malformed("a part is not base64url"))
}

fn header_and_claims_len(jwt: &str) -> usize {
    jwt.rfind('.').unwrap_or(jwt.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nkey::KeyRole;

    #[test]
    fn encoded_jwts_have_the_nats_shape_and_verify() {
        let operator = NKey::generate(KeyRole::Operator);
        let jwt = encode(
            &operator,
            &operator.public_key(),
            "op",
            1_700_000_000,
            &serde_json::json!({"type": "operator", "version": 2}),
        )
        .unwrap();
        let header = jwt.split('.').next().unwrap();
        assert_eq!(BASE64URL_NOPAD.decode(header.as_bytes()).unwrap(), HEADER.as_bytes());
        assert!(!jwt.contains('='));
        let (standard, nats) = decode(&jwt).unwrap();
        assert_eq!(standard.iss, operator.public_key());
        assert_eq!(standard.jti.len(), 52, "base32 of 32 bytes without padding");
        assert_eq!(nats["version"], 2);
        let mut forged = jwt.clone();
        forged.replace_range(jwt.len() - 3.., "AAA");
        assert!(decode(&forged).is_err());
    }
}
