//! An `ember` process in the background, for tests that signal, kill or
//! outlive it.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{repo, unique, users_pipeline};

/// An `ember` process in the background, its output in files.
pub struct Job {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Job {
    pub fn start(name: &str, args: &[&str], env: &[(String, String)]) -> Job {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("job-logs");
        std::fs::create_dir_all(&dir).expect("log dir");
        let id = unique(name);
        let (stdout, stderr) = (dir.join(format!("{id}.out")), dir.join(format!("{id}.err")));
        let child = Command::new(env!("CARGO_BIN_EXE_ember"))
            .args(args)
            .current_dir(repo())
            .envs(env.iter().cloned())
            .stdout(File::create(&stdout).expect("stdout file"))
            .stderr(File::create(&stderr).expect("stderr file"))
            .stdin(Stdio::null())
            .spawn()
            .expect("start ember");
        Job {
            child,
            stdout,
            stderr,
        }
    }

    /// `ember run pipelines/users.toml` with `env` (processing-time unless
    /// the trigger is overridden there).
    pub fn run(name: &str, env: &[(String, String)]) -> Job {
        let pipeline = users_pipeline();
        Job::start(
            name,
            &["run", pipeline.to_str().unwrap(), "--summary-json"],
            env,
        )
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "kill -{sig}");
    }

    /// `sig` then `then`, microseconds apart (one shell's builtin `kill`).
    pub fn signal_twice(&self, sig: &str, then: &str) {
        let pid = self.child.id();
        let ok = Command::new("sh")
            .args(["-c", &format!("kill -{sig} {pid} && kill -{then} {pid}")])
            .status()
            .expect("sh runs")
            .success();
        assert!(ok, "kill -{sig}, -{then}");
    }

    pub fn kill9(&mut self) {
        self.signal("KILL");
        self.child.wait().expect("reaped");
    }

    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The job's name and id, as its log files are named.
    pub fn name(&self) -> String {
        self.stderr
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// The log lines about group membership and partition moves (which
    /// explain most stalls), then the log's tail.
    pub fn membership_and_tail(&self) -> String {
        let log = self.stderr();
        let membership: Vec<&str> = log
            .lines()
            .filter(|l| {
                ["assigned", "revoked", "moving", "start where", "rebalance"]
                    .iter()
                    .any(|w| l.contains(w))
            })
            .collect();
        let first = membership.len().saturating_sub(40);
        format!(
            "membership:\n{}\ntail:\n{}",
            membership[first..].join("\n"),
            tail(&log)
        )
    }

    /// SIGTERM, then asserts a clean exit within `within`; returns how long
    /// the exit took.
    pub fn stop(&mut self, sig: &str, within: Duration) -> Duration {
        let sent = Instant::now();
        self.signal(sig);
        let status = self.wait(within);
        let took = sent.elapsed();
        match status {
            Some(s) if s.success() => took,
            Some(s) => panic!(
                "ember exited {s} on SIG{sig}\nstdout:\n{}\nstderr:\n{}",
                self.stdout(),
                tail(&self.stderr())
            ),
            None => panic!(
                "ember still running {within:?} after SIG{sig}\nstdout:\n{}",
                self.stdout()
            ),
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
