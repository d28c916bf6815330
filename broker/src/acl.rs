//! Access control: RocketMQ 4.x's plain ACL (`plain_acl.yml`), checked on
//! every request when `aclEnable=true`.
//!
//! A client signs each request (RocketMQ's `AclClientRPCHook`): it adds
//! `AccessKey` (and `SecurityToken`, if it has one), then `Signature` =
//! Base64(HmacSHA1(secretKey, the values of every ext field but
//! `Signature`, in key order, followed by the body)). The broker finds the
//! account by `AccessKey`, recomputes the signature over the fields as
//! received, and checks what the request touches against the account's
//! permissions:
//!
//! | request                                   | needs                        |
//! |-------------------------------------------|------------------------------|
//! | sends, reply sends                        | topic PUB                    |
//! | pulls, pops, acks (batch acks by body), offsets, assignment | topic SUB and group SUB |
//! | `QUERY_MESSAGE`                           | topic SUB                    |
//! | heartbeat                                 | each consumer group SUB and each subscribed topic SUB |
//! | send-back, consumer list, locks, unregister | group SUB                  |
//! | topic and group create/delete, broker config, offset reset, view by id | an admin account |
//! | anything else                             | a valid signature            |
//!
//! A retry or DLQ topic (`%RETRY%g`, `%DLQ%g`) is checked as group `g`, as
//! RocketMQ does. An admin account may do everything. A peer whose address
//! matches `globalWhiteRemoteAddresses` needs no signature (RocketMQ's way
//! of letting brokers of one cluster, whose internal requests are not
//! signed, reach each other: list their addresses there).
//!
//! The file reloads without a restart: a thread looks at its modification
//! time every [`RELOAD_CHECK_INTERVAL`]; a file that does not parse is
//! logged and the previous accounts stay in force. Shards read the current
//! accounts through one atomic version check per request, no lock.
//!
//! Differences from RocketMQ: refusals answer `NO_PERMISSION` (16) with the
//! reason in the remark (RocketMQ 4.x answers `SYSTEM_ERROR` with the
//! exception's text). `VIEW_MESSAGE_BY_ID` needs an admin account. An
//! account's `whiteRemoteAddress` restricts where it may connect from; it
//! does not replace the signature. Address patterns: `*`, exact addresses,
//! and per IPv4 part `*`, `n-m` or (last part) `{a,b,c}`.
//!
//! `END_TRANSACTION` names no topic: its handler checks PUB on the topic of
//! the half message it commits or rolls back
//! ([`ShardAcl::check_publish`]), as RocketMQ 5's ACL 2.0 does (4.x checks
//! only the signature). Not checked beyond the signature, as in RocketMQ
//! 4.x: the topic of the message a `CONSUMER_SEND_MSG_BACK` names by
//! offset.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ringmq_net::{RemotingCommand, RequestCode};
use serde::Deserialize;

use crate::clients::HeartbeatData;
use crate::topics::{DLQ_GROUP_TOPIC_PREFIX, RETRY_GROUP_TOPIC_PREFIX};

pub use ringmq_net::acl::{sign, signature, ACCESS_KEY, SIGNATURE};
/// How often the reload thread looks at the file.
pub const RELOAD_CHECK_INTERVAL: Duration = Duration::from_millis(500);
/// Largest ACL file read (a typo'd path to a huge file is refused).
pub const ACL_FILE_BYTES_MAX: u64 = 4 << 20;
/// RocketMQ's rule: keys longer than 6 characters.
const KEY_LENGTH_MIN: usize = 7;

/// What an account may do with a topic or group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Perm {
    pub publish: bool,
    pub subscribe: bool,
}

impl Perm {
    const DENY: Perm = Perm {
        publish: false,
        subscribe: false,
    };

    /// `DENY`, `PUB`, `SUB`, `PUB|SUB` (either order) or `ANY`.
    fn parse(text: &str) -> Result<Perm, String> {
        let mut perm = Perm::DENY;
        for part in text.split('|').map(str::trim) {
            match part {
                "DENY" => return Ok(Perm::DENY),
                "PUB" => perm.publish = true,
                "SUB" => perm.subscribe = true,
                "ANY" => {
                    perm.publish = true;
                    perm.subscribe = true;
                }
                other => return Err(format!("permission {other:?} is not DENY, PUB, SUB or ANY")),
            }
        }
        Ok(perm)
    }
}

