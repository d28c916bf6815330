//! A slave's copy of its master's metadata (RocketMQ's `SlaveSynchronize`):
//! topic table, subscription groups, request modes, consumer offsets and
//! scheduling state, over the remoting protocol. Runs on each slave shard.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use futures_lite::FutureExt;

use crate::shard::Shard;

/// `SlaveSynchronize`: how often a slave copies its master's topic table,
/// consumer offsets and delay offsets (RocketMQ 4.x: every 10 s).
pub const METADATA_SYNC_INTERVAL: Duration = Duration::from_secs(10);
const METADATA_RPC_TIMEOUT: Duration = Duration::from_secs(3);

/// Slave: copies the master shard's consumer offsets, delay-level
/// progress and timer checkpoint (and, on shard 0, the broker's topic table and subscription
/// groups) soon after start
/// and then every [`METADATA_SYNC_INTERVAL`].
pub async fn run_metadata_sync(shard: Rc<Shard>, stop: Rc<Cell<bool>>) {
    let mut client: Option<(String, ringmq_net::pipelined::PipelinedClient)> = None;
    let mut wait = Duration::from_secs(1);
    let mut failures = 0u32;
    while !stop.get() {
        glommio::timer::sleep(wait).await;
        let Some(master) = shard.master_info().get().master_addr else {
            wait = Duration::from_secs(1);
            continue;
        };
        if client.as_ref().is_none_or(|(addr, _)| *addr != master) {
            client = Some((
                master.clone(),
                ringmq_net::pipelined::PipelinedClient::new(master.clone()),
            ));
        }
        let (_, c) = client.as_ref().expect("set above");
        match sync_metadata(&shard, c).await {
            Ok(()) => {
                failures = 0;
                wait = METADATA_SYNC_INTERVAL;
            }
            Err(e) => {
                if failures.is_multiple_of(12) {
                    tracing::warn!(shard = %shard.id, master = %master, error = %e, "metadata sync failed");
                }
                failures += 1;
                client = None;
                wait = Duration::from_secs(1).max(METADATA_SYNC_INTERVAL / 5);
            }
        }
    }
}

/// Why one round of the copy stopped.
#[derive(Debug, thiserror::Error)]
pub enum MetadataSyncError {
    #[error("no answer to request {code} in {METADATA_RPC_TIMEOUT:?}")]
    Timeout { code: i32 },
    #[error("request {code}: {reason}")]
    Rpc { code: i32, reason: String },
    #[error("request {code}: code {answered} {remark:?}")]
    Refused {
        code: i32,
        answered: i32,
        remark: Option<String>,
    },
    /// The master's answer could not be read or applied.
    #[error("{what}: {reason}")]
    Copy { what: &'static str, reason: String },
}

impl MetadataSyncError {
    fn copy(what: &'static str, e: impl std::fmt::Display) -> MetadataSyncError {
        MetadataSyncError::Copy {
            what,
            reason: e.to_string(),
        }
    }
}

/// Requests to the master's shard, each bounded by [`METADATA_RPC_TIMEOUT`].
struct Master<'c> {
    client: &'c ringmq_net::pipelined::PipelinedClient,
}

impl Master<'_> {
    /// The body of the master's SUCCESS answer to `code`.
    async fn call(&self, code: i32) -> Result<bytes::Bytes, MetadataSyncError> {
        use ringmq_net::{RemotingCommand, ResponseCode};
        let response = async {
            self.client
                .invoke(RemotingCommand::request(code, Default::default()))
                .await
                .map_err(|reason| MetadataSyncError::Rpc { code, reason })
        }
        .or(async {
            glommio::timer::sleep(METADATA_RPC_TIMEOUT).await;
            Err(MetadataSyncError::Timeout { code })
        })
        .await?;
        if response.code != ResponseCode::SUCCESS {
            return Err(MetadataSyncError::Refused {
                code,
                answered: response.code,
                remark: response.remark,
            });
        }
        Ok(response.body)
    }

    /// [`Master::call`] for a table copied on its own, whose failure is
    /// only logged.
    async fn body(&self, code: i32) -> Result<bytes::Bytes, String> {
        self.call(code).await.map_err(|e| e.to_string())
    }
}

