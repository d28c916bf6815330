//! The broker settings an operator may change while it runs
//! (`UPDATE_BROKER_CONFIG`, `mqadmin updateBrokerConfig`): one copy for the
//! whole broker, read by every shard with relaxed atomics (a change shows
//! at each shard's next request), and written back to the broker's config
//! file (`-c`) so it survives a restart. The save (a small file, fsync,
//! rename, directory fsync) runs on the shard thread that took the request:
//! an operator's change is rare, and it happens before the answer.
//!
//! Every other key needs a restart: the request names it and is refused
//! (RocketMQ merges unknown keys silently; RingMQ says what it did not do).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::config::BrokerConfig;
use crate::topics::{PERM_READ, PERM_WRITE};

/// The keys [`LiveSettings::update`] accepts.
pub const LIVE_KEYS: [&str; 3] = [
    "autoCreateTopicEnable",
    "autoCreateSubscriptionGroup",
    "brokerPermission",
];

#[derive(Debug, thiserror::Error)]
pub enum LiveUpdateError {
    #[error("{key} cannot change while the broker runs (live keys: {}); edit the config file and restart", LIVE_KEYS.join(", "))]
    NotLive { key: String },
    #[error("{key}={value}: {reason}")]
    Invalid {
        key: String,
        value: String,
        reason: &'static str,
    },
    #[error("the change applies, but saving it to {path} failed: {source}")]
    Save {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug)]
pub struct LiveSettings {
    auto_create_topic_enable: AtomicBool,
    auto_create_subscription_group: AtomicBool,
    broker_permission: AtomicI32,
    /// Bumped by every change (the registrar re-registers on it).
    version: AtomicU64,
    /// The config file changes are saved to; None: they last until restart.
    file: Option<PathBuf>,
    saving: Mutex<()>,
}

fn parse_bool(key: &str, value: &str) -> Result<bool, LiveUpdateError> {
    match value.trim() {
        v if v.eq_ignore_ascii_case("true") => Ok(true),
        v if v.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(LiveUpdateError::Invalid {
            key: key.into(),
            value: value.into(),
            reason: "not true or false",
        }),
    }
}

impl LiveSettings {
    /// Defaults, before `Broker::start` builds the real one from the
    /// loaded config (a `Default` config needs some value).
    pub fn placeholder() -> LiveSettings {
        LiveSettings {
            auto_create_topic_enable: AtomicBool::new(true),
            auto_create_subscription_group: AtomicBool::new(true),
            broker_permission: AtomicI32::new(PERM_READ | PERM_WRITE),
            version: AtomicU64::new(0),
            file: None,
            saving: Mutex::new(()),
        }
    }

    pub fn new(config: &BrokerConfig) -> LiveSettings {
        LiveSettings {
            auto_create_topic_enable: AtomicBool::new(config.auto_create_topic_enable),
            auto_create_subscription_group: AtomicBool::new(config.auto_create_subscription_group),
            broker_permission: AtomicI32::new(config.broker_permission),
            version: AtomicU64::new(0),
            file: config.config_file.clone(),
            saving: Mutex::new(()),
        }
    }

    pub fn auto_create_topic_enable(&self) -> bool {
        self.auto_create_topic_enable.load(Ordering::Relaxed)
    }

    pub fn auto_create_subscription_group(&self) -> bool {
        self.auto_create_subscription_group.load(Ordering::Relaxed)
    }

    /// `brokerPermission`: PERM_READ (4) | PERM_WRITE (2) by default.
    pub fn broker_permission(&self) -> i32 {
        self.broker_permission.load(Ordering::Relaxed)
    }

    pub fn writable(&self) -> bool {
        self.broker_permission() & PERM_WRITE != 0
    }

