//! The `baton` command line, black box: the binary run against the real server on port 0, with
//! its JSON output parsed and its exit codes checked.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{ADMIN_PASSWORD, Backend, TestServer, seed};
use serde_json::{Value, json};

/// One CLI run's exit code and output.
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }

    fn ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    fn exits(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Runs the CLI against `server` as admin (the password from BATON_PASSWORD), with its config
/// folder in `home`.
struct Baton<'a> {
    server: &'a TestServer,
    home: PathBuf,
}

impl<'a> Baton<'a> {
    fn new(server: &'a TestServer) -> Self {
        let home =
            std::env::temp_dir().join(format!("baton-cli-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&home).unwrap();
        Self { server, home }
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path = self.home.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    async fn run(&self, args: &[&str]) -> Ran {
        self.run_with(
            args,
            &[
                ("BATON_SERVER", &self.server.base_url),
                ("BATON_USER", "admin"),
                ("BATON_PASSWORD", ADMIN_PASSWORD),
            ],
        )
        .await
    }

    /// As admin, with `BATON_NEW_PASSWORD` set (a user's new password, for `users`).
    async fn run_new_password(&self, args: &[&str], password: &str) -> Ran {
        self.run_with(
            args,
            &[
                ("BATON_SERVER", &self.server.base_url),
                ("BATON_USER", "admin"),
                ("BATON_PASSWORD", ADMIN_PASSWORD),
                ("BATON_NEW_PASSWORD", password),
            ],
        )
        .await
    }

    /// As `user` with `password`.
    async fn run_as(&self, args: &[&str], user: &str, password: &str) -> Ran {
        self.run_with(
            args,
            &[
                ("BATON_SERVER", &self.server.base_url),
                ("BATON_USER", user),
                ("BATON_PASSWORD", password),
            ],
        )
        .await
    }

    async fn run_owned(&self, args: &[&str], env: &[(&str, String)]) -> Ran {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.run_with(args, &env).await
    }

    async fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Ran {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_server"));
        command
            .args(args)
            .env("XDG_CONFIG_HOME", &self.home)
            .stdin(std::process::Stdio::null());
        for name in [
            "BATON_SERVER",
            "BATON_USER",
            "BATON_PASSWORD",
            "BATON_PROFILE",
            "BATON_NEW_PASSWORD",
            "BATON_CA_CERT",
        ] {
            command.env_remove(name);
        }
        for (name, value) in env {
            command.env(name, value);
        }
        let output = command.output().await.expect("running the CLI");
        Ran {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Drop for Baton<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedulers_from_create_to_delete() {
    let server = TestServer::start(Backend::Sqlite).await;
    let baton = Baton::new(&server);
    let file = baton.file("arena.json", &seed("arena", "tennis").to_string());

    let created = baton
        .run(&[
            "schedulers",
            "create",
            "-f",
            &file,
            "--wait",
            "10s",
            "-o",
            "json",
        ])
        .await;
    let created = created.ok().json();
    assert_eq!(created["scheduler"]["name"], "arena");
    assert_eq!(created["operation"]["status"], "finished");
    // The same name again: a conflict.
    baton
        .run(&["schedulers", "create", "-f", &file])
        .await
        .exits(3);

    let listed = baton.run(&["schedulers", "list", "-o", "json"]).await;
    let names: Vec<_> = listed.ok().json()["schedulers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].clone())
        .collect();
    assert_eq!(names, [json!("arena")]);
    let table = baton.run(&["schedulers", "list"]).await;
    assert!(table.ok().stdout.starts_with("NAME "), "{}", table.stdout);
    assert!(table.stdout.contains("arena"), "{}", table.stdout);

    let yaml = baton
        .run(&["schedulers", "get", "arena", "-o", "yaml"])
        .await;
    let got: Value = serde_yaml_ng::from_str(&yaml.ok().stdout).unwrap();
    assert_eq!(
        (got["name"].clone(), got["version"].clone()),
        (json!("arena"), json!("v1"))
    );
    baton.run(&["schedulers", "get", "nowhere"]).await.exits(2);

    // A new version from YAML, then apply (the scheduler exists: another version).
    let mut next = seed("arena", "tennis");
    next["maxSurge"] = json!("50%");
    let yaml_file = baton.file("arena.yaml", &serde_yaml_ng::to_string(&next).unwrap());
    baton
        .run(&[
            "schedulers",
            "new-version",
            "arena",
            "-f",
            &yaml_file,
            "--wait",
            "10s",
        ])
        .await
        .ok();
    next["maxSurge"] = json!("20%");
    let applied_file = baton.file("applied.json", &next.to_string());
    let applied = baton
        .run(&[
            "schedulers",
            "apply",
            "-f",
            &applied_file,
            "--wait",
            "10s",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(applied.ok().json()["scheduler"]["maxSurge"], "20%");
    let versions = baton
        .run(&["schedulers", "versions", "arena", "-o", "json"])
        .await;
    assert_eq!(
        versions.ok().json()["versions"].as_array().unwrap().len(),
        3
    );
    let switched = baton
        .run(&[
            "schedulers",
            "switch-version",
            "arena",
            "v1",
            "--wait",
            "10s",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(switched.ok().json()["scheduler"]["version"], "v1");
    // apply of a new name creates it.
    let other = baton.file("other.json", &seed("other", "tennis").to_string());
    baton
        .run(&["schedulers", "apply", "-f", &other, "--wait", "10s"])
        .await
        .ok();

    // An invalid file: exit 1 and the field at fault.
    let mut bad = seed("bad", "tennis");
    bad["portRange"] = json!({"start": 5000, "end": 10});
    let bad_file = baton.file("bad.json", &bad.to_string());
    let refused = baton.run(&["schedulers", "create", "-f", &bad_file]).await;
    assert!(
        refused.exits(1).stderr.contains("portRange"),
        "{}",
        refused.stderr
    );

    let deleted = baton
        .run(&[
            "schedulers",
            "delete",
            "other",
            "--wait",
            "10s",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(deleted.ok().json()["operation"]["status"], "finished");
    baton.run(&["schedulers", "get", "other"]).await.exits(2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_rooms_and_allocation() {
    let server = TestServer::start(Backend::Sqlite).await;
    let baton = Baton::new(&server);
    let file = baton.file("arena.json", &seed("arena", "tennis").to_string());
    let created = baton
        .run(&["schedulers", "create", "-f", &file, "-o", "json"])
        .await;
    let operation = created.ok().json()["operationId"]
        .as_str()
        .unwrap()
        .to_string();

    let followed = baton
        .run(&["operations", "follow", "arena", &operation, "-o", "json"])
        .await;
    assert_eq!(followed.ok().json()["operation"]["status"], "finished");
    assert!(
        followed.stderr.contains("finished"),
        "progress on stderr: {}",
        followed.stderr
    );
    let listed = baton
        .run(&["operations", "list", "arena", "-o", "json"])
        .await;
    assert_eq!(
        listed.ok().json()["operations"][0]["id"],
        operation.as_str()
    );
    let got = baton
        .run(&["operations", "get", "arena", &operation, "-o", "json"])
        .await;
    assert!(got.ok().json()["operation"]["executionHistory"].is_array());
    baton
        .run(&["operations", "get", "arena", "no-such-operation"])
        .await
        .exits(2);
    baton
        .run(&["operations", "cancel", "arena", "no-such-operation"])
        .await
        .exits(2);

    let rooms = baton.run(&["rooms", "list", "arena", "-o", "json"]).await;
    assert!(rooms.ok().json()["rooms"].is_array());
    baton.run(&["rooms", "list", "nowhere"]).await.exits(2);
    baton
        .run(&["rooms", "get", "arena", "no-such-room"])
        .await
        .exits(2);
    let watched = baton
        .run(&["rooms", "watch", "arena", "--times", "1"])
        .await;
    assert!(
        watched.ok().stdout.starts_with("TIME"),
        "{}",
        watched.stdout
    );

    // No room is ready: a conflict; bad flags: input errors.
    let none = baton
        .run(&[
            "allocate",
            "arena",
            "--region",
            "eu",
            "--label",
            "tier=gold",
            "--ttl",
            "30",
        ])
        .await;
    assert!(none.exits(3).stderr.contains("no room"), "{}", none.stderr);
    baton
        .run(&["allocate", "arena", "--metadata", "{not json"])
        .await
        .exits(1);
    baton.run(&["allocate", "nowhere"]).await.exits(2);
    baton
        .run(&["release", "arena", "no-such-claim"])
        .await
        .exits(2);
    baton.run(&["rooms", "list"]).await.exits(1);
}

const V9: &str = r#"
name: v9-arena
game: tennis
image: registry.example.com/arena:1.2
occupiedTimeout: 3600
shutdownTimeout: 45
portRange: {start: 30000, end: 30100}
ports:
  - containerPort: 7777
    protocol: UDP
    name: game
requests: {cpu: 100m, memory: 128Mi}
limits: {cpu: 200m, memory: 256Mi}
env:
  - name: MODE
    value: ranked
    valueFrom: {secretKeyRef: {name: "", key: ""}}
cmd: ["./arena"]
autoscaling:
  min: 2
  max: 10
  up:
    delta: 2
    trigger: {usage: 70, time: 60, threshold: 80}
    cooldown: 30
  down:
    delta: 1
    trigger: {usage: 50, time: 120, threshold: 80}
    cooldown: 60
"#;

fn dropped(answer: &Value) -> Vec<String> {
    answer["dropped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_of_maestro_v9_v10_and_zeuz_files() {
    let server = TestServer::start(Backend::Sqlite).await;
    let baton = Baton::new(&server);

    // Maestro v9: the dry run shows the mapping and what was dropped, and creates nothing.
    let v9 = baton.file("v9.yaml", V9);
    let dry = baton.run(&["import", "--dry-run", &v9, "-o", "json"]).await;
    let dry = dry.ok().json();
    assert_eq!(dry["kind"], "maestro-v9");
    assert_eq!(
        dry["scheduler"]["spec"]["containers"][0]["image"],
        "registry.example.com/arena:1.2"
    );
    assert_eq!(dry["scheduler"]["spec"]["terminationGracePeriod"], "45s");
    assert_eq!(
        dropped(&dry),
        [
            "autoscaling.up.delta",
            "autoscaling.down.delta",
            "occupiedTimeout"
        ]
    );
    baton.run(&["schedulers", "get", "v9-arena"]).await.exits(2);
    let table = baton.run(&["import", "--dry-run", &v9]).await;
    assert!(
        table.ok().stdout.contains("occupiedTimeout"),
        "{}",
        table.stdout
    );

    let imported = baton
        .run(&["import", &v9, "--wait", "10s", "-o", "json"])
        .await;
    assert!(imported.ok().json()["operationId"].is_string());
    let got = baton
        .run(&["schedulers", "get", "v9-arena", "-o", "json"])
        .await;
    let got = got.ok().json();
    assert_eq!(got["spec"]["containers"][0]["ports"][0]["protocol"], "udp");
    assert_eq!(got["autoscaling"]["up"]["metricsTrigger"][0]["usage"], 70);
    assert_eq!(got["roomsReplicas"], 2);
    // Again: the name is taken.
    baton.run(&["import", &v9]).await.exits(3);

    // Maestro v10 (the API's shape), as YAML.
    let v10 = baton.file(
        "v10.yaml",
        &serde_yaml_ng::to_string(&seed("v10-arena", "tennis")).unwrap(),
    );
    let dry = baton
        .run(&["import", "--dry-run", &v10, "-o", "json"])
        .await;
    assert_eq!(dry.ok().json()["kind"], "maestro-v10");
    baton.run(&["import", &v10, "--wait", "10s"]).await.ok();
    baton.run(&["schedulers", "get", "v10-arena"]).await.ok();

    // zeuz's AllocationDef.
    let zeuz = json!({
        "Name": "zeuz-arena", "Game": "tennis", "Regions": ["default"],
        "ScalingRules": {
            "MaxCloudMachines": 3, "MaxBareMetalMachines": 5,
            "PayloadQuota": {"CpuCores": 1, "MemoryMB": 1024, "StorageGB": 50,
                "IOBandwidthMBps": 200, "InetBandwidthMBps": 10},
            "MinUnreservedPayloads": 4, "MaxUnreservedPayloads": 6,
            "MinFreePayloadCapacity": 4, "MaxFreePayloadCapacity": 8,
            "EnableScaling": true, "ManagePayloads": true, "UseMetrics": false,
            "PayloadDef": {"HostOS": "linux", "Image": "registry.example.com/zeuz:1", "Cmd": [],
                "Ports": [{"Name": "HTTP", "Port": 80}]}
        },
        "MachineMinSpec": {"OS": "linux", "CoreCount": 4, "CoreMhz": 3000, "MemoryMB": 16384,
            "StorageGB": 500, "IOBandwidthMBps": 3000, "InetBandwidthMBps": 100}
    });
    let zeuz_file = baton.file("zeuz.json", &zeuz.to_string());
    let dry = baton
        .run(&["import", "--dry-run", &zeuz_file, "-o", "json"])
        .await;
    let dry = dry.ok().json();
    assert_eq!(dry["kind"], "zeuz");
    // zeuz's Regions become the scheduler's regions (the test server's one region: `default`).
    assert!(!dropped(&dry).contains(&"Regions".to_string()), "{dry}");
    assert!(
        dry["scheduler"]["regions"].to_string().contains("default"),
        "{dry}"
    );
    baton
        .run(&["schedulers", "get", "zeuz-arena"])
        .await
        .exits(2);
    let imported = baton
        .run(&["import", &zeuz_file, "--wait", "10s", "-o", "json"])
        .await;
    let imported = imported.ok().json();
    assert_eq!(imported["created"]["created"], true);
    let got = baton
        .run(&["schedulers", "get", "zeuz-arena", "-o", "json"])
        .await;
    assert_eq!(
        got.ok().json()["spec"]["containers"][0]["image"],
        "registry.example.com/zeuz:1"
    );

    // Not a scheduler file of any kind; an invalid v9 file names its field.
    let other = baton.file("other.yaml", "hello: world\n");
    baton.run(&["import", "--dry-run", &other]).await.exits(1);
    let bad = baton.file(
        "bad.yaml",
        "name: b\ngame: g\nimage: i\nshutdownTimeout: soon\n",
    );
    let refused = baton.run(&["import", "--dry-run", &bad]).await;
    assert!(
        refused.exits(1).stderr.contains("shutdownTimeout"),
        "{}",
        refused.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_passwords_and_auth_failures() {
    let server = TestServer::start(Backend::Sqlite).await;
    let baton = Baton::new(&server);
    let config = baton.home.join("baton").join("config.toml");

    // A wrong password: exit 4; no password and no terminal: exit 4 without a request.
    let wrong = baton
        .run_with(
            &["schedulers", "list"],
            &[
                ("BATON_SERVER", &server.base_url),
                ("BATON_PASSWORD", "wrong"),
            ],
        )
        .await;
    wrong.exits(4);
    baton
        .run_with(
            &["schedulers", "list"],
            &[("BATON_SERVER", &server.base_url)],
        )
        .await
        .exits(4);
    // A server that is not there: exit 5.
    baton
        .run_with(
            &["schedulers", "list"],
            &[
                ("BATON_SERVER", "http://127.0.0.1:1"),
                ("BATON_PASSWORD", "x"),
            ],
        )
        .await
        .exits(5);

    // login without --save-password: the profile has no password.
    let login = baton.run(&["login", "--profile", "local"]).await;
    assert!(!login.ok().stdout.contains(ADMIN_PASSWORD));
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.contains(&server.base_url) && !text.contains("password"),
        "{text}"
    );
    assert_eq!(mode(&config), 0o600);
    // The profile gives the server and user; the password still comes from the environment.
    baton
        .run_with(
            &["schedulers", "list"],
            &[("BATON_PASSWORD", ADMIN_PASSWORD)],
        )
        .await
        .ok();
    baton
        .run_with(
            &["schedulers", "list", "--profile", "missing"],
            &[("BATON_PASSWORD", "x")],
        )
        .await
        .exits(1);

    // With --save-password, the profile alone is enough.
    baton
        .run(&["login", "--profile", "local", "--save-password"])
        .await
        .ok();
    assert!(
        std::fs::read_to_string(&config)
            .unwrap()
            .contains(ADMIN_PASSWORD)
    );
    assert_eq!(mode(&config), 0o600);
    baton
        .run_with(&["schedulers", "list", "-o", "json"], &[])
        .await
        .ok();

    let completions = baton.run(&["completions", "bash"]).await;
    assert!(completions.ok().stdout.contains("schedulers"));
    baton.run(&["no-such-command"]).await.exits(1);
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn usernames(listed: &Value) -> Vec<String> {
    listed["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_from_create_to_delete() {
    let server = TestServer::start(Backend::Sqlite).await;
    let baton = Baton::new(&server);
    let password = "ann-secret-password";

    let created = baton
        .run_new_password(
            &[
                "users", "create", "ann", "--role", "editor", "--games", "g1, g2", "-o", "json",
            ],
            password,
        )
        .await;
    assert_eq!(
        created.ok().json()["user"],
        json!({"username": "ann", "role": "editor", "games": ["g1", "g2"], "disabled": false})
    );
    assert!(
        !created.stdout.contains(password) && !created.stderr.contains(password),
        "the password is never printed"
    );
    baton
        .run_as(&["schedulers", "list"], "ann", password)
        .await
        .ok();
    // The name is taken: 3; no password to give: 1, and nothing is created.
    baton
        .run_new_password(&["users", "create", "ann", "--role", "viewer"], password)
        .await
        .exits(3);
    let no_password = baton
        .run(&["users", "create", "bob", "--role", "viewer"])
        .await;
    assert!(
        no_password.exits(1).stderr.contains("BATON_NEW_PASSWORD"),
        "{}",
        no_password.stderr
    );
    let short = baton
        .run_new_password(&["users", "create", "bob", "--role", "viewer"], "short")
        .await;
    assert!(
        short.exits(1).stderr.contains("password"),
        "{}",
        short.stderr
    );
    baton
        .run_new_password(&["users", "create", "bob", "--role", "boss"], password)
        .await
        .exits(1);
    // A password is never a flag.
    baton
        .run(&["users", "set", "ann", "--password", "in-plain-sight"])
        .await
        .exits(1);

    let listed = baton.run(&["users", "list", "-o", "json"]).await;
    assert_eq!(usernames(&listed.ok().json()), ["admin", "ann"]);
    let table = baton.run(&["users", "list"]).await;
    assert!(table.ok().stdout.starts_with("USER "), "{}", table.stdout);
    assert!(table.stdout.contains("g1,g2"), "{}", table.stdout);
    let yaml = baton.run(&["users", "get", "ann", "-o", "yaml"]).await;
    let got: Value = serde_yaml_ng::from_str(&yaml.ok().stdout).unwrap();
    assert_eq!(got["user"]["role"], "editor");
    let fields = baton.run(&["users", "get", "ann"]).await;
    assert!(fields.ok().stdout.contains("editor"), "{}", fields.stdout);
    baton.run(&["users", "get", "nobody"]).await.exits(2);

    // Role and games; then a new password from the environment.
    let set = baton
        .run(&[
            "users", "set", "ann", "--role", "viewer", "--games", "g3", "-o", "json",
        ])
        .await;
    assert_eq!(
        set.ok().json()["user"],
        json!({"username": "ann", "role": "viewer", "games": ["g3"], "disabled": false})
    );
    let new_password = "ann-brand-new-password";
    let reset = baton
        .run_new_password(&["users", "set", "ann", "--password"], new_password)
        .await;
    assert!(!reset.ok().stdout.contains(new_password));
    baton
        .run_as(&["schedulers", "list"], "ann", password)
        .await
        .exits(4);
    baton
        .run_as(&["schedulers", "list"], "ann", new_password)
        .await
        .ok();
    // Disabled and enabled; nothing asked: a usage error.
    baton.run(&["users", "set", "ann", "--disable"]).await.ok();
    baton
        .run_as(&["schedulers", "list"], "ann", new_password)
        .await
        .exits(4);
    baton.run(&["users", "set", "ann", "--enable"]).await.ok();
    baton.run(&["users", "set", "ann"]).await.exits(1);
    baton
        .run(&["users", "set", "ann", "--disable", "--enable"])
        .await
        .exits(1);
    baton
        .run(&["users", "set", "ann", "--games", "not a game!"])
        .await
        .exits(1);
    baton
        .run(&["users", "set", "nobody", "--role", "viewer"])
        .await
        .exits(2);

    // Non-administrators: 4, for reads too. Administrators do not demote or delete themselves.
    for args in [
        &["users", "list"][..],
        &["users", "get", "admin"],
        &["users", "set", "ann", "--role", "admin"],
        &["users", "delete", "admin"],
    ] {
        let refused = baton.run_as(args, "ann", new_password).await;
        assert!(
            refused.exits(4).stderr.contains("administrators"),
            "{args:?}: {}",
            refused.stderr
        );
    }
    baton
        .run(&["users", "set", "admin", "--role", "viewer"])
        .await
        .exits(4);
    baton.run(&["users", "delete", "admin"]).await.exits(4);

    let deleted = baton.run(&["users", "delete", "ann", "-o", "json"]).await;
    assert_eq!(
        deleted.ok().json(),
        json!({"username": "ann", "deleted": true})
    );
    baton.run(&["users", "get", "ann"]).await.exits(2);
    baton.run(&["users", "delete", "ann"]).await.exits(2);
    baton
        .run_as(&["schedulers", "list"], "ann", new_password)
        .await
        .exits(4);
    let listed = baton.run(&["users", "list", "-o", "json"]).await;
    assert_eq!(usernames(&listed.ok().json()), ["admin"]);
}

/// A TLS proxy in front of `server`: a certificate for 127.0.0.1 and localhost signed by a CA
/// made for the test. Answers the proxy's https:// URL and the CA's PEM.
async fn tls_proxy(server: &TestServer) -> (String, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    use tokio_rustls::TlsAcceptor;
    use tokio_rustls::rustls::{self, pki_types::PrivateKeyDer};

    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.distinguished_name
        .push(DnType::CommonName, "Baton test CA");
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap(),
        )
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let backend = server.addr;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake: nothing to proxy.
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    (url, ca_pem)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_servers_with_a_private_ca() {
    let server = TestServer::start(Backend::Sqlite).await;
    let baton = Baton::new(&server);
    let (url, ca_pem) = tls_proxy(&server).await;
    let ca = baton.file("ca.pem", &ca_pem);
    let with = |extra: &[(&'static str, String)]| {
        let mut env = vec![
            ("BATON_SERVER", url.clone()),
            ("BATON_PASSWORD", ADMIN_PASSWORD.to_string()),
        ];
        env.extend(extra.iter().cloned());
        env
    };

    // The CA is not a public one: the client refuses the certificate (5) and says what to do.
    let refused = baton.run_owned(&["schedulers", "list"], &with(&[])).await;
    assert!(
        refused.exits(5).stderr.contains("--ca-cert"),
        "{}",
        refused.stderr
    );
    // Trusted by flag, or by variable.
    let listed = baton
        .run_owned(
            &["users", "list", "-o", "json", "--ca-cert", &ca],
            &with(&[]),
        )
        .await;
    assert_eq!(usernames(&listed.ok().json()), ["admin"]);
    let by_variable = with(&[("BATON_CA_CERT", ca.clone())]);
    baton
        .run_owned(&["schedulers", "list"], &by_variable)
        .await
        .ok();
    // A profile remembers it.
    baton
        .run_owned(&["login", "--profile", "tls"], &by_variable)
        .await
        .ok();
    let config = std::fs::read_to_string(baton.home.join("baton").join("config.toml")).unwrap();
    assert!(
        config.contains("ca_cert") && config.contains(&url),
        "{config}"
    );
    baton
        .run_with(
            &["users", "list", "--profile", "tls"],
            &[("BATON_PASSWORD", ADMIN_PASSWORD)],
        )
        .await
        .ok();
    // A CA file that is missing or holds no certificate: an input error.
    let missing = baton.home.join("missing.pem").display().to_string();
    baton
        .run_with(
            &["schedulers", "list", "--ca-cert", &missing],
            &[("BATON_SERVER", &url), ("BATON_PASSWORD", ADMIN_PASSWORD)],
        )
        .await
        .exits(1);
    let empty = baton.file("empty.pem", "not a certificate\n");
    baton
        .run_with(
            &["schedulers", "list", "--ca-cert", &empty],
            &[("BATON_SERVER", &url), ("BATON_PASSWORD", ADMIN_PASSWORD)],
        )
        .await
        .exits(1);
}
