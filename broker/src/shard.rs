//! One shard: a glommio executor pinned to one core that owns a commit log,
//! the consume queues and consumer offsets of its queues, and the
//! connections that land on its port. Other shards never touch its state;
//! the only things shared across shards are the read-mostly topic table,
//! the flush gate, and the atomic counters in [`ShardStats`].

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ringmq_engine::ShardStore;
use ringmq_net::message::id::UniqKeyGenerator;

use crate::clients::Clients;
use crate::config::BrokerConfig;
use crate::disk::ShardDisk;
use crate::groups::SubscriptionGroups;
use crate::ha::{HaMaster, HaSlave, MasterInfo, MasterInfos};
use crate::offsets::ConsumerOffsets;
use crate::schedule::DelayOffsets;
use crate::timer::Timers;
use crate::topics::TopicTable;
use crate::waiters::QueueSignals;

/// Counters one shard updates and any thread may read (runtime info, the
/// cross-shard test). Relaxed atomics: they are statistics.
#[derive(Default, Debug)]
pub struct ShardStats {
    pub requests: AtomicU64,
    pub messages_in: AtomicU64,
    pub bytes_in: AtomicU64,
    pub messages_out: AtomicU64,
    pub bytes_out: AtomicU64,
    /// Requests naming a queue of another shard (`bname` of another shard):
    /// a client following routes never causes one.
    pub cross_shard_requests: AtomicU64,
    pub connections: AtomicU64,
    /// Connections closed at accept: the shard held `shardConnectionsMax`.
    pub connections_refused: AtomicU64,
    /// Requests refused by the ACL.
    pub acl_refused: AtomicU64,
    /// Master: slaves connected; slave: 1 while connected to the master.
    pub ha_slaves: AtomicU64,
    /// Master: highest offset a slave reported; slave: the master's
    /// transfer position.
    pub ha_peer_offset: AtomicU64,
    /// Master: bytes written and not yet reported by any slave.
    pub ha_lag_bytes: AtomicU64,
    /// Master: how long the best slave has not been caught up (ms).
    pub ha_lag_ms: AtomicU64,
    /// Slave: end of the replicated log.
    pub ha_local_offset: AtomicU64,
    /// `CONSUMER_SEND_MSG_BACK` requests stored to a retry topic.
    pub sent_back: AtomicU64,
    /// Messages stored to a dead-letter topic (by send-back or by a retry
    /// send past its limit).
    pub dead_lettered: AtomicU64,
    /// Delayed messages delivered to their real queues.
    pub delay_delivered: AtomicU64,
    /// Timer messages delivered to their real queues.
    pub timer_delivered: AtomicU64,
    /// Messages popped and acknowledged (POP consumption).
    pub pop_acked: AtomicU64,
    /// Popped messages not acknowledged in time, copied to a POP retry
    /// topic.
    pub pop_revived: AtomicU64,
    /// Half messages committed, rolled back, checked back (requests sent)
    /// and discarded after `transactionCheckMax` checks.
    pub transactions_committed: AtomicU64,
    pub transactions_rolled_back: AtomicU64,
    pub transactions_checked: AtomicU64,
    pub transactions_discarded: AtomicU64,
}

