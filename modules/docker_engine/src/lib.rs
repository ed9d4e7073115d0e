//! A Docker Engine API client over the daemon's Unix socket, shared by the modules.
//!
//! - [`socket_path`]: `docker_host` (`unix:///path`), else `DOCKER_HOST`, else
//!   `/var/run/docker.sock`; other schemes are refused with a clear message.
//! - [`Client::connect`]: asks `GET /version` (unversioned) and talks
//!   min(daemon's `ApiVersion`, [`NEWEST_KNOWN`]) from then on, or a forced version that
//!   must lie within what the daemon accepts.
//! - [`Error`]: what went wrong in words a user acts on (daemon not running, permission
//!   denied with the socket's group and the fix, the daemon's own message on HTTP errors).

pub mod access;
pub mod query;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use query::Filters;
use serde_json::Value;
pub use unix_http;

/// Where the daemon listens when neither `docker_host` nor `DOCKER_HOST` says otherwise.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// The newest API version whose behaviour this client knows. Newer daemons are spoken to
/// in this version; they all still accept it.
pub const NEWEST_KNOWN: ApiVersion = ApiVersion(1, 47);

/// An Engine API version such as 1.41.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion(pub u32, pub u32);

impl ApiVersion {
    pub fn parse(text: &str) -> Option<ApiVersion> {
        let text = text.trim();
        let text = text.strip_prefix('v').unwrap_or(text);
        let (major, minor) = text.split_once('.')?;
        Some(ApiVersion(major.parse().ok()?, minor.parse().ok()?))
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// What kind of failure an [`Error`] is, for callers that react differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// `docker_host` is not a `unix://` URL we can use.
    UnsupportedHost,
    /// No socket, or nobody listening on it.
    NotRunning,
    /// The socket exists but this user may not open it.
    PermissionDenied,
    /// The daemon did not answer in time.
    Timeout,
    /// The daemon answered with an HTTP error status.
    Http { status: u16, message: String },
    /// The requested API version is outside what the daemon supports.
    Version,
    /// Anything else: broken responses, unexpected I/O errors.
    Other,
}

/// A failed Engine API call, with the message to show the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub msg: String,
}

impl Error {
    pub fn new(kind: ErrorKind, msg: impl Into<String>) -> Error {
        Error {
            kind,
            msg: msg.into(),
        }
    }

    /// The HTTP status, for daemon errors.
    pub fn status(&self) -> Option<u16> {
        match self.kind {
            ErrorKind::Http { status, .. } => Some(status),
            _ => None,
        }
    }

    /// The daemon's own message, for daemon errors.
    pub fn daemon_message(&self) -> Option<&str> {
        match &self.kind {
            ErrorKind::Http { message, .. } => Some(message),
            _ => None,
        }
    }

    /// Prefixes the message with what was being done ("prune images: ...").
    pub fn context(mut self, what: &str) -> Error {
        self.msg = format!("{what}: {}", self.msg);
        self
    }

