//! The request context every service call carries: who acts, with which permissions,
//! over which institutions, at what time, under which request id.

use crate::clock::Clock;
use crate::error::{AppError, AppResult};
use std::collections::BTreeSet;
use std::sync::Arc;

/// What kind of principal acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    /// A person logged in to the web UI.
    Account,
    /// An integration client using an OAuth bearer token.
    Client,
    /// The platform itself (jobs, CLI, seeding).
    System,
}

/// The principal behind a request.
#[derive(Debug, Clone)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: i64,
    pub login: String,
    pub display_name: String,
    /// Role codes held (in any institution).
    pub roles: Vec<String>,
    /// The institution the actor belongs to, if any.
    pub org_id: Option<i64>,
}

/// Data scope: the institutions whose data the actor may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The whole city.
    City,
    /// A set of institutions (one or more).
    Orgs(BTreeSet<i64>),
}

impl Scope {
    pub fn allows(&self, org_id: i64) -> bool {
        match self {
            Scope::City => true,
            Scope::Orgs(set) => set.contains(&org_id),
        }
    }

    /// The organisations for an `org_id IN (...)` filter, or `None` for the whole city.
    pub fn org_ids(&self) -> Option<Vec<i64>> {
        match self {
            Scope::City => None,
            Scope::Orgs(set) => Some(set.iter().copied().collect()),
        }
    }
}

/// Passed to every service call.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub actor: Actor,
    /// Permission -> scope where it is granted.
    pub grants: Arc<Vec<(String, Scope)>>,
    pub clock: Arc<dyn Clock>,
    pub request_id: String,
    pub client_addr: Option<String>,
}

impl RequestContext {
    /// The scope in which `permission` is held, or a 403 error.
    pub fn require(&self, permission: &str) -> AppResult<Scope> {
        self.scope_of(permission)
            .ok_or_else(|| AppError::forbidden(permission))
    }

    /// Union of the scopes of all grants of `permission`.
    pub fn scope_of(&self, permission: &str) -> Option<Scope> {
        let mut acc: Option<Scope> = None;
        for (p, s) in self.grants.iter() {
            if p != permission {
                continue;
            }
            acc = Some(match (acc, s) {
                (Some(Scope::City), _) | (_, Scope::City) => Scope::City,
                (Some(Scope::Orgs(mut a)), Scope::Orgs(b)) => {
                    a.extend(b.iter().copied());
                    Scope::Orgs(a)
                }
                (None, s) => s.clone(),
            });
        }
        acc
    }

    pub fn has(&self, permission: &str) -> bool {
        self.grants.iter().any(|(p, _)| p == permission)
    }

    /// Whether `permission` is held for institution `org_id`.
    pub fn has_for(&self, permission: &str, org_id: i64) -> bool {
        self.scope_of(permission).is_some_and(|s| s.allows(org_id))
    }

    /// The role to record in the audit log: the first role held.
    pub fn primary_role(&self) -> &str {
        self.actor.roles.first().map(String::as_str).unwrap_or("")
    }

    /// A context for the platform itself, with every permission city-wide.
    pub fn system(clock: Arc<dyn Clock>, what: &str) -> Self {
        let grants = crate::perm::all()
            .iter()
            .map(|(p, _)| (p.to_string(), Scope::City))
            .collect();
        Self {
            actor: Actor {
                kind: ActorKind::System,
                id: 0,
                login: format!("system:{what}"),
                display_name: "系统".into(),
                roles: vec!["system".into()],
                org_id: None,
            },
            grants: Arc::new(grants),
            clock,
            request_id: format!("sys-{what}"),
            client_addr: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;

    fn ctx(grants: Vec<(&str, Scope)>) -> RequestContext {
        let mut c = RequestContext::system(Arc::new(SystemClock), "t");
        c.grants = Arc::new(
            grants
                .into_iter()
                .map(|(p, s)| (p.to_string(), s))
                .collect(),
        );
        c
    }

    #[test]
    fn scope_is_union_of_grants_and_city_absorbs() {
        let a = Scope::Orgs([1].into());
        let b = Scope::Orgs([2].into());
        let c = ctx(vec![("x", a), ("x", b), ("y", Scope::City)]);
        assert_eq!(c.scope_of("x"), Some(Scope::Orgs([1, 2].into())));
        assert!(c.has_for("x", 2) && !c.has_for("x", 3));
        assert_eq!(c.scope_of("y"), Some(Scope::City));
        assert!(c.require("z").is_err());
    }
}
