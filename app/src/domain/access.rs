//! Who may read and change what: the rules the JSON API and the dashboard both apply.
//!
//! - Administrators read and change everything.
//! - Editors and viewers read the schedulers (rooms, addresses, decisions, history) of the games
//!   listed on them, and nothing else; editors change those schedulers.
//! - Environment values marked secret, or read from `valueFrom`, are shown only to those who may
//!   change the scheduler.
//! - On the local runtime a scheduler's command runs on Baton's own host as Baton's OS user, so
//!   creating or changing such a scheduler is an administrator's right, unless the administrator
//!   lets the editors of that game do it.

use super::scheduler::SchedulerConfig;
use super::user::{Role, User};

/// What replaces a hidden environment value.
pub const HIDDEN_VALUE: &str = "(hidden)";

/// Where rooms run, as far as the rules care: whether a scheduler's command runs on Baton's host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostCommands {
    /// Rooms run as processes on Baton's host (the local runtime).
    pub on_host: bool,
    /// Games whose editors an administrator allowed to run commands on the host.
    pub editor_games: Vec<String>,
}

impl HostCommands {
    /// Rooms run elsewhere (Kubernetes): editors need no further grant.
    pub fn elsewhere() -> Self {
        Self::default()
    }

    /// Rooms run on this host; editors of `editor_games` may still change their schedulers.
    pub fn on_host(editor_games: Vec<String>) -> Self {
        Self {
            on_host: true,
            editor_games,
        }
    }
}

/// Why a change is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("user {user} may not change schedulers of game {game}")]
    NotEditor { user: String, game: String },
    #[error(
        "rooms run on Baton's own host (local runtime): only administrators may create or change \
         schedulers of game {game}, unless an administrator allows its editors \
         (--local-runtime-editor-games)"
    )]
    HostCommands { game: String },
    #[error("only administrators manage users")]
    NotAdmin,
}

/// Whether `user` may see the schedulers of `game` and everything about them.
pub fn can_read(user: &User, game: &str) -> bool {
    !user.disabled && (user.role == Role::Admin || user.games.iter().any(|g| g == game))
}

/// Whether `user` may create, change or delete schedulers of `game` at all.
pub fn can_edit(user: &User, game: &str) -> bool {
    user.can_edit_game(game)
}

/// Whether `user` may read and change users (reads included: usernames and roles are an
/// administrator's business).
pub fn may_manage_users(user: &User) -> Result<(), Denied> {
    if user.is_admin() {
        Ok(())
    } else {
        Err(Denied::NotAdmin)
    }
}

/// Whether `user` may allocate, reserve and release rooms of `game`'s schedulers: a matchmaker's
/// credentials are an editor's (or an administrator's); viewers only read.
pub fn can_allocate(user: &User, game: &str) -> bool {
    can_edit(user, game)
}

/// Whether `user` may create or change (not delete) a scheduler of `game`, whose command runs
/// where `host` says.
pub fn may_configure(user: &User, game: &str, host: &HostCommands) -> Result<(), Denied> {
    if !can_edit(user, game) {
        return Err(Denied::NotEditor {
            user: user.username.clone(),
            game: game.to_string(),
        });
    }
    if host.on_host && !user.is_admin() && !host.editor_games.iter().any(|g| g == game) {
        return Err(Denied::HostCommands {
            game: game.to_string(),
        });
    }
    Ok(())
}

/// Whether `user` may cancel an operation of a scheduler of `game`: an editor's right, also
/// where configuring is not (deleting is, and so is stopping the delete); viewers may not.
pub fn may_cancel_operations(user: &User, game: &str) -> Result<(), Denied> {
    if can_edit(user, game) {
        Ok(())
    } else {
        Err(Denied::NotEditor {
            user: user.username.clone(),
            game: game.to_string(),
        })
    }
}

/// The configuration as `user` may see it: sensitive environment values hidden from those who
/// may not change the scheduler.
pub fn visible_config(user: &User, mut config: SchedulerConfig) -> SchedulerConfig {
    if can_edit(user, &config.game) {
        return config;
    }
    hide_sensitive(&mut config);
    config
}

