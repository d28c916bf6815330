//! The broker's topic table: which topics exist and how many queues each
//! has on every shard. Broker-wide control-plane state, not shard state:
//! every shard reads it (an `RwLock` read per send, uncontended unless a
//! topic is being created) and any shard may create a topic. The version
//! counter tells the name-server registration that the table changed.
//!
//! Persisted as `<storePathRootDir>/config/topics.json`, written to a temp
//! file, fdatasync'd and renamed over the old one, so a crash leaves either
//! the old or the new table, written off the shard threads and outside
//! the lock every send reads ([`crate::latest_file`]): the directory's
//! journal commit can take hundreds of milliseconds while the commit log
//! is written back. The request that made a change is answered once it is
//! saved.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use crate::latest_file::{LatestFile, Versioned};

pub const PERM_INHERIT: i32 = 1;
pub const PERM_WRITE: i32 = 2;
pub const PERM_READ: i32 = 4;

/// Template topic producers name for auto-creation.
pub const AUTO_CREATE_TOPIC_KEY: &str = "TBW102";
pub const SELF_TEST_TOPIC: &str = "SELF_TEST_TOPIC";
pub const RETRY_GROUP_TOPIC_PREFIX: &str = "%RETRY%";
pub const DLQ_GROUP_TOPIC_PREFIX: &str = "%DLQ%";
/// Topics clients may not send to (RocketMQ's `TopicValidator` list).
pub const NOT_WRITABLE_TOPICS: &[&str] = &[
    "SCHEDULE_TOPIC_XXXX",
    "rmq_sys_wheel_timer",
    "RMQ_SYS_TRANS_HALF_TOPIC",
    "RMQ_SYS_TRANS_OP_HALF_TOPIC",
    "TRANS_CHECK_MAX_TIME_TOPIC",
    SELF_TEST_TOPIC,
    "OFFSET_MOVED_EVENT",
];
/// Longest topic name (RocketMQ: 127, 255 for retry and DLQ topics).
pub const TOPIC_NAME_BYTES_MAX: usize = 127;
pub const SYSTEM_TOPIC_NAME_BYTES_MAX: usize = 255;
/// Most queues a topic may have per shard (the engine refuses a record
/// with a queue id past it).
pub use ringmq_engine::record::QUEUES_PER_TOPIC_MAX;
/// Most topics the table holds.
pub const TOPICS_MAX: usize = 100_000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicConfig {
    pub topic_name: String,
    pub read_queue_nums: i32,
    pub write_queue_nums: i32,
    pub perm: i32,
    #[serde(default = "single_tag")]
    pub topic_filter_type: String,
    #[serde(default)]
    pub topic_sys_flag: i32,
    #[serde(default)]
    pub order: bool,
}

fn single_tag() -> String {
    "SINGLE_TAG".into()
}

impl TopicConfig {
    pub fn new(name: &str, queues: i32, perm: i32) -> TopicConfig {
        TopicConfig {
            topic_name: name.into(),
            read_queue_nums: queues,
            write_queue_nums: queues,
            perm,
            topic_filter_type: single_tag(),
            topic_sys_flag: 0,
            order: false,
        }
    }

    pub fn queue_count(&self) -> i32 {
        self.read_queue_nums.max(self.write_queue_nums)
    }

    /// What every table entry keeps to, whoever wrote it (an admin
    /// request, the master's copy, the file on disk).
    pub fn validate(&self) -> Result<(), TopicError> {
        validate_topic_name(&self.topic_name)?;
        for n in [self.read_queue_nums, self.write_queue_nums] {
            if !(1..=QUEUES_PER_TOPIC_MAX).contains(&n) {
                return Err(TopicError::QueueCount(n));
            }
        }
        if !TOPIC_FILTER_TYPES.contains(&self.topic_filter_type.as_str()) {
            return Err(TopicError::FilterType(
                self.topic_filter_type.chars().take(64).collect(),
            ));
        }
        Ok(())
    }
}

/// RocketMQ's `TopicFilterType` values.
pub const TOPIC_FILTER_TYPES: [&str; 2] = ["SINGLE_TAG", "MULTI_TAG"];

