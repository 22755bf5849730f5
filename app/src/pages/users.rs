//! User administration (admins only): create users, reset passwords, change roles, disable.

use leptos::prelude::*;

use crate::auth::AppError;
use crate::components::common::ErrorBox;
use crate::components::layout::use_me;
use crate::domain::user::{Role, User};

#[cfg(feature = "ssr")]
mod checks {
    use crate::auth::AppError;
    use crate::auth::server::reject;
    use crate::domain::user::{MIN_PASSWORD_LENGTH, Role, is_username};
    use crate::domain::validation::is_game_name;

    pub fn password(password: &str) -> Result<(), AppError> {
        if password.chars().count() < MIN_PASSWORD_LENGTH {
            return Err(reject(AppError::invalid(
                "password",
                &format!("must have at least {MIN_PASSWORD_LENGTH} characters"),
            )));
        }
        Ok(())
    }

    pub fn role(role: &str) -> Result<Role, AppError> {
        Role::parse(role)
            .ok_or_else(|| reject(AppError::invalid("role", "must be admin, editor or viewer")))
    }

    pub fn games(games: &str) -> Result<Vec<String>, AppError> {
        let games = crate::domain::user::parse_games(games);
        match games.iter().find(|g| !is_game_name(g)) {
            Some(bad) => Err(reject(AppError::invalid(
                "games",
                &format!("{bad} is not a game name"),
            ))),
            None => Ok(games),
        }
    }

    pub fn username(username: &str) -> Result<(), AppError> {
        if !is_username(username) {
            return Err(reject(AppError::invalid(
                "username",
                "must be 1-64 letters, digits, '.', '_' or '-'",
            )));
        }
        Ok(())
    }

    /// Admins may not lock themselves out.
    pub fn not_self(admin: &str, username: &str, what: &str) -> Result<(), AppError> {
        if admin == username {
            return Err(reject(AppError::Forbidden(format!(
                "You cannot {what} yourself."
            ))));
        }
        Ok(())
    }
}

/// Every user.
#[server(endpoint = "list_users")]
pub async fn list_users() -> Result<Vec<User>, AppError> {
    use crate::auth::server::{dashboard, require_admin};

    require_admin().await?;
    Ok(dashboard()?.users.list_users().await?)
}

/// A new user; `games` lists the games an editor or viewer works on, separated by commas or spaces.
#[server(endpoint = "create_user")]
pub async fn create_user(
    username: String,
    password: String,
    role: String,
    games: String,
) -> Result<(), AppError> {
    use crate::auth::server::{dashboard, reject, require_admin};
    use crate::domain::audit::AuditAction::*;

    let admin = require_admin().await?;
    checks::username(&username)?;
    checks::password(&password)?;
    let user = User {
        username,
        role: checks::role(&role)?,
        games: checks::games(&games)?,
        disabled: false,
    };
    let dashboard = dashboard()?;
    let hash = dashboard.passwords.hash(&password).await?;
    dashboard
        .users
        .create(&user, &hash)
        .await
        .map_err(|e| reject(e.into()))?;
    leptos::logging::log!("user {} created by {}", user.username, admin.username);
    let audit = &dashboard.schedulers.audit;
    audit
        .user_changed(&admin, UserCreated, &user.username, None, Some(&user))
        .await;
    Ok(())
}

/// Sets a new password; the user's sessions end.
#[server(endpoint = "reset_password")]
pub async fn reset_password(username: String, password: String) -> Result<(), AppError> {
    use crate::auth::server::{dashboard, reject, require_admin};
    use crate::domain::audit::AuditAction::*;

    let admin = require_admin().await?;
    checks::password(&password)?;
    let dashboard = dashboard()?;
    let hash = dashboard.passwords.hash(&password).await?;
    dashboard
        .users
        .set_password(&username, &hash)
        .await
        .map_err(|e| reject(e.into()))?;
    dashboard.passwords.forget(&username);
    leptos::logging::log!("password of {username} reset by {}", admin.username);
    let audit = &dashboard.schedulers.audit;
    audit
        .user_changed(&admin, PasswordReset, &username, None, None)
        .await;
    Ok(())
}

/// Disables (sign-in and sessions refused) or enables a user.
#[server(endpoint = "set_user_disabled")]
pub async fn set_user_disabled(username: String, disabled: bool) -> Result<(), AppError> {
    use crate::auth::server::{dashboard, reject, require_admin};
    use crate::domain::audit::AuditAction::*;

    let admin = require_admin().await?;
    checks::not_self(&admin.username, &username, "disable")?;
    let dashboard = dashboard()?;
    dashboard
        .users
        .set_disabled(&username, disabled)
        .await
        .map_err(|e| reject(e.into()))?;
    dashboard.passwords.forget(&username);
    let action = if disabled { UserDisabled } else { UserEnabled };
    let audit = &dashboard.schedulers.audit;
    audit
        .user_changed(&admin, action, &username, None, None)
        .await;
    Ok(())
}

