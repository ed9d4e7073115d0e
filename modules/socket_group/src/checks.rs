//! What would defeat the change, found from file contents and unit properties before
//! anything is touched. Pure functions: the callers read the files.

/// Groups whose members are many or privileged already: giving them the socket hands
/// root on the node to all of them.
pub const SHARED_GROUPS: &[&str] = &["users", "root", "sudo", "adm", "staff", "wheel"];

/// A `-G GROUP` / `--group GROUP` option in a dockerd command line, as its value.
pub fn group_flag<S: AsRef<str>>(args: &[S]) -> Option<String> {
    let mut words = args.iter().map(AsRef::as_ref);
    while let Some(word) = words.next() {
        match word {
            "-G" | "--group" => return Some(words.next().unwrap_or("").to_string()),
            _ => {}
        }
        if let Some(value) = word
            .strip_prefix("--group=")
            .or_else(|| word.strip_prefix("-G="))
        {
            return Some(value.to_string());
        }
        if let Some(value) = word.strip_prefix("-G").filter(|v| !v.is_empty()) {
            return Some(value.to_string());
        }
    }
    None
}

/// True when a dockerd command line names its listeners with `-H`/`--host`.
pub fn has_host_flag<S: AsRef<str>>(args: &[S]) -> bool {
    !host_values(args).is_empty()
}

/// True when dockerd takes its listeners from systemd socket activation (`-H fd://`).
pub fn uses_socket_activation<S: AsRef<str>>(args: &[S]) -> bool {
    host_values(args).iter().any(|h| h.starts_with("fd://"))
}

/// The Unix socket paths of `-H unix:///path` options.
pub fn unix_host_paths<S: AsRef<str>>(args: &[S]) -> Vec<String> {
    host_values(args)
        .iter()
        .filter_map(|h| h.strip_prefix("unix://").map(str::to_string))
        .collect()
}

fn host_values<S: AsRef<str>>(args: &[S]) -> Vec<String> {
    let words: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        if (w == "-H" || w == "--host") && i + 1 < words.len() {
            out.push(words[i + 1].to_string());
            i += 1;
        } else if let Some(v) = w.strip_prefix("--host=").or_else(|| w.strip_prefix("-H=")) {
            out.push(v.to_string());
        } else if let Some(v) = w.strip_prefix("-H").filter(|v| v.contains("://")) {
            out.push(v.to_string());
        }
        i += 1;
    }
    out
}

/// True when the command line runs dockerd (`/usr/sbin/dockerd`, `/usr/bin/dockerd`, ...).
pub fn is_dockerd<S: AsRef<str>>(args: &[S]) -> bool {
    args.first()
        .map(AsRef::as_ref)
        .is_some_and(|p| p.rsplit('/').next() == Some("dockerd"))
}

/// The words of `DOCKER_OPTS` in a /etc/default/docker style file (shell variable
/// assignments; comments and other variables ignored).
pub fn docker_opts(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let Some(value) = line.strip_prefix("DOCKER_OPTS=") else {
            continue;
        };
        let value = system::shell::unquote(value);
        // A later assignment replaces an earlier one, as in the shell.
        words = value.split_whitespace().map(str::to_string).collect();
    }
    words
}

/// The `Key=value` settings of a unit file or drop-in's `[section]` (last one wins, an
/// empty assignment resets).
pub fn section_setting(text: &str, section: &str, key: &str) -> Option<String> {
    let mut current = String::new();
    let mut found = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.trim().to_string();
            continue;
        }
        if current != section {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            if k.trim() == key {
                let v = v.trim();
                found = (!v.is_empty()).then(|| v.to_string());
            }
        }
    }
    found
}

/// A socket-unit drop-in that sorts after ours and sets the group, mode or owner of the
/// socket: it would silently override what this module writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub path: String,
    pub settings: Vec<String>,
}

/// The drop-ins among `dropins` (path, content) that sort after `ours` (a file name) and
/// set `SocketGroup`, `SocketMode` or `SocketUser`. systemd applies drop-ins of all
/// directories in the order of their file names, so a later one wins.
pub fn overriding_dropins(dropins: &[(String, String)], ours: &str) -> Vec<Override> {
    dropins
        .iter()
        .filter(|(path, _)| {
            let name = path.rsplit('/').next().unwrap_or(path);
            name > ours
        })
        .filter_map(|(path, text)| {
            let settings: Vec<String> = ["SocketGroup", "SocketMode", "SocketUser"]
                .iter()
                .filter_map(|key| {
                    section_setting(text, "Socket", key).map(|v| format!("{key}={v}"))
                })
                .collect();
            (!settings.is_empty()).then(|| Override {
                path: path.clone(),
                settings,
            })
        })
        .collect()
}

/// Parses an octal socket mode ("0660", "660") into its permission bits.
pub fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.trim();
    let valid =
        (3..=4).contains(&digits.len()) && digits.bytes().all(|b| (b'0'..=b'7').contains(&b));
    let mode = if valid {
        u32::from_str_radix(digits, 8).ok()
    } else {
        None
    };
    match mode {
        Some(mode) if mode <= 0o777 => {
            if mode & 0o060 != 0o060 {
                Err(format!(
                    "socket_mode {text} does not give the group read and write access (like 0660): the group could not use the socket"
                ))
            } else {
                Ok(mode)
            }
        }
        _ => Err(format!(
            "socket_mode must be an octal permission mode like 0660, not {text:?}"
        )),
    }
}

