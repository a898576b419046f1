//! Members of an organization: add an existing user by e-mail, change a member's role, remove a member or
//! leave. Owners and admins manage members; a member may always remove themself (leave); only an owner
//! grants the OWNER role or changes or removes an owner; an organization keeps at least one owner (checked
//! by the store in the statement that makes the change, so two concurrent demotions cannot both pass).
//! Every change is recorded in the audit log (`member.added`, `member.role_changed`, `member.removed`).
//!
//! The `*_as` variants take the acting user spelled out ([`MemberRef`]) for the Threat Stack routes, whose
//! callers carry no plan; `remove_member_as` keeps those routes' own rules and wording.

use tlink_domain::{Role, UserId};
use tlink_store::{DbError, MemberChange, MemberRow};

use super::audit::{self, Change};
use super::{Member, MemberRef, OpError, OpResult};
use crate::AppState;

/// What [`OpError::NotFound`] names when no user has the e-mail address given to [`add_member`].
pub const NO_SUCH_USER: &str = "user with this email";
/// The refusal to leave an organization without an owner.
pub const LAST_OWNER: &str = "an organization must keep at least one owner";

/// Forbidden unless `role` may manage members (owner or admin).
pub fn require_manage(role: Role) -> OpResult<()> {
    if role.can_manage_members() {
        Ok(())
    } else {
        Err(OpError::Forbidden(format!("role {} may not manage this organization", role.as_str())))
    }
}

/// Only an owner may grant the OWNER role, or change or remove an owner. `target` is the member's role
/// now (`None`: a new member), `new` the role given (`None`: a removal).
pub fn check_owner_rules(actor: Role, target: Option<Role>, new: Option<Role>) -> OpResult<()> {
    let touches_owner = target == Some(Role::Owner) || new == Some(Role::Owner);
    if touches_owner && actor != Role::Owner {
        return Err(OpError::Forbidden("only an owner may grant or change the OWNER role".into()));
    }
    Ok(())
}

/// The roles `actor` may give, most privileged first: every role for an owner, all but OWNER for an
/// admin, none for members and viewers.
pub fn grantable_roles(actor: Role) -> &'static [Role] {
    match actor {
        Role::Owner => Role::ALL,
        Role::Admin => &[Role::Admin, Role::Member, Role::Viewer],
        Role::Member | Role::Viewer => &[],
    }
}

/// Whether `actor` may change the role of, or remove, a member whose role is `target` (leaving aside the
/// last-owner rule, which only the store can check).
pub fn may_manage(actor: Role, target: Role) -> bool {
    require_manage(actor).is_ok() && check_owner_rules(actor, Some(target), None).is_ok()
}

/// A membership change the store refused, as the operation's answer.
fn applied(change: MemberChange) -> OpResult<()> {
    match change {
        MemberChange::Done => Ok(()),
        MemberChange::NotFound => Err(OpError::NotFound("member")),
        MemberChange::LastOwner => Err(OpError::Conflict(LAST_OWNER.into())),
    }
}

fn change<'a>(action: &'a str, m: &'a MemberRow, summary: String) -> Change<'a> {
    Change {
        action,
        target_type: "member",
        target_id: m.user_id.as_str(),
        summary,
        detail: Some(serde_json::json!({"email": m.email, "role": m.role.as_str()})),
    }
}

/// Adds the existing user with e-mail address `email` to the member's organization as `role` (owners and
/// admins; only owners add owners).
pub async fn add_member(state: &AppState, member: &Member, email: &str, role: Role) -> OpResult<MemberRow> {
    add_member_as(state, MemberRef::from(member), email, role).await
}

/// [`add_member`], by `by`.
pub async fn add_member_as(state: &AppState, by: MemberRef<'_>, email: &str, role: Role) -> OpResult<MemberRow> {
    require_manage(by.role)?;
    check_owner_rules(by.role, None, Some(role))?;
    let email = super::users::normalize_email(email).map_err(|m| OpError::field("email", m))?;
    let user = state.store.user_by_email(&email).await?.ok_or(OpError::NotFound(NO_SUCH_USER))?;
    state.store.add_member(by.org_id, &user.id, role).await.map_err(|e| match e {
        DbError::Unique(_) => OpError::Conflict("this user is already a member".into()),
        other => other.into(),
    })?;
    let added = state.store.member(by.org_id, &user.id).await?.ok_or(OpError::NotFound("member"))?;
    let summary = format!("added {} as {}", added.email, added.role.as_str());
    audit::record_as(state, by.org_id, by.user_id, by.origin, change("member.added", &added, summary)).await;
    Ok(added)
}

/// Changes the role of member `user_id` to `role` (owners and admins; only owners touch the OWNER role;
/// the last owner stays one). Returns the member as changed.
pub async fn change_role(state: &AppState, member: &Member, user_id: &UserId, role: Role) -> OpResult<MemberRow> {
    require_manage(member.role)?;
    let org = &member.org_id;
    let current = state.store.member_role(org, user_id).await?.ok_or(OpError::NotFound("member"))?;
    check_owner_rules(member.role, Some(current), Some(role))?;
    applied(state.store.set_member_role(org, user_id, role).await?)?;
    let changed = state.store.member(org, user_id).await?.ok_or(OpError::NotFound("member"))?;
    let summary = format!("changed {}'s role from {} to {}", changed.email, current.as_str(), changed.role.as_str());
    audit::record(state, member, change("member.role_changed", &changed, summary)).await;
    Ok(changed)
}

