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
//!
//! Every write is conditional ([`conditional`]): a state changed by another
//! instance since this one read it is not overwritten. A plan over such a
//! partition leaves it out (its new owner decides), and a commit is merged
//! into what is there (a committed end only grows).

mod conditional;
mod durable_file;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use conditional::{Seen, Swapped};
use futures::future::try_join_all;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, UpdateVersion};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::source::{OffsetRange, OffsetRanges};
use crate::write_time::WriteTime;
use crate::write_time_bound::{check_planned_write_time, MaxWriteTimeSkew, WriteTimeAhead};

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint location {url:?}: {message}")]
    Location { url: String, message: String },
    #[error("checkpoint {path}: {message}")]
    Io { path: String, message: String },
    /// A commit kept finding the state changed under it.
    #[error("checkpoint {path}: changed by another instance at every one of {attempts} attempts to commit")]
    Contended { path: String, attempts: usize },
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
    /// Base write time of the batch.
    pub write_time: WriteTime,
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

/// What identifies a planned batch across its partitions' states: its id
/// and its write time (two instances can plan the same id; never at the
/// same write time for the same partitions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PlanId {
    pub batch_id: u64,
    pub write_time: WriteTime,
}

impl Pending {
    /// The batch this partition's plan belongs to.
    pub fn id(&self) -> PlanId {
        PlanId {
            batch_id: self.batch_id,
            write_time: self.write_time,
        }
    }
}

/// Uncommitted plans: each is replayed once, over the ranges of all its
/// partitions together.
pub type Plans = BTreeMap<PlanId, OffsetRanges>;

/// Files one partition's part of `plan` with the rest of its batch.
pub fn add_plan(plans: &mut Plans, partition: i32, plan: &Pending) {
    plans
        .entry(plan.id())
        .or_default()
        .insert(partition, plan.range());
}