/// One remote-address pattern of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
enum AddrPattern {
    Any,
    Exact(IpAddr),
    /// Four IPv4 parts, each a range of values.
    V4([Vec<(u8, u8)>; 4]),
}

impl AddrPattern {
    fn parse(text: &str) -> Result<AddrPattern, String> {
        let text = text.trim();
        if text == "*" || text == "*.*.*.*" {
            return Ok(AddrPattern::Any);
        }
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(AddrPattern::Exact(ip));
        }
        let bad = || format!("remote address pattern {text:?} is not understood");
        let parts: Vec<&str> = text.split('.').collect();
        if parts.len() != 4 {
            return Err(bad());
        }
        let mut out: [Vec<(u8, u8)>; 4] = Default::default();
        for (i, part) in parts.iter().enumerate() {
            out[i] = if *part == "*" {
                vec![(0, 255)]
            } else if let Some((lo, hi)) = part.split_once('-') {
                let (lo, hi) = (
                    lo.parse().map_err(|_| bad())?,
                    hi.parse().map_err(|_| bad())?,
                );
                if lo > hi {
                    return Err(bad());
                }
                vec![(lo, hi)]
            } else if let Some(set) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                if i != 3 {
                    return Err(bad());
                }
                set.split(',')
                    .map(|v| v.trim().parse::<u8>().map(|v| (v, v)).map_err(|_| bad()))
                    .collect::<Result<_, _>>()?
            } else {
                let v = part.parse::<u8>().map_err(|_| bad())?;
                vec![(v, v)]
            };
        }
        Ok(AddrPattern::V4(out))
    }

    fn matches(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 @ IpAddr::V4(_) => v4,
        };
        match (self, ip) {
            (AddrPattern::Any, _) => true,
            (AddrPattern::Exact(want), got) => *want == got,
            (AddrPattern::V4(parts), IpAddr::V4(v4)) => parts
                .iter()
                .zip(v4.octets())
                .all(|(ranges, o)| ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&o))),
            (AddrPattern::V4(_), IpAddr::V6(_)) => false,
        }
    }
}

/// One account of the file.
#[derive(Clone, Debug)]
pub struct Account {
    secret_key: String,
    white_remote_address: Option<AddrPattern>,
    admin: bool,
    default_topic_perm: Perm,
    default_group_perm: Perm,
    topic_perms: HashMap<String, Perm>,
    group_perms: HashMap<String, Perm>,
}

/// The accounts and global white list in force.
#[derive(Clone, Debug, Default)]
pub struct AclConfig {
    global_white_remote_addresses: Vec<AddrPattern>,
    accounts: HashMap<String, Account>,
}

/// `plain_acl.yml` as RocketMQ 4.x writes it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlainAclFile {
    #[serde(default)]
    global_white_remote_addresses: Vec<String>,
    #[serde(default)]
    accounts: Vec<AccountEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountEntry {
    #[serde(deserialize_with = "text_or_number")]
    access_key: String,
    #[serde(deserialize_with = "text_or_number")]
    secret_key: String,
    #[serde(default)]
    white_remote_address: Option<String>,
    #[serde(default)]
    admin: bool,
    #[serde(default)]
    default_topic_perm: Option<String>,
    #[serde(default)]
    default_group_perm: Option<String>,
    #[serde(default)]
    topic_perms: Vec<String>,
    #[serde(default)]
    group_perms: Vec<String>,
}

/// YAML reads `secretKey: 12345678` as a number; RocketMQ as text.
fn text_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum TextOrNumber {
        Text(String),
        Number(i64),
    }
    Ok(match TextOrNumber::deserialize(d)? {
        TextOrNumber::Text(t) => t,
        TextOrNumber::Number(n) => n.to_string(),
    })
}

/// `name=PERM` entries of `topicPerms` / `groupPerms`.
fn resource_perms(entries: &[String], what: &str) -> Result<HashMap<String, Perm>, String> {
    entries
        .iter()
        .map(|e| {
            let (name, perm) = e
                .split_once('=')
                .ok_or_else(|| format!("{what} entry {e:?} is not name=PERM"))?;
            Ok((name.trim().to_string(), Perm::parse(perm)?))
        })
        .collect()
}

