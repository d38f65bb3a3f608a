use super::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn tmp() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "ember-config-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

const MINIMAL: &str = r#"
name = "t"
sql = ["t.sql"]
[source]
topic = "in"
[sinks.out]
type = "cassandra"
"#;

#[test]
fn the_shipped_pipeline_loads() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/users.toml");
    let p = LoadedPipeline::load(&file, Vec::new()).unwrap();
    assert_eq!(p.config.source.topic, "users_created");
    assert_eq!(p.config.sinks["created_users"].keyspace, "spark_streams");
    assert_eq!(p.config.source.schema.fields.len(), 12);
    assert!(p.config.sql[0].is_file());
}

#[test]
fn env_overrides_every_level_with_types() {
    let d = tmp();
    write(&d, "t.sql", "INSERT INTO out SELECT * FROM users_created");
    let f = write(&d, "p.toml", MINIMAL);
    let env = vec![
        ("EMBER_SOURCE__TOPIC".to_string(), "other".to_string()),
        ("EMBER_SOURCE__MAX_RECORDS".to_string(), "77".to_string()),
        ("EMBER_SINKS__OUT__KEYSPACE".to_string(), "ks_x".to_string()),
        (
            "EMBER_SINKS__OUT__CONTACT_POINTS".to_string(),
            "a:1, b:2".to_string(),
        ),
        ("EMBER_TRIGGER".to_string(), "available-now".to_string()),
        ("EMBER_LOG".to_string(), "debug".to_string()),
        ("OTHER".to_string(), "x".to_string()),
    ];
    let p = LoadedPipeline::load(&f, env).unwrap();
    assert_eq!(p.config.source.topic, "other");
    assert_eq!(p.config.source.max_records, 77);
    assert_eq!(p.config.sinks["out"].keyspace, "ks_x");
    assert_eq!(p.config.sinks["out"].contact_points, vec!["a:1", "b:2"]);
    assert_eq!(p.config.trigger, Trigger::AvailableNow);
    assert_eq!(p.overrides.len(), 5);
    assert_eq!(p.group_id(), "ember-t");
}

#[test]
fn mistakes_name_the_file_and_line() {
    let d = tmp();
    write(&d, "t.sql", "x");
    let f = write(
        &d,
        "bad.toml",
        &MINIMAL.replace("topic = \"in\"", "topic = \"in\"\nmax_records = \"many\""),
    );
    let err = LoadedPipeline::load(&f, Vec::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad.toml:6:"), "{err}");

    let f = write(
        &d,
        "typo.toml",
        &MINIMAL.replace("topic = \"in\"", "topik = \"in\""),
    );
    let err = LoadedPipeline::load(&f, Vec::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("typo.toml:5:") && err.contains("topik"),
        "{err}"
    );

    let f = write(&d, "trig.toml", &format!("trigger = \"soon\"\n{MINIMAL}"));
    let err = LoadedPipeline::load(&f, Vec::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("trig.toml:1:") && err.contains("invalid trigger"),
        "{err}"
    );

    let env = vec![("EMBER_SOURCE__NOPE".to_string(), "1".to_string())];
    let f = write(&d, "ok.toml", MINIMAL);
    let err = LoadedPipeline::load(&f, env).unwrap_err().to_string();
    assert!(
        err.contains("EMBER_SOURCE__NOPE") && err.contains("nope"),
        "{err}"
    );
}

#[test]
fn names_cannot_inject() {
    let d = tmp();
    write(&d, "t.sql", "x");
    let f = write(&d, "p.toml", MINIMAL);
    for (var, value) in [
        (
            "EMBER_SINKS__OUT__KEYSPACE",
            "ks; DROP KEYSPACE spark_streams",
        ),
        ("EMBER_SINKS__OUT__TABLE", "t WITH x"),
        ("EMBER_SOURCE__TOPIC", "bad topic!"),
    ] {
        let err = LoadedPipeline::load(&f, vec![(var.to_string(), value.to_string())]).unwrap_err();
        assert!(err.to_string().contains("not a valid"), "{var}: {err}");
    }
}

#[test]
fn secrets_are_masked_in_overrides() {
    let mut table = toml::Table::new();
    let applied = apply_env(
        &mut table,
        vec![(
            "EMBER_SINKS__OUT__PASSWORD".to_string(),
            "hunter2".to_string(),
        )],
    )
    .unwrap();
    assert_eq!(applied[0].shown, "***");
}
