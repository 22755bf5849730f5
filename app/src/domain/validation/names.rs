//! What Kubernetes (and Baton) lets things be called.

/// Kubernetes DNS-1123 subdomain: what Secrets may be called (labels joined by '.').
pub fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(is_dns_label)
}

/// Kubernetes DNS-1123 label: what namespaces, pods and containers may be called.
pub fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// A key of a Kubernetes Secret's data: 1-253 letters, digits, '-', '_' or '.', not `.` or `..`.
pub fn is_secret_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key != "."
        && key != ".."
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Kubernetes port name (IANA service name): at most 15 characters, at least one letter, no `--`.
pub fn is_port_name(name: &str) -> bool {
    name.len() <= 15
        && is_dns_label(name)
        && name.bytes().any(|b| b.is_ascii_lowercase())
        && !name.contains("--")
}

/// Environment variable names as Kubernetes accepts them.
pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '-' || c == '.')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Kubernetes label and annotation keys: an optional DNS prefix and `/`, then a name of at most
/// 63 alphanumerics, `-`, `_` and `.` that starts and ends alphanumeric.
pub fn is_qualified_key(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let prefix_ok =
        prefix.is_none_or(|p| !p.is_empty() && p.len() <= 253 && p.split('.').all(is_dns_label));
    let bytes = name.as_bytes();
    prefix_ok
        && !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

pub fn is_game_name(game: &str) -> bool {
    !game.is_empty()
        && game.len() <= 63
        && game
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Why a namespace may not be a scheduler's: Kubernetes made it or keeps the name for itself.
pub fn reserved_namespace(name: &str) -> Option<&'static str> {
    if name == "default" {
        Some("\"default\" is the namespace Kubernetes makes for itself")
    } else if name.starts_with("kube-") {
        Some("names starting with \"kube-\" are kept for Kubernetes' own namespaces")
    } else {
        None
    }
}

pub(super) const DNS_LABEL_RULE: &str =
    "must be 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["a", "my-scheduler", "s1", &"a".repeat(63)] {
            assert!(is_dns_label(good), "{good}");
        }
        for bad in ["", "A", "-a", "a-", "a_b", "a.b", &"a".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad}");
        }
        assert!(is_port_name("http"));
        assert!(!is_port_name("1234"));
        assert!(!is_port_name("a--b"));
        assert!(!is_port_name("abcdefghijklmnop"));
        assert!(is_env_name("MAESTRO_ROOM_ID"));
        assert!(!is_env_name("1ABC"));
        assert!(!is_env_name("A B"));
        assert!(is_qualified_key("app.kubernetes.io/name"));
        assert!(is_qualified_key("team"));
        assert!(!is_qualified_key("/x"));
        assert!(!is_qualified_key("a b"));
    }

    #[test]
    fn secret_keys() {
        for good in [
            "token",
            "arena-abc.game.BATON_ROOM_TOKEN",
            "a_b",
            "..a",
            &"k".repeat(253),
        ] {
            assert!(is_secret_key(good), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "ключ", &"k".repeat(254)] {
            assert!(!is_secret_key(bad), "{bad}");
        }
    }
}
