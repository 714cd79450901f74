//! Roles of a tenant's members and what each may do: `owner` everything, `admin` everything except
//! changing or removing owners or making someone owner, `viewer` only reads. API tokens carry a role
//! too (their creator's, at creation).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A member's (or an API token's) role, ordered by power: `Viewer < Admin < Owner`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Admin,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// The role stored in a row; anything unknown reads as the least powerful one.
    pub fn from_db(text: &str) -> Role {
        match text {
            "owner" => Role::Owner,
            "admin" => Role::Admin,
            _ => Role::Viewer,
        }
    }

    /// Whether the role may change anything (every role but `viewer`).
    pub fn can_write(self) -> bool {
        self != Role::Viewer
    }

    /// Why a write of this role is refused.
    pub fn read_only_detail(self) -> String {
        format!("Your role ({self}) can only read; ask an owner or admin")
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// May a caller with role `actor` change (or, with `new` `None`, remove or reset the password of) a
/// member whose role is `target`, giving them `new`? `Err` says why not.
pub fn may_manage(actor: Role, target: Role, new: Option<Role>) -> Result<(), String> {
    if !actor.can_write() {
        return Err(actor.read_only_detail());
    }
    if actor < Role::Owner && target == Role::Owner {
        return Err(format!(
            "Your role ({actor}) cannot change or remove an owner; ask an owner"
        ));
    }
    if actor < Role::Owner && new == Some(Role::Owner) {
        return Err(format!(
            "Your role ({actor}) cannot make someone an owner; ask an owner"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_order() {
        for r in [Role::Viewer, Role::Admin, Role::Owner] {
            assert_eq!(Role::from_db(r.as_str()), r);
        }
        assert_eq!(Role::from_db("bogus"), Role::Viewer);
        assert!(Role::Viewer < Role::Admin && Role::Admin < Role::Owner);
        assert!(!Role::Viewer.can_write() && Role::Admin.can_write());
    }

    #[test]
    fn admins_cannot_touch_owners() {
        use Role::*;
        assert!(may_manage(Owner, Owner, Some(Viewer)).is_ok());
        assert!(may_manage(Owner, Viewer, Some(Owner)).is_ok());
        assert!(may_manage(Admin, Viewer, Some(Admin)).is_ok());
        assert!(may_manage(Admin, Admin, None).is_ok());
        assert!(may_manage(Admin, Owner, Some(Admin)).is_err());
        assert!(may_manage(Admin, Owner, None).is_err());
        assert!(may_manage(Admin, Viewer, Some(Owner)).is_err());
        assert!(may_manage(Viewer, Viewer, None).is_err());
    }
}
