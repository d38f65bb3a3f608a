//! The checkpoint: per partition, what is committed and what was planned.
//!
//! Like Spark's offset log + commit log, but keyed per partition so that
//! several instances in one consumer group can share it: a partition's new
//! owner reads that partition's state and carries on from it.
//!
//! For each partition the state object records
//! - `committed_end`: every offset below it is written to every sink and to
//!   the dead-letter topic;
//! - `pending`: the range of the batch planned but not yet committed, with
//!   its write time — a restart replays exactly this range at exactly this
//!   write time, so a replay is indistinguishable from the first attempt;
//! - `write_time_end`: the smallest write time a later batch may use, so a
//!   replayed old batch can never overwrite a newer value.
//!
//! The checkpoint is the authority; Kafka group offsets are committed after
//! it, as a mirror for lag tools. They can only lag behind the checkpoint
//! (a crash between the two commits), and records below the checkpoint's
//! `committed_end` are dropped by the pipeline, so the mirror lagging is
//! harmless.
//!
//! Objects live at `<url>/<topic>/partition-<p>.json` through `object_store`:
//! `file://` by default, `s3://`, `gs://`, `az://` by configuration alone
//! (credentials from the usual environment variables). Local objects are
//! written by [`durable_file`] instead, synced to disk, because
//! `object_store`'s local store does not sync.

mod durable_file;

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::try_join_all;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::source::{OffsetRange, OffsetRanges};
use crate::write_time_bound::{check_planned_write_time, MaxWriteTimeSkew, WriteTimeAhead};

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint location {url:?}: {message}")]
    Location { url: String, message: String },
    #[error("checkpoint {path}: {message}")]
    Io { path: String, message: String },
    /// A plan whose write time is too far ahead of the clock: it would pin
    /// every later batch of its partitions there.
    #[error("checkpoint {url}: {source}")]
    WriteTimeAhead {
        url: String,
        #[source]
        source: WriteTimeAhead,
    },
}

/// A planned, not yet committed range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub batch_id: u64,
    pub start: i64,
    pub end: i64,
    /// Base write time of the batch (microseconds).
    pub write_time: i64,
}

impl Pending {
    /// The planned offsets of the partition.
    pub fn range(&self) -> OffsetRange {
        OffsetRange {
            start: self.start,
            end: self.end,
        }
    }
}

/// Uncommitted plans, by (batch id, write time): each is replayed once,
/// over the ranges of all its partitions together.
pub type Plans = BTreeMap<(u64, i64), OffsetRanges>;

/// Files one partition's part of `plan` with the rest of its batch.
pub fn add_plan(plans: &mut Plans, partition: i32, plan: &Pending) {
    plans
        .entry((plan.batch_id, plan.write_time))
        .or_default()
        .insert(partition, plan.range());
}

/// One partition's checkpoint state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionState {
    pub committed_end: Option<i64>,
    pub write_time_end: i64,
    pub pending: Option<Pending>,
}

/// The checkpoint of one pipeline's topic.
pub struct Checkpoint {
    store: Arc<dyn ObjectStore>,
    /// The location's own path within the store (a prefix of every key).
    base: Path,
    root: Path,
    url: String,
    states: BTreeMap<i32, PartitionState>,
    /// For a local checkpoint (`file://`), the topic's directory: written
    /// with fsync of file and directory.
    local_dir: Option<std::path::PathBuf>,
    /// The bound on a planned write time's lead over the clock.
    max_write_time_skew: MaxWriteTimeSkew,
}

impl std::fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Checkpoint({})", self.url)
    }
}

impl Checkpoint {
    /// Opens the checkpoint at `location` (a URL, or a local path) for
    /// `topic`. Nothing is read yet.
    pub fn open(location: &str, topic: &str) -> Result<Self, CheckpointError> {
        let url = to_url(location)?;
        let (store, base) = object_store::parse_url_opts(&url, std::env::vars()).map_err(|e| {
            CheckpointError::Location {
                url: location.into(),
                message: e.to_string(),
            }
        })?;
        let root = base.clone().join(topic);
        let local_dir = match url.scheme() {
            "file" => url.to_file_path().ok().map(|dir| dir.join(topic)),
            _ => None,
        };
        Ok(Checkpoint {
            local_dir,
            store: Arc::from(store),
            base,
            root,
            url: url.to_string(),
            states: BTreeMap::new(),
            max_write_time_skew: MaxWriteTimeSkew::DEFAULT,
        })
    }