    fn from_http(err: unix_http::Error) -> Error {
        let socket = err.socket.display().to_string();
        if err.stage == unix_http::Stage::Connect {
            match err.os_error {
                // ENOENT, ENOTDIR
                Some(2) | Some(20) => {
                    return Error::new(
                        ErrorKind::NotRunning,
                        format!("the Docker daemon is not running (no socket at {socket})"),
                    )
                }
                // ECONNREFUSED
                Some(111) => {
                    return Error::new(
                        ErrorKind::NotRunning,
                        format!(
                            "the Docker daemon is not running (nothing listens on {socket}: connection refused)"
                        ),
                    )
                }
                // EACCES, EPERM
                Some(13) | Some(1) => {
                    return Error::new(
                        ErrorKind::PermissionDenied,
                        access::explain_permission_denied(&err.socket),
                    )
                }
                _ => {}
            }
        }
        if err.is_timeout() {
            return Error::new(
                ErrorKind::Timeout,
                format!(
                    "the Docker daemon at {socket} did not answer in time; raise the timeout option if it is busy"
                ),
            );
        }
        Error::new(ErrorKind::Other, err.to_string())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

/// The socket path `docker_host` (or `DOCKER_HOST`, or the default) names.
pub fn socket_path(docker_host: Option<&str>) -> Result<PathBuf, Error> {
    let from_env = std::env::var("DOCKER_HOST")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let (value, source) = match docker_host.map(str::trim).filter(|v| !v.is_empty()) {
        Some(value) => (value.to_string(), "docker_host"),
        None => match from_env {
            Some(value) => (value.trim().to_string(), "DOCKER_HOST"),
            None => return Ok(PathBuf::from(DEFAULT_SOCKET)),
        },
    };
    parse_host(&value).map_err(|why| {
        Error::new(
            ErrorKind::UnsupportedHost,
            format!("{source} {value:?} is not supported: {why}"),
        )
    })
}

/// The socket path of a `unix://` URL (a bare absolute path is accepted too).
pub fn parse_host(value: &str) -> Result<PathBuf, String> {
    if let Some(path) = value.strip_prefix("unix://") {
        if path.starts_with('/') {
            return Ok(PathBuf::from(path));
        }
        return Err(
            "a unix:// URL needs an absolute socket path, as in unix:///var/run/docker.sock".into(),
        );
    }
    if value.starts_with('/') {
        return Ok(PathBuf::from(value));
    }
    let scheme = value.split_once("://").map(|(s, _)| s).unwrap_or("");
    let why = match scheme {
        "tcp" | "http" | "https" => "only the local Unix socket is supported (unix:///path/to/docker.sock); TCP and TLS connections are not",
        "ssh" => "only the local Unix socket is supported (unix:///path/to/docker.sock); run the task on the Docker host instead of tunnelling over SSH",
        "npipe" => "named pipes exist only on Windows; use unix:///path/to/docker.sock",
        _ => "expected unix:///path/to/docker.sock",
    };
    Err(why.to_string())
}

/// What `GET /version` says about the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonVersion {
    /// The Engine version, e.g. "20.10.24+dfsg1".
    pub version: String,
    pub api: ApiVersion,
    pub min_api: ApiVersion,
}

/// What `GET /_ping` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ping {
    pub api: Option<ApiVersion>,
    pub body: String,
}