impl AclConfig {
    /// Parses and checks a `plain_acl.yml`.
    pub fn parse(text: &str) -> Result<AclConfig, String> {
        let file: PlainAclFile = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        let global_white_remote_addresses = file
            .global_white_remote_addresses
            .iter()
            .map(|p| AddrPattern::parse(p))
            .collect::<Result<_, _>>()?;
        let mut accounts = HashMap::new();
        for a in file.accounts {
            for (what, key) in [("accessKey", &a.access_key), ("secretKey", &a.secret_key)] {
                if key.chars().count() < KEY_LENGTH_MIN {
                    return Err(format!(
                        "{what} of account {:?} is shorter than {KEY_LENGTH_MIN} characters",
                        a.access_key
                    ));
                }
            }
            let perm = |p: &Option<String>| p.as_deref().map_or(Ok(Perm::DENY), Perm::parse);
            let account = Account {
                secret_key: a.secret_key,
                white_remote_address: a
                    .white_remote_address
                    .as_deref()
                    .filter(|w| !w.trim().is_empty())
                    .map(AddrPattern::parse)
                    .transpose()?,
                admin: a.admin,
                default_topic_perm: perm(&a.default_topic_perm)?,
                default_group_perm: perm(&a.default_group_perm)?,
                topic_perms: resource_perms(&a.topic_perms, "topicPerms")?,
                group_perms: resource_perms(&a.group_perms, "groupPerms")?,
            };
            if accounts.insert(a.access_key.clone(), account).is_some() {
                return Err(format!("accessKey {:?} appears twice", a.access_key));
            }
        }
        Ok(AclConfig {
            global_white_remote_addresses,
            accounts,
        })
    }

    /// Whether `peer` is in `globalWhiteRemoteAddresses`.
    pub fn is_white(&self, peer: IpAddr) -> bool {
        self.global_white_remote_addresses
            .iter()
            .any(|p| p.matches(peer))
    }

    /// The keys of the first admin account (by access key), which brokers
    /// sign their name-server registrations with.
    pub fn admin_keys(&self) -> Option<(String, String)> {
        self.accounts
            .iter()
            .filter(|(_, a)| a.admin)
            .min_by(|a, b| a.0.cmp(b.0))
            .map(|(ak, a)| (ak.clone(), a.secret_key.clone()))
    }

    /// For what only brokers of the cluster may do (register or unregister
    /// with the name server, change its KV config, replicate): a peer in
    /// `globalWhiteRemoteAddresses`, or a request signed by an admin
    /// account.
    pub fn check_cluster_member(
        &self,
        peer: IpAddr,
        request: &RemotingCommand,
    ) -> Result<(), String> {
        if self.is_white(peer) {
            return Ok(());
        }
        let (access_key, account) = self.signer(request).map_err(|why| {
            format!("only brokers of the cluster may do this: the peer is not in globalWhiteRemoteAddresses and {why}")
        })?;
        if !account.admin {
            return Err(format!("AccessKey {access_key:?} is not an admin account"));
        }
        account.verify(access_key, request)
    }

    /// Whether `request`, from `peer`, may be served; the reason if not.
    pub fn check(&self, peer: IpAddr, request: &RemotingCommand) -> Result<(), String> {
        if self.is_white(peer) {
            return Ok(());
        }
        let (access_key, account) = self.signer(request)?;
        if let Some(white) = &account.white_remote_address {
            if !white.matches(peer) {
                return Err(format!(
                    "AccessKey {access_key:?} may not connect from {peer}"
                ));
            }
        }
        account.verify(access_key, request)?;
        if account.admin {
            return Ok(());
        }
        for need in needs(request)? {
            account
                .allows(&need)
                .map_err(|why| format!("AccessKey {access_key:?}: {why}"))?;
        }
        Ok(())
    }