    /// Sets how far ahead of the clock a planned write time may be
    /// (default [`MaxWriteTimeSkew::DEFAULT`]).
    pub fn with_max_write_time_skew(mut self, skew: MaxWriteTimeSkew) -> Self {
        self.max_write_time_skew = skew;
        self
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn path(&self, partition: i32) -> Path {
        self.root
            .clone()
            .join(format!("partition-{partition}.json"))
    }

    /// Reads every partition state stored for the topic.
    pub async fn load_all(&mut self) -> Result<&BTreeMap<i32, PartitionState>, CheckpointError> {
        use futures::TryStreamExt;
        let listed: Vec<_> = self
            .store
            .list(Some(&self.root))
            .try_collect()
            .await
            .map_err(|e| self.io_error(&self.root, e))?;
        for meta in listed {
            let name = meta.location.filename().unwrap_or_default();
            let Some(p) = name
                .strip_prefix("partition-")
                .and_then(|s| s.strip_suffix(".json"))
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            self.load(p).await?;
        }
        Ok(&self.states)
    }

    /// (Re)reads one partition's state from the store; absent means new.
    pub async fn load(&mut self, partition: i32) -> Result<&PartitionState, CheckpointError> {
        let path = self.path(partition);
        let state = match self.store.get(&path).await {
            Ok(got) => {
                let bytes = got.bytes().await.map_err(|e| self.io_error(&path, e))?;
                serde_json::from_slice(&bytes).map_err(|e| self.io_error(&path, e))?
            }
            Err(object_store::Error::NotFound { .. }) => PartitionState::default(),
            Err(e) => return Err(self.io_error(&path, e)),
        };
        Ok(self.states.entry(partition).insert_entry(state).into_mut())
    }

    /// The cached state of a partition, if it has been loaded.
    pub fn state(&self, partition: i32) -> Option<&PartitionState> {
        self.states.get(&partition)
    }

    /// Records the batch's ranges and write time before it is processed.
    pub async fn plan(
        &mut self,
        batch_id: u64,
        ranges: &OffsetRanges,
        write_time: i64,
        rows: usize,
    ) -> Result<(), CheckpointError> {
        self.refuse_write_time_ahead(write_time, ranges)?;
        for (&p, r) in ranges {
            let state = self.states.entry(p).or_default();
            state.pending = Some(Pending {
                batch_id,
                start: r.start,
                end: r.end,
                write_time,
            });
            state.write_time_end = state.write_time_end.max(write_time + rows as i64 + 1);
        }
        self.persist(ranges.keys().copied()).await
    }

    /// A write time too far ahead of the clock is refused before it is
    /// stored: once stored it would be every later batch's floor.
    fn refuse_write_time_ahead(
        &self,
        write_time: i64,
        ranges: &OffsetRanges,
    ) -> Result<(), CheckpointError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
        let floors = self.states.iter().map(|(&p, s)| (p, s.write_time_end));
        check_planned_write_time(
            write_time,
            now,
            self.max_write_time_skew,
            floors,
            ranges.keys().copied(),
        )
        .map_err(|source| CheckpointError::WriteTimeAhead {
            url: self.url.clone(),
            source,
        })
    }

    /// Marks the batch's ranges as done.
    pub async fn commit(&mut self, ranges: &OffsetRanges) -> Result<(), CheckpointError> {
        for (&p, r) in ranges {
            let state = self.states.entry(p).or_default();
            state.committed_end = Some(state.committed_end.map_or(r.end, |c| c.max(r.end)));
            state.pending = None;
        }
        self.persist(ranges.keys().copied()).await
    }

    async fn persist(&self, partitions: impl Iterator<Item = i32>) -> Result<(), CheckpointError> {
        if let Some(dir) = &self.local_dir {
            return self.persist_local(dir, partitions).await;
        }
        let writes = partitions.map(|p| {
            let path = self.path(p);
            let body = serde_json::to_vec(&self.states[&p]).unwrap_or_default();
            async move {
                self.store
                    .put(&path, PutPayload::from(body))
                    .await
                    .map(|_| ())
                    .map_err(|e| self.io_error(&path, e))
            }
        });
        try_join_all(writes).await.map(|_| ())
    }

