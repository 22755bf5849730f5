//! Usage of local rooms (the cpu and mem autoscaling triggers), read from `/proc` and summed
//! over each room's process group: CPU as the rate of `utime + stime` since the previous
//! measurement of the room, memory as resident pages. A room's first measurement samples twice,
//! `FIRST_SAMPLE_GAP` apart, so that a single call already gives every running room a value.
//! Rooms another Baton process started are measured alike, from their records.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use app::ports::{InstanceUsage, RuntimeError};

use super::LocalRuntime;

/// Between the two samples of a room's first usage measurement.
const FIRST_SAMPLE_GAP: Duration = Duration::from_millis(150);

/// A room's CPU time at one moment, to turn the next measurement into a rate.
#[derive(Clone, Copy, Debug)]
pub(super) struct CpuSample {
    /// `utime + stime` of the process group, in clock ticks.
    ticks: u64,
    at: Instant,
}

/// What `/proc` says about one process group at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct GroupSample {
    /// `utime + stime` of its live processes, in clock ticks.
    ticks: u64,
    /// Resident memory of its live processes, in pages.
    rss_pages: u64,
}

/// One `/proc/<pid>/stat`: the process group, `utime + stime` (ticks) and resident pages.
///
/// The command name (field 2) is in parentheses and may hold spaces, parentheses and any
/// bytes, so the fields are read after the last `)`.
fn parse_stat(stat: &[u8]) -> Option<(i32, u64, u64)> {
    let close = stat.iter().rposition(|b| *b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `n` is the field's number in proc(5); the first one after the `)` is field 3 (state).
    let field = |n: usize| fields.get(n - 3).copied();
    let pgrp = field(5)?.parse().ok()?;
    let utime: u64 = field(14)?.parse().ok()?;
    let stime: u64 = field(15)?.parse().ok()?;
    // Field 24 (rss) is the same counter as the resident pages of /proc/<pid>/statm.
    let rss = field(24)?.parse().ok()?;
    Some((pgrp, utime.saturating_add(stime), rss))
}

/// Sums CPU time and resident memory of the live processes of each group in `groups`.
///
/// Only live processes count: the CPU time of exited children is left out (a parent's
/// `cutime` would add a child's whole life at once, when it is reaped).
fn sample_groups(groups: &HashSet<i32>) -> Result<HashMap<i32, GroupSample>, RuntimeError> {
    let entries = std::fs::read_dir("/proc")
        .map_err(|err| RuntimeError::Unavailable(format!("cannot read /proc: {err}")))?;
    let mut samples: HashMap<i32, GroupSample> = HashMap::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name
            .to_str()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        {
            continue;
        }
        // The process may be gone since the listing.
        let Ok(stat) = std::fs::read(entry.path().join("stat")) else {
            continue;
        };
        let Some((pgrp, ticks, rss_pages)) = parse_stat(&stat) else {
            continue;
        };
        if groups.contains(&pgrp) {
            let sample = samples.entry(pgrp).or_default();
            sample.ticks = sample.ticks.saturating_add(ticks);
            sample.rss_pages = sample.rss_pages.saturating_add(rss_pages);
        }
    }
    Ok(samples)
}

/// [`sample_groups`] off the async threads, with the time it was taken.
async fn sample_groups_now(
    groups: HashSet<i32>,
) -> Result<(Instant, HashMap<i32, GroupSample>), RuntimeError> {
    tokio::task::spawn_blocking(move || {
        let at = Instant::now();
        sample_groups(&groups).map(|samples| (at, samples))
    })
    .await
    .map_err(|err| RuntimeError::Unavailable(format!("reading /proc failed: {err}")))?
}

fn sysconf_or(name: libc::c_int, fallback: f64) -> f64 {
    // SAFETY: sysconf(3) has no memory-safety preconditions.
    let value = unsafe { libc::sysconf(name) };
    if value > 0 { value as f64 } else { fallback }
}

