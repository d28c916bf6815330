//! POP consumption (RocketMQ 5.x): the broker hands a consumer messages,
//! hides them for an invisible time, and takes them back if they are not
//! acknowledged in time.
//!
//! Per shard and per `(group, topic, queue)`: `next`, the first offset not
//! yet popped, and the popped messages in flight with their deadlines. A
//! message leaves flight when it is acknowledged (`ACK_MESSAGE`,
//! `BATCH_ACK_MESSAGE`) or revived: at its deadline the reviver copies it
//! into the group's POP retry topic `%RETRY%<group>_<topic>` (reconsume
//! times + 1; past the group's `retryMaxTimes` into `%DLQ%<group>`), and
//! the copy is popped like any message. `CHANGE_MESSAGE_INVISIBLETIME`
//! moves a deadline.
//!
//! Durable progress is the group's consumer offset, set to the lowest
//! offset still in flight (or `next`): the offset table every consumer and
//! admin tool reads, persisted and copied to slaves with it. After a
//! `kill -9` the in-flight set is gone and popping resumes at that offset:
//! messages popped and not yet acknowledged, and any acknowledged above
//! the lowest unacknowledged one, are delivered again (at least once; a
//! RocketMQ broker keeps its checkpoints in a revive topic and redelivers
//! fewer). A revived copy is durable in the log before its original
//! leaves flight, so nothing is lost between the two.
//!
//! The deadlines are one ordered index; the reviver sleeps until the
//! earliest, so a shard with nothing due uses no CPU.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;
use std::time::Duration;

use ringmq_engine::record::RecordView;
use ringmq_engine::{AppendedRecord, CommitLogOffset, StoreError};
use ringmq_net::message::property;

use crate::schedule::{read_records, rewrite_properties, Stopping};
use crate::shard::{now_ms, Shard};
use crate::topics::{DLQ_GROUP_TOPIC_PREFIX, PERM_READ, PERM_WRITE, RETRY_GROUP_TOPIC_PREFIX};
use crate::waiters::VersionWaiters;

/// Most messages one shard keeps in flight, over all groups. A pop past it
/// is answered `POLLING_FULL`.
pub const POP_INFLIGHT_MAX: usize = 1_000_000;
/// Most `(group, topic, queue)` pop states one shard keeps.
pub const POP_QUEUES_MAX: usize = 100_000;
/// Invisible times accepted by POP and CHANGE_INVISIBLETIME.
pub const INVISIBLE_MS_MIN: i64 = 1_000;
pub const INVISIBLE_MS_MAX: i64 = 12 * 3_600_000;
/// Most messages revived in one round.
const REVIVE_BATCH_MAX: usize = 256;
/// How long a revive that failed to store waits before it tries again.
const REVIVE_RETRY_MS: i64 = 1_000;
/// Queues of a POP retry topic and of a dead-letter topic, as RocketMQ.
const RETRY_QUEUE_NUMS: i32 = 1;
const DLQ_QUEUE_NUMS: i32 = 1;
/// The property RocketMQ stamps on a revived copy: when it was first popped.
pub const FIRST_POP_TIME: &str = "1ST_POP_TIME";

/// `(group, topic, queue id)`.
pub type PopKey = (String, String, i32);

/// RocketMQ's v1 POP retry topic of a group and topic.
pub fn retry_topic(group: &str, topic: &str) -> String {
    format!("{RETRY_GROUP_TOPIC_PREFIX}{group}_{topic}")
}