    /// Every file written and synced (in parallel: the syncs share the
    /// file system's journal commits), then the directory synced once.
    async fn persist_local(
        &self,
        dir: &std::path::Path,
        partitions: impl Iterator<Item = i32>,
    ) -> Result<(), CheckpointError> {
        let dir_error = |e: std::io::Error| CheckpointError::Io {
            path: dir.display().to_string(),
            message: e.to_string(),
        };
        let blocking = |job: Box<dyn FnOnce() -> std::io::Result<()> + Send>| async move {
            tokio::task::spawn_blocking(job)
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e)))
        };
        let owned_dir = dir.to_path_buf();
        blocking(Box::new(move || durable_file::ensure_dir(&owned_dir)))
            .await
            .map_err(dir_error)?;
        let writes = partitions.map(|p| {
            let path = self.path(p);
            let file = dir.join(format!("partition-{p}.json"));
            let body = serde_json::to_vec(&self.states[&p]);
            async move {
                let body = body.map_err(|e| self.io_error(&path, e))?;
                blocking(Box::new(move || durable_file::write_synced(&file, &body)))
                    .await
                    .map_err(|e| self.io_error(&path, e))
            }
        });
        try_join_all(writes).await?;
        let owned_dir = dir.to_path_buf();
        blocking(Box::new(move || durable_file::sync_dir(&owned_dir)))
            .await
            .map_err(dir_error)
    }

    fn io_error(&self, path: &Path, e: impl std::fmt::Display) -> CheckpointError {
        CheckpointError::Io {
            // The URL already names the base: add only what is below it.
            path: match path.prefix_match(&self.base) {
                Some(parts) => {
                    let rest: Vec<_> = parts.map(|p| p.as_ref().to_string()).collect();
                    format!("{}/{}", self.url.trim_end_matches('/'), rest.join("/"))
                }
                None => format!("{}/{}", self.url.trim_end_matches('/'), path),
            },
            message: e.to_string(),
        }
    }
}

/// A URL as is; a plain path (relative to the working directory) as `file://`.
fn to_url(location: &str) -> Result<Url, CheckpointError> {
    if location.contains("://") {
        return Url::parse(location).map_err(|e| CheckpointError::Location {
            url: location.into(),
            message: e.to_string(),
        });
    }
    let path = std::path::Path::new(location);
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| CheckpointError::Location {
                url: location.into(),
                message: e.to_string(),
            })?
            .join(path)
    };
    std::fs::create_dir_all(&absolute).map_err(|e| CheckpointError::Location {
        url: location.into(),
        message: e.to_string(),
    })?;
    Url::from_directory_path(&absolute).map_err(|_| CheckpointError::Location {
        url: location.into(),
        message: "not a usable directory path".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::OffsetRange;

    #[tokio::test]
    async fn plan_commit_and_reload() {
        let dir = std::env::temp_dir().join(format!("ember-ckpt-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut ckpt = Checkpoint::open(dir.to_str().unwrap(), "topic").unwrap();
        assert!(ckpt.load_all().await.unwrap().is_empty());
        let ranges: OffsetRanges = [
            (0, OffsetRange { start: 0, end: 10 }),
            (3, OffsetRange { start: 5, end: 7 }),
        ]
        .into();
        ckpt.plan(0, &ranges, 1_000, 12).await.unwrap();

        let mut again = Checkpoint::open(dir.to_str().unwrap(), "topic").unwrap();
        let states = again.load_all().await.unwrap().clone();
        assert_eq!(states.len(), 2);
        assert_eq!(
            states[&3].pending,
            Some(Pending {
                batch_id: 0,
                start: 5,
                end: 7,
                write_time: 1_000
            })
        );
        assert_eq!(states[&0].write_time_end, 1_013);
        assert_eq!(states[&0].committed_end, None);

        ckpt.commit(&ranges).await.unwrap();
        let state = again.load(0).await.unwrap().clone();
        assert_eq!(state.committed_end, Some(10));
        assert_eq!(state.pending, None);
        assert_eq!(again.load(9).await.unwrap(), &PartitionState::default());
    }

    #[test]
    fn bad_locations_are_named() {
        let err = Checkpoint::open("nope://x/y", "t").unwrap_err().to_string();
        assert!(err.contains("nope://x/y"), "{err}");
    }
}
