//! Baton's shared crate: the pure domain, the driven ports (server only) and the dashboard.

pub mod auth;
pub mod codec;
pub mod components;
pub mod domain;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod ports;
#[cfg(feature = "ssr")]
pub mod services;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    Lazy, LazyRoute, SsrMode,
    components::{ParentRoute, Route, Router, Routes},
    lazy_route, path,
};

use components::layout::Layout;
use pages::{allocation, capacity, room};
use pages::{
    audit, operations, scheduler, scheduler_autoscaling, scheduler_edit, schedulers, sign_in, users,
};

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

/// Declares a route whose page is split out of the main WASM bundle (`cargo leptos build
/// --split`): the browser fetches a page's code when it first shows that page, so the bundle
/// every visit downloads holds only the shell, the router and what all pages share. Each page
/// loads its own data, so the route itself has none.
macro_rules! lazy_page {
    ($($route:ident => $page:path),* $(,)?) => {$(
        #[derive(Clone)]
        struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                Self
            }

            fn view(_this: Self) -> AnyView {
                mark_hydrated();
                $page().into_any()
            }
        }
    )*};
}

lazy_page! {
    SignInRoute => sign_in::SignInPage,
    SchedulersRoute => schedulers::SchedulersPage,
    NewSchedulerRoute => scheduler_edit::NewSchedulerPage,
    SchedulerRoute => scheduler::SchedulerPage,
    EditSchedulerRoute => scheduler_edit::EditSchedulerPage,
    AutoscalingRoute => scheduler_autoscaling::SchedulerAutoscalingPage,
    OperationsRoute => operations::OperationsPage,
    UsersRoute => users::UsersPage,
    AuditRoute => audit::AuditPage,
    RoomRoute => room::RoomPage,
    AllocationRoute => allocation::AllocationPage,
    CapacityRoute => capacity::CapacityPage,
}

/// Marks the page (`<body data-hydrated>`) once the browser took over the route being shown:
/// end-to-end tests wait for it before they click. Marked by each route, not by the shell: a
/// lazy route hydrates only once its code has arrived, and a click before that is lost.
fn mark_hydrated() {
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "");
        }
    });
}

/// The dashboard, under `/ui` (the JSON API owns `/schedulers`). Pages render whole on the
/// server (`SsrMode::Async`), so they read fine without JavaScript, then hydrate.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let not_found = || {
        mark_hydrated();
        view! { <p class="not-found">"Page not found."</p> }
    };
    view! {
        <Stylesheet id="leptos" href="/pkg/baton.css"/>
        <Title text="Baton"/>
        <Router>
            <Routes fallback=not_found>
                <Route path=path!("/ui/sign-in") view={Lazy::<SignInRoute>::new()} ssr=SsrMode::Async/>
                <ParentRoute path=path!("/ui") view=Layout ssr=SsrMode::Async>
                    <Route
                        path=path!("/schedulers")
                        view={Lazy::<SchedulersRoute>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=path!("/new-scheduler")
                        view={Lazy::<NewSchedulerRoute>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=path!("/schedulers/:name")
                        view={Lazy::<SchedulerRoute>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=path!("/schedulers/:name/edit")
                        view={Lazy::<EditSchedulerRoute>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=path!("/schedulers/:name/autoscaling")
                        view={Lazy::<AutoscalingRoute>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=path!("/schedulers/:name/rooms/:room")
                        view={Lazy::<RoomRoute>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=path!("/schedulers/:name/allocation")
                        view={Lazy::<AllocationRoute>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=path!("/schedulers/:name/capacity")
                        view={Lazy::<CapacityRoute>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=path!("/schedulers/:name/operations")
                        view={Lazy::<OperationsRoute>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route path=path!("/users") view={Lazy::<UsersRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/audit") view={Lazy::<AuditRoute>::new()} ssr=SsrMode::Async/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}
