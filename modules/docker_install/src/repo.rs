//! Docker's own package repository (`source: upstream`): where it is, for which release
//! and architecture, and its signing key.

use std::path::Path;

use module_runtime::Failure;

use crate::fetch;

/// Docker's repositories live at `{DOCKER_DOWNLOAD}/{debian,ubuntu,raspbian}`.
pub const DOCKER_DOWNLOAD: &str = "https://download.docker.com/linux";

/// The fields of /etc/os-release that matter here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OsRelease {
    pub id: String,
    pub id_like: Vec<String>,
    pub version_codename: Option<String>,
    /// Set by Ubuntu and its derivatives (Mint, Pop!_OS): the Ubuntu release they follow.
    pub ubuntu_codename: Option<String>,
}

impl OsRelease {
    pub fn read() -> Result<OsRelease, Failure> {
        for path in ["/etc/os-release", "/usr/lib/os-release"] {
            if let Ok(text) = std::fs::read_to_string(path) {
                return Ok(OsRelease::parse(&text));
            }
        }
        Err(Failure::new(
            "identify the distribution: neither /etc/os-release nor /usr/lib/os-release exists",
        ))
    }

    pub fn parse(text: &str) -> OsRelease {
        let mut os = OsRelease::default();
        for line in text.lines() {
            let Some((key, value)) = line.trim().split_once('=') else {
                continue;
            };
            let value = system::shell::unquote(value).to_string();
            let non_empty = (!value.is_empty()).then(|| value.clone());
            match key {
                "ID" => os.id = value.to_ascii_lowercase(),
                "ID_LIKE" => {
                    os.id_like = value
                        .split_whitespace()
                        .map(|s| s.to_ascii_lowercase())
                        .collect()
                }
                "VERSION_CODENAME" => os.version_codename = non_empty,
                "UBUNTU_CODENAME" => os.ubuntu_codename = non_empty,
                _ => {}
            }
        }
        os
    }

    /// The distribution whose Docker repository fits: debian, ubuntu or raspbian.
    pub fn docker_flavour(&self) -> Option<&'static str> {
        match self.id.as_str() {
            "debian" => return Some("debian"),
            "ubuntu" => return Some("ubuntu"),
            "raspbian" => return Some("raspbian"),
            _ => {}
        }
        if self.id_like.iter().any(|l| l == "ubuntu") {
            Some("ubuntu")
        } else if self.id_like.iter().any(|l| l == "debian") {
            Some("debian")
        } else {
            None
        }
    }

    /// The release name Docker's repository files it under.
    pub fn suite(&self) -> Option<&str> {
        if self.docker_flavour() == Some("ubuntu") {
            if let Some(codename) = &self.ubuntu_codename {
                return Some(codename);
            }
        }
        self.version_codename.as_deref()
    }
}

/// A repository signing key, as apt reads it from a `Signed-By` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub bytes: Vec<u8>,
    /// ASCII-armored (written as .asc; apt >= 1.4 reads those) or binary (.gpg).
    pub armored: bool,
}

impl Key {
    /// Checks that `bytes` is an OpenPGP public key; `origin` names where it came from.
    pub fn from_bytes(bytes: Vec<u8>, origin: &str) -> Result<Key, String> {
        let text = String::from_utf8_lossy(&bytes);
        let trimmed = text.trim();
        if trimmed.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
            if !trimmed.ends_with("-----END PGP PUBLIC KEY BLOCK-----") {
                return Err(format!(
                    "repo_key from {origin} is a truncated armored key (no END PGP PUBLIC KEY BLOCK line)"
                ));
            }
            // Normalized: no surrounding blank lines or indentation, one final newline.
            let mut normalized: String = trimmed
                .lines()
                .map(str::trim)
                .collect::<Vec<_>>()
                .join("\n");
            normalized.push('\n');
            return Ok(Key {
                bytes: normalized.into_bytes(),
                armored: true,
            });
        }
        if is_binary_public_key(&bytes) {
            return Ok(Key {
                bytes,
                armored: false,
            });
        }
        let hint = if trimmed.starts_with('<') {
            " (it looks like an HTML page: is the URL right?)"
        } else if trimmed.starts_with("-----BEGIN PGP") {
            " (it is armored, but not a PUBLIC KEY BLOCK)"
        } else {
            ""
        };
        Err(format!(
            "repo_key from {origin} is not an OpenPGP public key: expected an armored \
             '-----BEGIN PGP PUBLIC KEY BLOCK-----' or a binary key{hint}"
        ))
    }
}

