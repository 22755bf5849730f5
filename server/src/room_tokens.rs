//! Room tokens: each room gets `HMAC-SHA256(secret, scheduler/room)` at creation, and proves who
//! it is with it. Verifying needs no storage round trip, so pings stay one store call.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

pub struct RoomTokens {
    /// The HMAC already keyed with the secret: each token starts from a copy of it, so the
    /// key is hashed once, not on every ping.
    keyed: HmacSha256,
}

impl RoomTokens {
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        Self {
            // HMAC accepts keys of any length, so this cannot fail.
            keyed: HmacSha256::new_from_slice(secret.as_ref()).expect("HMAC takes any key length"),
        }
    }

    fn mac(&self, scheduler: &str, room: &str) -> HmacSha256 {
        let mut mac = self.keyed.clone();
        // Length-prefixed, so no two (scheduler, room) pairs hash the same bytes.
        mac.update(&(scheduler.len() as u64).to_be_bytes());
        mac.update(scheduler.as_bytes());
        mac.update(room.as_bytes());
        mac
    }

    /// The token of one room (hex).
    pub fn issue(&self, scheduler: &str, room: &str) -> String {
        self.mac(scheduler, room)
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Whether `token` is this room's token (compared in constant time).
    pub fn verify(&self, scheduler: &str, room: &str, token: &str) -> bool {
        let Some(bytes) = decode_hex(token) else {
            return false;
        };
        self.mac(scheduler, room).verify_slice(&bytes).is_ok()
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_belong_to_one_room() {
        let tokens = RoomTokens::new("secret");
        let token = tokens.issue("s", "r1");
        assert_eq!(token.len(), 64);
        assert!(tokens.verify("s", "r1", &token));
        assert!(!tokens.verify("s", "r2", &token));
        assert!(!tokens.verify("s2", "r1", &token));
        assert!(!RoomTokens::new("other").verify("s", "r1", &token));
        assert!(!tokens.verify("s", "r1", "zz"));
        assert!(!tokens.verify("s", "r1", ""));
        // "s/r" + "1" must not collide with "s" + "/r1"-style splits.
        assert_ne!(tokens.issue("s/r", "1"), tokens.issue("s", "r/1"));
    }
}