    /// The access key `request` names and its account.
    fn signer<'r>(&self, request: &'r RemotingCommand) -> Result<(&'r str, &Account), String> {
        let access_key = request
            .ext_field(ACCESS_KEY)
            .ok_or("the request is not signed (no AccessKey) and the broker has aclEnable=true")?;
        let account = self
            .accounts
            .get(access_key)
            .ok_or_else(|| format!("no account for AccessKey {access_key:?}"))?;
        Ok((access_key, account))
    }

    /// Whether the signer of `request`, whose signature [`AclConfig::check`]
    /// verified, may publish to `topic`: for requests whose topic is known
    /// only once the handler has read the log.
    pub fn check_publish(
        &self,
        peer: IpAddr,
        request: &RemotingCommand,
        topic: &str,
    ) -> Result<(), String> {
        if self.is_white(peer) {
            return Ok(());
        }
        let (access_key, account) = self.signer(request)?;
        if account.admin {
            return Ok(());
        }
        account
            .allows(&Need::Topic(topic.to_string(), Action::Publish))
            .map_err(|why| format!("AccessKey {access_key:?}: {why}"))
    }
}

/// What a request touches.
#[derive(Debug, PartialEq, Eq)]
enum Need {
    Topic(String, Action),
    Group(String),
    Admin(i32),
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Action {
    Publish,
    Subscribe,
}

impl Account {
    /// Whether `request` carries this account's signature.
    fn verify(&self, access_key: &str, request: &RemotingCommand) -> Result<(), String> {
        let given = request
            .ext_field(SIGNATURE)
            .ok_or("the request has no Signature")?;
        let expected = signature(&self.secret_key, request);
        if same_bytes(given.as_bytes(), expected.as_bytes()) {
            Ok(())
        } else {
            Err(format!(
                "the Signature does not match AccessKey {access_key:?}'s secret"
            ))
        }
    }

