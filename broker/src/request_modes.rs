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
        let mut table = self.table.write().expect("request mode lock");
        let count: usize = table
            .message_request_mode_map
            .values()
            .map(BTreeMap::len)
            .sum();
        let exists = table
            .message_request_mode_map
            .get(&body.topic)
            .is_some_and(|g| g.contains_key(&body.consumer_group));
        if count >= REQUEST_MODES_MAX && !exists {
            return Err(ModeError::Full);
        }
        let entry = SetMessageRequestModeRequestBody {
            mode,
            pop_share_queue_num: body.pop_share_queue_num.max(0),
            ..body
        };
        table
            .message_request_mode_map
            .entry(entry.topic.clone())
            .or_default()
            .insert(entry.consumer_group.clone(), entry);
        let bytes = serde_json::to_vec_pretty(&*table).expect("request modes serialize");
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
    }
}
