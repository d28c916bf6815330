//! Who is connected to one shard: consumer groups with their members and
//! subscriptions (from HEART_BEAT), producer groups, and ordered-consumption
//! queue locks. Lives on its shard; clients heartbeat every broker (every
//! shard) they use, so each shard learns its own members without asking the
//! others, exactly as separate RocketMQ brokers do.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringmq_net::header::NotifyConsumerIdsChangedRequestHeader;
use ringmq_net::message::java_string_hash;
use ringmq_net::server::Peer;
use ringmq_net::{CommandHeader, RemotingCommand, RequestCode};
use serde::{Deserialize, Serialize};

/// A member silent this long is dropped (`channelExpiredTimeout`).
pub const CHANNEL_EXPIRED_MS: u64 = 120_000;
/// A queue lock not renewed this long is free (`rebalanceLockMaxLiveTime`).
pub const LOCK_MAX_LIVE_MS: u64 = 60_000;
/// Most consumer groups, members per group and subscriptions per member
/// a shard keeps; heartbeats beyond them are refused.
pub const GROUPS_MAX: usize = 10_000;
/// Most queue locks (group, topic, queue) one shard holds; past it a lock
/// request is granted only queues already held by the requester.
pub const LOCKS_MAX: usize = 100_000;
pub const MEMBERS_PER_GROUP_MAX: usize = 10_000;
pub const SUBSCRIPTIONS_PER_GROUP_MAX: usize = 10_000;
/// Most tags one subscription may list.
pub const TAGS_PER_SUBSCRIPTION_MAX: usize = 1_000;

/// `SubscriptionData` as heartbeats carry it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionData {
    pub class_filter_mode: bool,
    pub code_set: BTreeSet<i32>,
    pub expression_type: Option<String>,
    pub sub_string: String,
    /// A number from Java and Rust clients, a string from the C++ one.
    #[serde(deserialize_with = "number_or_text")]
    pub sub_version: i64,
    pub tags_set: BTreeSet<String>,
    pub topic: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerData {
    pub group_name: String,
    // Enum names from Java and Rust clients; the C++ client (inside PyPI
    // `rocketmq`) sends the ordinals, which are the same enums' orders.
    #[serde(deserialize_with = "consume_type_name")]
    pub consume_type: String,
    #[serde(deserialize_with = "message_model_name")]
    pub message_model: String,
    #[serde(deserialize_with = "consume_from_where_name")]
    pub consume_from_where: String,
    pub subscription_data_set: Vec<SubscriptionData>,
    pub unit_mode: bool,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NameOrOrdinal {
    Name(String),
    Ordinal(i64),
}

fn enum_name<'de, D: serde::Deserializer<'de>>(d: D, names: &[&str]) -> Result<String, D::Error> {
    use serde::de::Error;
    match NameOrOrdinal::deserialize(d)? {
        NameOrOrdinal::Name(n) => Ok(n),
        NameOrOrdinal::Ordinal(i) => usize::try_from(i)
            .ok()
            .and_then(|i| names.get(i))
            .map(|n| n.to_string())
            .ok_or_else(|| D::Error::custom(format!("enum ordinal {i} out of range"))),
    }
}

fn consume_type_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    enum_name(d, &["CONSUME_ACTIVELY", "CONSUME_PASSIVELY", "CONSUME_POP"])
}

fn message_model_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    enum_name(d, &["BROADCASTING", "CLUSTERING"])
}

fn consume_from_where_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    enum_name(
        d,
        &[
            "CONSUME_FROM_LAST_OFFSET",
            "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST",
            "CONSUME_FROM_MIN_OFFSET",
            "CONSUME_FROM_MAX_OFFSET",
            "CONSUME_FROM_FIRST_OFFSET",
            "CONSUME_FROM_TIMESTAMP",
        ],
    )
}

