//! Organizations: create one (self-service, unless the operator turned it off), and who may act as the
//! instance operator.

use tlink_domain::{Plan, UserId};
use tlink_store::OrgRow;

use super::{Actor, OpError, OpResult};
use crate::AppState;

/// The operator actor for `user` when the user is an instance operator, else `None`.
pub async fn operator(state: &AppState, user: &UserId) -> OpResult<Option<Actor>> {
    let row = state.store.user_by_id(user).await?;
    Ok(row.filter(|u| u.is_operator).map(|u| Actor::Operator(Some(u.id))))
}

/// Creates an organization named `name` (trimmed), owned by `user`, on the FREE plan. With
/// `self_service_orgs = false` only instance operators may.
pub async fn create_org(state: &AppState, user: &UserId, name: &str) -> OpResult<OrgRow> {
    super::users::check_org_name(name).map_err(|m| OpError::field("name", m))?;
    if !state.config.self_service_orgs && operator(state, user).await?.is_none() {
        return Err(OpError::Forbidden("on this server only its operators create organizations".into()));
    }
    Ok(state.store.create_org(name.trim(), Plan::default(), user).await?)
}
