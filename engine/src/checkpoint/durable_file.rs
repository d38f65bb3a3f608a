//! Local checkpoint objects written so that they survive a power loss.
//!
//! `object_store`'s local store writes a staging file and renames it over
//! the object, but syncs neither: after a crash of the machine (not just of
//! the process) the rename can be on disk while the data is not — an empty
//! or truncated partition state — or the commit can be missing altogether,
//! and the pipeline would then replay or report data loss from a state it
//! never wrote. Here the data is synced before the rename makes it visible,
//! and the directory after it, so the new name is durable too.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Replaces `path` with `bytes`: written to a temporary file beside it,
/// synced, then renamed over it. The directory is not synced here (one
/// [`sync_dir`] after several files costs one sync, not one per file).
pub fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = parent(path)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    // A name `load_all` does not take for a partition state.
    let temporary = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut file = File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written
}

/// Makes the entries of `dir` (new names, renames) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` if it is missing, and makes its own entry durable.
pub fn ensure_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir)?;
    sync_dir(parent(dir)?)
}

fn parent(path: &Path) -> io::Result<&Path> {
    path.parent().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} has no parent directory", path.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_replaced_whole_and_no_temporary_is_left() {
        let dir = std::env::temp_dir().join(format!("ember-durable-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let nested = dir.join("topic");
        ensure_dir(&nested).unwrap();
        let path = nested.join("partition-0.json");
        write_synced(&path, b"first").unwrap();
        write_synced(&path, b"second").unwrap();
        sync_dir(&nested).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(&nested)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("partition-0.json")]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
