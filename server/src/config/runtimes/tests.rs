use super::*;

fn read(text: &str) -> Result<RuntimesConfig, RuntimesFileError> {
    parse(Path::new("r.toml"), text, Path::new("/rooms"))
}

fn field_error(text: &str) -> (usize, String) {
    match read(text) {
        Err(RuntimesFileError::Field { line, field, .. }) => (line, field),
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[test]
fn reads_local_and_kubernetes_runtimes_with_a_default() {
    let config = read(
        r#"
default = "us"
[[runtime]]
name = "eu"
region = "eu-west"
kind = "local"
[[runtime]]
name = "us"
region = "us-east"
kind = "kubernetes"
context = "kind-us"
[[runtime]]
name = "ap"
region = "ap-south"
kind = "local"
rooms_dir = "/srv/ap"
"#,
    )
    .unwrap();
    assert_eq!(config.default, 1);
    assert_eq!(
        config.runtimes[0].spec,
        RuntimeSpec::Local {
            rooms_dir: PathBuf::from("/rooms/eu")
        }
    );
    assert_eq!(
        config.runtimes[1].spec,
        RuntimeSpec::Kubernetes {
            context: Some("kind-us".into()),
            machines: MachinesConfig::default(),
            api_limits: ApiLimitsConfig::default(),
        }
    );
    assert_eq!(
        config.runtimes[2].spec,
        RuntimeSpec::Local {
            rooms_dir: PathBuf::from("/srv/ap")
        }
    );
    let described = config.describe();
    assert!(described.contains("us(region us-east, default: kubernetes context=kind-us)"));
}

#[test]
fn the_first_runtime_is_the_default_unless_named() {
    let config = read("[[runtime]]\nname = \"a\"\nregion = \"r1\"\nkind = \"local\"\n").unwrap();
    assert_eq!(config.default_entry().name, "a");
}

#[test]
fn a_region_has_one_runtime_and_a_name_one_runtime() {
    let text = "[[runtime]]\nname = \"a\"\nregion = \"r1\"\nkind = \"local\"\n\
                [[runtime]]\nname = \"b\"\nregion = \"r1\"\nkind = \"local\"\n";
    assert_eq!(field_error(text), (7, "runtime[1].region".into()));
    let text = "[[runtime]]\nname = \"a\"\nregion = \"r1\"\nkind = \"local\"\n\
                [[runtime]]\nname = \"a\"\nregion = \"r2\"\nkind = \"kubernetes\"\n";
    assert_eq!(field_error(text), (6, "runtime[1].name".into()));
}

#[test]
fn local_runtimes_keep_their_rooms_dirs_apart() {
    let text = "[[runtime]]\nname = \"a\"\nregion = \"r1\"\nkind = \"local\"\nrooms_dir = \"/x\"\n\
                [[runtime]]\nname = \"b\"\nregion = \"r2\"\nkind = \"local\"\nrooms_dir = \"/x/b\"\n";
    assert_eq!(field_error(text), (10, "runtime[1].rooms_dir".into()));
}

#[test]
fn bad_files_name_the_line_and_the_field() {
    assert_eq!(
        field_error(
            "default = \"zz\"\n[[runtime]]\nname = \"a\"\nregion = \"r\"\nkind = \"local\"\n"
        ),
        (1, "default".into())
    );
    assert_eq!(
        field_error(
            "[[runtime]]\nname = \"a\"\nregion = \"r\"\nkind = \"local\"\ncontext = \"c\"\n"
        ),
        (5, "runtime[0].context".into())
    );
    assert_eq!(
        field_error("[[runtime]]\nname = \"a b\"\nregion = \"r\"\nkind = \"local\"\n"),
        (2, "runtime[0].name".into())
    );
    assert_eq!(field_error("default = \"a\"\n"), (1, "runtime".into()));
    // Wrong kinds and unknown fields: toml's own message, with the line.
    for text in [
        "[[runtime]]\nname = \"a\"\nregion = \"r\"\nkind = \"docker\"\n",
        "[[runtime]]\nname = \"a\"\nregion = \"r\"\nkind = \"local\"\nzone = 1\n",
    ] {
        match read(text) {
            Err(RuntimesFileError::Syntax { message, .. }) => {
                assert!(message.contains("line"), "{message}")
            }
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }
}

#[test]
fn without_a_file_one_runtime_comes_from_the_command_line() {
    use clap::Parser;
    let config = Config::try_parse_from(["baton", "--local-rooms-dir", "/tmp/r"]).unwrap();
    let runtimes = config.runtimes().unwrap();
    assert_eq!(runtimes.runtimes.len(), 1);
    assert_eq!(runtimes.default_entry().region, DEFAULT_REGION);
    assert_eq!(
        runtimes.default_entry().spec,
        RuntimeSpec::Local {
            rooms_dir: PathBuf::from("/tmp/r")
        }
    );
}

const LABELLED: &str = r#"
[[runtime]]
name = "us"
region = "us-east"
kind = "kubernetes"
[runtime.machine_labels]
kind = "example.com/machine-class"
default_kind = "bare-metal"
core_mhz = "example.com/mhz"
io_mbps = ""
"#;

#[test]
fn kubernetes_machine_labels_are_configurable_with_baton_defaults() {
    let config = read(LABELLED).unwrap();
    let RuntimeSpec::Kubernetes { machines, .. } = &config.runtimes[0].spec else {
        panic!("{:?}", config.runtimes[0].spec);
    };
    assert_eq!(
        *machines,
        MachinesConfig {
            kind_label: "example.com/machine-class".into(),
            default_kind: MachineKind::BareMetal,
            core_mhz_label: "example.com/mhz".into(),
            io_mbps_label: String::new(),
            // Not given: Baton's.
            inet_mbps_label: "baton.dev/inet-mbps".into(),
        }
    );
    // Without the table, Baton's labels.
    let plain = read("[[runtime]]\nname = \"a\"\nregion = \"r\"\nkind = \"kubernetes\"\n").unwrap();
    assert_eq!(
        plain.runtimes[0].spec,
        RuntimeSpec::Kubernetes {
            context: None,
            machines: MachinesConfig::default(),
            api_limits: ApiLimitsConfig::default(),
        }
    );
}

#[test]
fn bad_machine_labels_name_the_line_and_the_field() {
    let bad = LABELLED.replace("example.com/mhz", "Example.com/m hz");
    assert_eq!(
        field_error(&bad),
        (9, "runtime[0].machine_labels.core_mhz".into())
    );
    let local = "[[runtime]]\nname = \"a\"\nregion = \"r\"\nkind = \"local\"\n[runtime.machine_labels]\nkind = \"k\"\n";
    assert_eq!(field_error(local).1, "runtime[0].machine_labels");
    for text in [
        LABELLED.replace("default_kind = \"bare-metal\"", "default_kind = \"vm\""),
        LABELLED.replace("io_mbps = \"\"", "disk = \"x\""),
    ] {
        assert!(
            matches!(read(&text), Err(RuntimesFileError::Syntax { .. })),
            "{text}"
        );
    }
    for key in ["a", "example.com/a-b_c.d", "a.b-c/x", ""] {
        assert!(is_label_key(key), "{key}");
    }
    for key in ["-a", "a/", "/a", "A.com/x", "a b", &"x".repeat(64)] {
        assert!(!is_label_key(key), "{key}");
    }
}

#[test]
fn kubernetes_api_limits_are_configurable_with_defaults_of_40_in_flight_and_2000_a_second() {
    let entry = "[[runtime]]\nname = \"a\"\nregion = \"r\"\nkind = \"kubernetes\"\n";
    let plain = read(entry).unwrap();
    let RuntimeSpec::Kubernetes { api_limits, .. } = &plain.runtimes[0].spec else {
        panic!("a kubernetes runtime");
    };
    assert_eq!(
        (api_limits.max_in_flight, api_limits.calls_per_second),
        (40, 2000)
    );
    let limited = read(&format!(
        "{entry}api_max_in_flight = 8\napi_calls_per_second = 0\n"
    ))
    .unwrap();
    let RuntimeSpec::Kubernetes { api_limits, .. } = &limited.runtimes[0].spec else {
        panic!("a kubernetes runtime");
    };
    assert_eq!(
        *api_limits,
        ApiLimitsConfig {
            max_in_flight: 8,
            calls_per_second: 0
        }
    );
    let limits = api_limits.limits();
    assert_eq!((limits.max_in_flight(), limits.per_second()), (8, None));
    // None in flight would stop every call; a local runtime has no API server.
    assert!(read(&format!("{entry}api_max_in_flight = 0\n")).is_err());
    let local = "[[runtime]]\nname = \"a\"\nregion = \"r\"\nkind = \"local\"\n";
    assert!(read(&format!("{local}api_max_in_flight = 8\n")).is_err());
}