/// One partition's checkpoint state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionState {
    pub committed_end: Option<i64>,
    pub write_time_end: WriteTime,
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
    /// Per partition, the object as this instance last read or wrote it:
    /// what a write expects to replace.
    seen: BTreeMap<i32, Seen>,
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
            seen: BTreeMap::new(),
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
        let (state, seen) = match self.store.get(&path).await {
            Ok(got) => {
                let version = UpdateVersion {
                    e_tag: got.meta.e_tag.clone(),
                    version: got.meta.version.clone(),
                };
                let bytes = got.bytes().await.map_err(|e| self.io_error(&path, e))?;
                let state = serde_json::from_slice(&bytes).map_err(|e| self.io_error(&path, e))?;
                let seen = Seen {
                    bytes: Some(bytes.to_vec()),
                    version: Some(version),
                };
                (state, seen)
            }
            Err(object_store::Error::NotFound { .. }) => {
                (PartitionState::default(), Seen::default())
            }
            Err(e) => return Err(self.io_error(&path, e)),
        };
        self.seen.insert(partition, seen);
        Ok(self.states.entry(partition).insert_entry(state).into_mut())
    }

    /// The cached state of a partition, if it has been loaded.
    pub fn state(&self, partition: i32) -> Option<&PartitionState> {
        self.states.get(&partition)
    }

    /// Records the batch's ranges and write time before it is processed.
    /// Returns the partitions another instance changed since this one read
    /// them: they are not planned (their states are read again), and the
    /// batch must go on without them.
    pub async fn plan(
        &mut self,
        batch_id: u64,
        ranges: &OffsetRanges,
        write_time: WriteTime,
        rows: usize,
    ) -> Result<BTreeSet<i32>, CheckpointError> {
        self.refuse_write_time_ahead(write_time, ranges)?;
        for (&p, r) in ranges {
            let state = self.states.entry(p).or_default();
            state.pending = Some(Pending {
                batch_id,
                start: r.start,
                end: r.end,
                write_time,
            });
            state.write_time_end = state.write_time_end.max(write_time.after_rows(rows + 1));
        }
        let changed = self.persist(ranges.keys().copied()).await?;
        for &p in &changed {
            self.load(p).await?;
        }
        Ok(changed)
    }

    /// A write time too far ahead of the clock is refused before it is
    /// stored: once stored it would be every later batch's floor.
    fn refuse_write_time_ahead(
        &self,
        write_time: WriteTime,
        ranges: &OffsetRanges,
    ) -> Result<(), CheckpointError> {
        let now = WriteTime::now();
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

    /// Marks the batch's ranges as done. The batch is in every sink, so
    /// this holds whoever owns the partitions now: where another instance
    /// changed a state meanwhile (it took the partition over and replayed
    /// this very plan, or planned past it), the commit is merged into its
    /// state — the committed end only grows, this batch's own plan is
    /// cleared, anyone else's is kept.
    pub async fn commit(&mut self, ranges: &OffsetRanges) -> Result<(), CheckpointError> {
        const ATTEMPTS: usize = 5;
        let mine: BTreeMap<i32, Option<Pending>> = ranges
            .keys()
            .map(|&p| (p, self.states.get(&p).and_then(|s| s.pending)))
            .collect();
        let mut left: BTreeSet<i32> = ranges.keys().copied().collect();
        for attempt in 1..=ATTEMPTS {
            for &p in &left {
                let state = self.states.entry(p).or_default();
                let end = ranges[&p].end;
                state.committed_end = Some(state.committed_end.map_or(end, |c| c.max(end)));
                if state.pending == mine[&p] {
                    state.pending = None;
                }
            }
            left = self.persist(left.iter().copied()).await?;
            if left.is_empty() {
                return Ok(());
            }
            tracing::info!(partitions = ?left, attempt, "checkpoint changed by another instance; merging this commit into it");
            for &p in &left {
                self.load(p).await?;
            }
        }
        let p = left.first().copied().unwrap_or_default();
        Err(CheckpointError::Contended {
            path: self.display(&self.path(p)),
            attempts: ATTEMPTS,
        })
    }

    /// Writes the cached states of `partitions`, each only if its object is
    /// still as last seen; returns those another instance changed.
    async fn persist(
        &mut self,
        partitions: impl Iterator<Item = i32>,
    ) -> Result<BTreeSet<i32>, CheckpointError> {
        let partitions: Vec<i32> = partitions.collect();
        let outcomes = match &self.local_dir {
            Some(dir) => self.persist_local(dir, &partitions).await?,
            None => self.persist_to_store(&partitions).await?,
        };
        let mut changed = BTreeSet::new();
        for (p, outcome) in partitions.into_iter().zip(outcomes) {
            match outcome {
                Swapped::Done(seen) => {
                    self.seen.insert(p, seen);
                }
                Swapped::Changed => {
                    changed.insert(p);
                }
            }
        }
        Ok(changed)
    }

    async fn persist_to_store(&self, partitions: &[i32]) -> Result<Vec<Swapped>, CheckpointError> {
        let writes = partitions.iter().map(|&p| {
            let path = self.path(p);
            let body = serde_json::to_vec(&self.states[&p]);
            let seen = self.seen.get(&p).cloned().unwrap_or_default();
            async move {
                let body = body.map_err(|e| self.io_error(&path, e))?;
                conditional::put_if_unchanged(self.store.as_ref(), &path, body, &seen)
                    .await
                    .map_err(|e| self.io_error(&path, e))
            }
        });
        try_join_all(writes).await
    }

    /// Every file written and synced (in parallel: the syncs share the
    /// file system's journal commits), then the directory synced once.
    async fn persist_local(
        &self,
        dir: &std::path::Path,
        partitions: &[i32],
    ) -> Result<Vec<Swapped>, CheckpointError> {
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
        let writes = partitions.iter().map(|&p| {
            let path = self.path(p);
            let file = dir.join(format!("partition-{p}.json"));
            let body = serde_json::to_vec(&self.states[&p]);
            let seen = self.seen.get(&p).cloned().unwrap_or_default();
            async move {
                let body = body.map_err(|e| self.io_error(&path, e))?;
                tokio::task::spawn_blocking(move || {
                    conditional::replace_file_if_unchanged(&file, &body, &seen)
                })
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e)))
                .map_err(|e| self.io_error(&path, e))
            }
        });
        let outcomes = try_join_all(writes).await?;
        let owned_dir = dir.to_path_buf();
        blocking(Box::new(move || durable_file::sync_dir(&owned_dir)))
            .await
            .map_err(dir_error)?;
        Ok(outcomes)
    }

    fn io_error(&self, path: &Path, e: impl std::fmt::Display) -> CheckpointError {
        CheckpointError::Io {
            path: self.display(path),
            message: e.to_string(),
        }
    }

    /// An object's full location, for messages: the URL already names the
    /// base, so only what is below it is added.
    fn display(&self, path: &Path) -> String {
        match path.prefix_match(&self.base) {
            Some(parts) => {
                let rest: Vec<_> = parts.map(|p| p.as_ref().to_string()).collect();
                format!("{}/{}", self.url.trim_end_matches('/'), rest.join("/"))
            }
            None => format!("{}/{}", self.url.trim_end_matches('/'), path),
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
    use crate::write_time::at;

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
        ckpt.plan(0, &ranges, at(1_000), 12).await.unwrap();

        let mut again = Checkpoint::open(dir.to_str().unwrap(), "topic").unwrap();
        let states = again.load_all().await.unwrap().clone();
        assert_eq!(states.len(), 2);
        assert_eq!(
            states[&3].pending,
            Some(Pending {
                batch_id: 0,
                start: 5,
                end: 7,
                write_time: at(1_000)
            })
        );
        assert_eq!(states[&0].write_time_end, at(1_013));
        assert_eq!(states[&0].committed_end, None);

        ckpt.commit(&ranges).await.unwrap();
        let state = again.load(0).await.unwrap().clone();
        assert_eq!(state.committed_end, Some(10));
        assert_eq!(state.pending, None);
        assert_eq!(again.load(9).await.unwrap(), &PartitionState::default());
    }

    /// The old owner of a partition commits a batch its new owner already
    /// replayed, or after the new owner planned the next one: the commit is
    /// merged, never moving the end back or erasing the other's plan.
    #[tokio::test]
    async fn a_commit_into_a_state_changed_meanwhile_is_merged() {
        let dir = std::env::temp_dir().join(format!("ember-ckpt-merge-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let location = dir.to_str().unwrap();
        let range = |start, end| -> OffsetRanges { [(0, OffsetRange { start, end })].into() };
        let mut old_owner = Checkpoint::open(location, "topic").unwrap();
        old_owner.load(0).await.unwrap();
        assert!(old_owner
            .plan(1, &range(0, 5), at(1_000), 5)
            .await
            .unwrap()
            .is_empty());

        let mut new_owner = Checkpoint::open(location, "topic").unwrap();
        let found = new_owner.load(0).await.unwrap().pending;
        assert_eq!(
            found.map(|p| p.range()),
            Some(OffsetRange { start: 0, end: 5 })
        );
        new_owner.commit(&range(0, 5)).await.unwrap();
        assert!(new_owner
            .plan(2, &range(5, 9), at(2_000), 4)
            .await
            .unwrap()
            .is_empty());

        old_owner.commit(&range(0, 5)).await.unwrap();
        let state = Checkpoint::open(location, "topic")
            .unwrap()
            .load(0)
            .await
            .unwrap()
            .clone();
        assert_eq!(state.committed_end, Some(5));
        assert_eq!(
            state.pending.map(|p| p.batch_id),
            Some(2),
            "the new owner's plan stays"
        );
        assert_eq!(state.write_time_end, at(2_005));

        // And a plan over a state changed since it was read is refused.
        new_owner.load(0).await.unwrap();
        new_owner.commit(&range(5, 9)).await.unwrap();
        let changed = old_owner.plan(3, &range(5, 7), at(3_000), 2).await.unwrap();
        assert_eq!(changed, BTreeSet::from([0]));
        let now = old_owner.state(0).cloned().unwrap_or_default();
        assert_eq!(
            (now.committed_end, now.pending),
            (Some(9), None),
            "read again"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn bad_locations_are_named() {
        let err = Checkpoint::open("nope://x/y", "t").unwrap_err().to_string();
        assert!(err.contains("nope://x/y"), "{err}");
    }
}