/// One round: on shard 0 the broker-wide tables, then this shard's state.
async fn sync_metadata(
    shard: &Shard,
    client: &ringmq_net::pipelined::PipelinedClient,
) -> Result<(), MetadataSyncError> {
    let master = Master { client };
    if shard.id == ringmq_engine::ShardId(0) {
        sync_broker_tables(shard, &master).await?;
    }
    sync_shard_state(shard, &master).await
}

/// Shard 0: checks the master's shard count, then copies the topic table,
/// subscription groups and message request modes.
async fn sync_broker_tables(shard: &Shard, master: &Master<'_>) -> Result<(), MetadataSyncError> {
    use ringmq_net::RequestCode;
    // A slave mirrors its master shard for shard: the counts must match.
    let body = master.call(RequestCode::GET_BROKER_RUNTIME_INFO).await?;
    let info: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| MetadataSyncError::copy("runtime info", e))?;
    let master_shards = info["table"]["ringmqShards"]
        .as_str()
        .and_then(|s| s.parse::<u16>().ok());
    if let Some(n) = master_shards.filter(|n| *n != shard.config.shards) {
        tracing::error!(
            master_shards = n,
            slave_shards = shard.config.shards,
            "this slave's shard count differs from its master's; shards without a counterpart are not replicated (create the slave's store with the master's count)"
        );
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct AllTopics {
        topic_config_table: std::collections::BTreeMap<String, crate::topics::TopicConfig>,
    }
    let body = master.call(RequestCode::GET_ALL_TOPIC_CONFIG).await?;
    let all: AllTopics =
        serde_json::from_slice(&body).map_err(|e| MetadataSyncError::copy("topic table", e))?;
    if shard
        .topics
        .replace_from_master(all.topic_config_table)
        .await
        .map_err(|e| MetadataSyncError::copy("topic table", e))?
    {
        tracing::info!(shard = %shard.id, "topic table copied from the master");
    }
    // Copied on its own: a master that does not serve it (an older
    // one) must not stop the rest of the sync.
    let groups = match master
        .body(RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG)
        .await
    {
        Ok(body) => shard.groups.replace_from_master(&body).await,
        Err(e) => Err(e),
    };
    log_copied(shard, "subscription groups", groups);
    let modes = master
        .body(RequestCode::GET_ALL_MESSAGE_REQUEST_MODE)
        .await
        .and_then(|body| shard.request_modes.replace_from_master(&body));
    log_copied(shard, "message request modes", modes);
    Ok(())
}

/// Every shard: consumer offsets (a failure ends the round), then delay
/// offsets and the timer checkpoint, each copied on its own.
async fn sync_shard_state(shard: &Shard, master: &Master<'_>) -> Result<(), MetadataSyncError> {
    use ringmq_net::RequestCode;
    let body = master.call(RequestCode::GET_ALL_CONSUMER_OFFSET).await?;
    if shard
        .offsets
        .replace_from_master(&body)
        .map_err(|e| MetadataSyncError::copy("consumer offsets", e))?
    {
        tracing::debug!(shard = %shard.id, "consumer offsets copied from the master");
    }
    let delay = master
        .body(RequestCode::GET_ALL_DELAY_OFFSET)
        .await
        .and_then(|body| shard.schedule.replace_from_master(&body));
    if let Err(e) = delay {
        tracing::warn!(shard = %shard.id, error = %e, "delay offsets not copied");
    }
    let timer = master
        .body(RequestCode::GET_TIMER_CHECK_POINT)
        .await
        .and_then(|body| shard.timers.replace_from_master(&body));
    if let Err(e) = timer {
        tracing::warn!(shard = %shard.id, error = %e, "timer checkpoint not copied");
    }
    Ok(())
}

/// Logs the outcome of a table copied on its own.
fn log_copied<E: std::fmt::Display>(shard: &Shard, what: &str, copied: Result<bool, E>) {
    match copied {
        Ok(true) => tracing::info!(shard = %shard.id, "{what} copied from the master"),
        Ok(false) => {}
        Err(e) => tracing::warn!(shard = %shard.id, error = %e, "{what} not copied"),
    }
}
