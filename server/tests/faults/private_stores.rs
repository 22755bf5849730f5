//! A Redis and a PostgreSQL of the test's own, on free ports, in a temporary folder: the test may
//! stop and restart them (the machine's shared servers on 5432 and 6379 stay untouched). Both
//! keep their data across a restart, as production stores do: Redis with an append-only file
//! synced at every write, PostgreSQL in its data folder.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a store has to come up.
const START_WITHIN: Duration = Duration::from_secs(30);

/// A port nobody listens on now (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

/// A folder of its own under the temp dir, removed on drop.
struct Folder(PathBuf);

impl Folder {
    fn new(kind: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "baton-faults-{kind}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&path).expect("a temp folder");
        Self(path)
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn wait_until(what: &str, ready: impl Fn() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(started.elapsed() < START_WITHIN, "{what} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A `redis-server` child process.
pub struct PrivateRedis {
    pub port: u16,
    folder: Folder,
    child: Option<Child>,
}

impl PrivateRedis {
    pub fn start() -> Self {
        let mut redis = Self {
            port: free_port(),
            folder: Folder::new("redis"),
            child: None,
        };
        redis.resume();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it again on the same port and data.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "Redis is already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(&self.folder.0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (apt-get install redis-server)");
        self.child = Some(child);
        // `PONG` only once the data is loaded (before, Redis answers `-LOADING`).
        let port = self.port;
        wait_until("the private Redis", || {
            let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
                return false;
            };
            let mut answer = [0u8; 7];
            stream
                .set_read_timeout(Some(Duration::from_secs(1)))
                .is_ok()
                && stream.write_all(b"PING\r\n").is_ok()
                && stream.read_exact(&mut answer).is_ok()
                && &answer == b"+PONG\r\n"
        });
    }

    /// Stops it (SIGTERM: Redis syncs its append-only file and exits) and waits until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = i32::try_from(child.id()).expect("a pid");
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A PostgreSQL cluster made by `initdb`, run by `pg_ctl` (as the `postgres` user when the test
/// runs as root, which PostgreSQL refuses to run as), trust authentication, on loopback only.
pub struct PrivatePostgres {
    pub port: u16,
    bin: PathBuf,
    folder: Folder,
}

impl PrivatePostgres {
    pub fn start() -> Self {
        let bin = postgres_bin();
        let folder = Folder::new("postgres");
        let as_root = unsafe { libc::geteuid() } == 0;
        if as_root {
            run(Command::new("chown").arg("postgres").arg(&folder.0));
        }
        let postgres = Self {
            port: free_port(),
            bin,
            folder,
        };
        run(postgres
            .command("initdb")
            .arg("-D")
            .arg(postgres.data())
            .args(["-A", "trust", "-U", "postgres", "--no-sync"]));
        postgres.resume();
        postgres
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn data(&self) -> PathBuf {
        self.folder.0.join("data")
    }

    fn command(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        if unsafe { libc::geteuid() } == 0 {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn pg_ctl(&self, action: &str) -> Command {
        let mut command = self.command("pg_ctl");
        command
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.folder.0.join("log"))
            .args(["-w", "-t", "30", action]);
        command
    }

    /// Starts it (again) on the same port and data, and waits until it accepts connections.
    pub fn resume(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.folder.0.display()
        );
        run(self.pg_ctl("start").args(["-o", &options]));
    }

    /// Stops it the way an operator restarting it would (`-m fast`: sessions are ended, the
    /// data is checkpointed).
    pub fn stop(&self) {
        run(self.pg_ctl("stop").args(["-m", "fast"]));
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self
            .pg_ctl("stop")
            .args(["-m", "immediate"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The newest `/usr/lib/postgresql/*/bin` (Debian's layout), or `BATON_TEST_POSTGRES_BIN`.
fn postgres_bin() -> PathBuf {
    if let Ok(bin) = std::env::var("BATON_TEST_POSTGRES_BIN") {
        return PathBuf::from(bin);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's programs in /usr/lib/postgresql (or set BATON_TEST_POSTGRES_BIN)")
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            Path::new(&bin.join("initdb"))
                .exists()
                .then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .expect("an initdb under /usr/lib/postgresql/*/bin")
}

#[track_caller]
fn run(command: &mut Command) {
    let output = command.output().expect("the command runs");
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
