//! What the server prints once it is up with the demo scheduler: where the dashboard is, and a
//! curl line that lists the demo's rooms. Nothing without the demo (production starts quietly).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The lines to print, when the demo scheduler runs. `password` is the admin password when it
/// was generated at this start (shown just above); otherwise the line names where it came from.
pub fn welcome(addr: SocketAddr, demo: bool, password: Option<&str>) -> Option<String> {
    if !demo {
        return None;
    }
    let url = format!("http://{}", reachable(addr));
    let password = password.unwrap_or("$BATON_ADMIN_PASSWORD");
    Some(format!(
        "Dashboard: {url}/ (sign in as admin)\n\
         The demo scheduler's rooms:\n  \
         curl --user \"admin:{password}\" {url}/schedulers/demo/rooms"
    ))
}

/// `addr`, with a wildcard address (listening on every interface) replaced by loopback, which a
/// browser on this machine can open.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, addr.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_gets_the_dashboard_url_and_a_curl_line_with_the_generated_password() {
        let text = welcome("127.0.0.1:8080".parse().unwrap(), true, Some("s3cret")).unwrap();
        assert!(text.contains("Dashboard: http://127.0.0.1:8080/"), "{text}");
        assert!(
            text.contains(
                "curl --user \"admin:s3cret\" http://127.0.0.1:8080/schedulers/demo/rooms"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_password_chosen_before_is_named_not_shown_and_wildcards_become_loopback() {
        let text = welcome("0.0.0.0:9000".parse().unwrap(), true, None).unwrap();
        assert!(
            text.contains("curl --user \"admin:$BATON_ADMIN_PASSWORD\" http://127.0.0.1:9000/"),
            "{text}"
        );
        let v6 = welcome("[::]:9000".parse().unwrap(), true, None).unwrap();
        assert!(v6.contains("http://[::1]:9000/"), "{v6}");
    }

    #[test]
    fn nothing_without_the_demo() {
        assert_eq!(
            welcome("127.0.0.1:8080".parse().unwrap(), false, None),
            None
        );
    }
}
