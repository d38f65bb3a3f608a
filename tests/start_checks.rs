//! What `ember check` and `ember run` refuse or warn about before reading a
//! record: transforms that cannot be replayed identically (non-deterministic
//! functions), and a checkpoint only this host can see.

mod common;

use common::*;

/// `sql/created_users.sql` with the key replaced by `uuid()`: every replay
/// (or narrowing retry) would insert new rows.
fn volatile_sql() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(unique("volatile_sql"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("random_ids.sql");
    std::fs::write(
        &file,
        "-- ids that change on every replay\n\
         INSERT INTO created_users (id, first_name)\n\
         SELECT uuid(), first_name FROM users_created",
    )
    .unwrap();
    file
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn ember_check_refuses_a_volatile_function_naming_file_line_and_function() {
    let sql = volatile_sql();
    let env = vec![("EMBER_SQL".to_string(), sql.display().to_string())];
    let out = ember(&["check", users_pipeline().to_str().unwrap()], &env);
    let stderr = stderr_of(&out);
    assert!(!out.status.success(), "ember check passed:\n{stderr}");
    // `ember check` names positions as compilers do (file:line:column).
    assert!(
        stderr.contains(&format!("{}:3:8: `uuid()`", sql.display())),
        "{stderr}"
    );
}

#[test]
fn ember_run_refuses_a_volatile_function_before_reading() {
    let names = Names::new("volatile");
    create_topic(&names.topic, 1);
    let sql = volatile_sql();
    let mut env = names.env();
    env.push(("EMBER_SQL".to_string(), sql.display().to_string()));
    let out = ember(
        &[
            "run",
            users_pipeline().to_str().unwrap(),
            "--trigger",
            "available-now",
        ],
        &env,
    );
    let stderr = stderr_of(&out);
    assert!(!out.status.success(), "ember run passed:\n{stderr}");
    assert!(
        stderr.contains(&format!("{}: line 3:8: `uuid()`", sql.display())),
        "{stderr}"
    );
}

#[test]
fn ember_check_warns_about_a_local_checkpoint_and_not_about_a_shared_one() {
    let pipeline = users_pipeline();
    let stdout = ember_ok(&["check", pipeline.to_str().unwrap()], &[]);
    assert!(
        stdout.contains(
            "warning: the checkpoint .ember/checkpoints/ember-users is local to this host"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("consumer group ember-users"), "{stdout}");

    let shared = vec![(
        "EMBER_CHECKPOINT".to_string(),
        "s3://bucket/ember/users".to_string(),
    )];
    let stdout = ember_ok(&["check", pipeline.to_str().unwrap()], &shared);
    assert!(!stdout.contains("warning: the checkpoint"), "{stdout}");
}

#[test]
fn ember_run_warns_about_a_local_checkpoint_at_start() {
    let names = Names::new("localckpt");
    create_topic(&names.topic, 1);
    let out = ember(
        &[
            "run",
            users_pipeline().to_str().unwrap(),
            "--trigger",
            "available-now",
        ],
        &names.env(),
    );
    let stderr = stderr_of(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the checkpoint .ember/checkpoints/{} is local to this host",
            names.group
        )),
        "{stderr}"
    );
}
