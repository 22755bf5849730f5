//! Wake-ups: the scheduler use cases tell this process's controllers at once that a scheduler
//! has new work (an operation queued, a cancel asked for), so a change does not wait for the
//! next tick. Other processes find it within two ticks: their supervisor reads which schedulers
//! have unfinished operations every tick (`Wakeups::set_busy`), and only those tasks look.
//! The supervisor also renews every lease this process holds in one statement, and tells the
//! tasks until when (`Wakeups::set_renewed`), so a task seldom renews its own.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use app::ports::Wake;
use chrono::{DateTime, Utc};
use tokio::sync::Notify;

#[derive(Default)]
pub struct Wakeups {
    /// Per scheduler whose controller runs here.
    schedulers: Mutex<HashMap<String, Arc<Notify>>>,
    /// The schedulers with a pending or in-progress operation, as the supervisor last read them
    /// (every tick, one query for all); `None` when not known (not read yet, or the read
    /// failed): then every task looks for itself.
    busy: Mutex<Option<HashSet<String>>>,
    /// The leases the supervisor last renewed all at once (`Leases::renew_held`), and until when.
    renewed: Mutex<(HashSet<String>, Option<DateTime<Utc>>)>,
    /// The supervisor: a scheduler it does not run yet (just created) has work.
    pub(super) supervisor: Notify,
}

impl Wakeups {
    /// What the controller of `scheduler` waits on.
    pub(super) fn register(&self, scheduler: &str) -> Arc<Notify> {
        self.lock()
            .entry(scheduler.to_string())
            .or_default()
            .clone()
    }

    pub(super) fn unregister(&self, scheduler: &str) {
        self.lock().remove(scheduler);
    }

    /// What the supervisor read of the schedulers with operations (`None`: it could not).
    pub(super) fn set_busy(&self, busy: Option<HashSet<String>>) {
        *self.busy.lock().unwrap_or_else(|e| e.into_inner()) = busy;
    }

    /// Whether `scheduler` may have an operation to run, as the supervisor last saw.
    pub(super) fn may_be_busy(&self, scheduler: &str) -> bool {
        self.busy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_none_or(|busy| busy.contains(scheduler))
    }

    /// The leases the supervisor just renewed for this process, held until `until`.
    pub(super) fn set_renewed(&self, leases: Vec<String>, until: DateTime<Utc>) {
        *self.renewed.lock().unwrap_or_else(|e| e.into_inner()) =
            (leases.into_iter().collect(), Some(until));
    }

    /// Until when the supervisor's last renewal holds `lease` for this process, if it renewed it.
    pub(super) fn renewed_until(&self, lease: &str) -> Option<DateTime<Utc>> {
        let renewed = self.renewed.lock().unwrap_or_else(|e| e.into_inner());
        renewed.1.filter(|_| renewed.0.contains(lease))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Notify>>> {
        self.schedulers.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Wake for Wakeups {
    fn wake(&self, scheduler: &str) {
        match self.lock().get(scheduler) {
            Some(notify) => notify.notify_one(),
            None => self.supervisor.notify_one(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_wake_reaches_the_schedulers_controller_or_else_the_supervisor() {
        let wakeups = Wakeups::default();
        let notify = wakeups.register("a");
        wakeups.wake("a");
        tokio::time::timeout(Duration::from_secs(1), notify.notified())
            .await
            .expect("the controller of a is woken");
        wakeups.wake("b");
        tokio::time::timeout(Duration::from_secs(1), wakeups.supervisor.notified())
            .await
            .expect("the supervisor is woken for a scheduler it does not run");
        wakeups.unregister("a");
        wakeups.wake("a");
        tokio::time::timeout(Duration::from_secs(1), wakeups.supervisor.notified())
            .await
            .expect("after unregistering, the supervisor");
    }

    #[test]
    fn a_lease_is_renewed_until_the_last_batch_that_named_it() {
        let wakeups = Wakeups::default();
        assert_eq!(wakeups.renewed_until("scheduler:a"), None, "no batch yet");
        let at = |s| DateTime::from_timestamp(s, 0).unwrap();
        wakeups.set_renewed(vec!["scheduler:a".into(), "scheduler:b".into()], at(10));
        assert_eq!(wakeups.renewed_until("scheduler:a"), Some(at(10)));
        assert_eq!(wakeups.renewed_until("scheduler:c"), None);
        wakeups.set_renewed(vec!["scheduler:b".into()], at(13));
        assert_eq!(wakeups.renewed_until("scheduler:a"), None, "lost since");
        assert_eq!(wakeups.renewed_until("scheduler:b"), Some(at(13)));
    }
}