impl ShardStats {
    /// Messages stored and sent out so far, for [`crate::rates::Rates`].
    pub fn counts(&self) -> crate::rates::Counts {
        crate::rates::Counts {
            put: self.messages_in.load(Ordering::Relaxed),
            got: self.messages_out.load(Ordering::Relaxed),
        }
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// One message stored again for another delivery: into a dead-letter
    /// topic, or counted by `redelivered` (a send-back, a POP revival).
    pub fn count_redelivery(&self, body_bytes: usize, to_dlq: bool, redelivered: &AtomicU64) {
        Self::add(&self.messages_in, 1);
        Self::add(&self.bytes_in, body_bytes as u64);
        Self::add(
            if to_dlq {
                &self.dead_lettered
            } else {
                redelivered
            },
            1,
        );
    }
}

/// Everything a shard owns. Lives on the shard's executor; reached by
/// other code on that executor through `Rc<Shard>`.
pub struct Shard {
    pub id: ringmq_engine::ShardId,
    pub config: Arc<BrokerConfig>,
    /// `<brokerName>-<shard>`, as advertised in routes.
    pub broker_name: String,
    pub store_host: SocketAddr,
    pub store: Rc<Store>,
    pub topics: Arc<TopicTable>,
    /// Broker-wide, like the topic table.
    pub groups: Arc<SubscriptionGroups>,
    /// Broker-wide: which groups POP which topics.
    pub request_modes: Arc<crate::request_modes::RequestModes>,
    /// This shard's view of the ACL, when `aclEnable=true`.
    pub acl: Option<crate::acl::ShardAcl>,
    /// Per-topic and per-group traffic, for the metrics exporter.
    pub traffic: crate::metrics::Traffic,
    /// Request latency by code, for the metrics exporter.
    pub rpc_latency: crate::metrics::RpcLatency,
    pub offsets: Rc<ConsumerOffsets>,
    pub clients: Clients,
    pub signals: QueueSignals,
    pub stats: Arc<Vec<ShardStats>>,
    pub next_queue: Cell<u32>,
    pub uniq: RefCell<UniqKeyGenerator>,
    pub started_ms: i64,
    /// This shard's message rates, sampled every 10 s.
    pub rates: RefCell<crate::rates::Rates>,
    /// Connections to the other shards' ports, for requests that name
    /// their queues; opened on first use.
    pub forwarders: Vec<ringmq_net::pipelined::PipelinedClient>,
    pub ha_master: HaMaster,
    pub ha_slave: HaSlave,
    /// Slave: the master's addresses for this shard, from the name server.
    pub master_info: MasterInfos,
    /// Delivery progress of each delay level (`crate::schedule`).
    pub schedule: Rc<DelayOffsets>,
    /// Timer messages waiting (`crate::timer`).
    pub timers: Rc<Timers>,
    /// Messages popped and in flight (`crate::pop`).
    pub pop: crate::pop::PopState,
    /// Round-robin start of the next pop over a topic's queues.
    pub next_pop_queue: Cell<u32>,
    /// Pop attempts so far (which one reads the retry topic first).
    pub pop_round: Cell<u32>,
    /// Compiled SQL92 filters by expression, at most
    /// [`crate::sql92::SQL_FILTERS_CACHED_MAX`].
    pub sql_filters: RefCell<std::collections::HashMap<String, Rc<crate::sql92::SqlFilter>>>,
    /// Unresolved half messages (`crate::transaction`).
    pub transactions: crate::transaction::TransactionState,
}

/// A shard's store, on the real disk or (in tests) the simulated one.
pub type Store = ShardStore<ShardDisk>;

impl Shard {
    pub fn master_info(&self) -> &MasterInfo {
        &self.master_info[self.id.index()]
    }

    /// The topic's config for reads. A slave may hold replicated messages
    /// of a topic whose config it has not copied yet (the copy runs every
    /// few seconds, and the master may be gone): it serves them under a
    /// read-only config derived from its store.
    pub fn topic_for_read(&self, name: &str) -> Option<crate::topics::TopicConfig> {
        self.topics.get(name).or_else(|| {
            (self.config.is_slave() && self.store.has_topic(name)).then(|| {
                crate::topics::TopicConfig::new(
                    name,
                    crate::topics::QUEUES_PER_TOPIC_MAX,
                    crate::topics::PERM_READ,
                )
            })
        })
    }

    pub fn my_stats(&self) -> &ShardStats {
        &self.stats[self.id.index()]
    }

    /// Which shard a broker name in a request (`bname`) refers to.
    pub fn shard_of_broker_name(&self, name: &str) -> Option<u16> {
        let suffix = name
            .strip_prefix(self.config.broker_name.as_str())?
            .strip_prefix('-')?;
        suffix
            .parse()
            .ok()
            .filter(|s: &u16| *s < self.config.shards)
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
