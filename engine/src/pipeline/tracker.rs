//! What the loop remembers between checkpoint reads: where each partition's
//! next record should be, where the source was last moved, and the next
//! batch id and write time. Admission, recovery, replays and commits all
//! change it; here is the one place that says how.

use std::collections::BTreeMap;

use crate::write_time::WriteTime;

/// This instance's view of its partitions and of the batch sequence.
#[derive(Debug, Default)]
pub(super) struct PartitionTracker {
    /// Per partition, the offset the next record should have. A record
    /// elsewhere means the partition moved or records vanished: its
    /// checkpoint state is read again.
    expected: BTreeMap<i32, i64>,
    /// Per partition, the offset the source was last told to continue at:
    /// the first record after it was read from there, so a gap before it
    /// is in the log itself.
    moved_to: BTreeMap<i32, i64>,
    next_batch_id: u64,
    /// The first write time the next batch may use.
    next_write_time: WriteTime,
}

impl PartitionTracker {
    /// Whether `first` is where `p` was expected to continue: no need to
    /// read its checkpoint again.
    pub(super) fn expects(&self, p: i32, first: i64) -> bool {
        self.expected.get(&p) == Some(&first)
    }

    /// `p`'s next record should be at `at`.
    pub(super) fn expect(&mut self, p: i32, at: i64) {
        self.expected.insert(p, at);
    }

    /// `p`'s next record should be at `at` or later (a replay committed up
    /// to `at`: anything the stream still delivers below it is a jump).
    pub(super) fn expect_at_least(&mut self, p: i32, at: i64) {
        let expected = self.expected.entry(p).or_insert(at);
        *expected = (*expected).max(at);
    }

    /// Forgets the partitions not in `assigned`: if one comes back, it is a
    /// first sight, which reads its checkpoint again (another owner may
    /// have planned a batch there and died).
    pub(super) fn keep_only(&mut self, assigned: &[i32]) {
        self.expected.retain(|p, _| assigned.contains(p));
    }

    /// Forgets everything about `p` (another instance changed its state).
    pub(super) fn forget(&mut self, p: i32) {
        self.expected.remove(&p);
        self.moved_to.remove(&p);
    }

    /// The source was moved: `p` continues at `at`.
    pub(super) fn moved(&mut self, p: i32, at: i64) {
        self.moved_to.insert(p, at);
        self.expected.insert(p, at);
    }

    /// The source was told where every partition the checkpoint knows
    /// continues (at start), before it delivered anything.
    pub(super) fn started_at(&mut self, positions: BTreeMap<i32, i64>) {
        self.moved_to = positions;
    }

    /// The source was moved, but what `p` delivers next is still to be
    /// checked against its checkpoint (its state is read again).
    pub(super) fn moved_unchecked(&mut self, p: i32, at: i64) {
        self.moved_to.insert(p, at);
    }

    /// Where `p` was moved to, if its first record `first` (past `resume`,
    /// where its checkpoint continues) was read from that move: then the
    /// gap between them is the log's own, and what lies before the move was
    /// accounted for when it was made.
    pub(super) fn read_from_move(&self, p: i32, resume: i64, first: i64) -> Option<i64> {
        self.moved_to
            .get(&p)
            .copied()
            .filter(|&at| at >= resume && first >= at)
    }

    /// Records of `p` up to `offset` are admitted.
    pub(super) fn delivered(&mut self, p: i32, offset: i64) {
        self.expected.insert(p, offset + 1);
        self.moved_to.remove(&p);
    }

    /// A batch id exists already (a plan in the checkpoint).
    pub(super) fn saw_batch(&mut self, batch_id: u64) {
        self.next_batch_id = self.next_batch_id.max(batch_id + 1);
    }

    /// A write time floor from the checkpoint: no later batch goes below it.
    pub(super) fn saw_write_time_end(&mut self, end: WriteTime) {
        self.next_write_time = self.next_write_time.max(end);
    }

    /// A batch of `rows` planned at `write_time` committed.
    pub(super) fn committed(&mut self, batch_id: u64, write_time: WriteTime, rows: usize) {
        self.saw_batch(batch_id);
        self.saw_write_time_end(write_time.after_rows(rows + 1));
    }

    pub(super) fn next_batch_id(&self) -> u64 {
        self.next_batch_id
    }

    /// The next batch's base write time: the clock `now`, but never at or
    /// below any earlier batch's rows here, nor below `floor` (the
    /// checkpoint's, from whichever instance owned the partitions); the
    /// batch's `rows` take the write times above it.
    pub(super) fn plan_write_time(
        &mut self,
        now: WriteTime,
        floor: WriteTime,
        rows: usize,
    ) -> WriteTime {
        let base = now.max(self.next_write_time).max(floor);
        self.next_write_time = base.after_rows(rows + 1);
        base
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::write_time::at;

    #[test]
    fn write_times_only_grow_past_every_batch_and_floor() {
        let mut t = PartitionTracker::default();
        assert_eq!(t.plan_write_time(at(1_000), at(0), 10), at(1_000));
        // A clock that went back: the next batch starts above the last rows.
        assert_eq!(t.plan_write_time(at(500), at(0), 5), at(1_011));
        // A floor from another instance's batches is respected too.
        assert_eq!(t.plan_write_time(at(2_000), at(9_000), 1), at(9_000));
        t.saw_write_time_end(at(20_000));
        assert_eq!(t.plan_write_time(at(2_000), at(0), 1), at(20_000));
        t.committed(7, at(30_000), 3);
        assert_eq!(t.plan_write_time(at(0), at(0), 1), at(30_004));
        assert_eq!(t.next_batch_id(), 8);
        t.saw_batch(3);
        assert_eq!(t.next_batch_id(), 8);
    }

    #[test]
    fn a_gap_is_the_logs_own_only_right_after_a_move_to_it() {
        let mut t = PartitionTracker::default();
        assert_eq!(t.read_from_move(0, 5, 8), None, "never moved");
        t.moved(0, 5);
        assert!(t.expects(0, 5));
        assert_eq!(t.read_from_move(0, 5, 8), Some(5));
        // A move below where the checkpoint continues now says nothing.
        assert_eq!(t.read_from_move(0, 6, 8), None);
        // Once records are admitted the move is history.
        t.delivered(0, 8);
        assert!(t.expects(0, 9));
        assert_eq!(t.read_from_move(0, 5, 12), None);
        // A move past deleted offsets (to the log's start) still counts.
        t.moved(1, 12);
        assert_eq!(t.read_from_move(1, 5, 12), Some(12));
        assert_eq!(t.read_from_move(1, 5, 11), None, "read from elsewhere");
    }

    #[test]
    fn partitions_that_left_are_forgotten() {
        let mut t = PartitionTracker::default();
        t.expect(0, 10);
        t.expect(1, 20);
        t.keep_only(&[1]);
        assert!(!t.expects(0, 10));
        assert!(t.expects(1, 20));
        t.expect_at_least(1, 15);
        assert!(t.expects(1, 20));
        t.expect_at_least(1, 25);
        assert!(t.expects(1, 25));
        t.moved(1, 30);
        t.forget(1);
        assert!(!t.expects(1, 30));
        assert_eq!(t.read_from_move(1, 30, 30), None);
    }
}