#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("topic name {0:?} is empty, too long, or has characters outside [A-Za-z0-9_%|-]")]
    InvalidName(String),
    #[error("topic {0} does not exist")]
    NotExist(String),
    #[error("queue count {0} outside 1..={QUEUES_PER_TOPIC_MAX}")]
    QueueCount(i32),
    #[error("topicFilterType {0:?} is neither SINGLE_TAG nor MULTI_TAG")]
    FilterType(String),
    #[error("the topic table is full ({TOPICS_MAX} topics)")]
    TableFull,
    #[error("saving the topic table to {path}: {source}")]
    Save {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// RocketMQ's topic-name rule.
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    let max =
        if name.starts_with(RETRY_GROUP_TOPIC_PREFIX) || name.starts_with(DLQ_GROUP_TOPIC_PREFIX) {
            SYSTEM_TOPIC_NAME_BYTES_MAX
        } else {
            TOPIC_NAME_BYTES_MAX
        };
    let ok = !name.is_empty() && name.len() <= max && has_name_chars_only(name);
    if ok {
        Ok(())
    } else {
        Err(TopicError::InvalidName(name.chars().take(64).collect()))
    }
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct TopicFile {
    topic_config_table: BTreeMap<String, TopicConfig>,
}

pub struct TopicTable {
    topics: RwLock<BTreeMap<String, TopicConfig>>,
    version: AtomicU64,
    file: LatestFile,
}

impl Versioned for TopicTable {
    fn version(&self) -> u64 {
        TopicTable::version(self)
    }

    fn snapshot(&self) -> (u64, Vec<u8>) {
        let topics = self.topics.read().expect("topic lock");
        let file = TopicFile {
            topic_config_table: topics.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&file).expect("topic table serializes");
        (self.version(), bytes)
    }

    fn latest_file(&self) -> &LatestFile {
        &self.file
    }
}

impl TopicTable {
    /// Loads the table (or starts empty) and adds the system topics.
    pub fn open(
        root: &Path,
        auto_create_topic_enable: bool,
        default_queue_nums: i32,
        system_names: &[String],
    ) -> std::io::Result<TopicTable> {
        let path = root.join("config").join("topics.json");
        let mut topics = match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice::<TopicFile>(&bytes)
                    .map_err(|e| {
                        std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!("{}: {e}", path.display()),
                        )
                    })?
                    .topic_config_table
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e),
        };
        for (name, config) in &topics {
            if let Err(e) = config.validate() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: topic {name:?}: {e}", path.display()),
                ));
            }
        }
        let template_perm = if auto_create_topic_enable {
            PERM_READ | PERM_WRITE | PERM_INHERIT
        } else {
            PERM_READ | PERM_WRITE
        };
        // TBW102 has `defaultTopicQueueNums` queues, which caps what
        // auto-creation may ask for (RocketMQ's rule).
        topics.insert(
            AUTO_CREATE_TOPIC_KEY.into(),
            TopicConfig::new(AUTO_CREATE_TOPIC_KEY, default_queue_nums, template_perm),
        );
        topics
            .entry(SELF_TEST_TOPIC.into())
            .or_insert_with(|| TopicConfig::new(SELF_TEST_TOPIC, 1, PERM_READ | PERM_WRITE));
        for name in system_names {
            topics.entry(name.clone()).or_insert_with(|| {
                TopicConfig::new(name, 1, PERM_READ | PERM_WRITE | PERM_INHERIT)
            });
        }
        Ok(TopicTable {
            topics: RwLock::new(topics),
            version: AtomicU64::new(1),
            file: LatestFile::new(path, 1),
        })
    }

    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    pub fn get(&self, name: &str) -> Option<TopicConfig> {
        self.topics.read().expect("topic lock").get(name).cloned()
    }

    /// `read` of the topic's configuration, without copying it (a send
    /// looks its topic up on every request).
    pub fn read<R>(&self, name: &str, read: impl FnOnce(&TopicConfig) -> R) -> Option<R> {
        self.topics.read().expect("topic lock").get(name).map(read)
    }

    pub fn all(&self) -> BTreeMap<String, TopicConfig> {
        self.topics.read().expect("topic lock").clone()
    }

    pub fn names(&self) -> Vec<String> {
        self.topics
            .read()
            .expect("topic lock")
            .keys()
            .cloned()
            .collect()
    }

    /// Creates or replaces a topic and saves the table.
    pub async fn put(self: &Arc<Self>, config: TopicConfig) -> Result<(), TopicError> {
        self.apply_put(config)?;
        self.save().await
    }

    /// [`TopicTable::put`]'s change, in memory; the save is owed after.
    fn apply_put(&self, config: TopicConfig) -> Result<(), TopicError> {
        config.validate()?;
        let mut topics = self.topics.write().expect("topic lock");
        if topics.len() >= TOPICS_MAX && !topics.contains_key(&config.topic_name) {
            return Err(TopicError::TableFull);
        }
        if topics.get(&config.topic_name) != Some(&config) {
            topics.insert(config.topic_name.clone(), config);
            self.version.fetch_add(1, Ordering::AcqRel);
        }
        Ok(())
    }

    /// Returns the topic, creating it with `queues` queues when missing.
    pub async fn get_or_create(
        self: &Arc<Self>,
        name: &str,
        queues: i32,
        perm: i32,
    ) -> Result<TopicConfig, TopicError> {
        if let Some(t) = self.get(name) {
            return Ok(t);
        }
        let config = TopicConfig::new(name, queues, perm);
        self.put(config.clone()).await?;
        tracing::info!(topic = name, queues, "topic created");
        Ok(self.get(name).unwrap_or(config))
    }

    /// A slave takes its master's table (`GET_ALL_TOPIC_CONFIG`), keeping
    /// nothing of its own: master and slave share a broker name, so the
    /// system topics match. Saved (a blocking fsync) only when it differs.
    pub async fn replace_from_master(
        self: &Arc<Self>,
        table: BTreeMap<String, TopicConfig>,
    ) -> Result<bool, TopicError> {
        // Unchanged, a failed save of it may still be owed.
        let changed = self.apply_master_table(table)?;
        self.save().await?;
        Ok(changed)
    }

    /// [`TopicTable::replace_from_master`]'s change, in memory.
    fn apply_master_table(&self, table: BTreeMap<String, TopicConfig>) -> Result<bool, TopicError> {
        let mut topics = self.topics.write().expect("topic lock");
        if *topics == table {
            return Ok(false);
        }
        if table.len() > TOPICS_MAX {
            return Err(TopicError::TableFull);
        }
        // The master's table is checked as a local request would be: a
        // zero queue count would divide by zero on the next send, a name
        // with a path in it would build one.
        for (name, config) in &table {
            config.validate()?;
            if *name != config.topic_name {
                return Err(TopicError::InvalidName(name.chars().take(64).collect()));
            }
        }
        *topics = table;
        self.version.fetch_add(1, Ordering::AcqRel);
        Ok(true)
    }

    /// Removes a topic and saves the table; false when there was none.
    pub async fn delete(self: &Arc<Self>, name: &str) -> Result<bool, TopicError> {
        let removed = self.apply_delete(name);
        if removed {
            self.save().await?;
        }
        Ok(removed)
    }

    fn apply_delete(&self, name: &str) -> bool {
        let removed = self
            .topics
            .write()
            .expect("topic lock")
            .remove(name)
            .is_some();
        if removed {
            self.version.fetch_add(1, Ordering::AcqRel);
        }
        removed
    }

    /// Brings the file up to the table's latest version
    /// ([`crate::latest_file::save`]).
    async fn save(self: &Arc<Self>) -> Result<(), TopicError> {
        crate::latest_file::save(self)
            .await
            .map_err(|source| TopicError::Save {
                path: self.file.path().to_path_buf(),
                source,
            })
    }
}