/// Removes member `user_id` (owners and admins; only owners remove owners), or the member themself (they
/// leave, whatever their role). The last owner stays.
pub async fn remove_member(state: &AppState, member: &Member, user_id: &UserId) -> OpResult<()> {
    let leaving = *user_id == member.user_id;
    if !leaving {
        require_manage(member.role)?;
    }
    let org = &member.org_id;
    let current = state.store.member_role(org, user_id).await?.ok_or(OpError::NotFound("member"))?;
    if !leaving {
        check_owner_rules(member.role, Some(current), None)?;
    }
    let gone = state.store.member(org, user_id).await?;
    applied(state.store.remove_member(org, user_id).await?)?;
    if let Some(m) = gone {
        let summary = if leaving { format!("{} left", m.email) } else { format!("removed {}", m.email) };
        audit::record(state, member, change("member.removed", &m, summary)).await;
    }
    Ok(())
}

/// Removes member `user_id` as the Threat Stack routes always have: owners and admins only (leaving
/// included), an owner only by an owner, the last owner stays; the entry reads "removed `<email>`", without
/// detail.
pub async fn remove_member_as(state: &AppState, by: MemberRef<'_>, user_id: &UserId) -> OpResult<()> {
    require_manage(by.role)?;
    let current = state.store.member_role(by.org_id, user_id).await?.ok_or(OpError::NotFound("member"))?;
    if current == Role::Owner && by.role != Role::Owner {
        return Err(OpError::Forbidden("only an owner may remove an owner".into()));
    }
    let gone = state.store.member(by.org_id, user_id).await?;
    applied(state.store.remove_member(by.org_id, user_id).await?)?;
    let email = gone.map_or_else(|| user_id.to_string(), |m| m.email);
    let c = Change {
        action: "member.removed",
        target_type: "member",
        target_id: user_id.as_str(),
        summary: format!("removed {email}"),
        detail: None,
    };
    audit::record_as(state, by.org_id, by.user_id, by.origin, c).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_owners_and_admins_manage() {
        assert!(require_manage(Role::Owner).is_ok());
        assert!(require_manage(Role::Admin).is_ok());
        for r in [Role::Member, Role::Viewer] {
            let e = require_manage(r).expect_err("refused");
            let expected = format!("role {} may not manage this organization", r.as_str());
            assert!(matches!(&e, OpError::Forbidden(m) if *m == expected), "{e}");
        }
    }

    #[test]
    fn only_an_owner_touches_the_owner_role() {
        // Adding.
        assert!(check_owner_rules(Role::Owner, None, Some(Role::Owner)).is_ok());
        assert!(check_owner_rules(Role::Admin, None, Some(Role::Owner)).is_err());
        assert!(check_owner_rules(Role::Admin, None, Some(Role::Admin)).is_ok());
        // Changing: to or from OWNER.
        assert!(check_owner_rules(Role::Admin, Some(Role::Owner), Some(Role::Member)).is_err());
        assert!(check_owner_rules(Role::Admin, Some(Role::Member), Some(Role::Owner)).is_err());
        assert!(check_owner_rules(Role::Admin, Some(Role::Viewer), Some(Role::Member)).is_ok());
        assert!(check_owner_rules(Role::Owner, Some(Role::Owner), Some(Role::Admin)).is_ok());
        // Removing.
        assert!(check_owner_rules(Role::Admin, Some(Role::Owner), None).is_err());
        assert!(check_owner_rules(Role::Admin, Some(Role::Admin), None).is_ok());
        let e = check_owner_rules(Role::Admin, Some(Role::Owner), None).expect_err("refused");
        assert_eq!(e.to_string(), "only an owner may grant or change the OWNER role");
    }

    #[test]
    fn roles_given_follow_the_owner_rule() {
        assert_eq!(grantable_roles(Role::Owner), Role::ALL);
        assert_eq!(grantable_roles(Role::Admin), [Role::Admin, Role::Member, Role::Viewer]);
        assert!(grantable_roles(Role::Member).is_empty());
        assert!(grantable_roles(Role::Viewer).is_empty());
        for actor in Role::ALL {
            for given in grantable_roles(*actor) {
                assert!(require_manage(*actor).is_ok() && check_owner_rules(*actor, None, Some(*given)).is_ok());
            }
        }
    }

    #[test]
    fn who_may_manage_whom() {
        assert!(may_manage(Role::Owner, Role::Owner));
        assert!(may_manage(Role::Owner, Role::Viewer));
        assert!(!may_manage(Role::Admin, Role::Owner));
        assert!(may_manage(Role::Admin, Role::Admin));
        assert!(may_manage(Role::Admin, Role::Viewer));
        assert!(!may_manage(Role::Member, Role::Viewer));
        assert!(!may_manage(Role::Viewer, Role::Viewer));
    }

    #[test]
    fn store_refusals_become_errors() {
        assert!(applied(MemberChange::Done).is_ok());
        assert!(matches!(applied(MemberChange::NotFound), Err(OpError::NotFound("member"))));
        let e = applied(MemberChange::LastOwner).expect_err("refused");
        assert!(matches!(&e, OpError::Conflict(m) if m == LAST_OWNER), "{e}");
    }
}
