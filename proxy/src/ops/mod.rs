//! Running the appliance: `agent5 doctor` (what is wrong, and how to fix it),
//! zero-downtime upgrades (listener hand-over to a successor), ACME certificate
//! renewal, and systemd notifications.

pub mod acme;
pub mod doctor;
pub mod systemd;
pub mod upgrade;
