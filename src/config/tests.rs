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

const SECURED: &str = r#"
name = "t"
sql = ["t.sql"]
[source]
topic = "in"
[source.security]
protocol = "SASL_SSL"
sasl_mechanism = "SCRAM-SHA-512"
username = "ember"
password_file = "kafka.pw"
ca_file = "ca.pem"
[source.options]
"sasl.oauthbearer.client.secret" = "opt-secret-value"
"fetch.max.bytes" = "1048576"
[sinks.out]
type = "cassandra"
username = "ember_writer"
[sinks.out.tls]
ca_file = "ca.pem"
verify_hostname = false
"#;

#[test]
fn security_sections_parse_resolve_files_and_never_print_passwords() {
    use ember_connectors::kafka::{SaslMechanism, SecurityProtocol};
    let d = tmp();
    write(&d, "t.sql", "x");
    write(&d, "ca.pem", "-----BEGIN CERTIFICATE-----\n");
    write(&d, "kafka.pw", "file-kafka-password-1\n");
    let f = write(&d, "p.toml", SECURED);
    let env = vec![(
        "EMBER_SINKS__OUT__PASSWORD".to_string(),
        "31415926535".to_string(),
    )];
    let p = LoadedPipeline::load(&f, env).unwrap();
    let sec = &p.config.source.security;
    assert_eq!(sec.protocol, SecurityProtocol::SaslSsl);
    assert_eq!(sec.sasl_mechanism, Some(SaslMechanism::ScramSha512));
    assert_eq!(
        sec.password.as_ref().unwrap().expose(),
        "file-kafka-password-1"
    );
    assert_eq!(sec.ca_file.as_deref(), Some(d.join("ca.pem").as_path()));
    let sink = &p.config.sinks["out"];
    // A numeric-looking password from the environment stays text.
    assert_eq!(sink.password.as_ref().unwrap().expose(), "31415926535");
    assert!(!sink.tls.as_ref().unwrap().verify_hostname);
    assert_eq!(p.overrides[0].shown, "***");

    let printed = format!("{:?} {:?}", p.config, p.overrides);
    for secret in ["file-kafka-password-1", "31415926535", "opt-secret-value"] {
        assert!(!printed.contains(secret), "{secret} in {printed}");
        assert_eq!(
            ember_connectors::secret::scrub(&format!("x {secret} y")),
            "x *** y"
        );
    }
    assert!(printed.contains("1048576"), "{printed}");
}

#[test]
fn security_mistakes_name_the_key_without_the_password() {
    let d = tmp();
    write(&d, "t.sql", "x");
    write(&d, "ca.pem", "x");
    write(&d, "kafka.pw", "pw-in-file-2\n");
    let cases = [
        // SASL without a mechanism.
        (
            SECURED.replace("sasl_mechanism = \"SCRAM-SHA-512\"\n", ""),
            vec![],
            "sasl_mechanism",
        ),
        // A mechanism Ember does not speak.
        (
            SECURED.replace("SCRAM-SHA-512", "GSSAPI"),
            vec![],
            "p.toml:",
        ),
        // A Cassandra user without a password.
        (SECURED.to_string(), vec![], "[sinks.out]"),
        // Both password and password_file.
        (
            SECURED.replace("password_file", "password = \"pw-inline-3\"\npassword_file"),
            vec![(
                "EMBER_SINKS__OUT__PASSWORD".to_string(),
                "pw-env-4".to_string(),
            )],
            "not both",
        ),
        // A password of the wrong type in the file.
        (
            SECURED.replace(
                "username = \"ember_writer\"",
                "username = \"ember_writer\"\npassword = 2.71828",
            ),
            vec![],
            "p.toml:",
        ),
        // A CA file that does not exist.
        (
            SECURED.replace(
                "ca_file = \"ca.pem\"\n[source.options]",
                "ca_file = \"nope.pem\"\n[source.options]",
            ),
            vec![(
                "EMBER_SINKS__OUT__PASSWORD".to_string(),
                "pw-env-5".to_string(),
            )],
            "ca_file",
        ),
    ];
    for (text, env, expect) in cases {
        let f = write(&d, "p.toml", &text);
        let err = format!("{:#}", LoadedPipeline::load(&f, env).unwrap_err());
        assert!(err.contains(expect), "want {expect:?} in: {err}");
        for secret in [
            "pw-in-file-2",
            "pw-inline-3",
            "pw-env-4",
            "pw-env-5",
            "2.71828",
        ] {
            assert!(!err.contains(secret), "{secret} in: {err}");
        }
    }
}

