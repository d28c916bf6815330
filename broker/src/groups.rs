//! The broker's subscription-group table (RocketMQ's
//! `SubscriptionGroupManager`): per consumer group, whether it may consume,
//! how often a message is retried before it is a dead letter, and how
//! many retry queues it has. Broker-wide control-plane state, like the
//! topic table: every shard reads it (an `RwLock` read, uncontended but
//! for an update) and any shard may create a group.
//!
//! Persisted as `<storePathRootDir>/config/subscriptionGroup.json` in
//! RocketMQ's layout (`{"subscriptionGroupTable":{…},"dataVersion":{…}}`),
//! written like the topic table ([`crate::latest_file`]), so a pull never
//! waits for the fsync and a shard thread never makes it. An admin's create, update or delete and a slave's copy are answered once
//! written; a group auto-created by a heartbeat or pull (defaults only,
//! made again by the next heartbeat if lost) is written by shard 0's
//! persister within [`PERSIST_INTERVAL`]. Fields this broker does not act
//! on (`groupRetryPolicy`, `attributes`, …) are kept and handed back as
//! they came.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::latest_file::{LatestFile, Versioned};

/// How soon shard 0's persister writes a change nobody awaited.
pub const PERSIST_INTERVAL: Duration = Duration::from_millis(100);
/// Most groups the table holds.
pub const GROUPS_MAX: usize = 100_000;
/// Longest group name (RocketMQ's `CHARACTER_MAX_LENGTH` for groups).
pub const GROUP_NAME_BYTES_MAX: usize = 120;
/// Most retry queues a group may ask for.
pub const RETRY_QUEUE_NUMS_MAX: i32 = 64;
/// Most extra (unrecognised) fields one group config may carry.
const EXTRA_FIELDS_MAX: usize = 64;

/// `brokerId` a slow consumer is steered to (RocketMQ's default: the first
/// slave).
pub const WHICH_BROKER_WHEN_CONSUME_SLOWLY_DEFAULT: i64 = 1;
/// `retryMaxTimes` of a group nobody configured.
pub const RETRY_MAX_TIMES_DEFAULT: i32 = 16;

fn yes() -> bool {
    true
}
fn one() -> i32 {
    1
}
fn sixteen() -> i32 {
    16
}
fn slow_broker() -> i64 {
    WHICH_BROKER_WHEN_CONSUME_SLOWLY_DEFAULT
}

/// RocketMQ's `SubscriptionGroupConfig`, with its defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionGroupConfig {
    pub group_name: String,
    #[serde(default = "yes")]
    pub consume_enable: bool,
    #[serde(default = "yes")]
    pub consume_from_min_enable: bool,
    #[serde(default = "yes")]
    pub consume_broadcast_enable: bool,
    #[serde(default)]
    pub consume_message_orderly: bool,
    #[serde(default = "one")]
    pub retry_queue_nums: i32,
    #[serde(default = "sixteen")]
    pub retry_max_times: i32,
    #[serde(default)]
    pub broker_id: i64,
    #[serde(default = "slow_broker")]
    pub which_broker_when_consume_slowly: i64,
    #[serde(default = "yes")]
    pub notify_consumer_ids_changed_enable: bool,
    /// What RocketMQ versions add that this broker does not act on.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl SubscriptionGroupConfig {
    /// A group as `autoCreateSubscriptionGroup` creates it.
    pub fn new(group_name: &str) -> SubscriptionGroupConfig {
        SubscriptionGroupConfig {
            group_name: group_name.to_string(),
            consume_enable: true,
            consume_from_min_enable: true,
            consume_broadcast_enable: true,
            consume_message_orderly: false,
            retry_queue_nums: 1,
            retry_max_times: RETRY_MAX_TIMES_DEFAULT,
            broker_id: 0,
            which_broker_when_consume_slowly: WHICH_BROKER_WHEN_CONSUME_SLOWLY_DEFAULT,
            notify_consumer_ids_changed_enable: true,
            extra: BTreeMap::new(),
        }
    }
}

