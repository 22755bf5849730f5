//! Users and what they may do.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages users and every scheduler.
    Admin,
    /// Manages the schedulers of the games listed on the user.
    Editor,
    /// Reads everything, changes nothing.
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Editor => "editor",
            Self::Viewer => "viewer",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Admin, Self::Editor, Self::Viewer]
            .into_iter()
            .find(|role| role.as_str() == text)
    }
}

/// A signed-in user as the rest of the system sees it (never with its password hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct User {
    pub username: String,
    pub role: Role,
    /// Games an editor may change.
    #[serde(default)]
    pub games: Vec<String>,
    #[serde(default)]
    pub disabled: bool,
}

impl User {
    /// Whether this user may create, change or delete schedulers of `game`.
    pub fn can_edit_game(&self, game: &str) -> bool {
        !self.disabled
            && match self.role {
                Role::Admin => true,
                Role::Editor => self.games.iter().any(|g| g == game),
                Role::Viewer => false,
            }
    }

    pub fn is_admin(&self) -> bool {
        !self.disabled && self.role == Role::Admin
    }
}

/// Passwords set from the dashboard have at least this many characters.
pub const MIN_PASSWORD_LENGTH: usize = 8;

/// Usernames: 1-64 letters, digits, '.', '_' or '-'.
pub fn is_username(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The games typed in a form: separated by commas or spaces, without blanks and duplicates.
pub fn parse_games(text: &str) -> Vec<String> {
    let mut games: Vec<String> = Vec::new();
    for game in text.split([',', ' ', '\n', '\t']).filter(|g| !g.is_empty()) {
        if !games.iter().any(|g| g == game) {
            games.push(game.to_string());
        }
    }
    games
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role, games: &[&str]) -> User {
        User {
            username: "u".into(),
            role,
            games: games.iter().map(|g| g.to_string()).collect(),
            disabled: false,
        }
    }

    #[test]
    fn who_may_edit_a_game() {
        assert!(user(Role::Admin, &[]).can_edit_game("g"));
        assert!(user(Role::Editor, &["g"]).can_edit_game("g"));
        assert!(!user(Role::Editor, &["h"]).can_edit_game("g"));
        assert!(!user(Role::Viewer, &["g"]).can_edit_game("g"));
        let mut disabled = user(Role::Admin, &[]);
        disabled.disabled = true;
        assert!(!disabled.can_edit_game("g"));
        assert!(!disabled.is_admin());
        assert_eq!(Role::parse("editor"), Some(Role::Editor));
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn usernames_and_game_lists() {
        assert!(is_username("ann.lee-2_x"));
        assert!(!is_username(""));
        assert!(!is_username("a b"));
        assert!(!is_username(&"a".repeat(65)));
        assert_eq!(parse_games(" g1, g2 g1,,g3 "), ["g1", "g2", "g3"]);
        assert!(parse_games(" , ").is_empty());
    }
}
