//! A small synchronous HTTP/1.1 client over a Unix socket.
//!
//! One request per connection (`Connection: close`), which is all the Docker Engine API
//! needs and keeps this crate tiny: no async runtime, no connection pool. The response body
//! is decoded from `Content-Length`, from `Transfer-Encoding: chunked` (the daemon sends
//! large bodies chunked even with `Connection: close`) or read to EOF.
//!
//! Errors name the socket and the step that failed; turning "no such file" into "the
//! Docker daemon is not running" is left to the caller, which knows what the socket is.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The largest body accepted; anything bigger is a broken or hostile peer.
const MAX_BODY: usize = 256 * 1024 * 1024;
/// The largest status line + headers accepted.
const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 64;

/// The step of a request that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Connect,
    Send,
    Receive,
}

impl Stage {
    fn verb(self) -> &'static str {
        match self {
            Stage::Connect => "connect to",
            Stage::Send => "send a request to",
            Stage::Receive => "read the response from",
        }
    }
}

/// A failed request: which socket, which step, why.
#[derive(Debug)]
pub struct Error {
    pub socket: PathBuf,
    pub stage: Stage,
    /// The I/O error kind, when the cause was an I/O error (`None` for a malformed response).
    pub io_kind: Option<io::ErrorKind>,
    /// The OS error number, when there was one (ENOENT, ECONNREFUSED, EACCES, ...).
    pub os_error: Option<i32>,
    pub detail: String,
}

impl Error {
    fn io(socket: &Path, stage: Stage, err: &io::Error) -> Error {
        let timed_out = matches!(
            err.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        );
        Error {
            socket: socket.to_path_buf(),
            stage,
            io_kind: Some(if timed_out {
                io::ErrorKind::TimedOut
            } else {
                err.kind()
            }),
            os_error: err.raw_os_error(),
            detail: if timed_out {
                "timed out".to_string()
            } else {
                err.to_string()
            },
        }
    }

    fn malformed(socket: &Path, detail: impl Into<String>) -> Error {
        Error {
            socket: socket.to_path_buf(),
            stage: Stage::Receive,
            io_kind: None,
            os_error: None,
            detail: format!("malformed HTTP response: {}", detail.into()),
        }
    }

    /// True when the peer did not answer within the timeout.
    pub fn is_timeout(&self) -> bool {
        self.io_kind == Some(io::ErrorKind::TimedOut)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot {} {}: {}",
            self.stage.verb(),
            self.socket.display(),
            self.detail
        )
    }
}

impl std::error::Error for Error {}

/// One HTTP request.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub method: &'a str,
    /// Path and query, already percent-encoded.
    pub path: &'a str,
    pub headers: Vec<(&'a str, &'a str)>,
    /// Body and its content type.
    pub body: Option<(&'a str, &'a [u8])>,
}

impl<'a> Request<'a> {
    pub fn new(method: &'a str, path: &'a str) -> Request<'a> {
        Request {
            method,
            path,
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn header(mut self, name: &'a str, value: &'a str) -> Request<'a> {
        self.headers.push((name, value));
        self
    }

    pub fn json(mut self, body: &'a [u8]) -> Request<'a> {
        self.body = Some(("application/json", body));
        self
    }

    fn encode(&self, host: &str) -> Vec<u8> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n",
            self.method, self.path
        );
        for (name, value) in &self.headers {
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
        match self.body {
            Some((content_type, body)) => {
                head.push_str(&format!(
                    "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                ));
                let mut bytes = head.into_bytes();
                bytes.extend_from_slice(body);
                bytes
            }
            None => {
                // POST/PUT without a body still says so; some servers wait for a length.
                if matches!(self.method, "POST" | "PUT" | "PATCH") {
                    head.push_str("Content-Length: 0\r\n");
                }
                head.push_str("\r\n");
                head.into_bytes()
            }
        }
    }
}

/// A complete HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A client for one Unix socket.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
    timeout: Option<Duration>,
    host: String,
}

impl Client {
    pub fn new(socket: impl Into<PathBuf>) -> Client {
        Client {
            socket: socket.into(),
            timeout: Some(Duration::from_secs(60)),
            host: "localhost".into(),
        }
    }

