//! Members: who belongs to the organization, with their role and when they joined. Owners and admins add
//! an existing user by e-mail, change roles and remove members (only owners give or touch the OWNER role;
//! the last owner stays); everyone may leave. Also where a user creates another organization. Every change
//! goes through `ops::members` and `ops::orgs`, the operations behind `/api/orgs/{orgId}/members` and
//! `POST /api/orgs`, which refuse what the page does not offer.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use tlink_domain::{Role, UserId};
use tlink_store::MemberRow;

use super::form::CsrfForm;
use super::page::{Chrome, FieldErrors, Nav, PageQuery, Time, WebError, render, render_status, see_other};
use super::session::OrgSession;
use crate::AppState;
use crate::http::pagination;
use crate::ops::members::{NO_SUCH_USER, grantable_roles, may_manage};
use crate::ops::users::MAX_ORG_NAME;
use crate::ops::{FieldError, OpError};

const FLASHES: &[(&str, &str)] = &[
    ("added", "Member added."),
    ("role", "Role changed."),
    ("removed", "Member removed: they no longer have access to this organization."),
];

/// A role as people read it.
pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::Owner => "Owner",
        Role::Admin => "Admin",
        Role::Member => "Member",
        Role::Viewer => "Viewer",
    }
}

/// A role offered in a select.
#[derive(Debug, PartialEq, Eq)]
pub struct RoleChoice {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

/// `roles` as the options of a select, `selected` chosen.
pub fn choices(roles: &[Role], selected: Role) -> Vec<RoleChoice> {
    roles.iter().map(|r| RoleChoice { value: r.as_str(), label: role_label(*r), selected: *r == selected }).collect()
}

/// What a reader with role `actor` may do to a member with role `target` (`you`: the reader's own row):
/// the roles they may give, and whether a Remove button is shown (your own row has Leave instead).
pub fn controls(actor: Role, target: Role, you: bool) -> (&'static [Role], bool) {
    if may_manage(actor, target) { (grantable_roles(actor), !you) } else { (&[], false) }
}

/// A member as the table shows them, with the controls the reader may use on the row.
pub struct MemberItem {
    pub user_id: String,
    pub email: String,
    pub name: Option<String>,
    pub role: &'static str,
    pub joined: Time,
    /// The reader's own row (Leave).
    pub you: bool,
    /// The roles the reader may give this member; empty: no role control.
    pub roles: Vec<RoleChoice>,
    pub removable: bool,
}

fn item(s: &OrgSession, m: MemberRow) -> MemberItem {
    let you = m.user_id == *s.user_id();
    let (roles, removable) = controls(s.role(), m.role, you);
    MemberItem {
        user_id: m.user_id.to_string(),
        email: m.email,
        name: m.name,
        role: role_label(m.role),
        joined: Time::at(m.created_at),
        you,
        roles: choices(roles, m.role),
        removable,
    }
}

/// The form adding a member: its values, the roles offered, its errors.
pub struct Invite {
    pub email: String,
    pub roles: Vec<RoleChoice>,
    pub errors: FieldErrors,
}

impl Invite {
    fn blank(s: &OrgSession) -> Invite {
        let roles = choices(grantable_roles(s.role()), Role::Member);
        Invite { email: String::new(), roles, errors: FieldErrors::default() }
    }
}

/// The form creating an organization.
pub struct NewOrg {
    /// Whether the reader may (self-service is on, or they are an instance operator); the server checks
    /// again.
    pub allowed: bool,
    pub name: String,
    pub max: usize,
    pub errors: FieldErrors,
}

impl NewOrg {
    fn blank(state: &AppState, s: &OrgSession) -> NewOrg {
        NewOrg {
            allowed: state.config.self_service_orgs || s.session.user.is_operator,
            name: String::new(),
            max: MAX_ORG_NAME,
            errors: FieldErrors::default(),
        }
    }
}

#[derive(Template)]
#[template(path = "members/list.html")]
struct MembersPage {
    chrome: Chrome,
    base: String,
    /// The reader manages members (owner or admin): the add form is shown.
    manage: bool,
    owner: bool,
    items: Vec<MemberItem>,
    next: Option<String>,
    invite: Invite,
    new_org: NewOrg,
}

async fn page(
    state: &AppState,
    s: &OrgSession,
    q: &PageQuery,
    invite: Invite,
    new_org: NewOrg,
    problem: Option<String>,
) -> Result<MembersPage, WebError> {
    let mut chrome = Chrome::new(s, Nav::Members, "Members").flash(q.get("done"), FLASHES);
    if let Some(p) = problem {
        chrome = chrome.error(p);
    }
    let list = format!("web-members:{}", s.org_id());
    let (items, next) = match pagination::parse(&q.map(), &state.keys.cursor_key, &list, &[]) {
        Ok(params) => {
            let page = state.store.list_members(s.org_id(), &params.page).await?;
            let next = params.token(page.next).map(|t| q.with_token(&s.url("/members"), &t));
            (page.items.into_iter().map(|m| item(s, m)).collect(), next)
        }
        Err(e) => {
            chrome = chrome.error(format!("Cannot show this page: {e}"));
            (Vec::new(), None)
        }
    };
    Ok(MembersPage {
        chrome,
        base: s.url(""),
        manage: s.role().can_manage_members(),
        owner: s.role() == Role::Owner,
        items,
        next,
        invite,
        new_org,
    })
}

/// `GET /orgs/{org}/members?token=`.
pub async fn list(State(state): State<AppState>, s: OrgSession, q: PageQuery) -> Result<Response, WebError> {
    let p = page(&state, &s, &q, Invite::blank(&s), NewOrg::blank(&state, &s), None).await?;
    Ok(render(&p))
}

/// The add form's errors for an operation's refusal: no user with that address is the e-mail field's.
pub fn invite_errors(e: OpError) -> Result<FieldErrors, WebError> {
    match e {
        OpError::NotFound(what) if what == NO_SUCH_USER => Ok(FieldErrors {
            fields: vec![FieldError::new(
                "email",
                "no user has this e-mail address: they need a tlink account before they can be added",
            )],
            general: None,
        }),
        other => FieldErrors::from_op(other),
    }
}

/// `POST /orgs/{org}/members`: `email`, `role`.
pub async fn add(State(state): State<AppState>, s: OrgSession, CsrfForm(form): CsrfForm) -> Result<Response, WebError> {
    let email = form.get("email").unwrap_or("").to_string();
    let mut errors = FieldErrors::default();
    let role = match form.get("role").unwrap_or("").parse::<Role>() {
        Ok(role) => Some(role),
        Err(e) => {
            errors.fields.push(FieldError::new("role", e.to_string()));
            None
        }
    };
    if let Some(role) = role {
        match crate::ops::members::add_member(&state, &s.member(), &email, role).await {
            Ok(_) => return Ok(see_other(&s.url("/members?done=added"))),
            Err(e) => errors = invite_errors(e)?,
        }
    }
    let roles = choices(grantable_roles(s.role()), role.unwrap_or(Role::Member));
    let invite = Invite { email, roles, errors };
    let p = page(&state, &s, &PageQuery::default(), invite, NewOrg::blank(&state, &s), None).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &p))
}

