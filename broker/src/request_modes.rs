//! How each consumer group consumes each topic: by PULL (the default) or
//! by POP, as `SET_MESSAGE_REQUEST_MODE` (401, `mqadmin setConsumeMode`)
//! sets it and `QUERY_ASSIGNMENT` (400) tells clients that let the broker
//! balance. Broker-wide like the subscription groups; saved in
//! `<storePathRootDir>/config/messageRequestMode.json` in RocketMQ's
//! layout (`{"messageRequestModeMap":{topic:{group:{...}}}}`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use ringmq_net::header::SetMessageRequestModeRequestBody;
use serde::{Deserialize, Serialize};

use crate::topics::{read_config_file, validate_topic_name, write_durably};

/// Most (topic, group) entries a broker keeps.
pub const REQUEST_MODES_MAX: usize = 100_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestMode {
    Pull,
    /// Each client also pops the queues of this many others; 0 (or at
    /// least the group's size - 1): every queue, shared by all.
    Pop {
        share_queue_num: i32,
    },
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ModeFile {
    message_request_mode_map: BTreeMap<String, BTreeMap<String, SetMessageRequestModeRequestBody>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ModeError {
    #[error("{0}")]
    Invalid(String),
    #[error("{REQUEST_MODES_MAX} request modes already set")]
    Full,
    #[error("saving {path}: {source}")]
    Save {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub struct RequestModes {
    path: PathBuf,
    table: RwLock<ModeFile>,
}

impl RequestModes {
    pub fn open(root: &Path) -> std::io::Result<RequestModes> {
        let path = root.join("config").join("messageRequestMode.json");
        let table =
            read_config_file(&path, |b| serde_json::from_slice::<ModeFile>(b))?.unwrap_or_default();
        Ok(RequestModes {
            path,
            table: RwLock::new(table),
        })
    }

    pub fn get(&self, topic: &str, group: &str) -> RequestMode {
        let table = self.table.read().expect("request mode lock");
        match table
            .message_request_mode_map
            .get(topic)
            .and_then(|groups| groups.get(group))
        {
            Some(m) if m.mode.eq_ignore_ascii_case("POP") => RequestMode::Pop {
                share_queue_num: m.pop_share_queue_num,
            },
            _ => RequestMode::Pull,
        }
    }

    /// Sets a group's mode for a topic and saves the table.
    pub fn set(&self, body: SetMessageRequestModeRequestBody) -> Result<(), ModeError> {
        let entry = validate(body)?;
        let mut table = self.table.write().expect("request mode lock");
        let exists = table
            .message_request_mode_map
            .get(&entry.topic)
            .is_some_and(|g| g.contains_key(&entry.consumer_group));
        if count(&table) >= REQUEST_MODES_MAX && !exists {
            return Err(ModeError::Full);
        }
        table
            .message_request_mode_map
            .entry(entry.topic.clone())
            .or_default()
            .insert(entry.consumer_group.clone(), entry);
        self.save(&table)
    }

    /// Slave: replaces the table with the master's
    /// (`GET_ALL_MESSAGE_REQUEST_MODE`), validated as local changes are.
    /// Whether it changed.
    pub fn replace_from_master(&self, body: &[u8]) -> Result<bool, String> {
        let file: ModeFile = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        let mut copy = ModeFile::default();
        for (topic, groups) in file.message_request_mode_map {
            for (group, entry) in groups {
                if entry.topic != topic || entry.consumer_group != group {
                    return Err(format!(
                        "entry {topic}/{group} names {}/{}",
                        entry.topic, entry.consumer_group
                    ));
                }
                let entry = validate(entry).map_err(|e| e.to_string())?;
                copy.message_request_mode_map
                    .entry(topic.clone())
                    .or_default()
                    .insert(group, entry);
            }
        }
        if count(&copy) > REQUEST_MODES_MAX {
            return Err(ModeError::Full.to_string());
        }
        let mut table = self.table.write().expect("request mode lock");
        if table.message_request_mode_map == copy.message_request_mode_map {
            return Ok(false);
        }
        *table = copy;
        self.save(&table).map_err(|e| e.to_string())?;
        Ok(true)
    }

    fn save(&self, table: &ModeFile) -> Result<(), ModeError> {
        let bytes = serde_json::to_vec_pretty(table).expect("request modes serialize");
        write_durably(&self.path, &bytes).map_err(|source| ModeError::Save {
            path: self.path.clone(),
            source,
        })
    }

    /// The table as `GET_ALL_MESSAGE_REQUEST_MODE` (402) answers it.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&*self.table.read().expect("request mode lock"))
            .expect("request modes serialize")
    }
}

fn count(table: &ModeFile) -> usize {
    table
        .message_request_mode_map
        .values()
        .map(BTreeMap::len)
        .sum()
}

/// A mode entry as stored: names checked, mode upper-case, share >= 0.
fn validate(
    body: SetMessageRequestModeRequestBody,
) -> Result<SetMessageRequestModeRequestBody, ModeError> {
    validate_topic_name(&body.topic).map_err(|e| ModeError::Invalid(e.to_string()))?;
    crate::groups::validate_group_name(&body.consumer_group)
        .map_err(|e| ModeError::Invalid(e.to_string()))?;
    let mode = body.mode.to_ascii_uppercase();
    if mode != "POP" && mode != "PULL" {
        return Err(ModeError::Invalid(format!(
            "mode {:?} is neither POP nor PULL",
            body.mode
        )));
    }
    if body
        .topic
        .starts_with(crate::topics::RETRY_GROUP_TOPIC_PREFIX)
    {
        return Err(ModeError::Invalid(format!(
            "{} is a retry topic; it is always pulled",
            body.topic
        )));
    }
    Ok(SetMessageRequestModeRequestBody {
        mode,
        pop_share_queue_num: body.pop_share_queue_num.max(0),
        ..body
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(topic: &str, group: &str, mode: &str) -> SetMessageRequestModeRequestBody {
        SetMessageRequestModeRequestBody {
            consumer_group: group.into(),
            mode: mode.into(),
            pop_share_queue_num: 0,
            topic: topic.into(),
        }
    }

    #[test]
    fn modes_persist_and_bad_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let modes = RequestModes::open(dir.path()).unwrap();
        assert_eq!(modes.get("T", "g"), RequestMode::Pull);
        modes.set(body("T", "g", "pop")).unwrap();
        assert!(modes.set(body("T", "g", "PUSH")).is_err());
        assert!(modes.set(body("bad topic", "g", "POP")).is_err());
        assert!(modes.set(body("%RETRY%g", "g", "POP")).is_err());
        let reopened = RequestModes::open(dir.path()).unwrap();
        assert_eq!(
            reopened.get("T", "g"),
            RequestMode::Pop { share_queue_num: 0 }
        );
        let v: serde_json::Value = serde_json::from_slice(&reopened.to_json_bytes()).unwrap();
        assert_eq!(v["messageRequestModeMap"]["T"]["g"]["mode"], "POP");
        // A slave copies the master's table, validated.
        let slave_dir = tempfile::tempdir().unwrap();
        let slave = RequestModes::open(slave_dir.path()).unwrap();
        assert_eq!(
            slave.replace_from_master(&reopened.to_json_bytes()),
            Ok(true)
        );
        assert_eq!(
            slave.replace_from_master(&reopened.to_json_bytes()),
            Ok(false)
        );
        assert_eq!(slave.get("T", "g"), RequestMode::Pop { share_queue_num: 0 });
        let bad = br#"{"messageRequestModeMap":{"T":{"g":{"topic":"../x","consumerGroup":"g","mode":"POP"}}}}"#;
        assert!(slave.replace_from_master(bad).is_err());
    }
}