/// True when `bytes` starts with an OpenPGP public-key packet (tag 6), old or new format.
fn is_binary_public_key(bytes: &[u8]) -> bool {
    let Some(&first) = bytes.first() else {
        return false;
    };
    if first & 0x80 == 0 {
        return false;
    }
    let tag = if first & 0x40 != 0 {
        first & 0x3f
    } else {
        (first >> 2) & 0x0f
    };
    tag == 6 && bytes.len() > 8
}

/// Where `repo_key` says the key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Inline(String),
    /// Fetched natively (no TLS needed).
    Http(String),
    /// Fetched with the target's curl or wget (the module carries no TLS stack).
    Tool(String),
    File(String),
}

impl KeySource {
    pub fn parse(value: &str) -> Result<KeySource, Failure> {
        let trimmed = value.trim();
        if trimmed.contains("-----BEGIN PGP") {
            return Ok(KeySource::Inline(value.to_string()));
        }
        if trimmed.starts_with("http://") {
            return Ok(KeySource::Http(trimmed.to_string()));
        }
        if trimmed.starts_with("https://") || trimmed.starts_with("ftp://") {
            return Ok(KeySource::Tool(trimmed.to_string()));
        }
        if let Some(path) = trimmed.strip_prefix("file://") {
            return Ok(KeySource::File(path.to_string()));
        }
        if trimmed.starts_with('/') {
            return Ok(KeySource::File(trimmed.to_string()));
        }
        Err(Failure::new(format!(
            "repo_key {trimmed:?} is neither a URL (http://, https://, file://), an absolute \
             path on the target nor an armored key ('-----BEGIN PGP PUBLIC KEY BLOCK-----...')"
        )))
    }

    /// The key's bytes, checked to be a public key.
    pub fn load(&self) -> Result<Key, Failure> {
        let (bytes, origin) = match self {
            KeySource::Inline(text) => (text.clone().into_bytes(), "the inline value".to_string()),
            KeySource::Http(url) => (fetch::http_get(url).map_err(Failure::new)?, url.clone()),
            KeySource::Tool(url) => (fetch::with_tool(url).map_err(Failure::new)?, url.clone()),
            KeySource::File(path) => (
                std::fs::read(Path::new(path))
                    .map_err(|e| Failure::new(format!("read repo_key {path}: {e}")))?,
                path.clone(),
            ),
        };
        Key::from_bytes(bytes, &origin).map_err(Failure::new)
    }
}

/// Docker's apt repository as it is to be configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    pub url: String,
    pub suite: String,
    /// Components: the channel ("stable", "test").
    pub components: String,
    pub architecture: String,
    pub key: Key,
}

impl Repository {
    /// The deb822 source (`/etc/apt/sources.list.d/docker.sources`).
    pub fn deb822(&self, key_path: &str) -> String {
        format!(
            "# Managed by ci_tools.docker.docker_install: Docker's apt repository.\n\
             Types: deb\n\
             URIs: {}\n\
             Suites: {}\n\
             Components: {}\n\
             Architectures: {}\n\
             Signed-By: {key_path}\n",
            self.url, self.suite, self.components, self.architecture
        )
    }
}