/// The drop-in file name (`NAME.conf`) for a `dropin_name` option, or why it is unusable.
pub fn dropin_file_name(name: &str) -> Result<String, String> {
    let base = name.strip_suffix(".conf").unwrap_or(name);
    if base.is_empty()
        || base.starts_with('.')
        || !base
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
    {
        return Err(format!(
            "dropin_name {name:?} is not a usable file name (letters, digits, - _ . @)"
        ));
    }
    Ok(format!("{base}.conf"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_flags() {
        assert_eq!(group_flag(&["dockerd", "-G", "zuul"]), Some("zuul".into()));
        assert_eq!(group_flag(&["--group=ci"]), Some("ci".into()));
        assert_eq!(group_flag(&["--group", "ci"]), Some("ci".into()));
        assert_eq!(group_flag(&["-Gci"]), Some("ci".into()));
        assert_eq!(group_flag(&["-H", "fd://", "--debug"]), None);
        assert_eq!(group_flag::<&str>(&[]), None);
    }

    #[test]
    fn hosts() {
        let debian = ["/usr/sbin/dockerd", "-H", "fd://", "$DOCKER_OPTS"];
        assert!(is_dockerd(&debian));
        assert!(has_host_flag(&debian));
        assert!(uses_socket_activation(&debian));
        let own = [
            "/usr/bin/dockerd",
            "--host=unix:///run/d.sock",
            "--containerd=/run/c.sock",
        ];
        assert!(!uses_socket_activation(&own));
        assert_eq!(unix_host_paths(&own), vec!["/run/d.sock"]);
        let plain = [
            "/usr/sbin/dockerd",
            "--containerd=/run/containerd/containerd.sock",
        ];
        assert!(!has_host_flag(&plain));
        assert!(!is_dockerd(&["/usr/bin/podman", "system", "service"]));
    }

    #[test]
    fn default_docker_file() {
        let text = "# Docker Upstart and SysVinit configuration file\n\n#DOCKER_OPTS=\"--dns 8.8.8.8\"\nexport http_proxy=\"http://127.0.0.1:3128/\"\nDOCKER_OPTS=\"--dns 8.8.8.8 -G ci\"\n";
        let words = docker_opts(text);
        assert_eq!(words, vec!["--dns", "8.8.8.8", "-G", "ci"]);
        assert_eq!(group_flag(&words), Some("ci".into()));
        assert!(docker_opts("# nothing\n").is_empty());
        assert_eq!(
            docker_opts("export DOCKER_OPTS='--group=x'"),
            vec!["--group=x"]
        );
    }

    #[test]
    fn unit_settings() {
        let text =
            "# c\n[Unit]\nDescription=x\n[Socket]\nSocketMode=0600\nSocketGroup=a\nSocketGroup=\n";
        assert_eq!(
            section_setting(text, "Socket", "SocketMode"),
            Some("0600".into())
        );
        assert_eq!(section_setting(text, "Socket", "SocketGroup"), None);
        assert_eq!(
            section_setting(text, "Unit", "Description"),
            Some("x".into())
        );
    }

    #[test]
    fn later_dropins_override() {
        let dropins = vec![
            (
                "/etc/systemd/system/docker.socket.d/00-early.conf".to_string(),
                "[Socket]\nSocketGroup=x\n".to_string(),
            ),
            (
                "/etc/systemd/system/docker.socket.d/zz.conf".to_string(),
                "[Socket]\nSocketMode=0600\n".to_string(),
            ),
            (
                "/run/systemd/system/docker.socket.d/zz-other.conf".to_string(),
                "[Unit]\nDescription=y\n".to_string(),
            ),
        ];
        let found = overriding_dropins(&dropins, "ci-tools-socket-group.conf");
        assert_eq!(
            found,
            vec![Override {
                path: "/etc/systemd/system/docker.socket.d/zz.conf".into(),
                settings: vec!["SocketMode=0600".into()],
            }]
        );
    }

    #[test]
    fn modes() {
        assert_eq!(parse_mode("0660"), Ok(0o660));
        assert_eq!(parse_mode("660"), Ok(0o660));
        assert_eq!(parse_mode("0670"), Ok(0o670));
        assert!(parse_mode("0600")
            .unwrap_err()
            .contains("group read and write"));
        assert!(parse_mode("rw").unwrap_err().contains("octal"));
        assert!(parse_mode("0888").is_err());
        assert!(parse_mode("04660").is_err());
    }

    #[test]
    fn dropin_names() {
        assert_eq!(dropin_file_name("ci-tools").unwrap(), "ci-tools.conf");
        assert_eq!(dropin_file_name("50-x.conf").unwrap(), "50-x.conf");
        assert!(dropin_file_name("../x").is_err());
        assert!(dropin_file_name("").is_err());
        assert!(dropin_file_name(".hidden").is_err());
    }
}
