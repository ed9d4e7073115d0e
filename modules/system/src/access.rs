//! Whether an API socket answers, and whether it answers *another user*.
//!
//! [`ping_as`] forks a child that drops to the user's uid, primary gid and supplementary
//! groups (from the group database, never the caller's), connects to the socket and sends
//! `GET /_ping`. The result comes back through a socket pair. Forking is safe here because
//! the module process is single-threaded: the runtime starts no threads, and
//! [`crate::command::run`] joins its reader threads before it returns. The child only
//! drops privileges, makes one request and leaves with `_exit` (no atexit handlers, no
//! flushing of buffers it shares with the parent).

use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, setgid, setgroups, setuid, ForkResult, Gid, Uid};

use crate::users;

/// Who to check as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    /// The primary group.
    pub gid: u32,
    /// Supplementary groups (the primary group may be among them).
    pub groups: Vec<u32>,
}

impl Identity {
    /// The identity a new login of `account` would have.
    pub fn of(account: &users::Account) -> Identity {
        Identity {
            uid: account.uid,
            gid: account.gid,
            groups: account.groups.clone(),
        }
    }
}

/// Why the API did not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingError {
    /// The OS error of the failed step (EACCES, ENOENT, ECONNREFUSED, ...), if any.
    pub errno: Option<i32>,
    pub message: String,
}

impl PingError {
    fn new(errno: Option<i32>, message: impl Into<String>) -> PingError {
        PingError {
            errno,
            message: message.into(),
        }
    }

    /// The symbolic name of the error number (`EACCES`), if any.
    pub fn errno_name(&self) -> Option<String> {
        self.errno.map(|n| format!("{:?}", Errno::from_raw(n)))
    }

    pub fn is_permission_denied(&self) -> bool {
        matches!(self.errno, Some(e) if e == Errno::EACCES as i32 || e == Errno::EPERM as i32)
    }
}

impl std::fmt::Display for PingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(name) = self.errno_name() {
            write!(f, " ({name})")?;
        }
        Ok(())
    }
}

/// `GET /_ping` on `socket` as the calling process; Ok when it answers 200 `OK`.
pub fn ping(socket: &Path, timeout: Duration) -> Result<(), PingError> {
    let response = unix_http::Client::new(socket)
        .timeout(Some(timeout))
        .get("/_ping")
        .map_err(|e| PingError::new(e.os_error, e.to_string()))?;
    let body = response.text();
    if response.status == 200 && body.trim() == "OK" {
        Ok(())
    } else {
        Err(PingError::new(
            None,
            format!(
                "GET /_ping on {} answered {} {}: {}",
                socket.display(),
                response.status,
                response.reason,
                body.trim()
            ),
        ))
    }
}

/// `GET /_ping` on `socket` as `identity`, in a forked child (see the module docs).
pub fn ping_as(identity: &Identity, socket: &Path, timeout: Duration) -> Result<(), PingError> {
    let (mut parent_end, child_end) = UnixStream::pair().map_err(|e| {
        PingError::new(
            e.raw_os_error(),
            format!("cannot create a socket pair: {e}"),
        )
    })?;
    // SAFETY: the process is single-threaded (see the module docs), so the child may run
    // ordinary code; it never returns from this function.
    match unsafe { fork() } {
        Err(e) => Err(PingError::new(
            Some(e as i32),
            format!("cannot fork to check access as uid {}: {e}", identity.uid),
        )),
        Ok(ForkResult::Child) => {
            drop(parent_end);
            child(identity, socket, timeout, child_end)
        }
        Ok(ForkResult::Parent { child }) => {
            drop(child_end);
            let _ = parent_end.set_read_timeout(Some(timeout + Duration::from_secs(5)));
            let mut report = String::new();
            let read = parent_end.read_to_string(&mut report);
            if read.is_err() {
                let _ = kill(child, Signal::SIGKILL);
            }
            let _ = waitpid(child, None);
            match read {
                Err(e) => Err(PingError::new(
                    None,
                    format!(
                        "the access check as uid {} did not finish: {e}",
                        identity.uid
                    ),
                )),
                Ok(_) => decode(&report),
            }
        }
    }
}

