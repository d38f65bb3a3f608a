//! Compare-and-swap writes of partition states: an object is replaced only
//! if it is still what this instance last read or wrote.
//!
//! That is what fences a partition's previous owner. An instance that lost
//! a partition (its batch outlived the group's patience, or it collected
//! records just before a revoke) may still plan or commit it; an
//! unconditional write would then move the committed end backwards, erase
//! the new owner's plan, or plan older records at a later write time. With
//! these writes it finds the object changed instead, and steps aside.
//!
//! Object stores compare their own version (`object_store`'s
//! `PutMode::Update` with the e-tag or generation read; `PutMode::Create`
//! for an object that did not exist). Local files compare content, under an
//! exclusive lock beside the file: a state is a few dozen bytes, and equal
//! bytes are an equal state, so there is no ABA problem to fear.

use std::fs::{self, OpenOptions};
use std::io;
use std::path::Path as FsPath;

use object_store::path::Path;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload, UpdateVersion};

use super::durable_file;

/// What this instance last read or wrote of one partition's object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    /// The object's bytes; `None` if there was no object.
    pub bytes: Option<Vec<u8>>,
    /// The store's version of it (object stores only).
    pub version: Option<UpdateVersion>,
}

/// How a conditional write ended.
#[derive(Debug)]
pub enum Swapped {
    /// Written; the object is now this.
    Done(Seen),
    /// Someone else changed the object since it was seen: nothing written.
    Changed,
}

/// Replaces the object at `path` with `body` if it is still `seen`.
pub async fn put_if_unchanged(
    store: &dyn ObjectStore,
    path: &Path,
    body: Vec<u8>,
    seen: &Seen,
) -> Result<Swapped, object_store::Error> {
    let mode = match (&seen.bytes, &seen.version) {
        (None, _) => PutMode::Create,
        (Some(_), Some(version)) => PutMode::Update(version.clone()),
        // Read without a version (a store that gives none): nothing to
        // compare against, which is a store this checkpoint cannot use.
        (Some(_), None) => {
            return Err(object_store::Error::NotImplemented {
                operation: "conditional writes (the store returned no e-tag or version)".into(),
                implementer: store.to_string(),
            })
        }
    };
    let options = PutOptions {
        mode,
        ..PutOptions::default()
    };
    match store
        .put_opts(path, PutPayload::from(body.clone()), options)
        .await
    {
        Ok(result) => Ok(Swapped::Done(Seen {
            bytes: Some(body),
            version: Some(UpdateVersion {
                e_tag: result.e_tag,
                version: result.version,
            }),
        })),
        Err(
            object_store::Error::Precondition { .. } | object_store::Error::AlreadyExists { .. },
        ) => Ok(Swapped::Changed),
        Err(e) => Err(e),
    }
}

/// Replaces the local file `path` with `body`, synced, if its content is
/// still `seen`. Writers of the same partition take turns on a lock file
/// beside it; readers need none, since the replacement is a rename.
pub fn replace_file_if_unchanged(path: &FsPath, body: &[u8], seen: &Seen) -> io::Result<Swapped> {
    let lock_path = lock_file(path)?;
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)?;
    lock.lock()?;
    let current = match fs::read(path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    if current != seen.bytes {
        return Ok(Swapped::Changed);
    }
    // The lock is released when `lock` drops, after the rename.
    durable_file::write_synced(path, body)?;
    Ok(Swapped::Done(Seen {
        bytes: Some(body.to_vec()),
        version: None,
    }))
}

/// `.partition-3.json.lock` beside `partition-3.json`: a name `load_all`
/// does not take for a partition state.
fn lock_file(path: &FsPath) -> io::Result<std::path::PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    Ok(path.with_file_name(format!(".{}.lock", name.to_string_lossy())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;
    use object_store::{GetResult, ObjectStoreExt};

    async fn seen(store: &InMemory, path: &Path) -> Seen {
        let got: GetResult = store.get(path).await.unwrap();
        let version = UpdateVersion {
            e_tag: got.meta.e_tag.clone(),
            version: got.meta.version.clone(),
        };
        Seen {
            bytes: Some(got.bytes().await.unwrap().to_vec()),
            version: Some(version),
        }
    }

    #[tokio::test]
    async fn a_store_object_changed_since_it_was_seen_is_left_alone() {
        let store = InMemory::new();
        let path = Path::from("t/partition-0.json");
        let created = put_if_unchanged(&store, &path, b"a".to_vec(), &Seen::default())
            .await
            .unwrap();
        let Swapped::Done(mine) = created else {
            panic!("an absent object is created")
        };
        // Another instance reads it and writes after.
        let theirs = seen(&store, &path).await;
        assert!(matches!(
            put_if_unchanged(&store, &path, b"b".to_vec(), &theirs)
                .await
                .unwrap(),
            Swapped::Done(_)
        ));
        // This one's view is stale now: its write is refused.
        assert!(matches!(
            put_if_unchanged(&store, &path, b"c".to_vec(), &mine)
                .await
                .unwrap(),
            Swapped::Changed
        ));
        // So is creating an object that exists meanwhile.
        assert!(matches!(
            put_if_unchanged(&store, &path, b"d".to_vec(), &Seen::default())
                .await
                .unwrap(),
            Swapped::Changed
        ));
        assert_eq!(seen(&store, &path).await.bytes.as_deref(), Some(&b"b"[..]));
    }

    #[test]
    fn a_local_file_changed_since_it_was_seen_is_left_alone() {
        let dir = std::env::temp_dir().join(format!("ember-cas-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("partition-0.json");
        let _ = fs::remove_file(&path);
        let Swapped::Done(mine) = replace_file_if_unchanged(&path, b"a", &Seen::default()).unwrap()
        else {
            panic!("an absent file is created")
        };
        let theirs = Seen {
            bytes: Some(fs::read(&path).unwrap()),
            version: None,
        };
        assert!(matches!(
            replace_file_if_unchanged(&path, b"b", &theirs).unwrap(),
            Swapped::Done(_)
        ));
        assert!(matches!(
            replace_file_if_unchanged(&path, b"c", &mine).unwrap(),
            Swapped::Changed
        ));
        assert!(matches!(
            replace_file_if_unchanged(&path, b"d", &Seen::default()).unwrap(),
            Swapped::Changed
        ));
        assert_eq!(fs::read(&path).unwrap(), b"b");
        fs::remove_dir_all(&dir).ok();
    }
}
