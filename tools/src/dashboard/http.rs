//! The dashboard's HTTP/1.1 server: blocking, one thread per connection,
//! at most [`CONNECTIONS_MAX`] at once, one request per connection
//! (`Connection: close`), every read bounded in size and time.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Connections served at once; more are answered 503 and closed.
pub const CONNECTIONS_MAX: usize = 32;
/// Largest request line plus headers.
pub const HEAD_BYTES_MAX: usize = 16 * 1024;
/// Largest request body (forms are small JSON objects).
pub const BODY_BYTES_MAX: usize = 64 * 1024;
/// Time a client has to send its whole request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One parsed request.
#[derive(Debug, Default)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    /// Header names lowercased; at most [`HEADERS_MAX`].
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

/// Most headers read from one request.
pub const HEADERS_MAX: usize = 64;

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// What a handler answers.
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        Response {
            status,
            content_type: "application/json",
            body: serde_json::to_vec(value).unwrap_or_default(),
        }
    }

    pub fn error(status: u16, message: &str) -> Response {
        Response::json(status, &serde_json::json!({ "error": message }))
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        415 => "Unsupported Media Type",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// `%XX` and `+` decoding of a query component (a bad escape stays).
pub fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| Some(hex(*bytes.get(i + 1)?)? * 16 + hex(*bytes.get(i + 2)?)?))
            .flatten();
        match (bytes[i], escaped) {
            (_, Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (b, None) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_head(head: &str) -> Option<(Request, usize)> {
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let target = first.next()?;
    let (path, query_text) = target.split_once('?').unwrap_or((target, ""));
    let query = query_text
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    let mut length = 0;
    let mut headers = BTreeMap::new();
    for line in lines.take(HEADERS_MAX) {
        if let Some((k, v)) = line.split_once(':') {
            let name = k.trim().to_ascii_lowercase();
            if name == "content-length" {
                length = v.trim().parse().ok()?;
            }
            headers.insert(name, v.trim().to_string());
        }
    }
    Some((
        Request {
            method,
            path: percent_decode(path),
            query,
            headers,
            body: Vec::new(),
        },
        length,
    ))
}

/// Reads one request within [`REQUEST_TIMEOUT`]; Err is the status to
/// answer.
fn read_request(stream: &mut TcpStream) -> Result<Request, u16> {
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            if at > HEAD_BYTES_MAX {
                return Err(413);
            }
            break at;
        }
        if buf.len() > HEAD_BYTES_MAX {
            return Err(413);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return Err(400);
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return Err(400),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| 400u16)?;
    let (mut request, length) = parse_head(head).ok_or(400u16)?;
    if length > BODY_BYTES_MAX {
        return Err(413);
    }
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return Err(400);
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return Err(400),
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    body.truncate(length);
    request.body = body;
    Ok(request)
}

fn write_response(stream: &mut TcpStream, r: &Response) {
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        r.body.len()
    );
    let _ = stream.set_write_timeout(Some(REQUEST_TIMEOUT));
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&r.body);
}

/// One of the [`CONNECTIONS_MAX`] connection slots, given back on drop
/// (also when a handler panics or its thread cannot start).
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(active: &Arc<AtomicUsize>) -> Slot {
        active.fetch_add(1, Ordering::AcqRel);
        Slot(active.clone())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serves `handler` on `listener` until `stop` is set.
pub fn serve(
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    handler: Arc<dyn Fn(&Request) -> Response + Send + Sync>,
) {
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        if stop.load(Ordering::Acquire) {
            return;
        }
        let Ok(mut stream) = stream else { continue };
        if active.load(Ordering::Acquire) >= CONNECTIONS_MAX {
            write_response(&mut stream, &Response::error(503, "too many connections"));
            continue;
        }
        let slot = Slot::take(&active);
        let handler = handler.clone();
        let spawned = std::thread::Builder::new()
            .name("dashboard-conn".into())
            .spawn(move || {
                // Released however the thread ends.
                let _slot = slot;
                let response = match read_request(&mut stream) {
                    Ok(request) => handler(&request),
                    Err(status) => Response::error(status, "bad request"),
                };
                write_response(&mut stream, &response);
            });
        if spawned.is_err() {
            eprintln!("mqdashboard: cannot start a connection thread");
        }
    }
}

/// The address a listener got (port 0 picks one).
pub fn bound(listener: &TcpListener) -> std::io::Result<SocketAddr> {
    listener.local_addr()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn heads_and_queries_parse() {
        let (r, len) =
            parse_head("GET /api/topic?topic=a%25b+c&x HTTP/1.1\r\nContent-Length: 12").unwrap();
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), len),
            ("GET", "/api/topic", 12)
        );
        assert_eq!(r.query["topic"], "a%b c");
        assert_eq!(r.query["x"], "");
        assert!(parse_head("").is_none());
        assert!(parse_head("GET / HTTP/1.1\r\nContent-Length: nope").is_none());
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
