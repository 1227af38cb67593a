//! What a person may do: one list of permissions, and the four built-in roles as sets
//! of them (admins may add roles made of the same permissions). The matrix is in
//! `docs/accounts.md`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! permissions {
    ($($variant:ident => $name:literal, $doc:literal;)*) => {
        /// One thing a role may allow.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum Permission {
            $(#[doc = $doc] #[serde(rename = $name)] $variant,)*
        }

        impl Permission {
            pub const ALL: &'static [Permission] = &[$(Permission::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Permission::$variant => $name,)*
                }
            }
        }
    };
}

permissions! {
    ProspectsView => "prospects.view", "See prospects, their contacts and field definitions.";
    ProspectsEdit => "prospects.edit", "Edit, archive and opt out prospects; manage field definitions.";
    ProspectsImport => "prospects.import", "Upload prospects and deliveries; export them.";
    DncEdit => "dnc.edit", "Add to and import into the do-not-call list.";
    CallsView => "calls.view", "See calls, their timelines and transcripts, and the live list.";
    CallsPlace => "calls.place", "Place a call and hang one up.";
    RecordingsListen => "recordings.listen", "Play and download recordings.";
    MonitorListen => "monitor.listen", "Listen in to a live call.";
    MonitorTakeover => "monitor.takeover", "Take a live call over with a microphone.";
    MonitorWhisper => "monitor.whisper", "Whisper instructions to the agent on a live call.";
    StudioUse => "studio.use", "Talk to the agent in Agent Studio.";
    AgentsEdit => "agents.edit", "Create and change agent profiles.";
    CampaignsView => "campaigns.view", "See campaigns and their progress.";
    CampaignsEdit => "campaigns.edit", "Create and change campaigns.";
    CampaignsControl => "campaigns.control", "Start, pause, resume and stop campaigns.";
    UsersManage => "users.manage", "Add, disable and reset users; manage roles and tokens.";
    AuditView => "audit.view", "Read and export the audit log.";
    SystemView => "system.view", "See the appliance's status and readiness details.";
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no permission.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown permission {0:?}")]
pub struct UnknownPermission(pub String);

impl FromStr for Permission {
    type Err = UnknownPermission;

    fn from_str(s: &str) -> Result<Self, UnknownPermission> {
        Self::ALL
            .iter()
            .copied()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPermission(s.chars().take(64).collect()))
    }
}

/// A set of permissions, one bit each: what a signed-in person may do, checked on every
/// request without allocating.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Permissions(u32);

impl Permissions {
    pub fn all() -> Self {
        Self::from_iter(Permission::ALL.iter().copied())
    }

    fn bit(p: Permission) -> u32 {
        let i = Permission::ALL.iter().position(|x| *x == p).unwrap_or(31);
        1 << i
    }

    pub fn contains(self, p: Permission) -> bool {
        self.0 & Self::bit(p) != 0
    }

    /// Every permission of `self` is in `other`.
    pub fn is_subset(self, other: Self) -> bool {
        self.0 & !other.0 == 0
    }

    pub fn intersect(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// In the list's order.
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .iter()
            .copied()
            .filter(move |p| self.contains(*p))
    }
}

impl FromIterator<Permission> for Permissions {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        Self(iter.into_iter().fold(0, |acc, p| acc | Self::bit(p)))
    }
}

/// The roles every appliance has, from the least to the most allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinRole {
    Viewer,
    Operator,
    Supervisor,
    Admin,
}

impl BuiltinRole {
    pub const ALL: [Self; 4] = [Self::Viewer, Self::Operator, Self::Supervisor, Self::Admin];

    pub fn name(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Supervisor => "supervisor",
            Self::Admin => "admin",
        }
    }

    pub fn by_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }

    /// What the role allows: each role has everything the one below it has.
    pub fn permissions(self) -> Vec<Permission> {
        use Permission as P;
        let viewer = [
            P::ProspectsView,
            P::CallsView,
            P::CampaignsView,
            P::SystemView,
        ];
        let operator = [
            P::ProspectsEdit,
            P::ProspectsImport,
            P::DncEdit,
            P::CallsPlace,
            P::RecordingsListen,
            P::MonitorListen,
            P::StudioUse,
        ];
        let supervisor = [
            P::MonitorTakeover,
            P::MonitorWhisper,
            P::AgentsEdit,
            P::CampaignsEdit,
            P::CampaignsControl,
            P::AuditView,
        ];
        let mut out: Vec<Permission> = match self {
            Self::Viewer => viewer.to_vec(),
            Self::Operator => [&viewer[..], &operator[..]].concat(),
            Self::Supervisor => [&viewer[..], &operator[..], &supervisor[..]].concat(),
            Self::Admin => Permission::ALL.to_vec(),
        };
        out.sort();
        out
    }

    pub fn set(self) -> Permissions {
        self.permissions().into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_serialise_as_themselves() {
        assert_eq!(Permission::ALL.len(), 18);
        for p in Permission::ALL {
            assert_eq!(p.as_str().parse::<Permission>(), Ok(*p));
            assert_eq!(serde_json::to_value(p).expect("json"), p.as_str());
        }
        assert!("users.delete".parse::<Permission>().is_err());
    }

    #[test]
    fn sets_hold_what_they_were_built_from() {
        let viewer = BuiltinRole::Viewer.set();
        let admin = BuiltinRole::Admin.set();
        assert_eq!(admin, Permissions::all());
        assert!(viewer.is_subset(admin) && !admin.is_subset(viewer));
        assert!(viewer.contains(Permission::CallsView));
        assert!(!viewer.contains(Permission::UsersManage));
        assert_eq!(
            viewer.iter().collect::<Vec<_>>(),
            BuiltinRole::Viewer.permissions()
        );
        assert_eq!(viewer.intersect(admin), viewer);
    }

    #[test]
    fn each_role_has_everything_the_one_below_has_and_only_admin_manages_users() {
        for pair in BuiltinRole::ALL.windows(2) {
            let (lower, higher) = (pair[0].permissions(), pair[1].permissions());
            assert!(lower.iter().all(|p| higher.contains(p)), "{pair:?}");
            assert!(higher.len() > lower.len(), "{pair:?}");
        }
        assert_eq!(BuiltinRole::Admin.permissions(), {
            let mut all = Permission::ALL.to_vec();
            all.sort();
            all
        });
        for role in [
            BuiltinRole::Viewer,
            BuiltinRole::Operator,
            BuiltinRole::Supervisor,
        ] {
            assert!(
                !role.permissions().contains(&Permission::UsersManage),
                "{role:?}"
            );
        }
        assert!(!BuiltinRole::Operator
            .permissions()
            .contains(&Permission::MonitorTakeover));
        assert_eq!(
            BuiltinRole::by_name("supervisor"),
            Some(BuiltinRole::Supervisor)
        );
        assert_eq!(BuiltinRole::by_name("root"), None);
    }
}