fn number_or_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    use serde::de::Error;
    match NameOrOrdinal::deserialize(d)? {
        NameOrOrdinal::Ordinal(n) => Ok(n),
        NameOrOrdinal::Name(t) => t
            .trim()
            .parse()
            .map_err(|_| D::Error::custom(format!("{t:?} is not a number"))),
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProducerData {
    pub group_name: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct HeartbeatData {
    #[serde(rename = "clientID")]
    pub client_id: String,
    #[serde(rename = "producerDataSet")]
    pub producer_data_set: Vec<ProducerData>,
    #[serde(rename = "consumerDataSet")]
    pub consumer_data_set: Vec<ConsumerData>,
}

/// What a pull filters by: tag hash codes, or everything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TagFilter {
    All,
    Codes(BTreeSet<i32>),
}

impl TagFilter {
    /// Parses `*`, empty, or `TagA || TagB` (RocketMQ's TAG expression).
    pub fn parse(expression: &str) -> Result<TagFilter, String> {
        let e = expression.trim();
        if e.is_empty() || e == "*" {
            return Ok(TagFilter::All);
        }
        let mut codes = BTreeSet::new();
        for tag in e.split("||").map(str::trim).filter(|t| !t.is_empty()) {
            if codes.len() >= TAGS_PER_SUBSCRIPTION_MAX {
                return Err(format!("more than {TAGS_PER_SUBSCRIPTION_MAX} tags"));
            }
            codes.insert(java_string_hash(tag));
        }
        if codes.is_empty() {
            return Ok(TagFilter::All);
        }
        Ok(TagFilter::Codes(codes))
    }

    /// The filter of a heartbeat subscription. Computed from `tagsSet`,
    /// not the `codeSet` the client sent: Java clients put the hash of each
    /// trimmed tag in `codeSet`, but rocketmq-client-rust 1.0.0 hashes the
    /// untrimmed tag (" TagB" for "TagA || TagB"), so its `codeSet` matches
    /// nothing. Hashing the trimmed tags ourselves gives Java's filter for
    /// both.
    pub fn from_subscription(sub: &SubscriptionData) -> Result<TagFilter, String> {
        if sub.sub_string.trim() == "*" || (sub.tags_set.is_empty() && sub.code_set.is_empty()) {
            return TagFilter::parse(&sub.sub_string);
        }
        if sub.tags_set.len() > TAGS_PER_SUBSCRIPTION_MAX {
            return Err(format!("more than {TAGS_PER_SUBSCRIPTION_MAX} tags"));
        }
        if sub.tags_set.is_empty() {
            return Ok(TagFilter::Codes(sub.code_set.clone()));
        }
        Ok(TagFilter::Codes(
            sub.tags_set
                .iter()
                .map(|t| java_string_hash(t.trim()))
                .collect(),
        ))
    }

    pub fn accepts(&self, tags_code: i64) -> bool {
        match self {
            TagFilter::All => true,
            TagFilter::Codes(codes) => i32::try_from(tags_code).is_ok_and(|c| codes.contains(&c)),
        }
    }
}

struct Member {
    peer: Rc<Peer>,
    last_seen: Instant,
}

#[derive(Default)]
struct ConsumerGroup {
    members: BTreeMap<String, Member>,
    subscriptions: HashMap<String, SubscriptionData>,
    consume_type: String,
    message_model: String,
    consume_from_where: String,
}

impl ConsumerGroup {
    /// Records client `client_id` on `peer` as a member, with the
    /// subscriptions and settings of its heartbeat `c`. Returns whether the
    /// membership or a subscription changed.
    fn record(&mut self, client_id: &str, peer: &Rc<Peer>, c: &ConsumerData, now: Instant) -> bool {
        let mut changed = false;
        match self.members.get_mut(client_id) {
            Some(m) if Rc::ptr_eq(&m.peer, peer) => m.last_seen = now,
            _ => {
                self.members.insert(
                    client_id.to_string(),
                    Member {
                        peer: peer.clone(),
                        last_seen: now,
                    },
                );
                changed = true;
            }
        }
        for sub in &c.subscription_data_set {
            let old = self.subscriptions.get(&sub.topic);
            if old.is_none_or(|o| o.sub_version < sub.sub_version || o.sub_string != sub.sub_string)
            {
                self.subscriptions.insert(sub.topic.clone(), sub.clone());
                changed = true;
            }
        }
        self.consume_type.clone_from(&c.consume_type);
        self.message_model.clone_from(&c.message_model);
        self.consume_from_where.clone_from(&c.consume_from_where);
        changed
    }
}

/// One client connection of a group, as admin views show it.
pub struct Connection {
    pub client_id: String,
    pub client_addr: String,
    pub language: &'static str,
    pub version: i32,
}

impl Connection {
    fn of(client_id: &str, peer: &Peer) -> Connection {
        let (language, version) = peer.client_version();
        Connection {
            client_id: client_id.to_string(),
            client_addr: peer.addr.to_string(),
            language: language.name(),
            version,
        }
    }

    /// The `Connection` JSON RocketMQ's admin tools read.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "clientAddr": self.client_addr,
            "clientId": self.client_id,
            "language": self.language,
            "version": self.version,
        })
    }
}