    pub fn readable(&self) -> bool {
        self.broker_permission() & PERM_READ != 0
    }

    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// The live values as `key=value` pairs.
    pub fn values(&self) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            (
                "autoCreateTopicEnable",
                self.auto_create_topic_enable().to_string(),
            ),
            (
                "autoCreateSubscriptionGroup",
                self.auto_create_subscription_group().to_string(),
            ),
            ("brokerPermission", self.broker_permission().to_string()),
        ])
    }

    /// Checks every pair, then applies them all and saves them to the
    /// config file; nothing applies when one pair is refused.
    pub fn update(&self, pairs: &BTreeMap<String, String>) -> Result<(), LiveUpdateError> {
        let mut checked = Vec::new();
        for (key, value) in pairs {
            let apply: Box<dyn Fn(&LiveSettings)> = match key.as_str() {
                "autoCreateTopicEnable" => {
                    let v = parse_bool(key, value)?;
                    Box::new(move |s| s.auto_create_topic_enable.store(v, Ordering::Relaxed))
                }
                "autoCreateSubscriptionGroup" => {
                    let v = parse_bool(key, value)?;
                    Box::new(move |s| s.auto_create_subscription_group.store(v, Ordering::Relaxed))
                }
                "brokerPermission" => {
                    let v: i32 = value
                        .trim()
                        .parse()
                        .ok()
                        .filter(|p| (0..8).contains(p))
                        .ok_or_else(|| LiveUpdateError::Invalid {
                            key: key.clone(),
                            value: value.clone(),
                            reason: "not a permission 0..=7",
                        })?;
                    Box::new(move |s| s.broker_permission.store(v, Ordering::Relaxed))
                }
                _ => return Err(LiveUpdateError::NotLive { key: key.clone() }),
            };
            checked.push(apply);
        }
        let _saving = self.saving.lock().unwrap_or_else(|p| p.into_inner());
        for apply in &checked {
            apply(self);
        }
        self.version.fetch_add(1, Ordering::AcqRel);
        let Some(path) = &self.file else {
            return Ok(());
        };
        save(path, pairs).map_err(|source| LiveUpdateError::Save {
            path: path.clone(),
            source,
        })
    }
}

/// Rewrites `key=value` lines of a properties file (appending new keys):
/// a temporary file, fsync, rename, so a crash leaves the old or the new.
fn save(path: &Path, pairs: &BTreeMap<String, String>) -> std::io::Result<()> {
    use std::io::Write;
    // Only a missing file reads as empty: any other failure (permissions,
    // bytes that are not UTF-8) must not rewrite the file with less in it.
    let old = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let mut written = std::collections::BTreeSet::new();
    let mut text = String::with_capacity(old.len() + 64);
    for line in old.lines() {
        let key = line.split(['=', ':']).next().unwrap_or_default().trim();
        match pairs.get(key) {
            Some(v) if !line.trim_start().starts_with('#') => {
                text.push_str(&format!("{key}={v}\n"));
                written.insert(key.to_string());
            }
            _ => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    for (k, v) in pairs.iter().filter(|(k, _)| !written.contains(*k)) {
        text.push_str(&format!("{k}={v}\n"));
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    if let Ok(meta) = std::fs::metadata(path) {
        f.set_permissions(meta.permissions())?;
    }
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    // The rename itself is durable once the directory is.
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> BTreeMap<String, String> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn updates_apply_all_or_nothing_and_are_saved() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("broker.conf");
        std::fs::write(
            &file,
            "brokerName=b\n# autoCreateTopicEnable=x\nautoCreateTopicEnable=true\n",
        )
        .unwrap();
        let config = BrokerConfig {
            config_file: Some(file.clone()),
            ..BrokerConfig::default()
        };
        let live = LiveSettings::new(&config);
        assert!(live.auto_create_topic_enable() && live.writable() && live.readable());

        let refused = live.update(&pairs(&[
            ("autoCreateTopicEnable", "false"),
            ("listenPort", "1"),
        ]));
        assert!(matches!(refused, Err(LiveUpdateError::NotLive { .. })));
        assert!(
            live.auto_create_topic_enable(),
            "nothing applies when one key is refused"
        );
        assert!(live.update(&pairs(&[("brokerPermission", "9")])).is_err());

        live.update(&pairs(&[
            ("autoCreateTopicEnable", "false"),
            ("brokerPermission", "4"),
        ]))
        .unwrap();
        assert!(!live.auto_create_topic_enable());
        assert!(!live.writable() && live.readable());
        assert_eq!(live.version(), 1);
        let saved = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            saved,
            "brokerName=b\n# autoCreateTopicEnable=x\nautoCreateTopicEnable=false\nbrokerPermission=4\n"
        );
    }
}