/// The settings of a group the data path acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupPolicy {
    pub consume_enable: bool,
    pub consume_broadcast_enable: bool,
    pub retry_queue_nums: i32,
    pub retry_max_times: i32,
    pub which_broker_when_consume_slowly: i64,
}

impl GroupPolicy {
    fn of(g: &SubscriptionGroupConfig) -> GroupPolicy {
        GroupPolicy {
            consume_enable: g.consume_enable,
            consume_broadcast_enable: g.consume_broadcast_enable,
            retry_queue_nums: g.retry_queue_nums,
            retry_max_times: g.retry_max_times,
            which_broker_when_consume_slowly: g.which_broker_when_consume_slowly,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    #[error("group name {0:?} is empty, longer than 120 bytes, or has characters outside [A-Za-z0-9_%|-]")]
    InvalidName(String),
    #[error("group {group}: {field} = {value} is out of range ({range})")]
    OutOfRange {
        group: String,
        field: &'static str,
        value: i64,
        range: &'static str,
    },
    #[error("group {0}: more than 64 unrecognised fields")]
    TooManyFields(String),
    #[error("the subscription group table is full ({GROUPS_MAX} groups)")]
    TableFull,
    #[error("saving the subscription group table to {path}: {source}")]
    Save {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// RocketMQ's group-name rule (as topics, at most 120 bytes).
pub fn validate_group_name(name: &str) -> Result<(), GroupError> {
    let ok = !name.is_empty()
        && name.len() <= GROUP_NAME_BYTES_MAX
        && crate::topics::has_name_chars_only(name);
    if ok {
        Ok(())
    } else {
        Err(GroupError::InvalidName(name.chars().take(64).collect()))
    }
}

fn validate(config: &SubscriptionGroupConfig) -> Result<(), GroupError> {
    validate_group_name(&config.group_name)?;
    let range = |field, value: i64, ok: bool, range| {
        if ok {
            Ok(())
        } else {
            Err(GroupError::OutOfRange {
                group: config.group_name.clone(),
                field,
                value,
                range,
            })
        }
    };
    let q = config.retry_queue_nums;
    range(
        "retryQueueNums",
        i64::from(q),
        (0..=RETRY_QUEUE_NUMS_MAX).contains(&q),
        "0..=64",
    )?;
    let r = config.retry_max_times;
    range("retryMaxTimes", i64::from(r), r >= -1, "-1 or more")?;
    if config.extra.len() > EXTRA_FIELDS_MAX {
        return Err(GroupError::TooManyFields(config.group_name.clone()));
    }
    Ok(())
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct GroupFile {
    subscription_group_table: BTreeMap<String, SubscriptionGroupConfig>,
    #[serde(default)]
    data_version: DataVersion,
}

/// RocketMQ's `DataVersion`: what admin tools compare to see a change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataVersion {
    pub timestamp: i64,
    pub counter: i64,
}

pub struct SubscriptionGroups {
    groups: RwLock<BTreeMap<String, SubscriptionGroupConfig>>,
    data_version: RwLock<DataVersion>,
    version: AtomicU64,
    file: LatestFile,
}

impl Versioned for SubscriptionGroups {
    fn version(&self) -> u64 {
        SubscriptionGroups::version(self)
    }

    fn snapshot(&self) -> (u64, Vec<u8>) {
        let groups = self.groups.read().expect("group lock");
        let file = GroupFile {
            subscription_group_table: groups.clone(),
            data_version: *self.data_version.read().expect("group lock"),
        };
        let bytes = serde_json::to_vec_pretty(&file).expect("group table serializes");
        (self.version(), bytes)
    }

    fn latest_file(&self) -> &LatestFile {
        &self.file
    }
}

impl SubscriptionGroups {
    /// Loads the table, or starts empty.
    pub fn open(root: &Path) -> std::io::Result<SubscriptionGroups> {
        let path = root.join("config").join("subscriptionGroup.json");
        let file =
            crate::topics::read_config_file(&path, |b| serde_json::from_slice::<GroupFile>(b))?
                .unwrap_or_default();
        Ok(SubscriptionGroups {
            groups: RwLock::new(file.subscription_group_table),
            data_version: RwLock::new(file.data_version),
            version: AtomicU64::new(1),
            file: LatestFile::new(path, 1),
        })
    }

    /// What the pull, send-back and retry paths need of a group, without
    /// copying its config; created as [`SubscriptionGroups::find`] does.
    pub fn policy(&self, name: &str, auto_create: bool) -> Result<Option<GroupPolicy>, GroupError> {
        if let Some(g) = self.groups.read().expect("group lock").get(name) {
            return Ok(Some(GroupPolicy::of(g)));
        }
        Ok(self.find(name, auto_create)?.as_ref().map(GroupPolicy::of))
    }

    pub fn get(&self, name: &str) -> Option<SubscriptionGroupConfig> {
        self.groups.read().expect("group lock").get(name).cloned()
    }

    /// The group's config, created with the defaults when missing and
    /// `auto_create` (`autoCreateSubscriptionGroup`) allows it.
    pub fn find(
        &self,
        name: &str,
        auto_create: bool,
    ) -> Result<Option<SubscriptionGroupConfig>, GroupError> {
        if let Some(g) = self.get(name) {
            return Ok(Some(g));
        }
        if !auto_create {
            return Ok(None);
        }
        let config = SubscriptionGroupConfig::new(name);
        // Written by the persister (see the module's docs).
        self.apply_put(config.clone())?;
        tracing::info!(group = name, "subscription group created");
        Ok(Some(self.get(name).unwrap_or(config)))
    }

    /// Creates or replaces a group and saves the table.
    pub async fn put(self: &Arc<Self>, config: SubscriptionGroupConfig) -> Result<(), GroupError> {
        self.apply_put(config)?;
        self.save().await
    }

    /// [`SubscriptionGroups::put`]'s change, in memory.
    fn apply_put(&self, config: SubscriptionGroupConfig) -> Result<(), GroupError> {
        validate(&config)?;
        let mut groups = self.groups.write().expect("group lock");
        if groups.len() >= GROUPS_MAX && !groups.contains_key(&config.group_name) {
            return Err(GroupError::TableFull);
        }
        if groups.get(&config.group_name) != Some(&config) {
            groups.insert(config.group_name.clone(), config);
            self.changed();
        }
        Ok(())
    }

    /// Removes a group and saves the table; false when there was none.
    pub async fn delete(self: &Arc<Self>, name: &str) -> Result<bool, GroupError> {
        let removed = self
            .groups
            .write()
            .expect("group lock")
            .remove(name)
            .is_some();
        if removed {
            self.changed();
            self.save().await?;
        }
        Ok(removed)
    }

    /// `GET_ALL_SUBSCRIPTIONGROUP_CONFIG`'s body.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        let file = GroupFile {
            subscription_group_table: self.groups.read().expect("group lock").clone(),
            data_version: *self.data_version.read().expect("group lock"),
        };
        serde_json::to_vec(&file).expect("group table serializes")
    }

    /// A slave takes its master's table (`GET_ALL_SUBSCRIPTIONGROUP_CONFIG`
    /// body) and saves it; returns whether it differed.
    pub async fn replace_from_master(self: &Arc<Self>, body: &[u8]) -> Result<bool, String> {
        let changed = self.apply_master_table(body)?;
        self.save().await.map_err(|e| e.to_string())?;
        Ok(changed)
    }

    fn apply_master_table(&self, body: &[u8]) -> Result<bool, String> {
        let file: GroupFile = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        if file.subscription_group_table.len() > GROUPS_MAX {
            return Err(GroupError::TableFull.to_string());
        }
        for (name, config) in &file.subscription_group_table {
            validate(config).map_err(|e| e.to_string())?;
            if *name != config.group_name {
                return Err(format!(
                    "group {name:?} holds the config of {:?}",
                    config.group_name
                ));
            }
        }
        let mut groups = self.groups.write().expect("group lock");
        if *groups == file.subscription_group_table {
            return Ok(false);
        }
        *groups = file.subscription_group_table;
        self.changed();
        Ok(true)
    }

    /// Changes since start (for tests and the registration's change check).
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Marks a change; called under the table's write lock.
    fn changed(&self) {
        let mut v = self.data_version.write().expect("group lock");
        v.counter += 1;
        v.timestamp = crate::shard::now_ms();
        self.version.fetch_add(1, Ordering::AcqRel);
    }

    /// Brings the file up to the latest version
    /// ([`crate::latest_file::save`]).
    pub async fn save(self: &Arc<Self>) -> Result<(), GroupError> {
        crate::latest_file::save(self)
            .await
            .map_err(|source| GroupError::Save {
                path: self.file.path().to_path_buf(),
                source,
            })
    }

    /// Shard 0's task: writes changes nobody awaited (auto-created groups)
    /// every [`PERSIST_INTERVAL`], and once more at `stop`.
    pub async fn run_persister(self: Arc<Self>, stop: Rc<Cell<bool>>) {
        let mut failing = false;
        loop {
            let stopping = stop.get();
            match self.save().await {
                Ok(()) => failing = false,
                Err(e) if !failing => {
                    tracing::error!(error = %e, "the subscription-group table could not be saved; retrying");
                    failing = true;
                }
                Err(_) => {}
            }
            if stopping {
                return;
            }
            glommio::timer::sleep(PERSIST_INTERVAL).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on_executor<T: 'static>(f: impl std::future::Future<Output = T> + 'static) -> T {
        glommio::LocalExecutorBuilder::default()
            .io_memory(1 << 20)
            .make()
            .unwrap()
            .run(f)
    }

    #[test]
    fn groups_survive_reopen_keep_unknown_fields_and_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        on_executor(async move { checks(&root).await });
    }

    async fn checks(root: &Path) {
        let open = |dir: &Path| Arc::new(SubscriptionGroups::open(dir).unwrap());
        let t = open(root);
        assert!(t.find("g1", false).unwrap().is_none());
        let g = t.find("g1", true).unwrap().unwrap();
        assert_eq!((g.retry_max_times, g.retry_queue_nums), (16, 1));
        let mut custom: SubscriptionGroupConfig = serde_json::from_str(
            r#"{"groupName":"g2","consumeEnable":false,"retryMaxTimes":3,
                "groupRetryPolicy":{"type":"CUSTOMIZED"}}"#,
        )
        .unwrap();
        assert!(!custom.consume_enable);
        assert!(custom.consume_broadcast_enable, "defaults fill the rest");
        t.put(custom.clone()).await.unwrap();
        custom.group_name = "bad group".into();
        assert!(matches!(
            t.put(custom.clone()).await,
            Err(GroupError::InvalidName(_))
        ));
        custom.group_name = "g3".into();
        custom.retry_queue_nums = 1000;
        assert!(matches!(
            t.put(custom).await,
            Err(GroupError::OutOfRange { .. })
        ));
        drop(t);

        let t = open(root);
        assert!(
            t.get("g1").is_some(),
            "the auto-created group was saved with g2"
        );
        let g2 = t.get("g2").unwrap();
        assert_eq!(g2.retry_max_times, 3);
        assert_eq!(g2.extra["groupRetryPolicy"]["type"], "CUSTOMIZED");
        assert!(t.get("g3").is_none());
        let body = t.to_json_bytes();
        let copy_dir = tempfile::tempdir().unwrap();
        let copy = open(copy_dir.path());
        assert!(copy.replace_from_master(&body).await.unwrap());
        assert!(!copy.replace_from_master(&body).await.unwrap());
        assert_eq!(copy.get("g2"), Some(g2));
        assert!(t.delete("g2").await.unwrap());
        assert!(!t.delete("g2").await.unwrap());
        drop(t);
        assert!(open(root).get("g2").is_none(), "the deletion was saved");

        // An auto-created group alone is written by the persister.
        let t = open(root);
        t.find("g4", true).unwrap();
        let stop = Rc::new(Cell::new(true));
        t.clone().run_persister(stop).await;
        assert!(open(root).get("g4").is_some());
    }
}