#[test]
fn every_configured_name_is_validated() {
    let d = tmp();
    write(&d, "t.sql", "x");
    let f = write(&d, "p.toml", MINIMAL);
    let long_name = "a".repeat(49);
    let long_topic = "t".repeat(250);
    for (var, value, key) in [
        (
            "EMBER_SINKS__OUT__KEYSPACE",
            "ks; DROP KEYSPACE x",
            "[sinks.out]",
        ),
        ("EMBER_SINKS__OUT__KEYSPACE", "ks\"x", "[sinks.out]"),
        ("EMBER_SINKS__OUT__KEYSPACE", "ks x", "[sinks.out]"),
        (
            "EMBER_SINKS__OUT__KEYSPACE",
            long_name.as_str(),
            "[sinks.out]",
        ),
        ("EMBER_SINKS__OUT__TABLE", "t' OR '1'='1", "[sinks.out]"),
        ("EMBER_SINKS__OUT__TABLE", "system.local", "[sinks.out]"),
        (
            "EMBER_SINKS__OUT__REPLICATION",
            "{'class': 'SimpleStrategy', 'replication_factor': 1} AND durable_writes = false",
            "[sinks.out]",
        ),
        ("EMBER_SOURCE__TOPIC", "a b", "[source] topic"),
        ("EMBER_SOURCE__TOPIC", "..", "[source] topic"),
        ("EMBER_SOURCE__TOPIC", ".", "[source] topic"),
        ("EMBER_SOURCE__TOPIC", long_topic.as_str(), "[source] topic"),
        ("EMBER_SOURCE__TOPIC", "t;x", "[source] topic"),
        ("EMBER_DEAD_LETTER__TOPIC", "dlq/x", "[dead_letter] topic"),
    ] {
        let err = LoadedPipeline::load(&f, vec![(var.to_string(), value.to_string())])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("p.toml") && err.contains(key) && err.contains("not a valid"),
            "{var}={value}: {err}"
        );
    }
    // 245 + ".dlq" is Kafka's limit of 249 for the dead-letter topic.
    let ok_topic = "t".repeat(245);
    assert!(LoadedPipeline::load(&f, vec![("EMBER_SOURCE__TOPIC".to_string(), ok_topic)]).is_ok());
}

