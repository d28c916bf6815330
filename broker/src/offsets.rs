//! Consumer offsets of one shard's queues: `(group, topic, queue id) →
//! next offset to consume`. Lives on its shard; other shards never read it
//! (clients send offsets to the shard that owns the queue).
//!
//! Durable: every change is written by the persister task, which gathers
//! all changes since its last write into one file write + fdatasync +
//! rename (group commit), at most every [`PERSIST_INTERVAL_MS_MIN`]. An
//! `UPDATE_CONSUMER_OFFSET` that asks for a reply gets it only after the
//! write that covers it; oneway updates and pull-piggybacked commits are
//! durable within one interval. File:
//! `<shard root>/config/consumerOffset.json`, RocketMQ's layout
//! (`{"offsetTable":{"topic@group":{"0":12}}}`) with quoted keys.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::waiters::VersionWaiters;

/// Shortest gap between two offset-file writes.
pub const PERSIST_INTERVAL_MS_MIN: u64 = 50;
/// Most (group, topic, queue) entries one shard keeps.
pub const OFFSET_ENTRIES_MAX: usize = 1_000_000;

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct OffsetFile {
    offset_table: BTreeMap<String, BTreeMap<String, i64>>,
}

type Key = (String, String, i32);

/// `{"offsetTable":{"topic@group":{"queueId":offset}}}` (the file, and the
/// `GET_ALL_CONSUMER_OFFSET` body), at most [`OFFSET_ENTRIES_MAX`] entries.
fn parse_offset_table(bytes: &[u8]) -> Result<HashMap<Key, i64>, serde_json::Error> {
    let file: OffsetFile = serde_json::from_slice(bytes)?;
    let mut table = HashMap::new();
    for (topic_group, queues) in file.offset_table {
        let Some((topic, group)) = topic_group.split_once('@') else {
            continue;
        };
        for (queue, offset) in queues {
            if table.len() >= OFFSET_ENTRIES_MAX {
                break;
            }
            if let Ok(q) = queue.parse::<i32>() {
                table.insert((group.to_string(), topic.to_string(), q), offset);
            }
        }
    }
    Ok(table)
}

/// Why changes to the offsets are not durable: their last save failed.
#[derive(Clone, Debug, thiserror::Error)]
#[error("saving consumer offsets to {}: {source}", .path.display())]
pub struct NotDurable {
    path: PathBuf,
    source: Arc<std::io::Error>,
}

pub struct ConsumerOffsets {
    path: PathBuf,
    table: RefCell<HashMap<Key, i64>>,
    /// Offsets an operator reset (`INVOKE_BROKER_TO_RESET_OFFSET`) that the
    /// group's next pull of the queue has not yet been told about (it is
    /// answered `PULL_OFFSET_MOVED` to the reset offset). While an entry is
    /// here, commits of that queue are ignored, so a consumer cannot write
    /// its old position over the reset. In memory, as RocketMQ 5's
    /// `resetOffsetTable`; at most [`OFFSET_ENTRIES_MAX`].
    resets: RefCell<HashMap<Key, i64>>,
    changed: Cell<u64>,
    persisted: VersionWaiters,
    failed: RefCell<Option<NotDurable>>,
}

impl ConsumerOffsets {
    pub fn open(shard_root: &Path) -> std::io::Result<ConsumerOffsets> {
        let path = shard_root.join("config").join("consumerOffset.json");
        let table = crate::topics::read_config_file(&path, parse_offset_table)?
            .unwrap_or_else(HashMap::new);
        Ok(ConsumerOffsets {
            path,
            table: RefCell::new(table),
            resets: RefCell::new(HashMap::new()),
            changed: Cell::new(0),
            persisted: VersionWaiters::default(),
            failed: RefCell::new(None),
        })
    }