/// A consumer group's connection facts, for admin views.
pub struct GroupView {
    pub connections: Vec<Connection>,
    pub consume_type: String,
    pub message_model: String,
    pub consume_from_where: String,
    pub subscriptions: Vec<SubscriptionData>,
}

/// Producer group → client id → its connection and last heartbeat.
type ProducerPeers = HashMap<String, BTreeMap<String, (Rc<Peer>, Instant)>>;
/// (group, topic, queue id) → the client id holding the lock, and when it
/// last renewed it.
type QueueLocks = HashMap<(String, String, i32), (String, Instant)>;

#[derive(Default)]
pub struct Clients {
    groups: RefCell<HashMap<String, ConsumerGroup>>,
    /// Transaction checks go to one of a group's producers.
    producers: RefCell<ProducerPeers>,
    locks: RefCell<QueueLocks>,
}

#[derive(Debug, thiserror::Error)]
pub enum HeartbeatError {
    #[error("too many consumer groups ({GROUPS_MAX})")]
    TooManyGroups,
    #[error("group {0} has too many members or subscriptions")]
    GroupFull(String),
}

impl Clients {
    /// Registers a heartbeat; notifies the members of every consumer group
    /// whose membership or subscriptions changed. Returns the consumer
    /// groups named (the caller creates their retry topics).
    pub fn heartbeat(
        &self,
        peer: &Rc<Peer>,
        data: &HeartbeatData,
    ) -> Result<Vec<String>, HeartbeatError> {
        let now = Instant::now();
        let changed_groups = self.record_consumers(peer, data, now)?;
        self.record_producers(peer, data, now);
        for g in &changed_groups {
            self.notify_group(g);
        }
        Ok(data
            .consumer_data_set
            .iter()
            .map(|c| c.group_name.clone())
            .collect())
    }

    /// Records the client as a member of each consumer group it names.
    /// Returns the clustering groups whose membership or subscriptions
    /// changed.
    fn record_consumers(
        &self,
        peer: &Rc<Peer>,
        data: &HeartbeatData,
        now: Instant,
    ) -> Result<Vec<String>, HeartbeatError> {
        let mut changed_groups = Vec::new();
        let mut groups = self.groups.borrow_mut();
        for c in &data.consumer_data_set {
            if !groups.contains_key(&c.group_name) && groups.len() >= GROUPS_MAX {
                return Err(HeartbeatError::TooManyGroups);
            }
            let group = groups.entry(c.group_name.clone()).or_default();
            if c.subscription_data_set.len() > SUBSCRIPTIONS_PER_GROUP_MAX
                || (!group.members.contains_key(&data.client_id)
                    && group.members.len() >= MEMBERS_PER_GROUP_MAX)
            {
                return Err(HeartbeatError::GroupFull(c.group_name.clone()));
            }
            if group.record(&data.client_id, peer, c, now) && c.message_model != "BROADCASTING" {
                changed_groups.push(c.group_name.clone());
            }
        }
        Ok(changed_groups)
    }

    /// Records the client as a producer of each group it names, within the
    /// bounds on groups and members (past them it is not recorded).
    fn record_producers(&self, peer: &Rc<Peer>, data: &HeartbeatData, now: Instant) {
        let mut producers = self.producers.borrow_mut();
        for p in &data.producer_data_set {
            if producers.len() < GROUPS_MAX || producers.contains_key(&p.group_name) {
                let members = producers.entry(p.group_name.clone()).or_default();
                if members.len() < MEMBERS_PER_GROUP_MAX || members.contains_key(&data.client_id) {
                    members.insert(data.client_id.clone(), (peer.clone(), now));
                }
            }
        }
    }

