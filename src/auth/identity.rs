//! Accounts behind single sign-on and LTI: a provider's identity ([`IdentityKey`]) is linked to
//! one account, never matched by e-mail or user name. At each sign-in the provider's groups set the
//! role and cohort (the organisation's directory is the source of truth); an unknown identity gets
//! an account only when the portal creates accounts just in time.

use sqlx::AnyPool;

use super::{AuthError, Hasher, IdentityKey, Origin, Role, Session, open_session, password, store};

/// Who the provider says signed in, with what the portal's mapping made of their claims.
#[derive(Debug, Clone)]
pub struct ProviderIdentity {
    /// Whose subject, and which.
    pub key: IdentityKey,
    /// A user name to propose for a new account (preferred_username, else the e-mail's local part).
    pub username_hint: String,
    /// The role their groups give; `None` when the portal maps no groups to roles (an admin's
    /// choice of role then stands; new accounts are learners).
    pub role: Option<Role>,
    /// The cohort their claims give (`Some(None)`: none); `None` when the portal maps no cohort
    /// (an admin's choice stands).
    pub cohort: Option<Option<String>>,
    /// Whether an instructor role holds only for that cohort (an LTI role is its course's),
    /// rather than the whole portal (an organisation's directory group).
    pub staff_of_cohort_only: bool,
}

/// Signs in the account linked to `identity`, creating it first when `create` allows, with a
/// session `frame_ancestors` may frame (an LMS's launch; otherwise empty); returns the session
/// cookie's token and the session.
pub async fn sign_in_with_identity(
    pool: &AnyPool,
    hasher: &Hasher,
    identity: &ProviderIdentity,
    create: bool,
    frame_ancestors: Vec<String>,
) -> Result<(String, Session), AuthError> {
    let user = match store::find_identity(pool, &identity.key).await? {
        Some((_, false)) => return Err(AuthError::Deactivated),
        Some((user, true)) => {
            let cohort = identity.cohort.as_ref().map(Option::as_deref);
            let updated =
                store::apply_provider_mapping(pool, user.learner_id, identity.role, cohort).await?;
            let role = match identity.role {
                Some(role) if updated => role,
                Some(_) => {
                    tracing::warn!(
                        user = %user.username,
                        "single sign-on: the provider's groups no longer make this person an admin, but they are the last active admin; kept as admin"
                    );
                    user.role
                }
                None => user.role,
            };
            super::User { role, ..user }
        }
        None if create => create_linked(pool, hasher, identity).await?,
        None => return Err(AuthError::NotProvisioned),
    };
    if identity.staff_of_cohort_only && user.role == Role::Instructor {
        let cohort = identity.cohort.clone().flatten();
        store::add_staff_cohort(pool, user.learner_id, cohort.as_deref()).await?;
    }
    open_session(pool, user, frame_ancestors).await
}

/// Lets an LTI identity keep the account it was linked to before identities carried the
/// registration and deployment (keyed then by issuer and subject alone). Only for an issuer that a
/// single registered platform has: with two, either could be claiming the other's people.
pub async fn adopt_issuer_only_identity(
    pool: &AnyPool,
    key: &IdentityKey,
) -> Result<(), AuthError> {
    if store::adopt_issuer_only_identity(pool, key).await? {
        tracing::info!(
            issuer = %key.issuer,
            deployment = %key.deployment_id,
            "LTI: an identity linked by issuer alone now also names its registration and deployment"
        );
    }
    Ok(())
}

/// Links a new account to an identity (for `lectern user add --oidc-subject`): that person signs
/// in through the provider; the account has no usable password.
pub async fn create_linked_account(
    pool: &AnyPool,
    hasher: &Hasher,
    username: &str,
    role: Role,
    cohort: Option<&str>,
    identity: &IdentityKey,
) -> Result<super::User, AuthError> {
    super::valid_username(username)?;
    let unusable = hasher.hash(&password::generate()).await?;
    store::insert_account(
        pool,
        store::NewAccount {
            username,
            role,
            password_hash: &unusable,
            cohort: cohort.filter(|c| !c.is_empty()),
            origin: Origin::Sso,
            identity: Some(identity),
        },
    )
    .await
}

/// A first sign-in with accounts made just in time: a free user name from the hint.
async fn create_linked(
    pool: &AnyPool,
    hasher: &Hasher,
    identity: &ProviderIdentity,
) -> Result<super::User, AuthError> {
    let base: String = identity
        .username_hint
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "._@-".contains(*c))
        .take(56)
        .collect();
    let base = if base.is_empty() {
        "user".to_owned()
    } else {
        base
    };
    let mut username = base.clone();
    let mut n = 1;
    while store::username_taken(pool, &username).await? {
        n += 1;
        username = format!("{base}-{n}");
    }
    create_linked_account(
        pool,
        hasher,
        &username,
        identity.role.unwrap_or(Role::Learner),
        identity.cohort.clone().flatten().as_deref(),
        &identity.key,
    )
    .await
}
