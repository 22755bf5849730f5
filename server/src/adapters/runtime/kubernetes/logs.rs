//! What a room's pod printed: the last lines of each of its containers, from the pod log API.

use kube::api::LogParams;

use super::KubernetesRuntime;
use super::retry::{api_code, retry};

/// The lines read from the end of each container's log (as many as the local runtime keeps).
pub const LOG_LINES: i64 = 200;

impl KubernetesRuntime {
    /// The last [`LOG_LINES`] lines of each container of the room's pod, in the pod's container
    /// order, each line prefixed with `[container] ` when the pod has several. A pod that is gone
    /// printed nothing; a container not started yet neither; a log that cannot be read says so
    /// in one line.
    pub(super) async fn pod_logs(&self, scheduler: &str, room: &str) -> Vec<String> {
        let api = self.pods(scheduler);
        let pod = match retry(&self.config, || api.get(room)).await {
            Ok(pod) => pod,
            Err(error) if api_code(&error) == Some(404) => return Vec::new(),
            Err(error) => return vec![unreadable(scheduler, room, &error)],
        };
        let containers: Vec<String> = pod
            .spec
            .map(|spec| spec.containers.into_iter().map(|c| c.name).collect())
            .unwrap_or_default();
        let several = containers.len() > 1;
        let mut lines = Vec::new();
        for container in containers {
            let params = LogParams {
                container: Some(container.clone()),
                tail_lines: Some(LOG_LINES),
                ..LogParams::default()
            };
            match retry(&self.config, || api.logs(room, &params)).await {
                Ok(text) => lines.extend(text.lines().map(|line| {
                    if several {
                        format!("[{container}] {line}")
                    } else {
                        line.to_string()
                    }
                })),
                // Waiting to start (400), or gone meanwhile (404): nothing printed yet.
                Err(error) if matches!(api_code(&error), Some(400 | 404)) => {}
                Err(error) => lines.push(unreadable(
                    scheduler,
                    &format!("{room}/{container}"),
                    &error,
                )),
            }
        }
        lines
    }
}

fn unreadable(scheduler: &str, what: &str, error: &kube::Error) -> String {
    tracing::warn!(scheduler, what, %error, "reading a pod's log failed");
    format!("(Baton could not read the log of {scheduler}/{what}: {error})")
}