#[test]
fn max_write_time_skew_is_a_duration_with_a_default_and_an_override() {
    let d = tmp();
    write(&d, "t.sql", "INSERT INTO out SELECT * FROM users_created");
    let f = write(&d, "p.toml", MINIMAL);
    let p = LoadedPipeline::load(&f, Vec::new()).unwrap();
    assert_eq!(p.config.max_write_time_skew, MaxWriteTimeSkew::DEFAULT);
    let env = vec![("EMBER_MAX_WRITE_TIME_SKEW".to_string(), "400d".to_string())];
    let p = LoadedPipeline::load(&f, env).unwrap();
    assert_eq!(
        p.config.max_write_time_skew,
        MaxWriteTimeSkew(std::time::Duration::from_secs(400 * 86_400))
    );
    let bad = write(
        &d,
        "bad.toml",
        &format!("max_write_time_skew = \"soon\"\n{MINIMAL}"),
    );
    let err = LoadedPipeline::load(&bad, Vec::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad.toml:1:"), "{err}");
    assert!(err.contains("max_write_time_skew"), "{err}");
}

#[test]
fn a_dead_letter_replication_factor_below_one_is_refused() {
    let d = tmp();
    write(&d, "t.sql", "INSERT INTO out SELECT * FROM users_created");
    let f = write(
        &d,
        "p.toml",
        &format!("{MINIMAL}\n[dead_letter]\nreplication_factor = 0\n"),
    );
    let err = LoadedPipeline::load(&f, Vec::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("[dead_letter] replication_factor"), "{err}");
}

#[test]
fn max_bytes_is_a_size_and_bad_ones_name_the_file_and_key() {
    let d = tmp();
    write(&d, "t.sql", "x");
    let with = |name: &str, value: &str| {
        write(
            &d,
            name,
            &MINIMAL.replace(
                "topic = \"in\"",
                &format!("topic = \"in\"\nmax_bytes = {value}"),
            ),
        )
    };
    let default = LoadedPipeline::load(&write(&d, "d.toml", MINIMAL), Vec::new()).unwrap();
    assert_eq!(default.spec(None).bounds.max_bytes, 64 << 20);
    assert_eq!(default.spec(None).bounds.max_records, 20_000);
    let p = LoadedPipeline::load(&with("s.toml", "\"512KiB\""), Vec::new()).unwrap();
    assert_eq!(p.spec(None).bounds.max_bytes, 512 << 10);
    let p = LoadedPipeline::load(&with("n.toml", "1000"), Vec::new()).unwrap();
    assert_eq!(p.spec(None).bounds.max_bytes, 1000);
    let env = vec![("EMBER_SOURCE__MAX_BYTES".to_string(), "8MiB".to_string())];
    let p = LoadedPipeline::load(&with("e.toml", "1000"), env).unwrap();
    assert_eq!(p.spec(None).bounds.max_bytes, 8 << 20);
    let env = vec![("EMBER_SOURCE__MAX_BYTES".to_string(), "4096".to_string())];
    let p = LoadedPipeline::load(&write(&d, "e2.toml", MINIMAL), env).unwrap();
    assert_eq!(p.spec(None).bounds.max_bytes, 4096);

    let err = LoadedPipeline::load(&with("bad.toml", "\"lots\""), Vec::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad.toml:6:") && err.contains("lots"), "{err}");
    let err = LoadedPipeline::load(&with("unit.toml", "\"5 parsecs\""), Vec::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unit.toml:6:") && err.contains("unknown unit"),
        "{err}"
    );
    let err = LoadedPipeline::load(&with("zero.toml", "0"), Vec::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("zero.toml") && err.contains("[source] max_bytes"),
        "{err}"
    );
    let env = vec![("EMBER_SOURCE__MAX_BYTES".to_string(), "-3".to_string())];
    let err = LoadedPipeline::load(&write(&d, "e3.toml", MINIMAL), env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("EMBER_SOURCE__MAX_BYTES"), "{err}");
}

#[test]
fn type_format_and_durations_are_parsed_at_load_and_errors_name_file_line_and_key() {
    let d = tmp();
    write(&d, "t.sql", "x");
    let p = LoadedPipeline::load(&write(&d, "ok.toml", MINIMAL), Vec::new()).unwrap();
    let sink = &p.config.sinks["out"];
    assert_eq!(sink.retry_for, ember_engine::HumanDuration::from_secs(120));
    // The sink's name is its table, parsed once at load.
    assert_eq!(sink.table.as_deref(), Some("out"));
    assert_eq!(p.dead_letter_topic(), &"in.dlq");

    let cases = [
        (
            MINIMAL.replace("topic = \"in\"", "topic = \"in\"\ntype = \"pulsar\""),
            vec![],
            "bad.toml:6:",
            "[source] type: \"pulsar\" is not supported (only \"kafka\")",
        ),
        (
            MINIMAL.replace("topic = \"in\"", "topic = \"in\"\nformat = \"avro\""),
            vec![],
            "bad.toml:6:",
            "[source] format: \"avro\" is not supported (only \"json\")",
        ),
        (
            MINIMAL.replace("type = \"cassandra\"", "type = \"scylla\""),
            vec![],
            "bad.toml:7:",
            "[sinks.out] type: \"scylla\" is not supported (only \"cassandra\")",
        ),
        (
            format!("{MINIMAL}retry_for = \"soon\"\n"),
            vec![],
            "bad.toml:8:",
            "[sinks.out] retry_for: \"soon\": bad number",
        ),
        (
            MINIMAL.to_string(),
            vec![(
                "EMBER_SINKS__OUT__RETRY_FOR".to_string(),
                "5 parsecs".to_string(),
            )],
            "bad.toml: after applying EMBER_SINKS__OUT__RETRY_FOR:",
            "[sinks.out] retry_for: \"5 parsecs\": unknown unit \"parsecs\"",
        ),
        (
            MINIMAL.replace("[sinks.out]", "[sinks.\"out-1\"]"),
            vec![],
            "bad.toml:",
            "[sinks.out-1] table: \"out-1\" is not a valid identifier",
        ),
        (
            MINIMAL.replace(
                "topic = \"in\"",
                &format!("topic = \"{}\"", "t".repeat(246)),
            ),
            vec![],
            "bad.toml:",
            "[dead_letter] topic: \"ttt",
        ),
    ];
    for (text, env, at, message) in cases {
        let f = write(&d, "bad.toml", &text);
        let err = LoadedPipeline::load(&f, env).unwrap_err().to_string();
        assert!(
            err.contains(at) && err.contains(message),
            "want {at:?} and {message:?} in: {err}"
        );
    }
}

#[test]
fn metrics_address_is_off_by_default_and_a_socket_address_when_set() {
    let d = tmp();
    write(&d, "t.sql", "INSERT INTO out SELECT * FROM users_created");
    let f = write(&d, "p.toml", MINIMAL);
    let p = LoadedPipeline::load(&f, Vec::new()).unwrap();
    assert_eq!(p.config.metrics_address, None);
    // Containers set it from the environment (docker-compose.yml does).
    let env = vec![(
        "EMBER_METRICS_ADDRESS".to_string(),
        "0.0.0.0:9400".to_string(),
    )];
    let p = LoadedPipeline::load(&f, env).unwrap();
    assert_eq!(
        p.config.metrics_address,
        Some("0.0.0.0:9400".parse().unwrap())
    );
    let bad = write(
        &d,
        "bad.toml",
        &format!("metrics_address = \"localhost\"\n{MINIMAL}"),
    );
    let err = LoadedPipeline::load(&bad, Vec::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad.toml:1:"), "{err}");
    assert!(err.contains("metrics_address"), "{err}");
}