/// Waits until the daemon on `socket` answers `GET /_ping` with `OK`, then asks its
/// versions; gives up after `timeout` with the last error seen.
pub fn wait_for_api(socket: &Path, timeout: Duration) -> Result<DaemonVersion, String> {
    let deadline = Instant::now() + timeout;
    let client = Client::new(socket, Some(Duration::from_secs(10)));
    loop {
        let last = match client.ping() {
            Ok(ping) if ping.body.trim() == "OK" => match client.version() {
                Ok(version) => return Ok(version),
                Err(e) => e.msg,
            },
            Ok(ping) => format!("/_ping answered {:?}", ping.body),
            Err(e) => e.msg,
        };
        if Instant::now() >= deadline {
            return Err(last);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A connection to one daemon, speaking one API version.
#[derive(Debug, Clone)]
pub struct Client {
    http: unix_http::Client,
    api: Option<ApiVersion>,
    daemon: Option<DaemonVersion>,
}

impl Client {
    /// A client for `socket`, not yet version-negotiated (only unversioned calls work:
    /// [`Client::ping`], [`Client::version`]).
    pub fn new(socket: impl Into<PathBuf>, timeout: Option<Duration>) -> Client {
        Client {
            http: unix_http::Client::new(socket).timeout(timeout),
            api: None,
            daemon: None,
        }
    }

    /// Connects to the daemon `docker_host` names and negotiates the API version:
    /// `requested` (e.g. from an `api_version` option; `None` or "auto" negotiates).
    pub fn connect(
        docker_host: Option<&str>,
        requested: Option<&str>,
        timeout: Option<Duration>,
    ) -> Result<Client, Error> {
        let mut client = Client::new(socket_path(docker_host)?, timeout);
        client.negotiate(requested)?;
        Ok(client)
    }

    pub fn socket(&self) -> &Path {
        self.http.socket()
    }

    /// The API version in use (the newest known before negotiation).
    pub fn api_version(&self) -> ApiVersion {
        self.api.unwrap_or(NEWEST_KNOWN)
    }

    /// The daemon's version, once negotiated.
    pub fn daemon(&self) -> Option<&DaemonVersion> {
        self.daemon.as_ref()
    }

    /// Asks the daemon its versions and picks the one to speak.
    pub fn negotiate(&mut self, requested: Option<&str>) -> Result<ApiVersion, Error> {
        let daemon = self.version()?;
        let chosen = match requested
            .map(str::trim)
            .filter(|r| !r.is_empty() && *r != "auto")
        {
            None => daemon.api.min(NEWEST_KNOWN),
            Some(text) => {
                let forced = ApiVersion::parse(text).ok_or_else(|| {
                    Error::new(
                        ErrorKind::Version,
                        format!("api_version {text:?} is not a version like 1.41 (or auto)"),
                    )
                })?;
                // The daemon answers requests above its own version with an error, and
                // below its minimum with "client version is too old".
                if forced < daemon.min_api || forced > daemon.api {
                    return Err(Error::new(
                        ErrorKind::Version,
                        format!(
                            "api_version {forced} is not supported by the Docker daemon {} (it accepts {} to {}); use api_version: auto",
                            daemon.version, daemon.min_api, daemon.api
                        ),
                    ));
                }
                forced
            }
        };
        self.api = Some(chosen);
        self.daemon = Some(daemon);
        Ok(chosen)
    }

    /// `GET /version`, unversioned (answers in any API version).
    pub fn version(&self) -> Result<DaemonVersion, Error> {
        let value = self.call_raw("GET", "/version", None)?;
        let field = |name: &str| value.get(name).and_then(Value::as_str).unwrap_or_default();
        let api = ApiVersion::parse(field("ApiVersion")).ok_or_else(|| {
            Error::new(
                ErrorKind::Other,
                format!(
                    "the Docker daemon at {} reported no ApiVersion",
                    self.socket().display()
                ),
            )
        })?;
        Ok(DaemonVersion {
            version: field("Version").to_string(),
            api,
            // Daemons too old to report it (before API 1.25) are far below anything we use.
            min_api: ApiVersion::parse(field("MinAPIVersion")).unwrap_or(ApiVersion(1, 12)),
        })
    }

    /// `GET /_ping`, unversioned: the cheapest "is the daemon up and may I talk to it".
    pub fn ping(&self) -> Result<Ping, Error> {
        let response = self.send("GET", "/_ping", None)?;
        Ok(Ping {
            api: response.header("api-version").and_then(ApiVersion::parse),
            body: response.text(),
        })
    }

    /// `GET /vX.Y{path}{query}` returning the parsed JSON body.
    pub fn get(&self, path: &str, params: &[(&str, String)]) -> Result<Value, Error> {
        self.call("GET", path, params, None)
    }

    /// `POST /vX.Y{path}{query}` with an optional JSON body, returning the parsed JSON body
    /// (`null` for an empty one).
    pub fn post(
        &self,
        path: &str,
        params: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, Error> {
        self.call("POST", path, params, body)
    }

    /// `DELETE /vX.Y{path}{query}`.
    pub fn delete(&self, path: &str, params: &[(&str, String)]) -> Result<Value, Error> {
        self.call("DELETE", path, params, None)
    }

    /// Any versioned call.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        params: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, Error> {
        let full = format!(
            "/v{}{path}{}",
            self.api_version(),
            query::query_string(params)
        );
        self.call_raw(method, &full, body)
    }

    fn call_raw(
        &self,
        method: &str,
        full_path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Error> {
        let response = self.send(method, full_path, body)?;
        if response.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&response.body).map_err(|e| {
            Error::new(
                ErrorKind::Other,
                format!(
                    "the Docker daemon's answer to {method} {full_path} is not JSON ({e}): {}",
                    truncate(&response.text(), 200)
                ),
            )
        })
    }

    /// Sends a request to an exact path and returns the successful response, or the
    /// daemon's error as an [`Error`].
    pub fn send(
        &self,
        method: &str,
        full_path: &str,
        body: Option<&Value>,
    ) -> Result<unix_http::Response, Error> {
        let encoded = body.map(|b| serde_json::to_vec(b).unwrap_or_default());
        let mut request = unix_http::Request::new(method, full_path);
        if let Some(bytes) = &encoded {
            request = request.json(bytes);
        }
        let response = self.http.send(&request).map_err(Error::from_http)?;
        if response.is_success() {
            return Ok(response);
        }
        let message = daemon_message(&response);
        Err(Error::new(
            ErrorKind::Http {
                status: response.status,
                message: message.clone(),
            },
            format!(
                "the Docker daemon answered {method} {full_path} with {} {}: {message}",
                response.status, response.reason
            ),
        ))
    }
}

/// The daemon's error message: `{"message": ...}` or a plain-text body.
fn daemon_message(response: &unix_http::Response) -> String {
    if let Ok(value) = serde_json::from_slice::<Value>(&response.body) {
        if let Some(message) = value.get("message").and_then(Value::as_str) {
            return message.to_string();
        }
    }
    let text = response.text();
    let text = text.trim();
    if text.is_empty() {
        response.reason.clone()
    } else {
        truncate(text, 500)
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!("{}...", text.chars().take(max).collect::<String>())
    }
}

/// Bytes as a short human size with decimal units, as the docker CLI prints them
/// ("0 B", "1.2 MB", "3.45 GB").
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        // Four significant digits at most, without trailing zeros.
        let digits = if value >= 100.0 {
            1
        } else if value >= 10.0 {
            2
        } else {
            3
        };
        let text = format!("{value:.digits$}");
        let trimmed = text.trim_end_matches('0').trim_end_matches('.');
        format!("{trimmed} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixListener;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn versions_parse_and_order() {
        assert_eq!(ApiVersion::parse("1.41"), Some(ApiVersion(1, 41)));
        assert_eq!(ApiVersion::parse("v1.9"), Some(ApiVersion(1, 9)));
        assert_eq!(ApiVersion::parse("1"), None);
        assert_eq!(ApiVersion::parse("auto"), None);
        assert!(ApiVersion(1, 9) < ApiVersion(1, 41));
        assert_eq!(ApiVersion(1, 41).to_string(), "1.41");
    }

    #[test]
    fn hosts() {
        assert_eq!(
            parse_host("unix:///run/docker.sock").unwrap(),
            PathBuf::from("/run/docker.sock")
        );
        assert_eq!(
            parse_host("/tmp/d.sock").unwrap(),
            PathBuf::from("/tmp/d.sock")
        );
        assert!(parse_host("tcp://127.0.0.1:2375")
            .unwrap_err()
            .contains("TCP"));
        assert!(parse_host("ssh://me@host").unwrap_err().contains("SSH"));
        assert!(parse_host("unix://relative")
            .unwrap_err()
            .contains("absolute"));
        let err = socket_path(Some("tcp://1.2.3.4:2376")).unwrap_err();
        assert_eq!(err.kind, ErrorKind::UnsupportedHost);
        assert!(
            err.msg
                .starts_with("docker_host \"tcp://1.2.3.4:2376\" is not supported: "),
            "{err}"
        );
        assert_eq!(
            socket_path(Some("unix:///x.sock")).unwrap(),
            PathBuf::from("/x.sock")
        );
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(1000), "1 kB");
        assert_eq!(human_size(1_234_567), "1.235 MB");
        assert_eq!(human_size(12_300_000), "12.3 MB");
        assert_eq!(human_size(123_456_789_000), "123.5 GB");
    }

    static N: AtomicUsize = AtomicUsize::new(0);

    /// A fake daemon answering each connection with the next canned reply.
    fn fake_daemon(replies: Vec<&'static str>) -> (PathBuf, std::thread::JoinHandle<Vec<String>>) {
        let dir = std::env::temp_dir().join(format!(
            "docker-engine-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("docker.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let handle = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for reply in replies {
                let (mut conn, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut first = String::new();
                reader.read_line(&mut first).unwrap();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                        break;
                    }
                }
                seen.push(first.trim_end().to_string());
                conn.write_all(reply.as_bytes()).unwrap();
            }
            let _ = std::fs::remove_dir_all(&dir);
            seen
        });
        (path, handle)
    }

    fn json_reply(status: &str, body: &str) -> &'static str {
        Box::leak(
            format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_boxed_str(),
        )
    }

    #[test]
    fn negotiates_the_lower_of_daemon_and_client_version() {
        let (path, handle) = fake_daemon(vec![
            json_reply(
                "200 OK",
                r#"{"Version":"29.1.0","ApiVersion":"1.52","MinAPIVersion":"1.44"}"#,
            ),
            json_reply("200 OK", r#"{"ok":true}"#),
        ]);
        let mut client = Client::new(&path, Some(Duration::from_secs(2)));
        assert_eq!(client.negotiate(None).unwrap(), NEWEST_KNOWN);
        client.get("/info", &[("a", "b c".into())]).unwrap();
        let seen = handle.join().unwrap();
        assert_eq!(seen[0], "GET /version HTTP/1.1");
        assert_eq!(
            seen[1],
            format!("GET /v{NEWEST_KNOWN}/info?a=b%20c HTTP/1.1")
        );
    }

    #[test]
    fn old_daemon_and_forced_versions() {
        let version = r#"{"Version":"20.10.24","ApiVersion":"1.41","MinAPIVersion":"1.12"}"#;
        let (path, handle) = fake_daemon(vec![
            json_reply("200 OK", version),
            json_reply("200 OK", version),
            json_reply("200 OK", version),
        ]);
        let mut client = Client::new(&path, None);
        assert_eq!(client.negotiate(Some("auto")).unwrap(), ApiVersion(1, 41));
        assert_eq!(client.negotiate(Some("1.30")).unwrap(), ApiVersion(1, 30));
        let err = client.negotiate(Some("1.44")).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Version);
        assert!(err.msg.contains("accepts 1.12 to 1.41"), "{err}");
        handle.join().unwrap();
    }

    #[test]
    fn daemon_errors_carry_the_daemon_message() {
        let (path, handle) = fake_daemon(vec![
            json_reply("409 Conflict", r#"{"message":"a prune operation is already running"}"#),
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 35\r\n\r\nclient version 1.12 is too old ...\n",
        ]);
        let client = Client::new(&path, None);
        let err = client.post("/containers/prune", &[], None).unwrap_err();
        assert_eq!(err.status(), Some(409));
        assert_eq!(
            err.daemon_message(),
            Some("a prune operation is already running")
        );
        let err = client.get("/x", &[]).unwrap_err();
        assert_eq!(err.status(), Some(400));
        assert_eq!(
            err.daemon_message(),
            Some("client version 1.12 is too old ...")
        );
        assert!(err.msg.contains("400 Bad Request"), "{err}");
        handle.join().unwrap();
    }

    #[test]
    fn ping_reads_the_api_version_header() {
        let (path, handle) = fake_daemon(vec![
            "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\n\r\nOK",
        ]);
        let ping = Client::new(&path, None).ping().unwrap();
        assert_eq!(ping.api, Some(ApiVersion(1, 41)));
        assert_eq!(ping.body, "OK");
        assert_eq!(handle.join().unwrap()[0], "GET /_ping HTTP/1.1");
    }

    #[test]
    fn missing_socket_means_not_running() {
        let err = Client::new("/nonexistent/dir/docker.sock", None)
            .ping()
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotRunning);
        assert_eq!(
            err.msg,
            "the Docker daemon is not running (no socket at /nonexistent/dir/docker.sock)"
        );
    }

    #[test]
    fn refused_connection_means_not_running() {
        let dir =
            std::env::temp_dir().join(format!("docker-engine-refused-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("docker.sock");
        drop(UnixListener::bind(&path).unwrap()); // the file stays, nobody listens
        let err = Client::new(&path, None).ping().unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(err.kind, ErrorKind::NotRunning);
        assert!(err.msg.contains("connection refused"), "{err}");
    }
}
