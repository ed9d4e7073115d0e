//! Why a socket refuses us: who we are, who owns the socket, what would grant access.
//! Only std: identities come from /proc/self and /etc/passwd, /etc/group.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// The calling process's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub user: Option<String>,
    /// Supplementary and primary group ids the process has now (not what /etc/group says
    /// it would get at the next login: that difference is the usual trap).
    pub groups: Vec<u32>,
}

/// The socket file's owner and mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketOwner {
    pub uid: u32,
    pub user: Option<String>,
    pub gid: u32,
    pub group: Option<String>,
    pub mode: u32,
}

pub fn current_identity() -> Identity {
    // /proc/self belongs to the process's effective uid and gid.
    let meta = std::fs::metadata("/proc/self").ok();
    let uid = meta.as_ref().map(MetadataExt::uid).unwrap_or(u32::MAX);
    let mut groups: Vec<u32> = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|l| {
                l.strip_prefix("Groups:").map(|g| {
                    g.split_whitespace()
                        .filter_map(|n| n.parse().ok())
                        .collect()
                })
            })
        })
        .unwrap_or_default();
    if let Some(gid) = meta.as_ref().map(MetadataExt::gid) {
        if !groups.contains(&gid) {
            groups.insert(0, gid);
        }
    }
    Identity {
        uid,
        user: user_name(uid),
        groups,
    }
}

pub fn socket_owner(path: &Path) -> Option<SocketOwner> {
    let meta = std::fs::metadata(path).ok()?;
    Some(SocketOwner {
        uid: meta.uid(),
        user: user_name(meta.uid()),
        gid: meta.gid(),
        group: group_name(meta.gid()),
        mode: meta.permissions().mode() & 0o7777,
    })
}

/// The name of `id` in a passwd/group style file (`name:x:id:...`).
fn name_in(file: &str, id: u32) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let _password = fields.next()?;
        let found: u32 = fields.next()?.parse().ok()?;
        (found == id).then(|| name.to_string())
    })
}

pub fn user_name(uid: u32) -> Option<String> {
    name_in("/etc/passwd", uid)
}

pub fn group_name(gid: u32) -> Option<String> {
    name_in("/etc/group", gid)
}

fn named(name: &Option<String>, id: u32, word: &str) -> String {
    match name {
        Some(name) => format!("{name} ({word} {id})"),
        None => format!("{word} {id}"),
    }
}

/// The explanation for EACCES on `socket`, naming the user, the owning group and the fix.
pub fn explain_permission_denied(socket: &Path) -> String {
    let me = current_identity();
    let who = match &me.user {
        Some(name) => format!("user {name} (uid {})", me.uid),
        None => format!("uid {}", me.uid),
    };
    let mut msg = format!(
        "permission denied on the Docker socket {}",
        socket.display()
    );
    match socket_owner(socket) {
        Some(owner) => {
            let group = named(&owner.group, owner.gid, "gid");
            msg.push_str(&format!(
                ": {who} is neither its owner {} nor in its group {group} (mode {:04o})",
                named(&owner.user, owner.uid, "uid"),
                owner.mode,
            ));
            if owner.mode & 0o060 != 0o060 {
                msg.push_str(", and the group has no read-write access to the socket");
            }
            // Joining group {group} would not reach sessions that are already open:
            // membership is read at login. Giving the socket to the user's own primary
            // group does.
            msg.push_str(
                ". Grant access with the ci_tools.docker.socket_group module (it gives the \
                 socket to the user's primary group, which already-open sessions have), or \
                 run the task with become: true",
            );
        }
        None => msg.push_str(&format!(
            ": {who} may not access it. Grant access with the ci_tools.docker.socket_group module, or run the task with become: true"
        )),
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_of_this_process() {
        let me = current_identity();
        assert_ne!(me.uid, u32::MAX);
        assert!(!me.groups.is_empty());
        if me.uid == 0 {
            assert_eq!(me.user.as_deref(), Some("root"));
        }
    }

    #[test]
    fn explains_the_socket_owner_and_the_fix() {
        let dir = std::env::temp_dir().join(format!("docker-engine-access-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("docker.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o660)).unwrap();
        let msg = explain_permission_denied(&socket);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(msg.starts_with(&format!(
            "permission denied on the Docker socket {}: ",
            socket.display()
        )));
        assert!(msg.contains("(mode 0660)"), "{msg}");
        assert!(msg.contains("ci_tools.docker.socket_group"), "{msg}");
        assert!(msg.contains("nor in its group"), "{msg}");
    }
}
