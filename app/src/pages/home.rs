//! The landing page.

use leptos::prelude::*;

#[component]
pub fn HomePage() -> impl IntoView {
    view! {
        <header class="top">
            <h1>"Baton"</h1>
            <p class="tagline">"Game rooms, kept alive, scaled and handed to your matchmaker."</p>
        </header>
        <section class="card">
            <h2>"API"</h2>
            <p>
                "Manage schedulers with the Maestro-compatible JSON API. "
                <a href="/docs">"Read the API reference"</a>
                " or fetch "
                <a href="/openapi.json">"the OpenAPI document"</a>
                "."
            </p>
        </section>
    }
}
