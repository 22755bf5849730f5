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
            context: Some("kind-us".into())
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
