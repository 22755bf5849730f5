//! User administration (admins only): create users, reset passwords, change roles, disable.

use leptos::prelude::*;

use crate::auth::AppError;
use crate::components::common::ErrorBox;
use crate::components::layout::use_me;
use crate::domain::user::{Role, User};

#[cfg(feature = "ssr")]
mod form {
    //! The form's fields as the user use cases take them; the rules live in
    //! `services::users` (shared with the JSON API).

    use crate::auth::AppError;
    use crate::auth::server::{Dashboard, dashboard, reject, require_user};
    use crate::domain::user::{Role, User, parse_games};
    use crate::services::ServiceError;

    /// The signed-in user and the dashboard's ports.
    pub async fn caller() -> Result<(User, Dashboard), AppError> {
        let user = require_user().await?;
        Ok((user, dashboard()?))
    }

    /// A service's refusal, with its HTTP status.
    pub fn refused(err: ServiceError) -> AppError {
        reject(err.into())
    }

    pub fn role(role: &str) -> Result<Role, AppError> {
        Role::parse(role)
            .ok_or_else(|| reject(AppError::invalid("role", "must be admin, editor or viewer")))
    }

    /// The games typed in the form: separated by commas or spaces.
    pub fn games(games: &str) -> Vec<String> {
        parse_games(games)
    }
}

/// Every user.
#[server(endpoint = "list_users", output = crate::codec::JsonText)]
pub async fn list_users() -> Result<Vec<User>, AppError> {
    let (caller, dashboard) = form::caller().await?;
    dashboard
        .accounts
        .list(&caller)
        .await
        .map_err(form::refused)
}

/// A new user; `games` lists the games an editor or viewer works on, separated by commas or spaces.
#[server(endpoint = "create_user", output = crate::codec::JsonText)]
pub async fn create_user(
    username: String,
    password: String,
    role: String,
    games: String,
) -> Result<(), AppError> {
    use crate::services::users::NewUser;

    let (caller, dashboard) = form::caller().await?;
    let new = NewUser {
        username,
        password,
        role: form::role(&role)?,
        games: form::games(&games),
    };
    dashboard
        .accounts
        .create(&caller, new)
        .await
        .map_err(form::refused)?;
    Ok(())
}

/// Sets a new password; the user's sessions end.
#[server(endpoint = "reset_password", output = crate::codec::JsonText)]
pub async fn reset_password(username: String, password: String) -> Result<(), AppError> {
    use crate::services::users::UserChange;

    let (caller, dashboard) = form::caller().await?;
    let change = UserChange {
        password: Some(password),
        ..UserChange::default()
    };
    dashboard
        .accounts
        .change(&caller, &username, change)
        .await
        .map_err(form::refused)?;
    Ok(())
}

/// Disables (sign-in and sessions refused) or enables a user.
#[server(endpoint = "set_user_disabled", output = crate::codec::JsonText)]
pub async fn set_user_disabled(username: String, disabled: bool) -> Result<(), AppError> {
    use crate::services::users::UserChange;

    let (caller, dashboard) = form::caller().await?;
    let change = UserChange {
        disabled: Some(disabled),
        ..UserChange::default()
    };
    dashboard
        .accounts
        .change(&caller, &username, change)
        .await
        .map_err(form::refused)?;
    Ok(())
}

/// Changes a user's role and games.
#[server(endpoint = "update_user", output = crate::codec::JsonText)]
pub async fn update_user(username: String, role: String, games: String) -> Result<(), AppError> {
    use crate::services::users::UserChange;

    let (caller, dashboard) = form::caller().await?;
    let change = UserChange {
        role: Some(form::role(&role)?),
        games: Some(form::games(&games)),
        ..UserChange::default()
    };
    dashboard
        .accounts
        .change(&caller, &username, change)
        .await
        .map_err(form::refused)?;
    Ok(())
}

fn role_select(current: Role) -> impl IntoView {
    view! {
        <select name="role" aria-label="Role">
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