/// Changes a user's role and games.
#[server(endpoint = "update_user")]
pub async fn update_user(username: String, role: String, games: String) -> Result<(), AppError> {
    use crate::auth::server::{dashboard, reject, require_admin};
    use crate::domain::audit::AuditAction::*;

    let admin = require_admin().await?;
    let role = checks::role(&role)?;
    if role != Role::Admin {
        checks::not_self(&admin.username, &username, "demote")?;
    }
    let dashboard = dashboard()?;
    let user = User {
        username,
        role,
        games: checks::games(&games)?,
        disabled: false,
    };
    let before = dashboard.users.credentials(&user.username).await?;
    dashboard
        .users
        .update(&user)
        .await
        .map_err(|e| reject(e.into()))?;
    dashboard.passwords.forget(&user.username);
    let audit = &dashboard.schedulers.audit;
    let before = before.map(|(user, _hash)| user);
    // The role and games changed; whether the user is disabled did not.
    let after = User {
        disabled: before.as_ref().is_some_and(|b| b.disabled),
        ..user.clone()
    };
    audit
        .user_changed(
            &admin,
            UserChanged,
            &user.username,
            before.as_ref(),
            Some(&after),
        )
        .await;
    Ok(())
}

fn role_select(current: Role) -> impl IntoView {
    view! {
        <select name="role">
            {[Role::Viewer, Role::Editor, Role::Admin]
                .into_iter()
                .map(|role| {
                    view! {
                        <option value=role.as_str() selected=role == current>
                            {role.as_str()}
                        </option>
                    }
                })
                .collect_view()}
        </select>
    }
}

#[component]
pub fn UsersPage() -> impl IntoView {
    let create = ServerAction::<CreateUser>::new();
    let reset = ServerAction::<ResetPassword>::new();
    let disable = ServerAction::<SetUserDisabled>::new();
    let update = ServerAction::<UpdateUser>::new();
    let users = Resource::new(
        move || {
            (
                create.version().get(),
                reset.version().get(),
                disable.version().get(),
                update.version().get(),
            )
        },
        |_| list_users(),
    );
    let me = move || use_me().map(|u| u.username).unwrap_or_default();
    let last_error = move || {
        [
            create.value().get(),
            reset.value().get(),
            disable.value().get(),
            update.value().get(),
        ]
        .into_iter()
        .flatten()
        .find_map(Result::err)
    };
    view! {
        <div class="page-head">
            <h1>"Users"</h1>
        </div>
        {move || last_error().map(|error| view! { <ErrorBox error/> })}
        <section class="card">
            <h2>"New user"</h2>
            <ActionForm action=create attr:class="row form new-user">
                <label class="field">
                    <span>"Username"</span>
                    <input type="text" name="username" required/>
                </label>
                <label class="field">
                    <span>"Password"</span>
                    <input type="password" name="password" autocomplete="new-password" required/>
                </label>
                <label class="field">
                    <span>"Role"</span>
                    {role_select(Role::Viewer)}
                </label>
                <label class="field">
                    <span>"Games (editors and viewers)"</span>
                    <input type="text" name="games" placeholder="game-a, game-b"/>
                </label>
                <button type="submit" class="button primary">
                    "Create user"
                </button>
            </ActionForm>
        </section>
        <section class="card">
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    users
                        .get()
                        .map(|result| match result {
                            Err(error) => view! { <ErrorBox error/> }.into_any(),
                            Ok(users) => {
                                view! {
                                    <table class="grid users">
                                        <thead>
                                            <tr>
                                                <th>"User"</th>
                                                <th>"Role and games"</th>
                                                <th>"Password"</th>
                                                <th>"Status"</th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {users
                                                .into_iter()
                                                .map(|user| {
                                                    let is_me = user.username == me();
                                                    let name = user.username.clone();
                                                    let (for_update, for_reset, for_disable) = (
                                                        name.clone(),
                                                        name.clone(),
                                                        name.clone(),
                                                    );
                                                    let games = user.games.join(", ");
                                                    let key = name.clone();
                                                    view! {
                                                        <tr data-user=key>
                                                            <td>{name}</td>
                                                            <td>
                                                                <ActionForm action=update attr:class="inline">
                                                                    <input type="hidden" name="username" value=for_update/>
                                                                    {role_select(user.role)}
                                                                    <input
                                                                        type="text"
                                                                        name="games"
                                                                        value=games
                                                                        placeholder="games"
                                                                    />
                                                                    <button type="submit" class="button small">
                                                                        "Save"
                                                                    </button>
                                                                </ActionForm>
                                                            </td>
                                                            <td>
                                                                <ActionForm action=reset attr:class="inline">
                                                                    <input type="hidden" name="username" value=for_reset/>
                                                                    <input
                                                                        type="password"
                                                                        name="password"
                                                                        placeholder="new password"
                                                                        autocomplete="new-password"
                                                                    />
                                                                    <button type="submit" class="button small">
                                                                        "Reset"
                                                                    </button>
                                                                </ActionForm>
                                                            </td>
                                                            <td>
                                                                {if user.disabled {
                                                                    view! { <span class="badge disabled">"disabled"</span> }
                                                                        .into_any()
                                                                } else {
                                                                    view! { <span class="badge enabled">"active"</span> }
                                                                        .into_any()
                                                                }}
                                                                {(!is_me)
                                                                    .then(|| {
                                                                        view! {
                                                                            <ActionForm action=disable attr:class="inline">
                                                                                <input type="hidden" name="username" value=for_disable/>
                                                                                <input
                                                                                    type="hidden"
                                                                                    name="disabled"
                                                                                    value=(!user.disabled).to_string()
                                                                                />
                                                                                <button type="submit" class="button small">
                                                                                    {if user.disabled { "Enable" } else { "Disable" }}
                                                                                </button>
                                                                            </ActionForm>
                                                                        }
                                                                    })}
                                                            </td>
                                                        </tr>
                                                    }
                                                })
                                                .collect_view()}
                                        </tbody>
                                    </table>
                                }
                                    .into_any()
                            }
                        })
                }}
            </Transition>
        </section>
    }
}