/// The members page again with an operation's refusal at the top (the last owner, say); not found and
/// forbidden stay error pages.
async fn refused(state: &AppState, s: &OrgSession, e: OpError) -> Result<Response, WebError> {
    let errors = FieldErrors::from_op(e)?;
    let text = errors.general.unwrap_or_else(|| {
        errors.fields.iter().map(|f| format!("{}: {}", f.field, f.message)).collect::<Vec<_>>().join("; ")
    });
    let p = page(state, s, &PageQuery::default(), Invite::blank(s), NewOrg::blank(state, s), Some(text)).await?;
    Ok(render_status(StatusCode::CONFLICT, &p))
}

fn user_of(raw: &str) -> Result<UserId, WebError> {
    UserId::parse(raw).map_err(|_| WebError::NotFound)
}

/// `POST /orgs/{org}/members/{user}/role`: `role`.
pub async fn change_role(
    State(state): State<AppState>,
    s: OrgSession,
    Path((_, user)): Path<(String, String)>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, WebError> {
    let user = user_of(&user)?;
    let role = form
        .get("role")
        .and_then(|r| r.parse::<Role>().ok())
        .ok_or_else(|| WebError::BadRequest("choose one of the roles offered".into()))?;
    match crate::ops::members::change_role(&state, &s.member(), &user, role).await {
        Ok(_) => Ok(see_other(&s.url("/members?done=role"))),
        Err(e) => refused(&state, &s, e).await,
    }
}

/// `POST /orgs/{org}/members/{user}/remove`: remove a member, or leave (your own id), after which the
/// browser goes to another of your organizations.
pub async fn remove(
    State(state): State<AppState>,
    s: OrgSession,
    Path((_, user)): Path<(String, String)>,
    CsrfForm(_): CsrfForm,
) -> Result<Response, WebError> {
    let user = user_of(&user)?;
    let leaving = user == *s.user_id();
    match crate::ops::members::remove_member(&state, &s.member(), &user).await {
        Ok(()) if leaving => Ok(see_other("/")),
        Ok(()) => Ok(see_other(&s.url("/members?done=removed"))),
        Err(e) => refused(&state, &s, e).await,
    }
}

/// `POST /orgs/{org}/organizations`: `name`. Goes to the new organization's overview; refused with the
/// operation's message when only operators may create organizations.
pub async fn create_org(
    State(state): State<AppState>,
    s: OrgSession,
    CsrfForm(form): CsrfForm,
) -> Result<Response, WebError> {
    let name = form.get("name").unwrap_or("").to_string();
    let (status, errors) = match crate::ops::orgs::create_org(&state, s.user_id(), &name).await {
        Ok(org) => return Ok(see_other(&format!("/orgs/{}", org.id))),
        Err(OpError::Forbidden(m)) => (StatusCode::FORBIDDEN, FieldErrors { fields: Vec::new(), general: Some(m) }),
        Err(e) => (StatusCode::UNPROCESSABLE_ENTITY, FieldErrors::from_op(e)?),
    };
    let new_org = NewOrg { name, errors, ..NewOrg::blank(&state, &s) };
    let p = page(&state, &s, &PageQuery::default(), Invite::blank(&s), new_org, None).await?;
    Ok(render_status(status, &p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_follow_the_owner_rules() {
        let none: &[Role] = &[];
        // An owner may give every role to anyone, themself included, and removes others.
        assert_eq!(controls(Role::Owner, Role::Owner, false), (Role::ALL, true));
        assert_eq!(controls(Role::Owner, Role::Owner, true), (Role::ALL, false));
        // An admin leaves owners alone and never offers OWNER.
        assert_eq!(controls(Role::Admin, Role::Owner, false), (none, false));
        let (roles, removable) = controls(Role::Admin, Role::Viewer, false);
        assert!(removable && !roles.contains(&Role::Owner) && roles.contains(&Role::Admin), "{roles:?}");
        // Members and viewers manage no one.
        for actor in [Role::Member, Role::Viewer] {
            for target in Role::ALL {
                assert_eq!(controls(actor, *target, false), (none, false));
            }
        }
    }

    #[test]
    fn choices_mark_the_current_role() {
        let c = choices(&[Role::Admin, Role::Member], Role::Member);
        assert_eq!(
            c,
            [
                RoleChoice { value: "ADMIN", label: "Admin", selected: false },
                RoleChoice { value: "MEMBER", label: "Member", selected: true },
            ]
        );
        assert!(choices(&[], Role::Owner).is_empty());
    }

    #[test]
    fn an_unknown_address_is_the_email_fields_error() {
        let e = invite_errors(OpError::NotFound(NO_SUCH_USER)).expect("a form error");
        assert!(e.get("email").is_some_and(|m| m.contains("tlink account")), "{e:?}");
        assert!(e.general.is_none());
        let e = invite_errors(OpError::Conflict("this user is already a member".into())).expect("a form error");
        assert_eq!(e.general.as_deref(), Some("this user is already a member"));
        let e = invite_errors(OpError::field("email", "bad")).expect("a form error");
        assert_eq!(e.get("email"), Some("bad"));
        assert!(matches!(invite_errors(OpError::NotFound("member")), Err(WebError::NotFound)));
        assert!(matches!(invite_errors(OpError::Forbidden("no".into())), Err(WebError::Forbidden(_))));
    }
}