    fn allows(&self, need: &Need) -> Result<(), String> {
        match need {
            Need::Admin(code) => Err(format!(
                "request {} needs an admin account",
                RequestCode::name(*code).unwrap_or("?")
            )),
            Need::Group(group) => {
                let perm = self
                    .group_perms
                    .get(group)
                    .copied()
                    .unwrap_or(self.default_group_perm);
                if perm.subscribe {
                    Ok(())
                } else {
                    Err(format!("no SUB permission on group {group:?}"))
                }
            }
            Need::Topic(topic, action) => {
                for prefix in [RETRY_GROUP_TOPIC_PREFIX, DLQ_GROUP_TOPIC_PREFIX] {
                    if let Some(group) = topic.strip_prefix(prefix) {
                        return self.allows(&Need::Group(group.to_string()));
                    }
                }
                let perm = self
                    .topic_perms
                    .get(topic)
                    .copied()
                    .unwrap_or(self.default_topic_perm);
                let (ok, name) = match action {
                    Action::Publish => (perm.publish, "PUB"),
                    Action::Subscribe => (perm.subscribe, "SUB"),
                };
                if ok {
                    Ok(())
                } else {
                    Err(format!("no {name} permission on topic {topic:?}"))
                }
            }
        }
    }
}

/// The resources a request touches, from its fields (and, for a
/// heartbeat, its body).
fn needs(request: &RemotingCommand) -> Result<Vec<Need>, String> {
    use RequestCode as C;
    let field = |k: &str| request.ext_field(k).map(str::to_string);
    let topic = |k: &str, action| field(k).map(|t| Need::Topic(t, action));
    let group = |k: &str| field(k).map(Need::Group);
    let needs: Vec<Option<Need>> = match request.code {
        C::SEND_MESSAGE | C::SEND_REPLY_MESSAGE => vec![topic("topic", Action::Publish)],
        C::SEND_MESSAGE_V2 | C::SEND_BATCH_MESSAGE | C::SEND_REPLY_MESSAGE_V2 => {
            vec![topic("b", Action::Publish)]
        }
        C::PULL_MESSAGE
        | C::LITE_PULL_MESSAGE
        | C::QUERY_CONSUMER_OFFSET
        | C::UPDATE_CONSUMER_OFFSET
        | C::POP_MESSAGE
        | C::ACK_MESSAGE
        | C::CHANGE_MESSAGE_INVISIBLETIME => vec![topic("topic", Action::Subscribe), group("consumerGroup")],
        C::QUERY_MESSAGE => vec![topic("topic", Action::Subscribe)],
        C::CONSUMER_SEND_MSG_BACK => vec![group("group")],
        C::GET_CONSUMER_LIST_BY_GROUP | C::UNREGISTER_CLIENT => vec![group("consumerGroup")],
        C::QUERY_ASSIGNMENT
        | C::BATCH_ACK_MESSAGE
        | C::LOCK_BATCH_MQ
        | C::UNLOCK_BATCH_MQ
        | C::HEART_BEAT => body_needs(request)?,
        C::UPDATE_AND_CREATE_TOPIC
        | C::DELETE_TOPIC_IN_BROKER
        | C::UPDATE_BROKER_CONFIG
        | C::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP
        | C::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP_LIST
        | C::DELETE_SUBSCRIPTIONGROUP
        | C::INVOKE_BROKER_TO_RESET_OFFSET
        | C::SET_MESSAGE_REQUEST_MODE
        // A message id is a commit-log offset: reading one by id would
        // bypass topic SUB, so only admin accounts (dashboards, mqadmin)
        // may. RocketMQ 4.x does not check it.
        | C::VIEW_MESSAGE_BY_ID => vec![Some(Need::Admin(request.code))],
        _ => Vec::new(),
    };
    Ok(needs.into_iter().flatten().collect())
}

/// The resources named in a request's body: the requests that carry them
/// there (assignment queries, batch acks, queue locks, heartbeats).
fn body_needs(request: &RemotingCommand) -> Result<Vec<Option<Need>>, String> {
    use RequestCode as C;
    Ok(match request.code {
        C::QUERY_ASSIGNMENT => {
            let body = ringmq_net::header::QueryAssignmentRequestBody::from_json(&request.body)
                .map_err(|e| e.to_string())?;
            vec![
                Some(Need::Topic(body.topic, Action::Subscribe)),
                Some(Need::Group(body.consumer_group)),
            ]
        }
        C::BATCH_ACK_MESSAGE => {
            let body = ringmq_net::header::BatchAckMessageRequestBody::from_json(&request.body)
                .map_err(|e| e.to_string())?;
            body.acks
                .into_iter()
                .flat_map(|a| {
                    [
                        Some(Need::Topic(a.t, Action::Subscribe)),
                        Some(Need::Group(a.c)),
                    ]
                })
                .collect()
        }
        C::LOCK_BATCH_MQ | C::UNLOCK_BATCH_MQ => {
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Locking {
                consumer_group: String,
            }
            let body: Locking = serde_json::from_slice(&request.body)
                .map_err(|e| format!("lock request body: {e}"))?;
            vec![Some(Need::Group(body.consumer_group))]
        }
        C::HEART_BEAT => {
            let data: HeartbeatData = serde_json::from_slice(&request.body)
                .map_err(|e| format!("heartbeat body: {e}"))?;
            data.consumer_data_set
                .into_iter()
                .flat_map(|c| {
                    let topics: Vec<Option<Need>> = c
                        .subscription_data_set
                        .into_iter()
                        .map(|s| Some(Need::Topic(s.topic, Action::Subscribe)))
                        .collect();
                    std::iter::once(Some(Need::Group(c.group_name))).chain(topics)
                })
                .collect()
        }
        _ => Vec::new(),
    })
}

/// Compares without stopping at the first difference.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The ACL file in force, shared by every shard and the reload thread.
pub struct Acl {
    path: PathBuf,
    version: AtomicU64,
    current: Mutex<Arc<AclConfig>>,
    stop: AtomicBool,
}

impl Acl {
    /// Loads the file; a missing or invalid file refuses the start.
    pub fn open(path: &Path) -> Result<Arc<Acl>, String> {
        let config = read(path)?;
        Ok(Arc::new(Acl {
            path: path.to_path_buf(),
            version: AtomicU64::new(1),
            current: Mutex::new(Arc::new(config)),
            stop: AtomicBool::new(false),
        }))
    }

    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    pub fn current(&self) -> Arc<AclConfig> {
        self.current.lock().expect("acl lock").clone()
    }

