//! Baton's shared crate: the pure domain, the driven ports (server only) and the dashboard.

pub mod auth;
pub mod components;
pub mod domain;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod ports;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    SsrMode,
    components::{ParentRoute, Route, Router, Routes},
    path,
};

use components::layout::Layout;
use pages::{scheduler, scheduler_autoscaling, scheduler_edit, schedulers, sign_in, users};

/// The HTML document around every page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The dashboard, under `/ui` (the JSON API owns `/schedulers`). Pages render whole on the
/// server (`SsrMode::Async`), so they read fine without JavaScript, then hydrate.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Marks the page once the browser took over (end-to-end tests wait for it before typing).
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "");
        }
    });
    let not_found = || view! { <p class="not-found">"Page not found."</p> };
    view! {
        <Stylesheet id="leptos" href="/pkg/baton.css"/>
        <Title text="Baton"/>
        <Router>
            <Routes fallback=not_found>
                <Route path=path!("/ui/sign-in") view=sign_in::SignInPage ssr=SsrMode::Async/>
                <ParentRoute path=path!("/ui") view=Layout ssr=SsrMode::Async>
                    <Route
                        path=path!("/schedulers")
                        view=schedulers::SchedulersPage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=path!("/new-scheduler")
                        view=scheduler_edit::NewSchedulerPage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=path!("/schedulers/:name")
                        view=scheduler::SchedulerPage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=path!("/schedulers/:name/edit")
                        view=scheduler_edit::EditSchedulerPage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=path!("/schedulers/:name/autoscaling")
                        view=scheduler_autoscaling::SchedulerAutoscalingPage
                        ssr=SsrMode::Async
                    />
                    <Route path=path!("/users") view=users::UsersPage ssr=SsrMode::Async/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}
