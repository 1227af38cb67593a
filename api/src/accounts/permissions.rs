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