/// Hides every sensitive environment value of `config` (marked secret, or read from
/// `valueFrom`): what readers who may not change it see, and what the audit log keeps.
pub fn hide_sensitive(config: &mut SchedulerConfig) {
    for variable in config
        .spec
        .containers
        .iter_mut()
        .flat_map(|c| c.environment.iter_mut())
        .filter(|v| v.is_sensitive())
    {
        variable.value = HIDDEN_VALUE.to_string();
        variable.value_from = None;
        variable.secret = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::scheduler::{
        Container, EnvironmentSource, EnvironmentVariable, SecretKeyReference,
    };

    fn user(role: Role, games: &[&str]) -> User {
        User {
            username: "u".into(),
            role,
            games: games.iter().map(|g| g.to_string()).collect(),
            disabled: false,
        }
    }

    #[test]
    fn editors_of_the_game_cancel_operations_viewers_do_not() {
        assert_eq!(
            may_cancel_operations(&user(Role::Editor, &["g"]), "g"),
            Ok(())
        );
        assert_eq!(may_cancel_operations(&user(Role::Admin, &[]), "g"), Ok(()));
        assert!(matches!(
            may_cancel_operations(&user(Role::Editor, &["other"]), "g"),
            Err(Denied::NotEditor { .. })
        ));
        assert!(matches!(
            may_cancel_operations(&user(Role::Viewer, &["g"]), "g"),
            Err(Denied::NotEditor { .. })
        ));
    }

    #[test]
    fn only_enabled_administrators_manage_users() {
        assert_eq!(may_manage_users(&user(Role::Admin, &[])), Ok(()));
        assert_eq!(
            may_manage_users(&user(Role::Editor, &["g"])),
            Err(Denied::NotAdmin)
        );
        assert_eq!(
            may_manage_users(&user(Role::Viewer, &[])),
            Err(Denied::NotAdmin)
        );
        let mut disabled = user(Role::Admin, &[]);
        disabled.disabled = true;
        assert_eq!(may_manage_users(&disabled), Err(Denied::NotAdmin));
    }

    #[test]
    fn editors_of_the_game_allocate_viewers_do_not() {
        assert!(can_allocate(&user(Role::Admin, &[]), "g"));
        assert!(can_allocate(&user(Role::Editor, &["g"]), "g"));
        assert!(!can_allocate(&user(Role::Editor, &["h"]), "g"));
        assert!(!can_allocate(&user(Role::Viewer, &["g"]), "g"));
    }

    #[test]
    fn reads_follow_the_games_a_user_has_a_role_in() {
        assert!(can_read(&user(Role::Admin, &[]), "g"));
        assert!(can_read(&user(Role::Editor, &["g"]), "g"));
        assert!(can_read(&user(Role::Viewer, &["g"]), "g"));
        assert!(!can_read(&user(Role::Editor, &["h"]), "g"));
        assert!(!can_read(&user(Role::Viewer, &[]), "g"));
        let mut disabled = user(Role::Admin, &[]);
        disabled.disabled = true;
        assert!(!can_read(&disabled, "g"));
    }

    #[test]
    fn host_commands_are_an_administrators_right_unless_granted() {
        let local = HostCommands::on_host(vec!["granted".into()]);
        let editor = user(Role::Editor, &["g", "granted"]);
        assert_eq!(
            may_configure(&editor, "g", &local),
            Err(Denied::HostCommands { game: "g".into() })
        );
        assert_eq!(may_configure(&editor, "granted", &local), Ok(()));
        assert_eq!(may_configure(&user(Role::Admin, &[]), "g", &local), Ok(()));
        assert_eq!(
            may_configure(&editor, "g", &HostCommands::elsewhere()),
            Ok(())
        );
        assert!(matches!(
            may_configure(&user(Role::Viewer, &["g"]), "g", &HostCommands::elsewhere()),
            Err(Denied::NotEditor { .. })
        ));
        assert!(matches!(
            may_configure(&editor, "other", &HostCommands::elsewhere()),
            Err(Denied::NotEditor { .. })
        ));
    }

    #[test]
    fn sensitive_values_are_hidden_from_those_who_cannot_change_the_scheduler() {
        let mut config = SchedulerConfig {
            game: "g".into(),
            ..SchedulerConfig::default()
        };
        config.spec.containers.push(Container {
            environment: vec![
                EnvironmentVariable::plain("PLAIN", "shown"),
                EnvironmentVariable::secret("KEY", "s3cret"),
                EnvironmentVariable {
                    name: "FROM".into(),
                    value_from: Some(EnvironmentSource {
                        secret_key_ref: Some(SecretKeyReference {
                            name: "db".into(),
                            key: "password".into(),
                        }),
                        ..EnvironmentSource::default()
                    }),
                    ..EnvironmentVariable::default()
                },
            ],
            ..Container::default()
        });
        let env = |c: &SchedulerConfig| c.spec.containers[0].environment.clone();

        let seen = visible_config(&user(Role::Viewer, &["g"]), config.clone());
        assert_eq!(env(&seen)[0].value, "shown");
        for hidden in &env(&seen)[1..] {
            assert_eq!(hidden.value, HIDDEN_VALUE);
            assert_eq!(hidden.value_from, None);
        }
        assert!(!serde_json::to_string(&seen).unwrap().contains("s3cret"));

        // Editors of the game and administrators see the values they may change.
        assert_eq!(
            visible_config(&user(Role::Editor, &["g"]), config.clone()),
            config
        );
        assert_eq!(
            visible_config(&user(Role::Admin, &[]), config.clone()),
            config
        );
        // An editor of another game is a reader at most.
        assert_eq!(
            env(&visible_config(&user(Role::Editor, &["h"]), config.clone()))[1].value,
            HIDDEN_VALUE
        );
    }
}
