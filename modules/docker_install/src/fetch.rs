//! Fetching a repository key by URL.
//!
//! The module is a static binary without a TLS stack (it would double its size, and it is
//! uploaded on every task). `http://` URLs are fetched natively; `https://` (and a
//! redirect to it) goes through the target's `curl` or `wget`, with a clear error when
//! neither is installed.

use std::io::{BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use docker_engine::unix_http;

use crate::packages::find_program;

const TIMEOUT: Duration = Duration::from_secs(60);
const MAX_REDIRECTS: usize = 5;

/// The parts of an `http://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    pub host: String,
    pub port: u16,
    /// Path and query, at least "/".
    pub path: String,
}

pub fn parse_http_url(url: &str) -> Result<HttpUrl, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url} is not an http:// URL"))?;
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("{url}: unclosed [ in the host"))?;
        (host.to_string(), after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err(format!("{url} has no host"));
    }
    let port = match port {
        Some(p) => p
            .parse()
            .map_err(|_| format!("{url}: {p:?} is not a port number"))?,
        None => 80,
    };
    let path = path.split('#').next().unwrap_or("/").to_string();
    Ok(HttpUrl { host, port, path })
}

/// GETs an `http://` URL, following redirects (to https through curl/wget).
pub fn http_get(url: &str) -> Result<Vec<u8>, String> {
    let mut current = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        if current.starts_with("https://") {
            return with_tool(&current);
        }
        let parsed = parse_http_url(&current)?;
        let response = get_once(&parsed).map_err(|e| format!("fetch {current}: {e}"))?;
        match response.status {
            200..=299 => return Ok(response.body),
            301 | 302 | 303 | 307 | 308 => {
                let location = response
                    .header("location")
                    .ok_or_else(|| {
                        format!(
                            "fetch {current}: redirect {} without a Location",
                            response.status
                        )
                    })?
                    .trim()
                    .to_string();
                current = resolve_location(&parsed, &location);
            }
            status => {
                return Err(format!(
                    "fetch {current}: the server answered {status} {}",
                    response.reason
                ))
            }
        }
    }
    Err(format!("fetch {url}: more than {MAX_REDIRECTS} redirects"))
}

fn resolve_location(base: &HttpUrl, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let host = if base.host.contains(':') {
        format!("[{}]", base.host)
    } else {
        base.host.clone()
    };
    if location.starts_with('/') {
        format!("http://{host}:{}{location}", base.port)
    } else {
        let dir = base.path.rsplit_once('/').map_or("", |(d, _)| d);
        format!("http://{host}:{}{dir}/{location}", base.port)
    }
}

fn get_once(url: &HttpUrl) -> Result<unix_http::Response, String> {
    let addrs: Vec<_> = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", url.host))?
        .collect();
    let mut last = String::from("no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, TIMEOUT) {
            Ok(mut stream) => {
                stream
                    .set_read_timeout(Some(TIMEOUT))
                    .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
                    .map_err(|e| e.to_string())?;
                let host_header = if url.port == 80 {
                    url.host.clone()
                } else {
                    format!("{}:{}", url.host, url.port)
                };
                let request = format!(
                    "GET {} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: ci_tools.docker.docker_install\r\nAccept: */*\r\nConnection: close\r\n\r\n",
                    url.path
                );
                stream
                    .write_all(request.as_bytes())
                    .map_err(|e| e.to_string())?;
                let origin = format!("{}:{}", url.host, url.port);
                return unix_http::read_response(
                    &mut BufReader::new(stream),
                    false,
                    Path::new(&origin),
                )
                .map_err(|e| e.to_string());
            }
            Err(e) => last = format!("cannot connect to {addr}: {e}"),
        }
    }
    Err(last)
}

/// Fetches a URL with the target's curl or wget.
pub fn with_tool(url: &str) -> Result<Vec<u8>, String> {
    let timeout = TIMEOUT.as_secs().to_string();
    let (program, args): (_, Vec<&str>) = if let Some(curl) = find_program("curl") {
        (
            curl,
            vec!["-fsSL", "--max-time", &timeout, "--retry", "2", "--", url],
        )
    } else if let Some(wget) = find_program("wget") {
        (
            wget,
            vec!["-q", "-T", &timeout, "-t", "3", "-O", "-", "--", url],
        )
    } else {
        return Err(format!(
            "fetch repo_key {url}: neither curl nor wget is installed on the target, and this \
             module cannot speak HTTPS itself. Install curl (or wget) first, or give repo_key \
             as an http:// URL, a file on the target, or the armored key text"
        ));
    };
    let output = duct::cmd(&program, &args)
        .stdin_null()
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .map_err(|e| format!("fetch {url}: cannot run {}: {e}", program.display()))?;
    if !output.status.success() {
        return Err(format!(
            "fetch {url}: {} failed (rc={}): {}",
            program.display(),
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(output.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, Read};
    use std::net::TcpListener;

    #[test]
    fn urls() {
        assert_eq!(
            parse_http_url("http://127.0.0.1:8000/dists/key.asc?x=1#frag").unwrap(),
            HttpUrl {
                host: "127.0.0.1".into(),
                port: 8000,
                path: "/dists/key.asc?x=1".into()
            }
        );
        assert_eq!(parse_http_url("http://example.org").unwrap().path, "/");
        assert_eq!(parse_http_url("http://example.org").unwrap().port, 80);
        assert_eq!(parse_http_url("http://[::1]:81/k").unwrap().host, "::1");
        assert!(parse_http_url("http://h:port/").is_err());
        assert!(parse_http_url("https://h/").is_err());
        let base = parse_http_url("http://h:81/a/b.asc").unwrap();
        assert_eq!(resolve_location(&base, "/c"), "http://h:81/c");
        assert_eq!(resolve_location(&base, "c.asc"), "http://h:81/a/c.asc");
        assert_eq!(resolve_location(&base, "https://x/y"), "https://x/y");
    }

    /// A one-shot HTTP server answering each connection with the next reply.
    fn serve(replies: Vec<String>) -> (u16, std::thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
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
                let _ = conn.shutdown(std::net::Shutdown::Write);
                let _ = reader.read(&mut [0u8; 16]);
            }
            seen
        });
        (port, handle)
    }

    #[test]
    fn fetches_over_http_following_redirects() {
        let (port, handle) = serve(vec![
            "HTTP/1.1 302 Found\r\nLocation: /real.asc\r\nContent-Length: 0\r\n\r\n".into(),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".into(),
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".into(),
        ]);
        let body = http_get(&format!("http://127.0.0.1:{port}/key.asc")).unwrap();
        assert_eq!(body, b"hello");
        let err = http_get(&format!("http://127.0.0.1:{port}/missing")).unwrap_err();
        assert!(err.ends_with("the server answered 404 Not Found"), "{err}");
        let seen = handle.join().unwrap();
        assert_eq!(
            seen,
            [
                "GET /key.asc HTTP/1.1",
                "GET /real.asc HTTP/1.1",
                "GET /missing HTTP/1.1"
            ]
        );
    }

    #[test]
    fn connection_refused_names_the_url() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = http_get(&format!("http://127.0.0.1:{port}/k")).unwrap_err();
        assert!(
            err.starts_with(&format!("fetch http://127.0.0.1:{port}/k: cannot connect")),
            "{err}"
        );
    }
}
