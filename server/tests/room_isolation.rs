//! What a local room sees of Baton, black box: the real `server` binary, started with secrets in
//! its own environment (admin password, database URL, Redis URL, a canary), runs a room; the
//! room's process gets exactly the variables Baton documents, none of Baton's values, and a
//! fresh private directory of its own as cwd and HOME, removed when the room stops.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use common::rooms::processes_with;
use serde_json::json;

const ADMIN_PASSWORD: &str = "isolation-admin-secret";

/// A folder of its own under the temp dir, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("baton-isolation-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir(&path).unwrap();
        Self(path.canonicalize().unwrap())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Rooms outlive the killed server: none may outlive the test.
        server::adapters::runtime::local::kill_recorded_rooms(&self.0.join("rooms"));
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The `server` binary, running; killed when dropped.
struct ServerProcess {
    child: Child,
    /// Every line it printed (stdout and stderr).
    output: Arc<Mutex<Vec<String>>>,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    /// Starts the binary with `env` added to this test's environment.
    fn spawn(env: &[(&str, String)]) -> (Self, mpsc::Receiver<String>) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_server"));
        command
            .env_remove("BATON_DEMO_ROOM")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("the server binary starts");
        let output = Arc::new(Mutex::new(Vec::new()));
        let (lines_tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for reader in [
            Box::new(stdout) as Box<dyn std::io::Read + Send>,
            Box::new(stderr),
        ] {
            let (output, lines_tx) = (output.clone(), lines_tx.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(reader).lines().map_while(Result::ok) {
                    output.lock().unwrap().push(line.clone());
                    let _ = lines_tx.send(line);
                }
            });
        }
        (Self { child, output }, lines)
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }
}

/// Polls `done` every 100 ms for up to `within`.
async fn eventually(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    done()
}

