//! Users and what they may do.

use serde::{Deserialize, Serialize};

use super::validation::{Errors, FieldError, is_game_name};

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

/// Passwords have at most this many characters.
pub const MAX_PASSWORD_LENGTH: usize = 1024;

/// Every field at fault among those being set (`None`: not set): the username, the password and
/// the games, each game with its index (`games[1]`).
pub fn validate_user_fields(
    username: Option<&str>,
    password: Option<&str>,
    games: Option<&[String]>,
) -> Result<(), Vec<FieldError>> {
    let mut errors = Errors::default();
    if let Some(username) = username {
        errors.check(
            is_username(username),
            "username",
            "must be 1-64 letters, digits, '.', '_' or '-'",
        );
    }
    if let Some(password) = password {
        let length = password.chars().count();
        errors.check(
            length >= MIN_PASSWORD_LENGTH,
            "password",
            format!("must have at least {MIN_PASSWORD_LENGTH} characters"),
        );
        errors.check(
            length <= MAX_PASSWORD_LENGTH,
            "password",
            format!("must have at most {MAX_PASSWORD_LENGTH} characters"),
        );
    }
    for (i, game) in games.unwrap_or_default().iter().enumerate() {
        errors.check(
            is_game_name(game),
            format!("games[{i}]"),
            format!("{game:?} is not a game name"),
        );
    }
    errors.into_result()
}

/// Why an administrator's change to a user is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UserChangeRefused {
    /// Administrators do not lock themselves out.
    #[error("You cannot {what} yourself.")]
    Yourself { what: &'static str },
    /// Nobody could manage users any more.
    #[error(
        "{username} is the last enabled administrator: make another user an administrator \
         before you {what} it"
    )]
    LastAdmin {
        username: String,
        what: &'static str,
    },
}

/// Whether `caller` (an administrator) may turn `before` into `after` (`None`: delete it), when
/// `enabled_admins` users are enabled administrators now (`before` counted if it is one).
/// Changes that keep `before`'s administrator rights are always allowed; deleting, demoting or
/// disabling an administrator is refused for the caller itself and for the last enabled one.
pub fn check_user_change(
    caller: &User,
    before: &User,
    after: Option<&User>,
    enabled_admins: usize,
) -> Result<(), UserChangeRefused> {
    if !before.is_admin() || after.is_some_and(User::is_admin) {
        return Ok(());
    }
    let what = match after {
        None => "delete",
        Some(after) if after.disabled => "disable",
        Some(_) => "demote",
    };
    if caller.username == before.username {
        return Err(UserChangeRefused::Yourself { what });
    }
    if enabled_admins <= 1 {
        return Err(UserChangeRefused::LastAdmin {
            username: before.username.clone(),
            what,
        });
    }
    Ok(())
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

    fn named(name: &str, role: Role, disabled: bool) -> User {
        User {
            username: name.into(),
            role,
            games: Vec::new(),
            disabled,
        }
    }

    #[test]
    fn administrators_keep_one_of_them_and_themselves() {
        let me = named("me", Role::Admin, false);
        let other = named("other", Role::Admin, false);
        let demoted = named("other", Role::Viewer, false);
        let disabled = named("other", Role::Admin, true);
        // Removing another administrator's rights while one more remains.
        assert_eq!(check_user_change(&me, &other, None, 2), Ok(()));
        assert_eq!(check_user_change(&me, &other, Some(&demoted), 2), Ok(()));
        assert_eq!(check_user_change(&me, &other, Some(&disabled), 2), Ok(()));
        // The last enabled one (the caller's own rights read from a stale record, say).
        assert_eq!(
            check_user_change(&me, &other, Some(&demoted), 1),
            Err(UserChangeRefused::LastAdmin {
                username: "other".into(),
                what: "demote"
            })
        );
        assert!(matches!(
            check_user_change(&me, &other, None, 1),
            Err(UserChangeRefused::LastAdmin { what: "delete", .. })
        ));
        // Oneself: never, however many administrators there are.
        for (after, what) in [
            (None, "delete"),
            (Some(named("me", Role::Editor, false)), "demote"),
            (Some(named("me", Role::Admin, true)), "disable"),
        ] {
            assert_eq!(
                check_user_change(&me, &me, after.as_ref(), 5),
                Err(UserChangeRefused::Yourself { what })
            );
        }
        // Changes that keep the rights, and changes to non-administrators, are free.
        assert_eq!(check_user_change(&me, &me, Some(&me), 1), Ok(()));
        let viewer = named("v", Role::Viewer, false);
        assert_eq!(check_user_change(&me, &viewer, None, 1), Ok(()));
        let gone = named("old", Role::Admin, true);
        assert_eq!(check_user_change(&me, &gone, None, 1), Ok(()));
    }

    #[test]
    fn user_fields_name_each_fault() {
        assert_eq!(
            validate_user_fields(Some("ann"), Some("long enough"), Some(&["g1".into()])),
            Ok(())
        );
        assert_eq!(validate_user_fields(None, None, None), Ok(()));
        let fields = |r: Result<(), Vec<FieldError>>| -> Vec<String> {
            r.unwrap_err().into_iter().map(|e| e.field).collect()
        };
        assert_eq!(
            fields(validate_user_fields(
                Some("a b"),
                Some("short"),
                Some(&["ok".into(), "not ok".into()])
            )),
            ["username", "password", "games[1]"]
        );
        let long = "x".repeat(MAX_PASSWORD_LENGTH + 1);
        assert_eq!(
            fields(validate_user_fields(None, Some(&long), None)),
            ["password"]
        );
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
