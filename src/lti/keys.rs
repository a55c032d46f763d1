//! Lectern's signing keys as an LTI tool, published at `/lti/jwks` (platforms check what Lectern
//! signs against them: grade passback's client assertions, deep-linking responses). A key signs
//! for [`ROTATE_AFTER_SECS`]; then a new one is made, and the old one stays published for
//! [`KEEP_PUBLISHED_SECS`] more, so nothing it signed stops verifying at the switch.

use openidconnect::core::{CoreJsonWebKeySet, CoreRsaPrivateSigningKey};
use openidconnect::{JsonWebKeyId, PrivateSigningKey};
use rsa::pkcs1::{EncodeRsaPrivateKey, LineEnding};
use sqlx::AnyPool;

use super::{LtiError, store};
use crate::secrets::random_hex;

/// How long a key signs.
pub const ROTATE_AFTER_SECS: i64 = 90 * 24 * 3600;
/// How long a retired key stays published.
pub const KEEP_PUBLISHED_SECS: i64 = 30 * 24 * 3600;

/// The keys platforms should trust now: the signing key and any recently retired one. Makes the
/// first key, or the next one when the current is due for rotation.
pub async fn tool_jwks(pool: &AnyPool) -> Result<CoreJsonWebKeySet, LtiError> {
    let now = crate::clock::unix_seconds();
    let mut keys = store::tool_keys(pool, now - ROTATE_AFTER_SECS - KEEP_PUBLISHED_SECS).await?;
    let current = keys
        .first()
        .is_some_and(|(_, _, created)| now - created < ROTATE_AFTER_SECS);
    if !current {
        let pem = tokio::task::spawn_blocking(|| {
            rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
                .and_then(|key| Ok(key.to_pkcs1_pem(LineEnding::LF)?.to_string()))
        })
        .await
        .map_err(|e| LtiError::Invalid(format!("cannot make a key: {e}")))?
        .map_err(|e| LtiError::Invalid(format!("cannot make a key: {e}")))?;
        let kid = format!("lectern-{}", random_hex::<8>());
        store::insert_tool_key(pool, &kid, &pem, now).await?;
        tracing::info!(kid, "LTI: made a new tool signing key");
        keys.insert(0, (kid, pem, now));
    }
    let published = keys
        .iter()
        .filter_map(|(kid, pem, _)| {
            CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new(kid.clone()))).ok()
        })
        .map(|key| key.as_verification_key())
        .collect();
    Ok(CoreJsonWebKeySet::new(published))
}

/// A JWT with `claims`, signed RS256 by the current tool key (whose `kid` it names).
pub async fn sign(pool: &AnyPool, claims: &serde_json::Value) -> Result<String, LtiError> {
    use base64::Engine;
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::signature::{SignatureEncoding, Signer};
    tool_jwks(pool).await?;
    let Some((kid, pem, _)) =
        store::tool_keys(pool, crate::clock::unix_seconds() - ROTATE_AFTER_SECS)
            .await?
            .into_iter()
            .next()
    else {
        return Err(LtiError::Invalid("no current tool key".to_owned()));
    };
    let key = rsa::RsaPrivateKey::from_pkcs1_pem(&pem)
        .map_err(|e| LtiError::Invalid(format!("the tool key cannot be read: {e}")))?;
    let encode = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let header = serde_json::json!({ "alg": "RS256", "typ": "JWT", "kid": kid });
    let message = format!(
        "{}.{}",
        encode(header.to_string().as_bytes()),
        encode(claims.to_string().as_bytes())
    );
    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key);
    let signature = signer.sign(message.as_bytes()).to_vec();
    Ok(format!("{message}.{}", encode(&signature)))
}