    /// The table as RocketMQ's `consumerOffset.json` (the file, and the
    /// `GET_ALL_CONSUMER_OFFSET` body).
    fn to_file(&self) -> OffsetFile {
        let mut file = OffsetFile::default();
        for ((group, topic, queue), offset) in self.table.borrow().iter() {
            file.offset_table
                .entry(format!("{topic}@{group}"))
                .or_default()
                .insert(queue.to_string(), *offset);
        }
        file
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self.to_file()).expect("offset table serializes")
    }

    /// A slave takes its master's table whole (`offsetTable`, as
    /// [`ConsumerOffsets::to_json`] writes it); it is persisted like any
    /// change. Returns whether anything changed.
    pub fn replace_from_master(&self, body: &[u8]) -> Result<bool, String> {
        let table = parse_offset_table(body).map_err(|e| e.to_string())?;
        let mut current = self.table.borrow_mut();
        if *current == table {
            return Ok(false);
        }
        *current = table;
        self.changed.set(self.changed.get() + 1);
        self.persisted.poke();
        Ok(true)
    }

    pub fn get(&self, group: &str, topic: &str, queue_id: i32) -> Option<i64> {
        self.table
            .borrow()
            .get(&(group.to_string(), topic.to_string(), queue_id))
            .copied()
    }

    /// Records an offset; returns the change's version, durable once
    /// [`ConsumerOffsets::wait_durable`] returns for it. Refused (None) when
    /// the table is full.
    pub fn update(&self, group: &str, topic: &str, queue_id: i32, offset: i64) -> Option<u64> {
        let mut table = self.table.borrow_mut();
        let key = (group.to_string(), topic.to_string(), queue_id);
        if table.len() >= OFFSET_ENTRIES_MAX && !table.contains_key(&key) {
            return None;
        }
        if table.insert(key, offset) != Some(offset) {
            self.changed.set(self.changed.get() + 1);
            self.persisted.poke();
        }
        Some(self.changed.get())
    }

    /// Sets an offset by an operator's reset: stored as [`Self::update`]
    /// does, and held as pending until the group's next pull of the queue
    /// takes it ([`Self::take_reset`]).
    pub fn assign_reset(
        &self,
        group: &str,
        topic: &str,
        queue_id: i32,
        offset: i64,
    ) -> Option<u64> {
        let key = (group.to_string(), topic.to_string(), queue_id);
        {
            let resets = self.resets.borrow();
            if resets.len() >= OFFSET_ENTRIES_MAX && !resets.contains_key(&key) {
                return None;
            }
        }
        let version = self.update(group, topic, queue_id, offset)?;
        self.resets.borrow_mut().insert(key, offset);
        Some(version)
    }

    /// The pending reset of a queue for a group, removed.
    pub fn take_reset(&self, group: &str, topic: &str, queue_id: i32) -> Option<i64> {
        if self.resets.borrow().is_empty() {
            return None;
        }
        self.resets
            .borrow_mut()
            .remove(&(group.to_string(), topic.to_string(), queue_id))
    }

    /// Whether a reset of the queue is pending (commits are then ignored).
    pub fn reset_pending(&self, group: &str, topic: &str, queue_id: i32) -> bool {
        let resets = self.resets.borrow();
        !resets.is_empty() && resets.contains_key(&(group.to_string(), topic.to_string(), queue_id))
    }

    /// Calls `f(group, topic, queue, offset)` for every committed offset.
    pub fn for_each(&self, mut f: impl FnMut(&str, &str, i32, i64)) {
        for ((group, topic, queue), offset) in self.table.borrow().iter() {
            f(group, topic, *queue, *offset);
        }
    }

    /// Offsets of one group on this shard, for consume stats.
    pub fn of_group(&self, group: &str) -> Vec<(String, i32, i64)> {
        self.table
            .borrow()
            .iter()
            .filter(|((g, _, _), _)| g == group)
            .map(|((_, t, q), o)| (t.clone(), *q, *o))
            .collect()
    }

    pub fn groups_of_topic(&self, topic: &str) -> Vec<String> {
        let mut groups: Vec<String> = self
            .table
            .borrow()
            .keys()
            .filter(|(_, t, _)| t == topic)
            .map(|(g, _, _)| g.clone())
            .collect();
        groups.sort();
        groups.dedup();
        groups
    }

    /// Drops every offset of a group (`DELETE_SUBSCRIPTIONGROUP` with
    /// `cleanOffset`); returns how many there were.
    pub fn remove_group(&self, group: &str) -> usize {
        self.resets.borrow_mut().retain(|(g, _, _), _| g != group);
        let mut table = self.table.borrow_mut();
        let before = table.len();
        table.retain(|(g, _, _), _| g != group);
        let removed = before - table.len();
        if removed > 0 {
            self.changed.set(self.changed.get() + 1);
            self.persisted.poke();
        }
        removed
    }

    pub fn remove_topic(&self, topic: &str) {
        self.resets.borrow_mut().retain(|(_, t, _), _| t != topic);
        self.table.borrow_mut().retain(|(_, t, _), _| t != topic);
        self.changed.set(self.changed.get() + 1);
        self.persisted.poke();
    }

    /// Waits until `version` is durable. Err if a write failed since.
    pub async fn wait_durable(&self, version: u64) -> Result<(), NotDurable> {
        self.persisted.wait_for(version).await;
        match &*self.failed.borrow() {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Writes changes as they come until `stop` is set, then once more.
    pub async fn run_persister(self: Rc<Self>, stop: Rc<Cell<bool>>) {
        loop {
            let target = self.changed.get();
            if target > self.persisted.version() {
                self.persist_once(target).await;
            }
            if stop.get() {
                return;
            }
            glommio::timer::sleep(Duration::from_millis(PERSIST_INTERVAL_MS_MIN)).await;
            if self.changed.get() == self.persisted.version() {
                futures_lite::future::or(self.persisted.changed(), async {
                    glommio::timer::sleep(Duration::from_millis(200)).await;
                })
                .await;
            }
        }
    }

    async fn persist_once(&self, target: u64) {
        let bytes = serde_json::to_vec(&self.to_file()).expect("offsets serialize");
        match write_durably_async(&self.path, bytes).await {
            Ok(()) => *self.failed.borrow_mut() = None,
            Err(e) => {
                let error = NotDurable {
                    path: self.path.clone(),
                    source: Arc::new(e),
                };
                tracing::error!("{error}");
                *self.failed.borrow_mut() = Some(error);
            }
        }
        self.persisted.advance(target);
    }
}

/// Temp file written and fdatasync'd through glommio, then renamed and the
/// directory fsync'd off the shard: the shard never blocks on either.
pub(crate) async fn write_durably_async(path: &Path, bytes: Vec<u8>) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    let to_io = |e: glommio::GlommioError<()>| std::io::Error::other(e.to_string());
    let file = glommio::io::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .buffered_open(&tmp)
        .await
        .map_err(to_io)?;
    let len = bytes.len();
    let written = file.write_at(bytes, 0).await.map_err(to_io)?;
    if written != len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::WriteZero,
            format!("short write of {written}/{len} bytes"),
        ));
    }
    file.fdatasync().await.map_err(to_io)?;
    file.close().await.map_err(to_io)?;
    // The rename and the directory fsync (a journal commit, which can take
    // hundreds of ms while the commit log is being written back) run on
    // glommio's blocking-thread pool, not on the shard.
    let (tmp, path, dir) = (tmp, path.to_path_buf(), dir.to_path_buf());
    glommio::executor()
        .spawn_blocking(move || {
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(&dir)?.sync_all()
        })
        .await
}