    /// Starts the thread that reloads the file when it changes.
    pub fn watch(self: &Arc<Acl>) -> std::io::Result<std::thread::JoinHandle<()>> {
        let acl = self.clone();
        std::thread::Builder::new()
            .name("acl-reload".into())
            .spawn(move || {
                let mut seen = modified(&acl.path);
                while !acl.stop.load(Ordering::Acquire) {
                    std::thread::sleep(RELOAD_CHECK_INTERVAL);
                    let now = modified(&acl.path);
                    if now == seen {
                        continue;
                    }
                    seen = now;
                    match read(&acl.path) {
                        Ok(config) => {
                            *acl.current.lock().expect("acl lock") = Arc::new(config);
                            acl.version.fetch_add(1, Ordering::AcqRel);
                            tracing::info!(path = %acl.path.display(), "ACL file reloaded");
                        }
                        Err(error) => tracing::error!(
                            path = %acl.path.display(),
                            %error,
                            "ACL file not reloaded; the previous accounts stay in force"
                        ),
                    }
                }
            })
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }
}

fn modified(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

fn read(path: &Path) -> Result<AclConfig, String> {
    let size = std::fs::metadata(path)
        .map_err(|e| format!("ACL file {}: {e}", path.display()))?
        .len();
    if size > ACL_FILE_BYTES_MAX {
        return Err(format!(
            "ACL file {} is {size} bytes, over {ACL_FILE_BYTES_MAX}",
            path.display()
        ));
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("ACL file {}: {e}", path.display()))?;
    AclConfig::parse(&text).map_err(|e| format!("ACL file {}: {e}", path.display()))
}

/// One shard's view: the accounts it last saw and their version.
pub struct ShardAcl {
    acl: Arc<Acl>,
    seen: RefCell<(u64, Arc<AclConfig>)>,
}

impl ShardAcl {
    pub fn new(acl: Arc<Acl>) -> ShardAcl {
        let seen = RefCell::new((acl.version(), acl.current()));
        ShardAcl { acl, seen }
    }

    pub fn check(&self, peer: IpAddr, request: &RemotingCommand) -> Result<(), String> {
        self.refresh();
        self.seen.borrow().1.check(peer, request)
    }

    /// See [`AclConfig::check_publish`].
    pub fn check_publish(
        &self,
        peer: IpAddr,
        request: &RemotingCommand,
        topic: &str,
    ) -> Result<(), String> {
        self.refresh();
        self.seen.borrow().1.check_publish(peer, request, topic)
    }

    /// See [`AclConfig::is_white`].
    pub fn is_white(&self, peer: IpAddr) -> bool {
        self.refresh();
        self.seen.borrow().1.is_white(peer)
    }

    /// Takes the reloaded accounts if there are newer ones: one atomic
    /// load per request, no shared reference count touched.
    fn refresh(&self) {
        let version = self.acl.version();
        if self.seen.borrow().0 != version {
            *self.seen.borrow_mut() = (version, self.acl.current());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringmq_net::ExtFields;

    const FILE: &str = r"
globalWhiteRemoteAddresses:
  - 10.10.103.*
  - 192.168.0.{1,2}
accounts:
  - accessKey: writer-key
    secretKey: 12345678
    whiteRemoteAddress:
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - Orders=PUB
      - Audit=PUB|SUB
    groupPerms:
      - Closed=DENY
  - accessKey: admin-key
    secretKey: admin-secret
    admin: true
";

    fn signed(
        code: i32,
        fields: &[(&str, &str)],
        body: &[u8],
        ak: &str,
        sk: &str,
    ) -> RemotingCommand {
        let mut ext = ExtFields::new();
        for (k, v) in fields {
            ext.insert(k.to_string(), v.to_string());
        }
        ext.insert(ACCESS_KEY.into(), ak.into());
        let mut r =
            RemotingCommand::request(code, ext).with_body(bytes::Bytes::copy_from_slice(body));
        let s = signature(sk, &r);
        r.ext_fields.insert(SIGNATURE.into(), s);
        r
    }

    #[test]
    fn permissions_follow_the_file() {
        let acl = AclConfig::parse(FILE).unwrap();
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        let send = |topic: &str, sk: &str| {
            signed(
                RequestCode::SEND_MESSAGE,
                &[("topic", topic)],
                b"x",
                "writer-key",
                sk,
            )
        };
        assert_eq!(acl.check(peer, &send("Orders", "12345678")), Ok(()));
        let e = acl
            .check(peer, &send("Orders", "wrong-secret"))
            .unwrap_err();
        assert!(e.contains("Signature"), "{e}");
        let e = acl.check(peer, &send("Other", "12345678")).unwrap_err();
        assert!(e.contains("no PUB permission on topic \"Other\""), "{e}");
        // A tampered body no longer matches the signature.
        let mut r = send("Orders", "12345678");
        r.body = bytes::Bytes::from_static(b"y");
        assert!(acl.check(peer, &r).is_err());

        let pull = |topic: &str, group: &str| {
            signed(
                RequestCode::PULL_MESSAGE,
                &[("topic", topic), ("consumerGroup", group)],
                b"",
                "writer-key",
                "12345678",
            )
        };
        assert_eq!(acl.check(peer, &pull("Audit", "G")), Ok(()));
        assert!(acl
            .check(peer, &pull("Orders", "G"))
            .unwrap_err()
            .contains("SUB"));
        assert!(acl
            .check(peer, &pull("Audit", "Closed"))
            .unwrap_err()
            .contains("group"));
        // Retry topics are their group.
        assert_eq!(acl.check(peer, &pull("%RETRY%G", "G")), Ok(()));

        let create = |ak: &str, sk: &str| {
            signed(
                RequestCode::UPDATE_AND_CREATE_TOPIC,
                &[("topic", "New")],
                b"",
                ak,
                sk,
            )
        };
        assert!(acl
            .check(peer, &create("writer-key", "12345678"))
            .unwrap_err()
            .contains("admin"));
        assert_eq!(
            acl.check(peer, &create("admin-key", "admin-secret")),
            Ok(())
        );

        let unsigned = RemotingCommand::request(RequestCode::SEND_MESSAGE, ExtFields::new());
        assert!(acl
            .check(peer, &unsigned)
            .unwrap_err()
            .contains("AccessKey"));
        // Globally white-listed addresses need no signature.
        for white in ["10.10.103.7", "192.168.0.2"] {
            assert_eq!(acl.check(white.parse().unwrap(), &unsigned), Ok(()));
        }
        assert!(acl
            .check("192.168.0.3".parse().unwrap(), &unsigned)
            .is_err());
    }

    #[test]
    fn cluster_membership_needs_the_white_list_or_an_admin_signature() {
        let acl = AclConfig::parse(FILE).unwrap();
        let outsider: IpAddr = "127.0.0.1".parse().unwrap();
        let register = || RemotingCommand::request(RequestCode::REGISTER_BROKER, ExtFields::new());
        assert!(acl.check_cluster_member(outsider, &register()).is_err());
        assert_eq!(
            acl.check_cluster_member("10.10.103.9".parse().unwrap(), &register()),
            Ok(())
        );
        let (ak, sk) = acl.admin_keys().unwrap();
        assert_eq!(ak, "admin-key");
        let mut signed = register();
        sign(&mut signed, &ak, &sk);
        assert_eq!(acl.check_cluster_member(outsider, &signed), Ok(()));
        let mut by_user = register();
        sign(&mut by_user, "writer-key", "12345678");
        assert!(acl
            .check_cluster_member(outsider, &by_user)
            .unwrap_err()
            .contains("admin"));
    }

    #[test]
    fn bad_files_are_refused() {
        for (text, why) in [
            ("accounts:\n  - accessKey: short\n    secretKey: 12345678\n", "shorter"),
            ("accounts:\n  - accessKey: longenough\n    secretKey: 12345678\n    topicPerms: [T=ALL]\n", "permission"),
            ("globalWhiteRemoteAddresses: [1.2.3]\n", "pattern"),
            ("accounts: [", ""),
        ] {
            let e = AclConfig::parse(text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn address_patterns() {
        let p = AddrPattern::parse("10.1.2-4.*").unwrap();
        assert!(p.matches("10.1.3.200".parse().unwrap()));
        assert!(!p.matches("10.1.5.1".parse().unwrap()));
        assert!(p.matches("::ffff:10.1.2.1".parse().unwrap()));
        assert!(AddrPattern::parse("*")
            .unwrap()
            .matches("::1".parse().unwrap()));
    }
}
