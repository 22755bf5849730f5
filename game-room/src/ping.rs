//! The room's heartbeat: `PUT {api}/scheduler/{s}/rooms/{r}/ping` over plain HTTP/1.1, one
//! connection per ping (a few a second at most, so no pooling is needed).

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// How long one ping may take, connection included.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Pinger {
    /// `host:port`, to connect to and to send as `Host`.
    authority: String,
    path: String,
    token: String,
}

impl Pinger {
    /// `api` is `http://HOST[:PORT][/PREFIX]` (what Baton passes as `BATON_API_URL`).
    pub fn new(api: &str, scheduler: &str, room: &str, token: &str) -> Result<Self, String> {
        let rest = api
            .strip_prefix("http://")
            .ok_or("only http:// URLs are supported")?;
        let (authority, prefix) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.is_empty() {
            return Err("no host".to_string());
        }
        let authority = if authority
            .rsplit_once(':')
            .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
        {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        let prefix = prefix.trim_end_matches('/');
        Ok(Self {
            authority,
            path: format!("{prefix}/scheduler/{scheduler}/rooms/{room}/ping"),
            token: token.to_string(),
        })
    }

    /// Sends one ping; a refusal or a failure is printed (the next ping tries again).
    pub async fn ping(&self, status: &str, running_matches: u32) {
        match tokio::time::timeout(PING_TIMEOUT, self.send(status, running_matches)).await {
            Ok(Ok(200..=299)) => {}
            Ok(Ok(code)) => eprintln!("ping {status} refused: {code}"),
            Ok(Err(err)) => eprintln!("ping {status} failed: {err}"),
            Err(_) => eprintln!("ping {status} failed: no answer within {PING_TIMEOUT:?}"),
        }
    }

    fn request(&self, status: &str, running_matches: u32) -> String {
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        // `status` is one of the room's own fixed words: nothing to escape.
        let body = format!(
            r#"{{"status":"{status}","timestamp":{timestamp},"runningMatches":{running_matches}}}"#
        );
        let auth = if self.token.is_empty() {
            String::new()
        } else {
            format!("Authorization: Bearer {}\r\n", self.token)
        };
        format!(
            "PUT {} HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.path,
            self.authority,
            body.len()
        )
    }

    /// The answer's status code.
    async fn send(&self, status: &str, running_matches: u32) -> std::io::Result<u16> {
        let mut stream = TcpStream::connect(&self.authority).await?;
        stream
            .write_all(self.request(status, running_matches).as_bytes())
            .await?;
        let mut status_line = String::new();
        BufReader::new(stream).read_line(&mut status_line).await?;
        status_code(&status_line).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not an HTTP answer: {status_line:?}"),
            )
        })
    }
}

/// The code of an HTTP/1.x status line (`HTTP/1.1 200 OK`).
fn status_code(line: &str) -> Option<u16> {
    let mut parts = line.split_ascii_whitespace();
    parts.next().filter(|v| v.starts_with("HTTP/1."))?;
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ping_goes_to_the_rooms_path_under_the_api_url() {
        let pinger = Pinger::new("http://127.0.0.1:8080", "demo", "r1", "t0k").unwrap();
        assert_eq!(pinger.authority, "127.0.0.1:8080");
        assert_eq!(pinger.path, "/scheduler/demo/rooms/r1/ping");
        let prefixed = Pinger::new("http://baton.internal/api/", "s", "r", "").unwrap();
        assert_eq!(prefixed.authority, "baton.internal:80");
        assert_eq!(prefixed.path, "/api/scheduler/s/rooms/r/ping");
        assert!(Pinger::new("https://baton", "s", "r", "").is_err());
    }

    #[test]
    fn the_request_carries_the_token_and_a_json_body_of_its_length() {
        let pinger = Pinger::new("http://127.0.0.1:8080", "demo", "r1", "t0k").unwrap();
        let request = pinger.request("occupied", 1);
        let (head, body) = request.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("PUT /scheduler/demo/rooms/r1/ping HTTP/1.1\r\n"));
        assert!(head.contains("\r\nAuthorization: Bearer t0k\r\n"));
        assert!(head.contains(&format!("\r\nContent-Length: {}\r\n", body.len())));
        assert!(body.starts_with(r#"{"status":"occupied","timestamp":"#));
        assert!(body.ends_with(r#","runningMatches":1}"#));
        let tokenless = Pinger::new("http://127.0.0.1:8080", "demo", "r1", "").unwrap();
        assert!(!tokenless.request("ready", 0).contains("Authorization"));
    }

    #[test]
    fn status_lines_give_their_code() {
        assert_eq!(status_code("HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(
            status_code("HTTP/1.1 503 Service Unavailable\r\n"),
            Some(503)
        );
        assert_eq!(status_code("SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(status_code(""), None);
    }
}