    pub fn unregister(
        &self,
        client_id: &str,
        consumer_group: Option<&str>,
        producer_group: Option<&str>,
    ) {
        if let Some(g) = producer_group {
            if let Some(p) = self.producers.borrow_mut().get_mut(g) {
                p.remove(client_id);
            }
        }
        if let Some(g) = consumer_group {
            let removed = self
                .groups
                .borrow_mut()
                .get_mut(g)
                .is_some_and(|group| group.members.remove(client_id).is_some());
            if removed {
                self.release_locks_of(client_id);
                self.notify_group(g);
            }
        }
    }

    /// A live connection of a member of producer group `group`, spread
    /// over the members by `pick`; None when none is connected.
    pub fn producer_peer(&self, group: &str, pick: usize) -> Option<Rc<Peer>> {
        let limit = Duration::from_millis(CHANNEL_EXPIRED_MS);
        let producers = self.producers.borrow();
        let live: Vec<&Rc<Peer>> = producers
            .get(group)?
            .values()
            .filter(|(p, at)| !p.is_closed() && at.elapsed() < limit)
            .map(|(p, _)| p)
            .collect();
        (!live.is_empty()).then(|| live[pick % live.len()].clone())
    }

    /// The live connection of client `client_id` (a requester waiting for
    /// replies), from its producer or consumer heartbeats.
    pub fn peer_of_client(&self, client_id: &str) -> Option<Rc<Peer>> {
        let from_producers = self
            .producers
            .borrow()
            .values()
            .filter_map(|members| members.get(client_id))
            .map(|(p, _)| p.clone())
            .find(|p| !p.is_closed());
        from_producers.or_else(|| {
            self.groups
                .borrow()
                .values()
                .filter_map(|g| g.members.get(client_id))
                .map(|m| m.peer.clone())
                .find(|p| !p.is_closed())
        })
    }

    /// The connection closed: drop the members it carried.
    pub fn connection_closed(&self, peer: &Rc<Peer>) {
        for members in self.producers.borrow_mut().values_mut() {
            members.retain(|_, (p, _)| !Rc::ptr_eq(p, peer));
        }
        let mut affected = Vec::new();
        {
            let mut groups = self.groups.borrow_mut();
            for (name, group) in groups.iter_mut() {
                let before = group.members.len();
                group.members.retain(|_, m| !Rc::ptr_eq(&m.peer, peer));
                if group.members.len() != before {
                    affected.push(name.clone());
                }
            }
        }
        for g in affected {
            self.notify_group(&g);
        }
    }

    /// Drops members silent past [`CHANNEL_EXPIRED_MS`] and expired locks.
    pub fn expire(&self) {
        let limit = Duration::from_millis(CHANNEL_EXPIRED_MS);
        let mut affected = Vec::new();
        {
            let mut groups = self.groups.borrow_mut();
            for (name, group) in groups.iter_mut() {
                let before = group.members.len();
                group
                    .members
                    .retain(|_, m| m.last_seen.elapsed() < limit && !m.peer.is_closed());
                if group.members.len() != before {
                    affected.push(name.clone());
                }
            }
            groups.retain(|_, g| !g.members.is_empty() || !g.subscriptions.is_empty());
        }
        {
            let mut producers = self.producers.borrow_mut();
            for members in producers.values_mut() {
                members.retain(|_, (p, at)| at.elapsed() < limit && !p.is_closed());
            }
            producers.retain(|_, m| !m.is_empty());
        }
        let lock_limit = Duration::from_millis(LOCK_MAX_LIVE_MS);
        self.locks
            .borrow_mut()
            .retain(|_, (_, at)| at.elapsed() < lock_limit);
        for g in affected {
            self.notify_group(&g);
        }
    }

    fn notify_group(&self, group: &str) {
        let groups = self.groups.borrow();
        let Some(g) = groups.get(group) else {
            return;
        };
        let header = NotifyConsumerIdsChangedRequestHeader {
            consumer_group: group.to_string(),
        };
        for m in g.members.values() {
            let request = RemotingCommand::request(
                RequestCode::NOTIFY_CONSUMER_IDS_CHANGED,
                header.to_ext_fields(),
            );
            m.peer.notify_oneway(request);
        }
    }

    /// Whether the group's members said they consume by broadcasting.
    pub fn is_broadcasting(&self, group: &str) -> bool {
        self.groups
            .borrow()
            .get(group)
            .is_some_and(|g| g.message_model == "BROADCASTING")
    }

