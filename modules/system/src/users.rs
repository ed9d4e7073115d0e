//! Users and groups from the local databases.
//!
//! The binaries are static musl executables: lookups read /etc/passwd and /etc/group
//! directly (no NSS modules), which is what CI nodes use for their local users.

use std::ffi::CString;

use nix::unistd::{Gid, Group, Uid, User};

/// True when the process runs as root (effective uid 0).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A user account and the groups the group database gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    /// The primary group (from passwd): every login session has it.
    pub gid: u32,
    /// Every group a new login would get: the primary group plus the supplementary groups
    /// listing the user in the group database.
    pub groups: Vec<u32>,
}

/// A group: its name, gid and the users listed as its supplementary members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// The account called `name`; `Ok(None)` when there is none.
pub fn user(name: &str) -> Result<Option<Account>, String> {
    let found = User::from_name(name).map_err(|e| format!("cannot look up user {name}: {e}"))?;
    let Some(user) = found else {
        return Ok(None);
    };
    let groups = group_list(&user.name, user.gid.as_raw())?;
    Ok(Some(Account {
        name: user.name,
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
        groups,
    }))
}

/// The primary group plus the supplementary groups of `name` in the group database.
pub fn group_list(name: &str, primary: u32) -> Result<Vec<u32>, String> {
    let cname = CString::new(name).map_err(|_| format!("invalid user name {name:?}"))?;
    let mut groups: Vec<u32> = nix::unistd::getgrouplist(&cname, Gid::from_raw(primary))
        .map_err(|e| format!("cannot list the groups of user {name}: {e}"))?
        .into_iter()
        .map(Gid::as_raw)
        .collect();
    groups.dedup();
    Ok(groups)
}

/// A group by name or by number (`"zuul"`, `"1000"`); `Ok(None)` when there is none.
pub fn group(spec: &str) -> Result<Option<GroupInfo>, String> {
    let found = match parse_id(spec) {
        Some(gid) => Group::from_gid(Gid::from_raw(gid)),
        None => Group::from_name(spec),
    }
    .map_err(|e| format!("cannot look up group {spec}: {e}"))?;
    Ok(found.map(|g| GroupInfo {
        name: g.name,
        gid: g.gid.as_raw(),
        members: g.mem,
    }))
}

/// The name of user `uid`, if it has one.
pub fn user_name(uid: u32) -> Option<String> {
    User::from_uid(Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
}

/// The name of group `gid`, if it has one.
pub fn group_name(gid: u32) -> Option<String> {
    Group::from_gid(Gid::from_raw(gid))
        .ok()
        .flatten()
        .map(|g| g.name)
}

/// A decimal id (`"1000"`), as opposed to a name.
pub fn parse_id(spec: &str) -> Option<u32> {
    if !spec.is_empty() && spec.bytes().all(|b| b.is_ascii_digit()) {
        spec.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_its_group_exist_everywhere() {
        let root = user("root").unwrap().expect("root exists");
        assert_eq!((root.uid, root.gid), (0, 0));
        assert!(root.groups.contains(&0));
        assert_eq!(group("0").unwrap().unwrap().name, "root");
        assert_eq!(group("root").unwrap().unwrap().gid, 0);
        assert_eq!(user_name(0).as_deref(), Some("root"));
        assert_eq!(group_name(0).as_deref(), Some("root"));
    }

    #[test]
    fn missing_names() {
        assert_eq!(user("no-such-user-ci-tools").unwrap(), None);
        assert_eq!(group("no-such-group-ci-tools").unwrap(), None);
        assert_eq!(group("4000000000").unwrap(), None);
    }

    #[test]
    fn ids_and_names() {
        assert_eq!(parse_id("1000"), Some(1000));
        assert_eq!(parse_id("zuul"), None);
        assert_eq!(parse_id(""), None);
        assert_eq!(parse_id("10a"), None);
        assert_eq!(parse_id("99999999999"), None);
    }
}