/// Checks a value that goes into one deb822 field.
pub fn field_value(option: &str, value: &str) -> Result<String, Failure> {
    let value = value.trim();
    if value.is_empty() || value.contains('\n') {
        return Err(Failure::new(format!(
            "{option} must be a non-empty single line, got {value:?}"
        )));
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARMORED: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBFit2ioBEADhWpZ8/wvZ6hUTiXOwQHXMAlaFHcPH9hAtr4F1y2+OYdbtMuth\n=0YYh\n-----END PGP PUBLIC KEY BLOCK-----\n";

    #[test]
    fn os_release_of_debian_ubuntu_and_derivatives() {
        let debian = OsRelease::parse(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n",
        );
        assert_eq!(debian.docker_flavour(), Some("debian"));
        assert_eq!(debian.suite(), Some("bookworm"));
        let mint = OsRelease::parse(
            "ID=linuxmint\nID_LIKE=\"ubuntu debian\"\nVERSION_CODENAME=virginia\nUBUNTU_CODENAME=jammy\n",
        );
        assert_eq!(mint.docker_flavour(), Some("ubuntu"));
        assert_eq!(mint.suite(), Some("jammy"));
        let sid = OsRelease::parse("ID=debian\nVERSION_CODENAME=\n");
        assert_eq!(sid.suite(), None);
        let fedora = OsRelease::parse("ID=fedora\n");
        assert_eq!(fedora.docker_flavour(), None);
    }

    #[test]
    fn deb822_rendering() {
        let repo = Repository {
            url: "https://download.docker.com/linux/debian".into(),
            suite: "bookworm".into(),
            components: "stable".into(),
            architecture: "amd64".into(),
            key: Key {
                bytes: ARMORED.as_bytes().to_vec(),
                armored: true,
            },
        };
        assert_eq!(
            repo.deb822("/etc/apt/keyrings/docker.asc"),
            "# Managed by ci_tools.docker.docker_install: Docker's apt repository.\n\
             Types: deb\n\
             URIs: https://download.docker.com/linux/debian\n\
             Suites: bookworm\n\
             Components: stable\n\
             Architectures: amd64\n\
             Signed-By: /etc/apt/keyrings/docker.asc\n"
        );
    }

    #[test]
    fn keys_armored_binary_and_garbage() {
        let indented = format!("\n  {}  \n", ARMORED.replace('\n', "\n  "));
        let key = Key::from_bytes(indented.into_bytes(), "x").unwrap();
        assert!(key.armored);
        assert_eq!(String::from_utf8(key.bytes).unwrap(), ARMORED);
        // Old-format public key packet (0x99 = tag 6, two length bytes).
        let binary = vec![0x99, 0x02, 0x0d, 0x04, 0x58, 0xad, 0xda, 0x2a, 0x01, 0x10];
        let key = Key::from_bytes(binary.clone(), "x").unwrap();
        assert!(!key.armored);
        assert_eq!(key.bytes, binary);
        // New format: 0xc6.
        assert!(Key::from_bytes(vec![0xc6, 1, 2, 3, 4, 5, 6, 7, 8, 9], "x").is_ok());
        let err = Key::from_bytes(b"<html>404</html>".to_vec(), "http://x/gpg").unwrap_err();
        assert!(err.contains("HTML"), "{err}");
        assert!(err.starts_with("repo_key from http://x/gpg is not an OpenPGP public key"));
        let truncated =
            Key::from_bytes(b"-----BEGIN PGP PUBLIC KEY BLOCK-----\nabc\n".to_vec(), "y");
        assert!(truncated.unwrap_err().contains("truncated"));
        // A secret-key packet (tag 5) is refused.
        assert!(Key::from_bytes(vec![0x95, 1, 2, 3, 4, 5, 6, 7, 8, 9], "x").is_err());
    }

    #[test]
    fn key_sources() {
        assert_eq!(
            KeySource::parse("http://127.0.0.1:8000/key.asc").unwrap(),
            KeySource::Http("http://127.0.0.1:8000/key.asc".into())
        );
        assert_eq!(
            KeySource::parse("https://download.docker.com/linux/debian/gpg").unwrap(),
            KeySource::Tool("https://download.docker.com/linux/debian/gpg".into())
        );
        assert_eq!(
            KeySource::parse("file:///srv/key.asc").unwrap(),
            KeySource::File("/srv/key.asc".into())
        );
        assert_eq!(
            KeySource::parse("/srv/key.gpg").unwrap(),
            KeySource::File("/srv/key.gpg".into())
        );
        assert!(matches!(
            KeySource::parse(ARMORED).unwrap(),
            KeySource::Inline(_)
        ));
        let err = KeySource::parse("key.asc").unwrap_err();
        assert!(
            err.msg.starts_with("repo_key \"key.asc\" is neither a URL"),
            "{err}"
        );
    }

    #[test]
    fn field_values() {
        assert_eq!(field_value("channel", " stable ").unwrap(), "stable");
        assert!(field_value("channel", "").is_err());
        assert!(field_value("repo_url", "a\nb").is_err());
    }
}
