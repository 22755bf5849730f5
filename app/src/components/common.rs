//! Small views shared by pages: errors, status badges, relative times, periodic refresh.

use std::time::Duration;

use chrono::{DateTime, Utc};
use leptos::prelude::*;

use crate::auth::AppError;
use crate::domain::room::RoomStatus;

/// An error from a server function, as a banner; a lost session links to the sign-in page.
#[component]
pub fn ErrorBox(error: AppError) -> impl IntoView {
    let signed_out = error == AppError::Unauthenticated;
    let details = match &error {
        AppError::Invalid(errors) => errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect(),
        _ => Vec::new(),
    };
    view! {
        <div class="error-box" role="alert">
            <p>{error.to_string()}</p>
            {signed_out.then(|| view! { <p><a href="/ui/sign-in">"Sign in again"</a></p> })}
            {(!details.is_empty())
                .then(|| {
                    view! {
                        <ul>
                            {details.into_iter().map(|d| view! { <li>{d}</li> }).collect_view()}
                        </ul>
                    }
                })}
        </div>
    }
}

/// A room status as a coloured badge.
#[component]
pub fn StatusBadge(status: RoomStatus) -> impl IntoView {
    view! { <span class=format!("badge status-{}", status.as_str())>{status.as_str()}</span> }
}

/// "12s ago", "3m ago", "2h ago", "4d ago": how long before `now` the moment `at` was.
/// `now` comes from the server, so the server and the browser render the same text.
pub fn ago(now: DateTime<Utc>, at: DateTime<Utc>) -> String {
    let seconds = (now - at).num_seconds().max(0);
    match seconds {
        0..60 => format!("{seconds}s ago"),
        60..3600 => format!("{}m ago", seconds / 60),
        3600..86400 => format!("{}h ago", seconds / 3600),
        _ => format!("{}d ago", seconds / 86400),
    }
}

/// A duration as "45s", "12m", "3h", "2d".
pub fn age(now: DateTime<Utc>, since: DateTime<Utc>) -> String {
    ago(now, since).trim_end_matches(" ago").to_string()
}

/// Calls `refresh` every `period` while the calling view is mounted, in the browser only
/// (the server renders once; pages stay readable without JavaScript).
pub fn refresh_every(period: Duration, refresh: impl Fn() + Clone + 'static) {
    Effect::new(move |_| {
        let refresh = refresh.clone();
        if let Ok(handle) = set_interval_with_handle(refresh, period) {
            on_cleanup(move || handle.clear());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times() {
        let now = DateTime::from_timestamp(100_000, 0).unwrap();
        let before = |s: i64| DateTime::from_timestamp(100_000 - s, 0).unwrap();
        assert_eq!(ago(now, before(5)), "5s ago");
        assert_eq!(ago(now, before(125)), "2m ago");
        assert_eq!(ago(now, before(7200)), "2h ago");
        assert_eq!(ago(now, before(90_000)), "1d ago");
        assert_eq!(ago(now, before(-3)), "0s ago");
        assert_eq!(age(now, before(59)), "59s");
    }
}