/// The environment a process was started with, as the kernel keeps it.
fn environment_of(pid: i32) -> BTreeMap<String, String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    environ
        .split(|b| *b == 0)
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let kv = String::from_utf8_lossy(kv);
            let (name, value) = kv.split_once('=').unwrap_or((&kv, ""));
            (name.to_string(), value.to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_sees_none_of_batons_secrets_and_works_in_a_directory_of_its_own() {
    let scratch = Scratch::new();
    let data = scratch.0.join("data");
    std::fs::create_dir(&data).unwrap();
    let rooms_dir = scratch.0.join("rooms");
    let id = uuid::Uuid::new_v4().simple().to_string();
    let database_url = format!("sqlite://{}/baton.db?mode=rwc", data.display());
    let redis = common::RedisKeys::new();
    let canary = format!("canary-{id}");
    let (server, lines) = ServerProcess::spawn(&[
        ("BATON_ADMIN_PASSWORD", ADMIN_PASSWORD.to_string()),
        ("BATON_DATABASE_URL", database_url.clone()),
        ("BATON_REDIS_URL", redis.url.clone()),
        ("BATON_REDIS_PREFIX", redis.prefix.clone()),
        ("BATON_LISTEN", "127.0.0.1:0".to_string()),
        ("BATON_LOCAL_ROOMS_DIR", rooms_dir.display().to_string()),
        ("BATON_HEALTH_TICK_MS", "200".to_string()),
        ("BATON_ISOLATION_CANARY", canary.clone()),
    ]);
    let base = loop {
        match lines.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                if let Some(url) = line.strip_prefix("Baton is listening on ") {
                    break url.to_string();
                }
            }
            Err(_) => panic!("the server did not start:\n{}", server.output()),
        }
    };

    let name = format!("isolation-{}", &id[..8]);
    let client = reqwest::Client::new();
    let body = json!({
        "name": name, "game": "isolation", "roomsReplicas": 1,
        "portRange": {"start": 43000, "end": 43100},
        "spec": {"terminationGracePeriod": "2s", "containers": [{
            "name": "game", "image": "local", "command": ["sleep", "60"],
            "environment": [
                {"name": "ROOM_LITERAL", "value": "hello"},
                {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}}],
            "ports": [{"name": "game", "protocol": "udp", "port": 7777}]}]}
    });
    let created = client
        .post(format!("{base}/schedulers"))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200, "{}", created.text().await.unwrap());

    let mut pids = Vec::new();
    assert!(
        eventually(Duration::from_secs(30), || {
            pids = processes_with("MAESTRO_SCHEDULER_NAME", &name);
            !pids.is_empty()
        })
        .await,
        "no room process started:\n{}",
        server.output()
    );
    let pid = pids[0];
    let env = environment_of(pid);

    // Exactly the documented variables, the spec's literal one, and a minimal PATH and HOME.
    let names: Vec<&str> = env.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "BATON_API_URL",
            "BATON_PORT_GAME",
            "BATON_ROOM_TOKEN",
            "HOME",
            "MAESTRO_ROOM_ID",
            "MAESTRO_SCHEDULER_NAME",
            "PATH",
            "ROOM_LITERAL",
        ]
    );
    assert_eq!(env["PATH"], "/usr/local/bin:/usr/bin:/bin");
    assert_eq!(env["ROOM_LITERAL"], "hello");
    assert_eq!(env["BATON_API_URL"], base);
    // None of Baton's values, whatever the name.
    for secret in [ADMIN_PASSWORD, &database_url, &redis.url, &canary] {
        assert!(
            env.values().all(|value| !value.contains(secret)),
            "{secret} leaked into {env:?}"
        );
    }
    // The variable it could not resolve is named in a warning.
    assert!(
        eventually(Duration::from_secs(5), || server
            .output()
            .lines()
            .any(|l| l.contains("valueFrom") && l.contains("HOST_IP")))
        .await,
        "{}",
        server.output()
    );

    // Its own fresh, private directory is its cwd and HOME.
    let room_dir = rooms_dir.join(&name).join(&env["MAESTRO_ROOM_ID"]);
    assert_eq!(Path::new(&env["HOME"]), room_dir);
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
        room_dir
    );
    let mode = std::fs::metadata(&room_dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    assert_eq!(std::fs::read_dir(&room_dir).unwrap().count(), 0);

    // The room's directory goes when the room stops, the scheduler's with the scheduler.
    let admin =
        |request: reqwest::RequestBuilder| request.basic_auth("admin", Some(ADMIN_PASSWORD));
    let scaled = admin(client.patch(format!("{base}/schedulers/{name}")))
        .json(&json!({"roomsReplicas": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(scaled.status(), 200);
    assert!(
        eventually(Duration::from_secs(20), || !room_dir.exists()).await,
        "the room's directory outlived it:\n{}",
        server.output()
    );
    assert!(processes_with("MAESTRO_SCHEDULER_NAME", &name).is_empty());
    let deleted = admin(client.delete(format!("{base}/schedulers/{name}")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    assert!(
        eventually(Duration::from_secs(20), || !rooms_dir.join(&name).exists()).await,
        "the scheduler's directory outlived it"
    );
    // The server stops before its Redis keys are deleted.
    drop(server);
    drop(redis);
}

#[tokio::test]
async fn a_rooms_dir_holding_the_database_is_refused_at_start() {
    let scratch = Scratch::new();
    let data = scratch.0.join("data");
    std::fs::create_dir(&data).unwrap();
    let (mut server, _lines) = ServerProcess::spawn(&[
        ("BATON_ADMIN_PASSWORD", ADMIN_PASSWORD.to_string()),
        (
            "BATON_DATABASE_URL",
            format!("sqlite://{}/baton.db?mode=rwc", data.display()),
        ),
        ("BATON_LISTEN", "127.0.0.1:0".to_string()),
        // The folder above the database's.
        ("BATON_LOCAL_ROOMS_DIR", scratch.0.display().to_string()),
    ]);
    let mut status = None;
    let exited = eventually(Duration::from_secs(30), || {
        status = server.child.try_wait().unwrap();
        status.is_some()
    })
    .await;
    assert!(exited, "the server started:\n{}", server.output());
    assert!(!status.unwrap().success());
    assert!(
        eventually(Duration::from_secs(5), || server
            .output()
            .contains(&format!("holds the database folder {}", data.display())))
        .await,
        "{}",
        server.output()
    );
}
