//! Signing in and out.

use leptos::prelude::*;
use leptos::server_fn::error::ServerFnUrlError;
use leptos_router::hooks::use_query_map;

use crate::auth::AppError;

/// Checks the password (argon2id, with the API's limits per client address and per user) and
/// starts a session. The answer never tells whether the user exists.
#[server(endpoint = "sign_in", output = crate::codec::JsonText)]
pub async fn sign_in(
    username: String,
    password: String,
    next: Option<String>,
) -> Result<(), AppError> {
    use crate::auth::server::{client_ip, dashboard, reject, session, start_session};
    use crate::ports::Verified;

    let dashboard = dashboard()?;
    let client = client_ip().await;
    let user = match dashboard
        .passwords
        .verify(&username, &password, &client)
        .await?
    {
        Verified::User(user) => user,
        Verified::Wrong => return Err(reject(AppError::BadCredentials)),
        Verified::Throttled { .. } => return Err(reject(AppError::TooManyAttempts)),
    };
    let Some(account) = dashboard.users.account(&user.username).await? else {
        return Err(reject(AppError::BadCredentials));
    };
    start_session(&session().await?, &account).await?;
    leptos_axum::redirect(&crate::auth::safe_next(next.as_deref()));
    Ok(())
}

/// Signs out everywhere: every session of the user ends (in every browser), this one is
/// removed from the store and its cookie cleared.
#[server(endpoint = "sign_out", output = crate::codec::JsonText)]
pub async fn sign_out() -> Result<(), AppError> {
    use crate::auth::server::{dashboard, session, session_user};

    let dashboard = dashboard()?;
    let session = session().await?;
    if let Some(user) = session_user(&session, dashboard.users.as_ref()).await? {
        dashboard.accounts.end_sessions(&user.username).await?;
    }
    session
        .flush()
        .await
        .map_err(|e| AppError::Failed(e.to_string()))?;
    leptos_axum::redirect("/ui/sign-in");
    Ok(())
}

#[component]
pub fn SignInPage() -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let query = use_query_map();
    let next = move || query.with(|q| q.get("next")).unwrap_or_default();
    // Without JavaScript a refused form post comes back with the error in the URL.
    let error = move || match action.value().get() {
        Some(Err(err)) => Some(err.to_string()),
        Some(Ok(())) => None,
        None => query
            .with(|q| q.get("__err"))
            .map(|e| ServerFnUrlError::<AppError>::decode_err(&e).to_string()),
    };
    view! {
        <div class="sign-in">
            <h1 class="brand-title">"Baton"</h1>
            <ActionForm action=action attr:class="card form sign-in-form">
                <h2>"Sign in"</h2>
                <label class="field">
                    <span>"Username"</span>
                    <input type="text" name="username" autocomplete="username" required autofocus/>
                </label>
                <label class="field">
                    <span>"Password"</span>
                    <input
                        type="password"
                        name="password"
                        autocomplete="current-password"
                        required
                    />
                </label>
                <input type="hidden" name="next" value=next/>
                {move || error().map(|e| view! { <p class="error-box" role="alert">{e}</p> })}
                <button type="submit" class="button primary" disabled=move || action.pending().get()>
                    "Sign in"
                </button>
            </ActionForm>
        </div>
    }
}