    pub fn consumer_ids(&self, group: &str) -> Vec<String> {
        self.groups
            .borrow()
            .get(group)
            .map(|g| g.members.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub fn subscription(&self, group: &str, topic: &str) -> Option<SubscriptionData> {
        self.groups
            .borrow()
            .get(group)
            .and_then(|g| g.subscriptions.get(topic).cloned())
    }

    pub fn group_view(&self, group: &str) -> Option<GroupView> {
        let groups = self.groups.borrow();
        let g = groups.get(group)?;
        Some(GroupView {
            connections: g
                .members
                .iter()
                .map(|(id, m)| Connection::of(id, &m.peer))
                .collect(),
            consume_type: g.consume_type.clone(),
            message_model: g.message_model.clone(),
            consume_from_where: g.consume_from_where.clone(),
            subscriptions: g.subscriptions.values().cloned().collect(),
        })
    }

    /// The live connections of producer group `group`; None when the
    /// group has none on this shard.
    pub fn producer_connections(&self, group: &str) -> Option<Vec<Connection>> {
        let producers = self.producers.borrow();
        let live: Vec<Connection> = producers
            .get(group)?
            .iter()
            .filter(|(_, (p, _))| !p.is_closed())
            .map(|(id, (p, _))| Connection::of(id, p))
            .collect();
        (!live.is_empty()).then_some(live)
    }

    pub fn groups_subscribed_to(&self, topic: &str) -> Vec<String> {
        self.groups
            .borrow()
            .iter()
            .filter(|(_, g)| g.subscriptions.contains_key(topic))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Locks what it can of `queues` for `client_id`; returns the queue ids
    /// now held by it.
    pub fn lock(
        &self,
        group: &str,
        topic_queues: &[(String, i32)],
        client_id: &str,
    ) -> Vec<(String, i32)> {
        let now = Instant::now();
        let limit = Duration::from_millis(LOCK_MAX_LIVE_MS);
        let mut locks = self.locks.borrow_mut();
        let mut granted = Vec::new();
        for (topic, q) in topic_queues {
            let key = (group.to_string(), topic.clone(), *q);
            let free = match locks.get(&key) {
                None => locks.len() < LOCKS_MAX,
                Some((holder, at)) => holder == client_id || at.elapsed() >= limit,
            };
            if free {
                locks.insert(key, (client_id.to_string(), now));
                granted.push((topic.clone(), *q));
            }
        }
        granted
    }

    pub fn unlock(&self, group: &str, topic_queues: &[(String, i32)], client_id: &str) {
        let mut locks = self.locks.borrow_mut();
        for (topic, q) in topic_queues {
            let key = (group.to_string(), topic.clone(), *q);
            if locks
                .get(&key)
                .is_some_and(|(holder, _)| holder == client_id)
            {
                locks.remove(&key);
            }
        }
    }

    fn release_locks_of(&self, client_id: &str) {
        self.locks
            .borrow_mut()
            .retain(|_, (holder, _)| holder != client_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_expressions() {
        assert_eq!(TagFilter::parse("*").unwrap(), TagFilter::All);
        assert_eq!(TagFilter::parse("").unwrap(), TagFilter::All);
        let f = TagFilter::parse(" TagA || TagB ").unwrap();
        assert!(f.accepts(i64::from(java_string_hash("TagA"))));
        assert!(f.accepts(i64::from(java_string_hash("TagB"))));
        assert!(!f.accepts(i64::from(java_string_hash("TagC"))));
    }

    #[test]
    fn heartbeat_filter_comes_from_trimmed_tags_not_the_clients_codes() {
        let sub = SubscriptionData {
            sub_string: "TagA || TagB".into(),
            tags_set: ["TagA".to_string(), "TagB".to_string()].into(),
            // What rocketmq-client-rust 1.0.0 sends: hashes of "TagA " and " TagB".
            code_set: [java_string_hash("TagA "), java_string_hash(" TagB")].into(),
            ..Default::default()
        };
        let f = TagFilter::from_subscription(&sub).unwrap();
        assert!(f.accepts(i64::from(java_string_hash("TagB"))));
        assert!(!f.accepts(i64::from(java_string_hash(" TagB"))));
    }
}
