//! The frame of every signed-in page: the top bar and the page below it.

use leptos::prelude::*;
use leptos_router::components::{A, Outlet};

use crate::auth::{AppError, current_user};
use crate::domain::user::User;
use crate::pages::sign_in::SignOut;

/// The signed-in user as the top bar loaded it; pages read it to show or hide edit buttons
/// (the server checks the role again on every change).
#[derive(Clone, Copy)]
pub struct Me(pub Resource<Result<Option<User>, AppError>>);

impl Me {
    /// The user, once loaded.
    pub fn user(&self) -> Option<User> {
        self.0.get().and_then(Result::ok).flatten()
    }
}

/// The signed-in user from the top bar, where there is one.
pub fn use_me() -> Option<User> {
    use_context::<Me>().and_then(|me| me.user())
}

#[component]
pub fn Layout() -> impl IntoView {
    let me = Resource::new(|| (), |_| current_user());
    provide_context(Me(me));
    let sign_out = ServerAction::<SignOut>::new();
    view! {
        <header class="topbar">
            <nav class="topbar-inner">
                <A href="/ui/schedulers" attr:class="brand">
                    "Baton"
                </A>
                <A href="/ui/schedulers">"Schedulers"</A>
                <Transition fallback=|| ()>
                    {move || {
                        Me(me)
                            .user()
                            .filter(User::is_admin)
                            .map(|_| view! { <A href="/ui/users">"Users"</A> })
                    }}
                </Transition>
                <A href="/ui/audit">"Audit log"</A>
                <a href="/docs">"API"</a>
                <span class="spacer"></span>
                <Transition fallback=|| ()>
                    {move || {
                        Me(me)
                            .user()
                            .map(|user| {
                                view! {
                                    <span class="who">
                                        <span class="username">{user.username.clone()}</span>
                                        <span class="role">{user.role.as_str()}</span>
                                    </span>
                                }
                            })
                    }}
                </Transition>
                <ActionForm action=sign_out attr:class="sign-out">
                    <button type="submit" class="button link">
                        "Sign out"
                    </button>
                </ActionForm>
            </nav>
        </header>
        <main>
            <Outlet/>
        </main>
    }
}