/// A config file parsed by `parse`, or None when it does not exist; a file
/// that does not parse is an `InvalidData` error naming it.
pub fn read_config_file<T, E: std::fmt::Display>(
    path: &Path,
    parse: impl FnOnce(&[u8]) -> Result<T, E>,
) -> std::io::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => parse(&bytes).map(Some).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// RocketMQ's topic and group name characters: `[A-Za-z0-9_%|-]`.
pub fn has_name_chars_only(name: &str) -> bool {
    name.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'%' | b'|'))
}

/// Writes `bytes` to `path` so that after a crash the file holds either the
/// old or the new contents: temp file, fdatasync, rename, directory fsync.
pub fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_data()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` on a glommio executor, as the shards run the table's saves.
    fn on_executor<T: 'static>(f: impl std::future::Future<Output = T> + 'static) -> T {
        glommio::LocalExecutorBuilder::default()
            .io_memory(1 << 20)
            .make()
            .unwrap()
            .run(f)
    }

    fn open(dir: &Path) -> Arc<TopicTable> {
        Arc::new(TopicTable::open(dir, true, 4, &[]).unwrap())
    }

    #[test]
    fn topics_survive_reopen_and_names_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        on_executor(async move {
            let t = open(&root);
            let v = t.version();
            t.get_or_create("Orders", 4, PERM_READ | PERM_WRITE)
                .await
                .unwrap();
            assert!(t.version() > v);
            assert!(matches!(
                t.put(TopicConfig::new("bad topic", 4, 6)).await,
                Err(TopicError::InvalidName(_))
            ));
            assert!(matches!(
                t.put(TopicConfig::new("T", 0, 6)).await,
                Err(TopicError::QueueCount(0))
            ));
            drop(t);
            let t = open(&root);
            assert_eq!(t.get("Orders").unwrap().write_queue_nums, 4);
            assert_eq!(
                t.get(AUTO_CREATE_TOPIC_KEY).unwrap().perm & PERM_INHERIT,
                PERM_INHERIT
            );
            assert!(t.delete("Orders").await.unwrap());
            assert!(!t.delete("Orders").await.unwrap());
            drop(t);
            assert!(
                open(&root).get("Orders").is_none(),
                "the deletion was saved"
            );
        });
    }

    #[test]
    fn concurrent_creations_all_reach_the_file() {
        // Each thread does what a shard and its blocking pool do: the change,
        // then a save of whatever version the table is at by then.
        let dir = tempfile::tempdir().unwrap();
        let t = open(dir.path());
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let t = t.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        t.apply_put(TopicConfig::new(&format!("T{w}-{i}"), 1, 6))
                            .unwrap();
                        crate::latest_file::persist(&*t).unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        drop(t);
        let t = TopicTable::open(dir.path(), true, 4, &[]).unwrap();
        for w in 0..4 {
            for i in 0..50 {
                assert!(t.get(&format!("T{w}-{i}")).is_some(), "T{w}-{i} lost");
            }
        }
    }

    #[test]
    fn a_masters_table_is_checked_like_local_requests() {
        let dir = tempfile::tempdir().unwrap();
        let t = open(dir.path());
        let good = t.all();
        let with = |config: TopicConfig| {
            let mut table = good.clone();
            table.insert(config.topic_name.clone(), config);
            table
        };
        let mut zero_write = TopicConfig::new("T", 4, 6);
        zero_write.write_queue_nums = 0;
        let mut filter = TopicConfig::new("T", 4, 6);
        filter.topic_filter_type = "x".repeat(1 << 20);
        for table in [
            with(zero_write),
            with(TopicConfig::new("../../etc", 1, 6)),
            with(filter),
        ] {
            assert!(t.apply_master_table(table).is_err());
        }
        let mut renamed = good.clone();
        renamed.insert("Other".into(), TopicConfig::new("T", 1, 6));
        assert!(t.apply_master_table(renamed).is_err());
        assert_eq!(t.all(), good, "a refused table changes nothing");
        let copied = with(TopicConfig::new("T", 2, 6));
        let t2 = t.clone();
        assert!(on_executor(async move { t2.replace_from_master(copied).await }).unwrap());

        // A hand-edited file with a zero queue count is refused at open.
        drop(t);
        let path = dir.path().join("config").join("topics.json");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            text.replace("\"writeQueueNums\": 2", "\"writeQueueNums\": 0"),
        )
        .unwrap();
        let e = TopicTable::open(dir.path(), true, 4, &[])
            .err()
            .expect("refused");
        assert!(e.to_string().contains("queue count 0"), "{e}");
    }
}