fn child(identity: &Identity, socket: &Path, timeout: Duration, mut out: UnixStream) -> ! {
    // A panic must not reach the runtime's hook, which would print a second JSON result.
    std::panic::set_hook(Box::new(|_| unsafe { nix::libc::_exit(70) }));
    let result = drop_privileges(identity).and_then(|()| ping(socket, timeout));
    let _ = out.write_all(encode(&result).as_bytes());
    drop(out);
    // SAFETY: _exit ends the child without running the parent's exit handlers.
    unsafe { nix::libc::_exit(0) }
}

fn drop_privileges(identity: &Identity) -> Result<(), PingError> {
    let groups: Vec<Gid> = identity.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    let step = |what: &str, e: Errno| {
        PingError::new(
            Some(e as i32),
            format!("cannot switch to {what} to check access: {e}"),
        )
    };
    setgroups(&groups).map_err(|e| step("the supplementary groups", e))?;
    setgid(Gid::from_raw(identity.gid)).map_err(|e| step(&format!("gid {}", identity.gid), e))?;
    setuid(Uid::from_raw(identity.uid)).map_err(|e| step(&format!("uid {}", identity.uid), e))?;
    Ok(())
}

/// The child's report: `ok`, or `err ERRNO MESSAGE` (ERRNO `-` when there is none).
fn encode(result: &Result<(), PingError>) -> String {
    match result {
        Ok(()) => "ok".into(),
        Err(e) => format!(
            "err {} {}",
            e.errno.map_or("-".to_string(), |n| n.to_string()),
            e.message
        ),
    }
}

fn decode(report: &str) -> Result<(), PingError> {
    if report == "ok" {
        return Ok(());
    }
    if let Some(rest) = report.strip_prefix("err ") {
        let (errno, message) = rest.split_once(' ').unwrap_or((rest, ""));
        return Err(PingError::new(errno.parse().ok(), message));
    }
    Err(PingError::new(
        None,
        "the access check ended without a report".to_string(),
    ))
}

/// A file's owner, group, type and permission bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketState {
    pub uid: u32,
    pub owner: Option<String>,
    pub gid: u32,
    pub group: Option<String>,
    /// Permission bits (e.g. 0o660).
    pub mode: u32,
    /// `s` socket, `d` directory, `-` regular file, `?` anything else (as `ls -l` shows).
    pub kind: char,
}

impl SocketState {
    /// `srw-rw---- root:zuul (mode 0660)` style, for messages.
    pub fn describe(&self) -> String {
        format!(
            "{}{} {}:{} (mode {:04o})",
            self.kind,
            permission_string(self.mode),
            self.owner.clone().unwrap_or_else(|| self.uid.to_string()),
            self.group.clone().unwrap_or_else(|| self.gid.to_string()),
            self.mode
        )
    }

    /// Whether `identity` may search (enter) this directory.
    pub fn lets_through(&self, identity: &Identity) -> bool {
        let bit = if identity.uid == 0 {
            return true;
        } else if identity.uid == self.uid {
            0o100
        } else if identity.gid == self.gid || identity.groups.contains(&self.gid) {
            0o010
        } else {
            0o001
        };
        self.mode & bit != 0
    }
}

/// The current owner/group/mode of `path`; `None` when it does not exist.
pub fn socket_state(path: &Path) -> Option<SocketState> {
    let meta = std::fs::metadata(path).ok()?;
    let file_type = meta.file_type();
    Some(SocketState {
        uid: meta.uid(),
        owner: users::user_name(meta.uid()),
        gid: meta.gid(),
        group: users::group_name(meta.gid()),
        mode: meta.permissions().mode() & 0o7777,
        kind: if file_type.is_socket() {
            's'
        } else if file_type.is_dir() {
            'd'
        } else if file_type.is_file() {
            '-'
        } else {
            '?'
        },
    })
}

/// The first existing directory on the way to `path` that `identity` may not enter
/// (whatever the socket's own group and mode, it cannot reach the socket then).
pub fn blocking_directory(path: &Path, identity: &Identity) -> Option<(PathBuf, SocketState)> {
    let mut ancestors: Vec<&Path> = path.ancestors().skip(1).collect();
    ancestors.reverse();
    ancestors.into_iter().find_map(|dir| {
        let state = socket_state(dir)?;
        (!state.lets_through(identity)).then(|| (dir.to_path_buf(), state))
    })
}