/// The topic an ack names, from the retry marker of the message's
/// `POP_CK` (`0` the topic, `1` the v1 retry topic, `2` the v2 one).
pub fn acked_topic(group: &str, topic: &str, retry: &str) -> Option<String> {
    match retry {
        "0" => Some(topic.to_string()),
        "1" => Some(retry_topic(group, topic)),
        "2" => Some(format!("{RETRY_GROUP_TOPIC_PREFIX}{group}+{topic}")),
        _ => None,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Inflight {
    deadline_ms: i64,
    commit_log_offset: u64,
    pop_time_ms: i64,
}

#[derive(Default, Debug)]
struct QueuePop {
    next: u64,
    inflight: BTreeMap<u64, Inflight>,
}

impl QueuePop {
    fn commit_offset(&self) -> u64 {
        self.inflight.keys().next().copied().unwrap_or(self.next)
    }
}

/// One popped message due for revival.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Due {
    pub key: PopKey,
    pub offset: u64,
    pub deadline_ms: i64,
    pub commit_log_offset: u64,
    pub pop_time_ms: i64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum PopRefused {
    /// [`POP_INFLIGHT_MAX`] messages are in flight.
    InflightFull,
    /// [`POP_QUEUES_MAX`] pop states exist.
    QueuesFull,
}

/// One shard's pop state. Pure bookkeeping, no I/O: the handlers read and
/// write the log around it.
#[derive(Default)]
pub struct PopState {
    queues: RefCell<HashMap<PopKey, QueuePop>>,
    deadlines: RefCell<BTreeSet<(i64, PopKey, u64)>>,
    inflight: Cell<usize>,
    /// Poked when an earlier deadline may exist: the reviver re-arms.
    changed: VersionWaiters,
}

impl PopState {
    /// The first unpopped offset of the queue, starting a state at
    /// `init()` when there is none.
    pub fn next_offset(&self, key: &PopKey, init: impl FnOnce() -> u64) -> Result<u64, PopRefused> {
        let mut queues = self.queues.borrow_mut();
        if let Some(q) = queues.get(key) {
            return Ok(q.next);
        }
        if queues.len() >= POP_QUEUES_MAX {
            // States with nothing in flight hold nothing the offset table
            // does not (their commit offset is `next`, recorded): evict.
            queues.retain(|_, q| !q.inflight.is_empty());
        }
        if queues.len() >= POP_QUEUES_MAX {
            return Err(PopRefused::QueuesFull);
        }
        let next = init();
        queues.insert(
            key.clone(),
            QueuePop {
                next,
                inflight: BTreeMap::new(),
            },
        );
        Ok(next)
    }

    /// Room for `n` more messages in flight.
    pub fn room(&self) -> usize {
        POP_INFLIGHT_MAX.saturating_sub(self.inflight.get())
    }

    /// Marks `taken` (queue offset, commit-log offset) popped at `now_ms`
    /// until `deadline_ms`, and moves `next` to `next` (past skipped
    /// entries too). Returns the commit offset to record.
    pub fn take(
        &self,
        key: &PopKey,
        taken: &[(u64, u64)],
        next: u64,
        now_ms: i64,
        deadline_ms: i64,
    ) -> u64 {
        let mut queues = self.queues.borrow_mut();
        let q = queues.entry(key.clone()).or_default();
        let mut deadlines = self.deadlines.borrow_mut();
        for &(offset, commit_log_offset) in taken {
            let entry = Inflight {
                deadline_ms,
                commit_log_offset,
                pop_time_ms: now_ms,
            };
            if let Some(old) = q.inflight.insert(offset, entry) {
                deadlines.remove(&(old.deadline_ms, key.clone(), offset));
            } else {
                self.inflight.set(self.inflight.get() + 1);
            }
            deadlines.insert((deadline_ms, key.clone(), offset));
        }
        q.next = q.next.max(next);
        // The reviver sleeps until the earliest deadline: wake it only for
        // an earlier one.
        let earlier =
            !taken.is_empty() && deadlines.iter().next().map(|(d, _, _)| *d) == Some(deadline_ms);
        drop(deadlines);
        if earlier {
            self.changed.poke();
        }
        q.commit_offset()
    }

    /// Ends flight of `offset` (acknowledged or revived). The new commit
    /// offset when the message was in flight.
    pub fn finish(&self, key: &PopKey, offset: u64) -> Option<u64> {
        let mut queues = self.queues.borrow_mut();
        let q = queues.get_mut(key)?;
        let old = q.inflight.remove(&offset)?;
        self.deadlines
            .borrow_mut()
            .remove(&(old.deadline_ms, key.clone(), offset));
        self.inflight.set(self.inflight.get() - 1);
        Some(q.commit_offset())
    }

    /// Moves the deadline of a message in flight; false when it is not.
    pub fn change_deadline(&self, key: &PopKey, offset: u64, deadline_ms: i64) -> bool {
        let mut queues = self.queues.borrow_mut();
        let Some(entry) = queues
            .get_mut(key)
            .and_then(|q| q.inflight.get_mut(&offset))
        else {
            return false;
        };
        let mut deadlines = self.deadlines.borrow_mut();
        deadlines.remove(&(entry.deadline_ms, key.clone(), offset));
        entry.deadline_ms = deadline_ms;
        deadlines.insert((deadline_ms, key.clone(), offset));
        drop(deadlines);
        self.changed.poke();
        true
    }

    /// Up to `max` messages whose deadline is at or before `now_ms`,
    /// earliest first. They stay in flight until [`PopState::finish`].
    pub fn due(&self, now_ms: i64, max: usize) -> Vec<Due> {
        let queues = self.queues.borrow();
        self.deadlines
            .borrow()
            .iter()
            .take_while(|(deadline, _, _)| *deadline <= now_ms)
            .take(max)
            .filter_map(|(_, key, offset)| {
                let e = queues.get(key)?.inflight.get(offset)?;
                Some(Due {
                    key: key.clone(),
                    offset: *offset,
                    deadline_ms: e.deadline_ms,
                    commit_log_offset: e.commit_log_offset,
                    pop_time_ms: e.pop_time_ms,
                })
            })
            .collect()
    }

    /// The deadline of a message in flight.
    pub fn deadline_of(&self, key: &PopKey, offset: u64) -> Option<i64> {
        self.queues
            .borrow()
            .get(key)?
            .inflight
            .get(&offset)
            .map(|e| e.deadline_ms)
    }

    /// The offsets in flight of a queue within `from..to`.
    pub fn inflight_in(&self, key: &PopKey, from: u64, to: u64) -> Vec<u64> {
        self.queues.borrow().get(key).map_or_else(Vec::new, |q| {
            q.inflight.range(from..to).map(|(o, _)| *o).collect()
        })
    }

    pub fn earliest_deadline(&self) -> Option<i64> {
        self.deadlines.borrow().iter().next().map(|(d, _, _)| *d)
    }

    pub fn inflight_count(&self) -> usize {
        self.inflight.get()
    }

    /// Forgets the states of a topic (it was deleted).
    pub fn forget_topic(&self, topic: &str) {
        self.forget(|k| k.1 == topic);
    }

    /// Forgets the states of a group (it was deleted): a group created
    /// again starts from the offset table.
    pub fn forget_group(&self, group: &str) {
        self.forget(|k| k.0 == group);
    }

    /// Forgets one queue's state (an operator reset its offset): the next
    /// pop starts from the offset table, and what was in flight is no
    /// longer revived.
    pub fn forget_queue(&self, key: &PopKey) {
        self.forget(|k| k == key);
    }

    fn forget(&self, matches: impl Fn(&PopKey) -> bool) {
        let mut queues = self.queues.borrow_mut();
        let keys: Vec<PopKey> = queues.keys().filter(|k| matches(k)).cloned().collect();
        let mut deadlines = self.deadlines.borrow_mut();
        for key in keys {
            if let Some(q) = queues.remove(&key) {
                for (offset, e) in q.inflight {
                    deadlines.remove(&(e.deadline_ms, key.clone(), offset));
                    self.inflight.set(self.inflight.get() - 1);
                }
            }
        }
    }
}

/// Records a pop state's commit offset as the group's consumer offset.
pub fn record_commit(shard: &Shard, key: &PopKey, commit: u64) {
    shard.offsets.update(&key.0, &key.1, key.2, commit as i64);
}

/// Revives due messages until the shard stops. Runs on masters only.
pub async fn run_reviver(shard: Rc<Shard>, stopping: Rc<Stopping>) {
    while !stopping.is_stopped() {
        let now = now_ms();
        let due = shard.pop.due(now, REVIVE_BATCH_MAX);
        if due.is_empty() {
            let wait_ms = shard
                .pop
                .earliest_deadline()
                .map_or(60_000, |d| (d - now).clamp(1, 60_000));
            let changed = shard.pop.changed.changed();
            stopping
                .unless_stopped(futures_lite::future::or(changed, async {
                    glommio::timer::sleep(Duration::from_millis(wait_ms as u64)).await;
                }))
                .await;
            continue;
        }
        revive(&shard, &due).await;
    }
}

/// Copies each due message into its retry (or dead-letter) topic; a copy
/// stored ends its original's flight. One whose copy cannot be stored now
/// waits [`REVIVE_RETRY_MS`] and is tried again.
async fn revive(shard: &Rc<Shard>, due: &[Due]) {
    let offsets: Vec<CommitLogOffset> = due
        .iter()
        .map(|d| CommitLogOffset(d.commit_log_offset))
        .collect();
    let records = read_records(shard, &offsets).await;
    for (d, record) in due.iter().zip(records) {
        // Acknowledged or given more time while the records were read.
        if shard.pop.deadline_of(&d.key, d.offset) != Some(d.deadline_ms) {
            continue;
        }
        let result = match record {
            Ok(bytes) => revive_one(shard, d, &bytes).await,
            Err(e) if shard.store.min_commit_log_offset().0 > d.commit_log_offset => {
                // Retention dropped the original while it was in flight:
                // there is nothing left to redeliver.
                tracing::warn!(shard = %shard.id, group = %d.key.0, topic = %d.key.1, offset = d.offset, error = %e, "popped message deleted by retention before its ack; dropped");
                Ok(())
            }
            Err(e) => Err(Revive::Later(e.to_string())),
        };
        match result {
            Ok(()) => {
                if let Some(commit) = shard.pop.finish(&d.key, d.offset) {
                    record_commit(shard, &d.key, commit);
                }
            }
            Err(Revive::Never(e)) => {
                // Retrying cannot help (the record does not parse, or its
                // copy cannot be stored): leave flight so the group moves on.
                tracing::error!(shard = %shard.id, group = %d.key.0, topic = %d.key.1, offset = d.offset, error = %e, "popped message cannot be revived; dropped");
                if let Some(commit) = shard.pop.finish(&d.key, d.offset) {
                    record_commit(shard, &d.key, commit);
                }
            }
            Err(Revive::Later(e)) => {
                tracing::warn!(shard = %shard.id, group = %d.key.0, topic = %d.key.1, offset = d.offset, error = %e, "reviving a popped message failed; retrying");
                shard
                    .pop
                    .change_deadline(&d.key, d.offset, now_ms() + REVIVE_RETRY_MS);
            }
        }
    }
}

/// Why a revival failed.
enum Revive {
    /// Try again later (I/O, a full topic table).
    Later(String),
    /// Never going to work.
    Never(String),
}

/// Where a popped message is revived to, with the queue count and
/// permissions that topic is created with: the group's DLQ once it was
/// consumed `retryMaxTimes` times, else the group's retry topic.
fn revive_target(group: &str, topic: &str, to_dlq: bool) -> (String, i32, i32) {
    // A redelivery of a redelivery stays in the retry topic it came from.
    if to_dlq {
        (
            format!("{DLQ_GROUP_TOPIC_PREFIX}{group}"),
            DLQ_QUEUE_NUMS,
            PERM_WRITE,
        )
    } else if topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
        (topic.to_string(), RETRY_QUEUE_NUMS, PERM_READ | PERM_WRITE)
    } else {
        (
            retry_topic(group, topic),
            RETRY_QUEUE_NUMS,
            PERM_READ | PERM_WRITE,
        )
    }
}

async fn revive_one(shard: &Rc<Shard>, d: &Due, bytes: &[u8]) -> Result<(), Revive> {
    let (group, topic, _) = &d.key;
    let original = RecordView::parse(bytes).map_err(|e| Revive::Never(e.to_string()))?;
    let reconsume_times = original.reconsume_times.max(0);
    let retry_max_times = shard
        .groups
        .policy(group, false)
        .ok()
        .flatten()
        .map_or(crate::groups::RETRY_MAX_TIMES_DEFAULT, |p| {
            p.retry_max_times
        });
    let to_dlq = reconsume_times >= retry_max_times;
    let (target, queues, perm) = revive_target(group, topic, to_dlq);
    let config = shard
        .topics
        .get_or_create(&target, queues, perm)
        .await
        .map_err(|e| Revive::Later(e.to_string()))?;
    let props = std::str::from_utf8(original.properties).unwrap_or_default();
    let first_pop = d.pop_time_ms.to_string();
    let add: Vec<(&str, &str)> =
        if ringmq_net::message::properties::property_value(props, FIRST_POP_TIME).is_some() {
            Vec::new()
        } else {
            vec![(FIRST_POP_TIME, first_pop.as_str())]
        };
    let properties = rewrite_properties(
        props,
        &[property::DELAY_TIME_LEVEL, property::TRANSACTION_PREPARED],
        &add,
    );
    let queue_id = 0;
    let _ = config;
    let msg = crate::schedule::redelivery(shard, &original, &target, queue_id, &properties);
    let mut placed: Vec<AppendedRecord> = Vec::with_capacity(1);
    let end = match shard
        .store
        .append_batch(std::slice::from_ref(&msg), &mut placed)
        .await
    {
        Ok(end) => end,
        Err(StoreError::Illegal(e)) => return Err(Revive::Never(e.to_string())),
        Err(e) => return Err(Revive::Later(e.to_string())),
    };
    shard
        .store
        .wait_acked(end)
        .await
        .map_err(|e| Revive::Later(e.to_string()))?;
    let stats = shard.my_stats();
    stats.count_redelivery(original.body.len(), to_dlq, &stats.pop_revived);
    shard.signals.fire(&target, queue_id);
    tracing::debug!(shard = %shard.id, group = %group, from = %topic, to = %target, reconsume_times = reconsume_times + 1, "popped message revived");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(q: i32) -> PopKey {
        ("g".into(), "T".into(), q)
    }

    #[test]
    fn commit_offset_is_the_lowest_unacknowledged() {
        let s = PopState::default();
        assert_eq!(s.next_offset(&key(0), || 5), Ok(5));
        assert_eq!(s.next_offset(&key(0), || 99), Ok(5), "init runs once");
        // 5..=8 popped (7 skipped by a tag filter), next is 9.
        let commit = s.take(&key(0), &[(5, 500), (6, 600), (8, 800)], 9, 10, 1_000);
        assert_eq!(commit, 5);
        assert_eq!(s.inflight_count(), 3);
        assert_eq!(s.finish(&key(0), 6), Some(5), "an ack above the lowest");
        assert_eq!(s.finish(&key(0), 5), Some(8));
        assert_eq!(s.finish(&key(0), 5), None, "a second ack changes nothing");
        assert_eq!(s.finish(&key(0), 8), Some(9));
        assert_eq!(s.inflight_count(), 0);
        assert_eq!(s.earliest_deadline(), None);
    }

    #[test]
    fn deadlines_order_revival_and_can_move() {
        let s = PopState::default();
        s.next_offset(&key(0), || 0).unwrap();
        s.next_offset(&key(1), || 0).unwrap();
        s.take(&key(0), &[(0, 1), (1, 2)], 2, 0, 3_000);
        s.take(&key(1), &[(0, 3)], 1, 0, 2_000);
        assert_eq!(s.earliest_deadline(), Some(2_000));
        assert!(s.due(1_999, 10).is_empty());
        let due = s.due(3_000, 10);
        assert_eq!(
            due.iter().map(|d| (d.key.2, d.offset)).collect::<Vec<_>>(),
            vec![(1, 0), (0, 0), (0, 1)]
        );
        assert_eq!(s.due(3_000, 1).len(), 1, "bounded");
        assert!(s.change_deadline(&key(1), 0, 10_000));
        assert!(!s.change_deadline(&key(1), 7, 10_000), "not in flight");
        assert_eq!(s.due(3_000, 10).len(), 2);
        assert_eq!(s.earliest_deadline(), Some(3_000));
        s.forget_topic("T");
        assert_eq!((s.inflight_count(), s.earliest_deadline()), (0, None));
    }

    #[test]
    fn ack_topics_from_the_retry_marker() {
        assert_eq!(acked_topic("g", "T", "0").as_deref(), Some("T"));
        assert_eq!(acked_topic("g", "T", "1").as_deref(), Some("%RETRY%g_T"));
        assert_eq!(acked_topic("g", "T", "2").as_deref(), Some("%RETRY%g+T"));
        assert_eq!(acked_topic("g", "T", "x"), None);
    }

    mod model {
        use super::*;
        use proptest::prelude::*;
        use std::collections::BTreeMap;

        #[derive(Debug, Clone)]
        enum Op {
            /// Pop queue `q`: take `take` of the next `scan` entries.
            Pop {
                q: i32,
                scan: u8,
                take: u8,
                invisible: i64,
            },
            /// Ack the `i`-th message in flight of queue `q` (if any).
            Ack {
                q: i32,
                i: usize,
            },
            Change {
                q: i32,
                i: usize,
                invisible: i64,
            },
            /// Time passes; everything due is revived.
            Tick {
                ms: i64,
            },
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                (0..3i32, 0..6u8, 0..6u8, 1..50i64).prop_map(|(q, scan, take, invisible)| {
                    Op::Pop {
                        q,
                        scan,
                        take,
                        invisible,
                    }
                }),
                (0..3i32, 0..8usize).prop_map(|(q, i)| Op::Ack { q, i }),
                (0..3i32, 0..8usize, 1..50i64).prop_map(|(q, i, invisible)| Op::Change {
                    q,
                    i,
                    invisible
                }),
                (0..40i64).prop_map(|ms| Op::Tick { ms }),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// Against a plain model: every popped offset ends exactly once
            /// (acknowledged or revived at or after its deadline, never
            /// before), the commit offset is the lowest in flight or next
            /// and never goes back, and the counts and deadlines agree.
            #[test]
            fn pop_state_matches_its_model(ops in proptest::collection::vec(op(), 1..150)) {
                let s = PopState::default();
                let mut now = 0i64;
                // Per queue: next, in flight (offset -> deadline).
                let mut next: BTreeMap<i32, u64> = BTreeMap::new();
                let mut flight: BTreeMap<i32, BTreeMap<u64, i64>> = BTreeMap::new();
                let mut ended: BTreeMap<(i32, u64), u32> = BTreeMap::new();
                let mut commits: BTreeMap<i32, u64> = BTreeMap::new();
                let record = |q: i32, c: u64, commits: &mut BTreeMap<i32, u64>| {
                    let last = commits.entry(q).or_insert(0);
                    assert!(c >= *last, "commit offset went back on queue {q}: {last} -> {c}");
                    *last = c;
                };
                for op in ops {
                    match op {
                        Op::Pop { q, scan, take, invisible } => {
                            let n = s.next_offset(&key(q), || 0).unwrap();
                            assert_eq!(n, *next.get(&q).unwrap_or(&0));
                            let taken: Vec<(u64, u64)> = (n..n + u64::from(scan))
                                .take(take as usize)
                                .map(|o| (o, o * 100))
                                .collect();
                            let c = s.take(&key(q), &taken, n + u64::from(scan), now, now + invisible);
                            next.insert(q, n + u64::from(scan));
                            for (o, _) in &taken {
                                flight.entry(q).or_default().insert(*o, now + invisible);
                            }
                            record(q, c, &mut commits);
                        }
                        Op::Ack { q, i } => {
                            let Some(o) = flight.get(&q).and_then(|f| f.keys().nth(i).copied()) else {
                                prop_assert_eq!(s.finish(&key(q), 1_000_000), None);
                                continue;
                            };
                            let c = s.finish(&key(q), o).expect("in flight");
                            flight.get_mut(&q).unwrap().remove(&o);
                            *ended.entry((q, o)).or_default() += 1;
                            record(q, c, &mut commits);
                        }
                        Op::Change { q, i, invisible } => {
                            let o = flight.get(&q).and_then(|f| f.keys().nth(i).copied());
                            let changed = s.change_deadline(&key(q), o.unwrap_or(1_000_000), now + invisible);
                            prop_assert_eq!(changed, o.is_some());
                            if let Some(o) = o {
                                flight.get_mut(&q).unwrap().insert(o, now + invisible);
                            }
                        }
                        Op::Tick { ms } => {
                            now += ms;
                            let due = s.due(now, usize::MAX);
                            let mut expected: Vec<(i64, i32, u64)> = flight
                                .iter()
                                .flat_map(|(q, f)| f.iter().map(move |(o, d)| (*d, *q, *o)))
                                .filter(|(d, _, _)| *d <= now)
                                .collect();
                            expected.sort_unstable();
                            let got: Vec<(i64, i32, u64)> = due
                                .iter()
                                .map(|d| (flight[&d.key.2][&d.offset], d.key.2, d.offset))
                                .collect();
                            prop_assert_eq!(&got, &expected);
                            for d in due {
                                prop_assert_eq!(d.commit_log_offset, d.offset * 100);
                                let c = s.finish(&d.key, d.offset).expect("due is in flight");
                                flight.get_mut(&d.key.2).unwrap().remove(&d.offset);
                                *ended.entry((d.key.2, d.offset)).or_default() += 1;
                                record(d.key.2, c, &mut commits);
                            }
                        }
                    }
                    let total: usize = flight.values().map(BTreeMap::len).sum();
                    prop_assert_eq!(s.inflight_count(), total);
                    let earliest = flight.values().flat_map(|f| f.values().copied()).min();
                    prop_assert_eq!(s.earliest_deadline(), earliest);
                    for (q, f) in &flight {
                        let model_commit = f.keys().next().copied().unwrap_or(next[q]);
                        prop_assert_eq!(s.take(&key(*q), &[], next[q], now, now), model_commit);
                    }
                }
                prop_assert!(ended.values().all(|n| *n == 1), "an offset ended twice: {:?}", ended);
            }
        }
    }
}