    /// How long to wait for each read or write (`None`: forever).
    pub fn timeout(mut self, timeout: Option<Duration>) -> Client {
        self.timeout = timeout.filter(|t| !t.is_zero());
        self
    }

    /// The `Host` header's value (the Docker daemon needs one, any will do).
    pub fn host(mut self, host: impl Into<String>) -> Client {
        self.host = host.into();
        self
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn get(&self, path: &str) -> Result<Response, Error> {
        self.send(&Request::new("GET", path))
    }

    /// Sends one request on a new connection and reads the whole response.
    pub fn send(&self, request: &Request<'_>) -> Result<Response, Error> {
        let socket = self.socket.as_path();
        let mut stream =
            UnixStream::connect(socket).map_err(|e| Error::io(socket, Stage::Connect, &e))?;
        stream
            .set_read_timeout(self.timeout)
            .and_then(|()| stream.set_write_timeout(self.timeout))
            .map_err(|e| Error::io(socket, Stage::Connect, &e))?;
        stream
            .write_all(&request.encode(&self.host))
            .and_then(|()| stream.flush())
            .map_err(|e| Error::io(socket, Stage::Send, &e))?;
        read_response(
            &mut BufReader::new(stream),
            request.method == "HEAD",
            socket,
        )
    }
}

/// Reads one response (skipping 1xx interim responses) from `reader`.
pub fn read_response<R: Read>(
    reader: &mut BufReader<R>,
    head_request: bool,
    socket: &Path,
) -> Result<Response, Error> {
    loop {
        let (status, reason, headers) = read_head(reader, socket)?;
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        let mut response = Response {
            status,
            reason,
            headers,
            body: Vec::new(),
        };
        if head_request || status == 204 || status == 304 || status == 101 {
            return Ok(response);
        }
        let chunked = response
            .header("transfer-encoding")
            .and_then(|te| te.rsplit(',').next())
            .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        response.body = if chunked {
            read_chunked(reader, socket)?
        } else if let Some(length) = response.header("content-length") {
            let length: usize = length
                .trim()
                .parse()
                .map_err(|_| Error::malformed(socket, format!("bad Content-Length {length:?}")))?;
            if length > MAX_BODY {
                return Err(Error::malformed(
                    socket,
                    format!("body of {length} bytes is too large"),
                ));
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).map_err(|e| {
                if e.kind() == io::ErrorKind::UnexpectedEof {
                    Error::malformed(socket, format!("body ended before its {length} bytes"))
                } else {
                    Error::io(socket, Stage::Receive, &e)
                }
            })?;
            body
        } else {
            let mut body = Vec::new();
            reader
                .take(MAX_BODY as u64 + 1)
                .read_to_end(&mut body)
                .map_err(|e| Error::io(socket, Stage::Receive, &e))?;
            if body.len() > MAX_BODY {
                return Err(Error::malformed(socket, "body is too large"));
            }
            body
        };
        return Ok(response);
    }
}

type Head = (u16, String, Vec<(String, String)>);

fn read_head<R: Read>(reader: &mut BufReader<R>, socket: &Path) -> Result<Head, Error> {
    let mut raw = Vec::new();
    // Read line by line up to the blank line; httparse then parses the whole head.
    loop {
        let before = raw.len();
        let n = reader
            .take((MAX_HEAD - raw.len().min(MAX_HEAD)) as u64 + 1)
            .read_until(b'\n', &mut raw)
            .map_err(|e| Error::io(socket, Stage::Receive, &e))?;
        if n == 0 {
            return Err(if raw.is_empty() {
                Error::malformed(socket, "the connection closed without a response")
            } else {
                Error::malformed(socket, "the connection closed in the middle of the headers")
            });
        }
        if raw.len() > MAX_HEAD {
            return Err(Error::malformed(socket, "headers are too large"));
        }
        let line = &raw[before..];
        if line == b"\r\n" || line == b"\n" {
            break;
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut headers);
    match parsed.parse(&raw) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(Error::malformed(
                socket,
                "incomplete status line or headers",
            ))
        }
        Err(e) => return Err(Error::malformed(socket, e.to_string())),
    }
    let status = parsed
        .code
        .ok_or_else(|| Error::malformed(socket, "no status code"))?;
    let reason = parsed.reason.unwrap_or_default().to_string();
    let headers = parsed
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    Ok((status, reason, headers))
}

fn read_chunked<R: Read>(reader: &mut BufReader<R>, socket: &Path) -> Result<Vec<u8>, Error> {
    let mut body = Vec::new();
    let eof = |what: &str| Error::malformed(socket, format!("chunked body ended {what}"));
    loop {
        let mut line = Vec::new();
        let n = reader
            .take(4096)
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::io(socket, Stage::Receive, &e))?;
        if n == 0 {
            return Err(eof("before its last chunk"));
        }
        let size = match httparse::parse_chunk_size(&line) {
            Ok(httparse::Status::Complete((_, size))) => size,
            _ => {
                return Err(Error::malformed(
                    socket,
                    format!(
                        "bad chunk size line {:?}",
                        String::from_utf8_lossy(&line).trim_end()
                    ),
                ))
            }
        };
        if size == 0 {
            // Trailers, up to the blank line that ends the message.
            loop {
                let mut trailer = Vec::new();
                let n = reader
                    .take(MAX_HEAD as u64)
                    .read_until(b'\n', &mut trailer)
                    .map_err(|e| Error::io(socket, Stage::Receive, &e))?;
                if n == 0 || trailer == b"\r\n" || trailer == b"\n" {
                    // A peer that closes right after the last chunk is tolerated.
                    return Ok(body);
                }
            }
        }
        if body.len() as u64 + size > MAX_BODY as u64 {
            return Err(Error::malformed(socket, "body is too large"));
        }
        let start = body.len();
        body.resize(start + size as usize, 0);
        reader.read_exact(&mut body[start..]).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                eof("inside a chunk")
            } else {
                Error::io(socket, Stage::Receive, &e)
            }
        })?;
        let mut crlf = [0u8; 2];
        reader
            .read_exact(&mut crlf[..1])
            .map_err(|_| eof("after a chunk"))?;
        if crlf[0] == b'\r' {
            reader
                .read_exact(&mut crlf[1..])
                .map_err(|_| eof("after a chunk"))?;
        }
        if crlf[0] != b'\n' && crlf != *b"\r\n" {
            return Err(Error::malformed(socket, "chunk not followed by CRLF"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;
    use std::sync::mpsc;
    use std::thread;

    /// A one-shot server: accepts one connection, records the request head, answers with
    /// `reply` (written in pieces to exercise partial reads), then closes (or hangs).
    fn serve(reply: &'static [u8], hang: bool) -> (tempdir::Dir, mpsc::Receiver<String>) {
        let dir = tempdir::Dir::new();
        let path = dir.path().join("s.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            if let Some(len) = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .and_then(|l| l.trim().parse::<usize>().ok())
            {
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                head.push_str(&String::from_utf8_lossy(&body));
            }
            tx.send(head).unwrap();
            for piece in reply.chunks(7) {
                if conn.write_all(piece).is_err() {
                    return;
                }
            }
            if hang {
                thread::sleep(Duration::from_secs(5));
            }
        });
        (dir, rx)
    }

    mod tempdir {
        use std::path::{Path, PathBuf};
        use std::sync::atomic::{AtomicUsize, Ordering};

        static COUNTER: AtomicUsize = AtomicUsize::new(0);

        pub struct Dir(PathBuf);

        impl Dir {
            pub fn new() -> Dir {
                let path = std::env::temp_dir().join(format!(
                    "unix-http-test-{}-{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::SeqCst)
                ));
                std::fs::create_dir_all(&path).unwrap();
                Dir(path)
            }

            pub fn path(&self) -> &Path {
                &self.0
            }
        }

        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn client(dir: &tempdir::Dir) -> Client {
        Client::new(dir.path().join("s.sock")).timeout(Some(Duration::from_millis(500)))
    }

    #[test]
    fn content_length_body_and_request_head() {
        let (dir, rx) = serve(
            b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\n\r\nOKtrailing-garbage",
            false,
        );
        let response = client(&dir)
            .send(&Request::new("POST", "/v1.41/x?a=1").json(b"{\"k\":1}"))
            .unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"OK");
        assert_eq!(response.header("api-version"), Some("1.41"));
        let head = rx.recv().unwrap();
        assert!(head.starts_with("POST /v1.41/x?a=1 HTTP/1.1\r\n"), "{head}");
        assert!(head.contains("Host: localhost\r\n"));
        assert!(head.contains("Connection: close\r\n"));
        assert!(head.contains("Content-Type: application/json\r\n"));
        assert!(head.ends_with("{\"k\":1}"));
    }

    #[test]
    fn post_without_body_sends_zero_length() {
        let (dir, rx) = serve(b"HTTP/1.1 204 No Content\r\n\r\n", true);
        let response = client(&dir).send(&Request::new("POST", "/p")).unwrap();
        assert_eq!(response.status, 204);
        assert!(response.body.is_empty());
        assert!(rx.recv().unwrap().contains("Content-Length: 0\r\n"));
    }

    #[test]
    fn chunked_body_with_extensions_and_trailers() {
        let (dir, _rx) = serve(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: yes\r\n\r\n",
            true,
        );
        let response = client(&dir).get("/info").unwrap();
        assert_eq!(response.text(), "hello, world");
    }

    #[test]
    fn chunked_large_body() {
        let mut reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".to_vec();
        let chunk = vec![b'x'; 10000];
        for _ in 0..5 {
            reply.extend_from_slice(format!("{:X}\r\n", chunk.len()).as_bytes());
            reply.extend_from_slice(&chunk);
            reply.extend_from_slice(b"\r\n");
        }
        reply.extend_from_slice(b"0\r\n\r\n");
        let (dir, _rx) = serve(Box::leak(reply.into_boxed_slice()), false);
        assert_eq!(client(&dir).get("/").unwrap().body.len(), 50000);
    }

    #[test]
    fn eof_delimited_body() {
        let (dir, _rx) = serve(
            b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",
            false,
        );
        assert_eq!(client(&dir).get("/").unwrap().text(), "until the end");
    }

    #[test]
    fn interim_responses_are_skipped() {
        let (dir, _rx) = serve(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 409 Conflict\r\nContent-Length: 3\r\n\r\n{}\n",
            false,
        );
        let response = client(&dir).get("/").unwrap();
        assert_eq!(
            (response.status, response.reason.as_str()),
            (409, "Conflict")
        );
        assert!(!response.is_success());
    }

    #[test]
    fn malformed_responses_are_errors() {
        let cases: &[(&'static [u8], &str)] = &[
            (b"", "closed without a response"),
            (b"garbage\r\n\r\n", "malformed HTTP response"),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
                "ended before its 10 bytes",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
                "bad Content-Length",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                "bad chunk size",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
                "inside a chunk",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY",
                "not followed by CRLF",
            ),
            (b"HTTP/1.1 200 OK\r\nX: y\r\n", "middle of the headers"),
        ];
        for (reply, expected) in cases {
            let (dir, _rx) = serve(reply, false);
            let err = client(&dir).get("/").unwrap_err();
            assert!(
                err.to_string().contains(expected),
                "{err} (wanted {expected})"
            );
            assert_eq!(err.stage, Stage::Receive);
            assert!(err.to_string().contains("s.sock"), "{err}");
        }
    }

    #[test]
    fn timeout_is_reported_as_such() {
        let (dir, _rx) = serve(
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial",
            true,
        );
        let err = client(&dir).get("/").unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        assert!(err.to_string().ends_with("timed out"), "{err}");
    }

    #[test]
    fn missing_socket_is_a_connect_error() {
        let err = Client::new("/nonexistent/docker.sock")
            .get("/_ping")
            .unwrap_err();
        assert_eq!(err.stage, Stage::Connect);
        assert_eq!(err.io_kind, Some(io::ErrorKind::NotFound));
        assert_eq!(err.os_error, Some(2));
        assert!(err
            .to_string()
            .starts_with("cannot connect to /nonexistent/docker.sock: "));
    }
}
