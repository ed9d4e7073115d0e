//! Host helpers shared by the modules that change a node (socket_group, docker_install):
//! files written atomically, systemd control, users and groups, daemon.json editing and
//! checking a Unix socket's API as another user.
//!
//! Errors are plain messages in the form "verb object: cause" that name the file, unit or
//! user involved, except [`command::CommandError`], which also carries a command's stderr
//! and the unit's last journal lines for the caller to return as result keys.
//!
//! Everything here assumes a single-threaded process (the module runtime never starts a
//! thread that outlives a call): [`access`] forks.

pub mod access;
pub mod command;
pub mod daemon_json;
pub mod files;
pub mod shell;
pub mod systemd;
pub mod users;
