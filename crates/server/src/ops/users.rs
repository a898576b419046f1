//! Users: creating one (with its first organization), and making one an instance operator.

use tlink_domain::OrgId;
use tlink_store::{DbError, NewUser, UserRow};

use super::{FieldError, OpError, OpResult};
use crate::AppState;

/// Shortest and longest password accepted.
pub const MIN_PASSWORD_LEN: usize = 8;
pub const MAX_PASSWORD_LEN: usize = 1024;
/// Longest organization name.
pub const MAX_ORG_NAME: usize = 200;

/// An e-mail address as accounts are keyed: parsed like an EMAIL asset, lower-cased.
pub fn normalize_email(raw: &str) -> Result<String, String> {
    let v = tlink_domain::parse(tlink_domain::AssetType::Email, raw).map_err(|e| e.to_string())?;
    Ok(v.value().to_lowercase())
}

/// An organization name: 1 to [`MAX_ORG_NAME`] characters once trimmed.
pub fn check_org_name(name: &str) -> Result<(), String> {
    let n = name.trim().chars().count();
    if n == 0 || n > MAX_ORG_NAME {
        return Err(format!("must be 1 to {MAX_ORG_NAME} characters"));
    }
    Ok(())
}

/// What a new user is made of.
#[derive(Debug, Clone)]
pub struct NewAccount<'a> {
    pub email: &'a str,
    pub password: &'a str,
    pub name: Option<String>,
    /// The name of an organization to create, owned by the user.
    pub org: Option<&'a str>,
    /// An instance operator (see [`set_operator`]).
    pub operator: bool,
}

/// Creates a user (and optionally a first organization it owns) after checking every input.
pub async fn create_user(state: &AppState, new: NewAccount<'_>) -> OpResult<(UserRow, Option<OrgId>)> {
    let mut errors = Vec::new();
    let email = normalize_email(new.email).map_err(|m| errors.push(FieldError::new("email", m))).ok();
    if new.password.chars().count() < MIN_PASSWORD_LEN || new.password.len() > MAX_PASSWORD_LEN {
        errors
            .push(FieldError::new("password", format!("must be {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} characters")));
    }
    if let Some(Err(m)) = new.org.map(check_org_name) {
        errors.push(FieldError::new("org", m));
    }
    let Some(email) = email.filter(|_| errors.is_empty()) else {
        return Err(OpError::Invalid(errors));
    };
    let password_hash = crate::credentials::hash_password(new.password.to_string()).await?;
    let user = NewUser { email, name: new.name, password_hash, is_operator: new.operator };
    state.store.create_user(user, new.org.map(str::trim)).await.map_err(|e| match e {
        DbError::Unique(_) => OpError::Conflict("a user with this email already exists".into()),
        other => other.into(),
    })
}

/// Makes the user with this e-mail address an instance operator, or not (the command line's
/// `tlink user set-operator`). Operators change organizations' plans and, when self-service is off, create
/// organizations.
pub async fn set_operator(state: &AppState, email: &str, operator: bool) -> OpResult<UserRow> {
    let email = normalize_email(email).map_err(|m| OpError::field("email", m))?;
    let mut user = state.store.user_by_email(&email).await?.ok_or(OpError::NotFound("user"))?;
    if !state.store.set_operator(&user.id, operator).await? {
        return Err(OpError::NotFound("user"));
    }
    user.is_operator = operator;
    tracing::info!(user = %user.id, operator, "operator role changed");
    Ok(user)
}