/// CPU and memory of each running room of `scheduler`, summed over its process group.
pub(super) async fn measure(
    runtime: &LocalRuntime,
    scheduler: &str,
) -> Result<Vec<InstanceUsage>, RuntimeError> {
    let adopted = super::adopted::records(runtime, scheduler).await?;
    // Running rooms: (room, process group, previous sample).
    let mut rooms: Vec<(String, i32, Option<CpuSample>)> = Vec::new();
    {
        let state = runtime.lock();
        rooms.extend(
            state
                .processes
                .iter()
                .filter(|((s, _), p)| {
                    s == scheduler
                        && p.pid > 0
                        && !p.stopping
                        && p.instance.crashed.is_none()
                        && !*p.exited.borrow()
                })
                .map(|((_, room), p)| (room.clone(), p.pid, p.cpu_sample)),
        );
        for record in adopted {
            let key = (scheduler.to_string(), record.room.clone());
            let previous = state
                .adopted_cpu
                .get(&key)
                .filter(|(pid, _)| *pid == record.pid)
                .map(|(_, sample)| *sample);
            rooms.push((record.room, record.pid, previous));
        }
    }
    if rooms.is_empty() {
        return Ok(Vec::new());
    }
    let groups: HashSet<i32> = rooms.iter().map(|(_, pgid, _)| *pgid).collect();
    let (mut at, mut samples) = sample_groups_now(groups.clone()).await?;
    let mut previous: HashMap<i32, CpuSample> = rooms
        .iter()
        .filter_map(|(_, pgid, sample)| Some((*pgid, (*sample)?)))
        .collect();
    // A room measured for the first time, or moments ago, gets a second sample shortly, so
    // that the rate is over a window many clock ticks long.
    let too_short = |sample: &CpuSample| at.duration_since(sample.at) < FIRST_SAMPLE_GAP;
    if previous.len() < rooms.len() || previous.values().any(too_short) {
        for (pgid, sample) in &samples {
            previous.entry(*pgid).or_insert(CpuSample {
                ticks: sample.ticks,
                at,
            });
        }
        tokio::time::sleep(FIRST_SAMPLE_GAP).await;
        (at, samples) = sample_groups_now(groups).await?;
    }

    let ticks_per_second = sysconf_or(libc::_SC_CLK_TCK, 100.0);
    let page_size = sysconf_or(libc::_SC_PAGESIZE, 4096.0);
    let mut usages = Vec::new();
    let mut state = runtime.lock();
    for (room, pgid, _) in rooms {
        // A group without live processes has just exited: left out.
        let Some(sample) = samples.get(&pgid) else {
            continue;
        };
        let key = (scheduler.to_string(), room.clone());
        let now = CpuSample {
            ticks: sample.ticks,
            at,
        };
        match state.processes.get_mut(&key) {
            Some(process) if process.pid == pgid => process.cpu_sample = Some(now),
            Some(_) => {}
            None => {
                state.adopted_cpu.insert(key, (pgid, now));
            }
        }
        let Some(before) = previous.get(&pgid) else {
            continue;
        };
        let seconds = at.duration_since(before.at).as_secs_f64();
        if seconds <= 0.0 {
            continue;
        }
        // Processes that exited since take their ticks with them: never below zero.
        let ticks = sample.ticks.saturating_sub(before.ticks) as f64;
        usages.push(InstanceUsage {
            room,
            cpu_cores: ticks / ticks_per_second / seconds,
            memory_bytes: sample.rss_pages as f64 * page_size,
        });
    }
    drop(state);
    usages.sort_by(|a, b| a.room.cmp(&b.room));
    Ok(usages)
}

#[cfg(test)]
mod tests {
    use app::ports::{InstanceEvent, Runtime};
    use futures::StreamExt;

    use super::super::tests::{Scratch, runtime, scheduler};
    use super::*;

    #[test]
    fn stat_lines_are_read_after_the_command_name() {
        // A command name with spaces and parentheses, then fields 3 to 24.
        let stat = b"4242 (a) b (c)) S 1 4200 4200 0 -1 4194304 90 0 0 0 150 25 3 4 20 0 1 0 \
            77 123456 321 18446744073709551615";
        assert_eq!(parse_stat(stat), Some((4200, 175, 321)));
        assert_eq!(parse_stat(b"4242 (cut short) S 1 4200"), None);
        assert_eq!(parse_stat(b"no parenthesis"), None);
    }

    fn usage_of<'a>(usages: &'a [InstanceUsage], room: &str) -> &'a InstanceUsage {
        usages
            .iter()
            .find(|u| u.room == room)
            .unwrap_or_else(|| panic!("no usage for {room}: {usages:?}"))
    }

    #[tokio::test]
    async fn usage_measures_the_cpu_and_memory_of_each_room_process_group() {
        let scratch = Scratch::new();
        let runtime = runtime(&scratch);
        // Two busy loops: the shell and its background child, both in the room's group (so
        // the room keeps above a quarter of a core even on a two-core machine loaded with
        // a parallel build: measured 0.46 cores at a load average of 9.5).
        let busy = scheduler(&["sh", "-c", "while :; do :; done & while :; do :; done"]);
        runtime.create_instance(&busy, "busy", &[]).await.unwrap();
        runtime
            .create_instance(&scheduler(&["sleep", "30"]), "idle", &[])
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;

        // The first call samples twice; the next one measures since the first.
        let first = runtime.usage("local").await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let second = runtime.usage("local").await.unwrap();
        let cores = std::thread::available_parallelism().map_or(64, |n| n.get()) as f64;
        for usages in [&first, &second] {
            assert_eq!(usages.len(), 2, "{usages:?}");
            let busy = usage_of(usages, "busy");
            assert!(
                busy.cpu_cores > 0.25 && busy.cpu_cores < cores + 0.5,
                "{usages:?}"
            );
            assert!(busy.memory_bytes > 0.0, "{usages:?}");
            let idle = usage_of(usages, "idle");
            assert!(idle.cpu_cores < 0.2, "{usages:?}");
            assert!(idle.memory_bytes > 0.0, "{usages:?}");
        }

        assert_eq!(runtime.usage("other").await.unwrap(), vec![]);
        runtime.remove_scheduler("local").await.unwrap();
        assert_eq!(runtime.usage("local").await.unwrap(), vec![]);
    }

    #[tokio::test]
    async fn crashed_rooms_have_no_usage() {
        let scratch = Scratch::new();
        let runtime = runtime(&scratch);
        let s = scheduler(&["sh", "-c", "exit 3"]);
        let mut events = runtime.watch("local");
        runtime.create_instance(&s, "r1", &[]).await.unwrap();
        let crashed =
            async { while !matches!(events.next().await, Some(InstanceEvent::Crashed { .. })) {} };
        tokio::time::timeout(Duration::from_secs(5), crashed)
            .await
            .unwrap();
        assert_eq!(runtime.usage("local").await.unwrap(), vec![]);
    }
}
