//! `scripts/prereqs.sh`, the check `make demo`, `make up`, `make test` and `.ci/run` start
//! with: each missing piece gets a message of its own and the command that fixes it, within
//! seconds, instead of a CMake error half an hour into the first build.
//!
//! Tools are hidden by running the script with a PATH of its own: a folder of links to every
//! program on the real PATH except the hidden ones. Headers are hidden with a C compiler
//! (`CC`, as the cc crate and CMake take it) that ignores the system include folders. Where a
//! piece is there but wrong (an old rustc, a Java 25), a fake of just that program stands in.
//! `EMBER_PREREQS_NO_INSTALL=1` keeps the script from installing anything (the tests run as
//! root in CI, where it would).

use std::collections::HashSet;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The bound: a missing piece is named within 10 s, not after a build.
const WITHIN: Duration = Duration::from_secs(10);

fn scratch(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "prereqs-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// A folder holding a link to every program on PATH but `hidden` (the first of each name).
fn path_without(hidden: &[&str]) -> PathBuf {
    let bin = scratch("bin");
    let mut seen: HashSet<_> = hidden.iter().map(|h| h.to_string()).collect();
    let path = std::env::var("PATH").expect("PATH");
    for dir in std::env::split_paths(&path) {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if seen.insert(name.clone()) {
                symlink(entry.path(), bin.join(&name)).expect("link a program");
            }
        }
    }
    bin
}

/// A small executable shell script in `dir`.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

struct Outcome {
    ok: bool,
    stderr: String,
}

fn prereqs(mode: &str, path: &Path, env: &[(&str, &str)]) -> Outcome {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let started = Instant::now();
    let out = Command::new("/bin/bash")
        .arg(repo.join("scripts/prereqs.sh"))
        .arg(mode)
        .env("PATH", path)
        .env("EMBER_PREREQS_NO_INSTALL", "1")
        .envs(env.iter().copied())
        .output()
        .expect("run prereqs.sh");
    let took = started.elapsed();
    assert!(took < WITHIN, "prereqs.sh {mode} took {took:?}");
    Outcome {
        ok: out.status.success(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn real_path() -> PathBuf {
    PathBuf::from(std::env::var("PATH").expect("PATH"))
}

/// Fails with exactly one missing line matching `message` and, where given, the apt command
/// that installs `packages`.
fn assert_missing(outcome: &Outcome, message: &str, packages: Option<&str>) {
    assert!(!outcome.ok, "should fail:\n{}", outcome.stderr);
    let lines: Vec<_> = outcome
        .stderr
        .lines()
        .filter(|l| l.starts_with("  - "))
        .collect();
    assert_eq!(
        lines.iter().filter(|l| l.contains(message)).count(),
        1,
        "one line naming {message:?} in:\n{}",
        outcome.stderr
    );
    match packages {
        Some(p) => assert!(
            outcome
                .stderr
                .contains(&format!("sudo apt-get install -y {p}\n")),
            "the install command for {p:?} in:\n{}",
            outcome.stderr
        ),
        None => assert!(
            !outcome.stderr.contains("apt-get"),
            "no apt command:\n{}",
            outcome.stderr
        ),
    }
}

#[test]
fn this_machine_has_everything_make_test_needs() {
    for mode in ["up", "demo", "test"] {
        let outcome = prereqs(mode, &real_path(), &[]);
        assert!(outcome.ok, "prereqs.sh {mode}:\n{}", outcome.stderr);
    }
}

#[test]
fn each_missing_tool_is_named_with_its_package() {
    for (tool, mode, message, package) in [
        ("cmake", "demo", "cmake not found", "cmake"),
        ("mvn", "up", "mvn not found", "maven"),
        ("c++", "demo", "c++ not found", "g++"),
        ("pkg-config", "demo", "pkg-config not found", "pkg-config"),
        ("openssl", "test", "openssl not found", "openssl"),
    ] {
        let outcome = prereqs(mode, &path_without(&[tool]), &[]);
        assert_missing(&outcome, message, Some(package));
        assert_eq!(
            outcome.stderr.matches("  - ").count(),
            1,
            "only {tool}:\n{}",
            outcome.stderr
        );
    }
}

#[test]
fn several_missing_tools_get_one_line_each_and_one_install_command() {
    let outcome = prereqs("demo", &path_without(&["cmake", "mvn"]), &[]);
    assert_missing(&outcome, "cmake not found", Some("maven cmake"));
    assert_missing(&outcome, "mvn not found", Some("maven cmake"));
}

#[test]
fn the_stack_alone_does_not_need_the_build_tools() {
    let outcome = prereqs("up", &path_without(&["cmake", "cargo", "rustc", "go"]), &[]);
    assert!(outcome.ok, "{}", outcome.stderr);
}

#[test]
fn rust_missing_or_too_old_is_told_how_to_get_it() {
    let outcome = prereqs("demo", &path_without(&["cargo", "rustc"]), &[]);
    assert_missing(&outcome, "Rust is not installed", None);
    assert!(outcome.stderr.contains("rustup"), "{}", outcome.stderr);

    let old = path_without(&["rustc"]);
    script(&old, "rustc", "echo 'rustc 1.80.0 (051478957 2024-07-21)'");
    let outcome = prereqs("demo", &old, &[]);
    assert_missing(&outcome, "Rust 1.80.0 is older than the 1.94", None);
    assert!(
        outcome.stderr.contains("rustup update stable"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn go_is_needed_by_the_tests_only() {
    let path = path_without(&["go"]);
    assert!(prereqs("demo", &path, &[]).ok);
    assert_missing(&prereqs("test", &path, &[]), "go not found", None);
}

#[test]
fn chromium_is_needed_by_the_tests_only() {
    let missing = [("CHROMIUM", "/nonexistent/chromium")];
    assert!(prereqs("demo", &real_path(), &missing).ok);
    assert_missing(
        &prereqs("test", &real_path(), &missing),
        "chromium not found",
        Some("chromium"),
    );
}

#[test]
fn each_missing_header_is_named_with_its_package() {
    let dir = scratch("cc");
    let cc = script(&dir, "cc", "exec gcc -nostdinc \"$@\"");
    let cc = cc.to_str().expect("utf-8 path");
    let outcome = prereqs("demo", &real_path(), &[("CC", cc)]);
    for header in ["curl/curl.h", "sasl/sasl.h", "openssl/ssl.h", "zlib.h"] {
        assert_missing(
            &outcome,
            &format!("header <{header}> not found"),
            Some("libcurl4-openssl-dev libsasl2-dev libssl-dev zlib1g-dev"),
        );
    }
}

#[test]
fn java_must_be_17() {
    let outcome = prereqs(
        "up",
        &real_path(),
        &[("EMBER_STACK_JAVA_HOME", "/nonexistent/jdk")],
    );
    assert_missing(
        &outcome,
        "Java 17 not found",
        Some("openjdk-17-jdk-headless"),
    );

    let jdk = scratch("jdk25");
    std::fs::create_dir_all(jdk.join("bin")).expect("mkdir");
    script(
        &jdk.join("bin"),
        "java",
        "echo 'openjdk version \"25.0.1\" 2025-10-21' >&2",
    );
    let jdk = jdk.to_str().expect("utf-8 path");
    let outcome = prereqs("up", &real_path(), &[("EMBER_STACK_JAVA_HOME", jdk)]);
    assert_missing(
        &outcome,
        "is Java 25; Cassandra 5.0 needs 17",
        Some("openjdk-17-jdk-headless"),
    );
}