/// `rw-rw----` for 0o660.
pub fn permission_string(mode: u32) -> String {
    let mut s = String::with_capacity(9);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::os::unix::net::UnixListener;
    use std::path::PathBuf;

    /// A tiny /_ping server on a temp socket, serving `count` requests in a thread.
    fn server(tag: &str, count: usize) -> (PathBuf, std::thread::JoinHandle<()>) {
        let dir = std::env::temp_dir().join(format!("system-access-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("api.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let handle = std::thread::spawn(move || {
            for stream in listener.incoming().take(count) {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut host = false;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    host |= line.to_ascii_lowercase().starts_with("host:");
                    if line == "\r\n" || line.is_empty() {
                        break;
                    }
                }
                let (status, body) = if host {
                    ("200 OK", "OK")
                } else {
                    ("400 Bad Request", "no host")
                };
                write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n{body}",
                    body.len()
                )
                .unwrap();
            }
        });
        (path, handle)
    }

    #[test]
    fn ping_answers() {
        let (path, handle) = server("ping", 1);
        ping(&path, Duration::from_secs(5)).unwrap();
        handle.join().unwrap();
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn ping_missing_socket() {
        let err = ping(Path::new("/nonexistent/api.sock"), Duration::from_secs(1)).unwrap_err();
        assert_eq!(err.errno_name().as_deref(), Some("ENOENT"));
        assert!(err.to_string().contains("/nonexistent/api.sock"), "{err}");
    }

    #[test]
    fn report_round_trip() {
        assert_eq!(decode(&encode(&Ok(()))), Ok(()));
        let err = PingError::new(Some(13), "cannot connect to /run/docker.sock: denied");
        assert_eq!(decode(&encode(&Err(err.clone()))), Err(err.clone()));
        assert!(err.is_permission_denied());
        assert_eq!(
            err.to_string(),
            "cannot connect to /run/docker.sock: denied (EACCES)"
        );
        assert_eq!(
            decode(&encode(&Err(PingError::new(None, "bad answer")))),
            Err(PingError::new(None, "bad answer"))
        );
        assert!(decode("").is_err());
    }

    #[test]
    fn modes() {
        assert_eq!(permission_string(0o660), "rw-rw----");
        assert_eq!(permission_string(0o755), "rwxr-xr-x");
        let state = SocketState {
            uid: 0,
            owner: Some("root".into()),
            gid: 1000,
            group: None,
            mode: 0o660,
            kind: 's',
        };
        assert_eq!(state.describe(), "srw-rw---- root:1000 (mode 0660)");
    }

    #[test]
    fn directories_in_the_way() {
        let dir = SocketState {
            uid: 0,
            owner: Some("root".into()),
            gid: 0,
            group: Some("root".into()),
            mode: 0o700,
            kind: 'd',
        };
        let zuul = Identity {
            uid: 1000,
            gid: 1000,
            groups: vec![1000],
        };
        assert!(!dir.lets_through(&zuul));
        assert!(SocketState {
            mode: 0o711,
            ..dir.clone()
        }
        .lets_through(&zuul));
        assert!(SocketState {
            mode: 0o710,
            gid: 1000,
            ..dir.clone()
        }
        .lets_through(&zuul));
        assert!(!SocketState {
            mode: 0o701,
            gid: 1000,
            ..dir.clone()
        }
        .lets_through(&zuul));
        assert!(dir.lets_through(&Identity {
            uid: 0,
            gid: 0,
            groups: vec![]
        }));
        // / and /tmp let everyone through; a missing directory blocks nothing.
        assert_eq!(
            blocking_directory(Path::new("/tmp/none/x.sock"), &zuul),
            None
        );
    }

    /// As root: a socket only its owner may use refuses "nobody", and a check as the
    /// caller's own identity passes (the fork path end to end).
    #[test]
    fn ping_as_another_user() {
        if !users::is_root() {
            return;
        }
        let (path, handle) = server("as", 1);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let nobody = Identity {
            uid: 65534,
            gid: 65534,
            groups: vec![65534],
        };
        let err = ping_as(&nobody, &path, Duration::from_secs(5)).unwrap_err();
        assert!(err.is_permission_denied(), "{err}");
        let root = Identity {
            uid: 0,
            gid: 0,
            groups: vec![0],
        };
        ping_as(&root, &path, Duration::from_secs(5)).unwrap();
        handle.join().unwrap();
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
