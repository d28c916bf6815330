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
                    tracing::warn!(shard = shard.id, master = %master, error = %e, "metadata sync failed");
                }
                failures += 1;
                client = None;
                wait = Duration::from_secs(1).max(METADATA_SYNC_INTERVAL / 5);
            }
        }
    }
}

async fn sync_metadata(
    shard: &Shard,
    client: &ringmq_net::pipelined::PipelinedClient,
) -> Result<(), String> {
    use ringmq_net::{RemotingCommand, RequestCode, ResponseCode};
    let call = |code: i32| async move {
        let response = async {
            client
                .invoke(RemotingCommand::request(code, Default::default()))
                .await
        }
        .or(async {
            glommio::timer::sleep(METADATA_RPC_TIMEOUT).await;
            Err(format!(
                "no answer to request {code} in {METADATA_RPC_TIMEOUT:?}"
            ))
        })
        .await?;
        if response.code != ResponseCode::SUCCESS {
            return Err(format!(
                "request {code}: code {} {:?}",
                response.code, response.remark
            ));
        }
        Ok(response.body)
    };
    if shard.id == 0 {
        // A slave mirrors its master shard for shard: the counts must match.
        let body = call(RequestCode::GET_BROKER_RUNTIME_INFO).await?;
        let info: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| format!("runtime info: {e}"))?;
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
        let body = call(RequestCode::GET_ALL_TOPIC_CONFIG).await?;
        let all: AllTopics =
            serde_json::from_slice(&body).map_err(|e| format!("topic table: {e}"))?;
        if shard
            .topics
            .replace_from_master(all.topic_config_table)
            .await
            .map_err(|e| e.to_string())?
        {
            tracing::info!(shard = shard.id, "topic table copied from the master");
        }
        // Copied on its own: a master that does not serve it (an older
        // one) must not stop the rest of the sync.
        let groups = async {
            let body = call(RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG).await?;
            shard.groups.replace_from_master(&body).await
        };
        match groups.await {
            Ok(true) => tracing::info!(
                shard = shard.id,
                "subscription groups copied from the master"
            ),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(shard = shard.id, error = %e, "subscription groups not copied");
            }
        }
        let modes = async {
            let body = call(RequestCode::GET_ALL_MESSAGE_REQUEST_MODE).await?;
            shard.request_modes.replace_from_master(&body)
        };
        match modes.await {
            Ok(true) => tracing::info!(
                shard = shard.id,
                "message request modes copied from the master"
            ),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(shard = shard.id, error = %e, "message request modes not copied");
            }
        }
    }
    let body = call(RequestCode::GET_ALL_CONSUMER_OFFSET).await?;
    if shard
        .offsets
        .replace_from_master(&body)
        .map_err(|e| format!("consumer offsets: {e}"))?
    {
        tracing::debug!(shard = shard.id, "consumer offsets copied from the master");
    }
    // Scheduling state, each copied on its own (see the groups above).
    let delay = async {
        let body = call(RequestCode::GET_ALL_DELAY_OFFSET).await?;
        shard.schedule.replace_from_master(&body)
    };
    if let Err(e) = delay.await {
        tracing::warn!(shard = shard.id, error = %e, "delay offsets not copied");
    }
    let timer = async {
        let body = call(RequestCode::GET_TIMER_CHECK_POINT).await?;
        shard.timers.replace_from_master(&body)
    };
    if let Err(e) = timer.await {
        tracing::warn!(shard = shard.id, error = %e, "timer checkpoint not copied");
    }
    Ok(())
}
