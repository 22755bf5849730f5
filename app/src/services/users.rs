//! Users, managed by administrators: list, read, create, change (role, games, password,
//! disabled) and delete. The JSON API (`/users`) and the dashboard's Users page both call these,
//! so the rules are written once: only enabled administrators manage users (reads included),
//! nobody deletes, demotes or disables themselves or the last enabled administrator
//! (`domain::user::check_user_change`), and fields are checked before anything is written.

use std::sync::Arc;

use super::audit::AuditTrail;
use crate::domain::access;
use crate::domain::audit::AuditAction;
use crate::domain::user::{Role, User, UserChangeRefused, check_user_change, validate_user_fields};
use crate::ports::{Passwords, UserStore};

use super::ServiceError;

/// A user to create, with its password in clear (hashed here, never stored or answered as is).
#[derive(Clone, PartialEq, Eq)]
pub struct NewUser {
    pub username: String,
    pub password: String,
    pub role: Role,
    /// The games an editor or viewer works on.
    pub games: Vec<String>,
}

/// What to change about a user; `None` keeps it as it is.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct UserChange {
    pub role: Option<Role>,
    pub games: Option<Vec<String>>,
    /// A new password: the user's sessions end.
    pub password: Option<String>,
    /// Disabling ends the user's sessions (enabling again does not revive them).
    pub disabled: Option<bool>,
}

// Never shows a password.
impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("role", &self.role)
            .field("games", &self.games)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for UserChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserChange")
            .field("role", &self.role)
            .field("games", &self.games)
            .field("password", &self.password.as_ref().map(|_| "(set)"))
            .field("disabled", &self.disabled)
            .finish()
    }
}

impl UserChange {
    fn is_empty(&self) -> bool {
        self.role.is_none()
            && self.games.is_none()
            && self.password.is_none()
            && self.disabled.is_none()
    }
}

impl From<UserChangeRefused> for ServiceError {
    fn from(refused: UserChangeRefused) -> Self {
        match refused {
            UserChangeRefused::Yourself { .. } => Self::Forbidden(refused.to_string()),
            UserChangeRefused::LastAdmin { .. } => Self::Precondition(refused.to_string()),
        }
    }
}

/// The user use cases over the user store and the password hasher.
pub struct UserService {
    pub users: Arc<dyn UserStore>,
    pub passwords: Arc<dyn Passwords>,
    /// Every change is recorded here (never a password or its hash).
    pub audit: Arc<AuditTrail>,
}

impl UserService {
    /// Every user, by username.
    pub async fn list(&self, caller: &User) -> Result<Vec<User>, ServiceError> {
        access::may_manage_users(caller)?;
        Ok(self.users.list_users().await?)
    }

    pub async fn get(&self, caller: &User, username: &str) -> Result<User, ServiceError> {
        access::may_manage_users(caller)?;
        self.find(username).await
    }

    /// Creates an enabled user; `Conflict` when the username is taken.
    pub async fn create(&self, caller: &User, new: NewUser) -> Result<User, ServiceError> {
        access::may_manage_users(caller)?;
        validate_user_fields(
            Some(new.username.as_str()),
            Some(new.password.as_str()),
            Some(new.games.as_slice()),
        )
        .map_err(ServiceError::Invalid)?;
        let user = User {
            username: new.username,
            role: new.role,
            games: new.games,
            disabled: false,
        };
        let hash = self.passwords.hash(&new.password).await?;
        self.users.create(&user, &hash).await?;
        tracing::info!(user = %user.username, role = user.role.as_str(), by = %caller.username, "user created");
        self.audit
            .user_changed(
                caller,
                AuditAction::UserCreated,
                &user.username,
                None,
                Some(&user),
            )
            .await;
        Ok(user)
    }

    /// Applies `change` to `username` and answers the user as it now is. Every field is checked,
    /// and the rules applied, before anything is written.
    pub async fn change(
        &self,
        caller: &User,
        username: &str,
        change: UserChange,
    ) -> Result<User, ServiceError> {
        access::may_manage_users(caller)?;
        if change.is_empty() {
            return Err(ServiceError::invalid(
                "body",
                "name at least one of role, games, password, disabled",
            ));
        }
        validate_user_fields(None, change.password.as_deref(), change.games.as_deref())
            .map_err(ServiceError::Invalid)?;
        let before = self.find(username).await?;
        let after = User {
            username: before.username.clone(),
            role: change.role.unwrap_or(before.role),
            games: change.games.clone().unwrap_or_else(|| before.games.clone()),
            disabled: change.disabled.unwrap_or(before.disabled),
        };
        check_user_change(caller, &before, Some(&after), self.enabled_admins().await?)?;
        let hash = match &change.password {
            Some(password) => Some(self.passwords.hash(password).await?),
            None => None,
        };
        if change.role.is_some() || change.games.is_some() {
            self.users.update(&after).await?;
        }
        if let Some(disabled) = change.disabled {
            self.users.set_disabled(username, disabled).await?;
        }
        if let Some(hash) = hash {
            self.users.set_password(username, &hash).await?;
        }
        // Cached credentials carry the old role, status or password.
        self.passwords.forget(username);
        tracing::info!(user = %username, change = ?change, by = %caller.username, "user changed");
        if change.role.is_some() || change.games.is_some() {
            let after = User {
                disabled: before.disabled,
                ..after.clone()
            };
            self.audit
                .user_changed(
                    caller,
                    AuditAction::UserChanged,
                    username,
                    Some(&before),
                    Some(&after),
                )
                .await;
        }
        if let Some(disabled) = change.disabled.filter(|d| *d != before.disabled) {
            let action = if disabled {
                AuditAction::UserDisabled
            } else {
                AuditAction::UserEnabled
            };
            self.audit
                .user_changed(caller, action, username, None, None)
                .await;
        }
        if change.password.is_some() {
            self.audit
                .user_changed(caller, AuditAction::PasswordReset, username, None, None)
                .await;
        }
        Ok(after)
    }

    /// Deletes a user: its sessions and cached credentials end with it.
    pub async fn delete(&self, caller: &User, username: &str) -> Result<(), ServiceError> {
        access::may_manage_users(caller)?;
        let before = self.find(username).await?;
        check_user_change(caller, &before, None, self.enabled_admins().await?)?;
        self.users.delete_user(username).await?;
        self.passwords.forget(username);
        tracing::info!(user = %username, by = %caller.username, "user deleted");
        self.audit
            .user_changed(
                caller,
                AuditAction::UserDeleted,
                username,
                Some(&before),
                None,
            )
            .await;
        Ok(())
    }

    /// Ends every session of `username` (signing out, in any browser, signs out of all).
    pub async fn end_sessions(&self, username: &str) -> Result<(), ServiceError> {
        self.users.end_sessions(username).await?;
        tracing::info!(user = %username, "signed out everywhere");
        Ok(())
    }

    async fn find(&self, username: &str) -> Result<User, ServiceError> {
        match self.users.credentials(username).await? {
            Some((user, _)) => Ok(user),
            None => Err(ServiceError::NotFound(format!("user {username} not found"))),
        }
    }

    async fn enabled_admins(&self) -> Result<usize, ServiceError> {
        Ok(self
            .users
            .list_users()
            .await?
            .iter()
            .filter(|u| u.is_admin())
            .count())
    }
}
