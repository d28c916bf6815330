//! END_TRANSACTION (37): a producer's commit or rollback of a half message
//! (`crate::transaction`), sent oneway after its local transaction or in
//! answer to a check. Runs on the shard whose log holds the half message
//! (the request names its broker, `bname`).

use std::rc::Rc;

use ringmq_engine::record::RecordView;
use ringmq_engine::CommitLogOffset;
use ringmq_net::header::EndTransactionRequestHeader;
use ringmq_net::message::{property, sys_flag};
use ringmq_net::server::{Handled, Outgoing, Peer};
use ringmq_net::{RemotingCommand, ResponseCode};

use super::refusal::Refusal;
use super::send::{wait_stored, waits_for_slave};
use super::{error, now, parse, refuse_on_slave, success};
use crate::shard::{Shard, ShardStats};
use crate::transaction::{write_outcome, Begin, Outcome, HALF_TOPIC};

pub fn end(shard: &Rc<Shard>, request: RemotingCommand, peer: &Peer) -> Handled {
    let h: EndTransactionRequestHeader = match parse(&request) {
        Ok(h) => h,
        Err(reply) => return reply,
    };
    if let Some(refused) = refuse_on_slave(shard, &request, "transaction outcomes") {
        return refused;
    }
    let outcome = match h.commit_or_rollback {
        sys_flag::TRANSACTION_COMMIT_TYPE => Outcome::Commit,
        sys_flag::TRANSACTION_ROLLBACK_TYPE => Outcome::Rollback,
        // Unknown: the producer does not know yet; it will be checked.
        sys_flag::TRANSACTION_NOT_TYPE => return now(&request, success(&request)),
        other => {
            return now(
                &request,
                error(
                    &request,
                    ResponseCode::INVALID_PARAMETER,
                    format!("commitOrRollback {other} is none of 0, 8, 12"),
                ),
            )
        }
    };
    if h.commit_log_offset < 0 {
        return now(
            &request,
            error(
                &request,
                ResponseCode::INVALID_PARAMETER,
                "negative commitLogOffset",
            ),
        );
    }
    let (shard, peer_ip) = (shard.clone(), peer.addr.ip());
    Handled::Later(Box::pin(async move {
        let reply = match end_transaction(&shard, &h, outcome, &request, peer_ip).await {
            Ok(remark) => success(&request).with_remark(remark),
            Err(refusal) => {
                tracing::warn!(shard = %shard.id, group = %h.producer_group, offset = h.commit_log_offset, code = refusal.code(), %refusal, "END_TRANSACTION refused");
                refusal.reply(&request)
            }
        };
        (!request.is_oneway()).then(|| Outgoing::command(reply))
    }))
}

async fn end_transaction(
    shard: &Rc<Shard>,
    h: &EndTransactionRequestHeader,
    outcome: Outcome,
    request: &RemotingCommand,
    peer_ip: std::net::IpAddr,
) -> Result<String, Refusal> {
    let system = |remark: String| Refusal::System(remark);
    let bytes = shard
        .store
        .read_record(CommitLogOffset(h.commit_log_offset as u64))
        .await
        .map_err(|e| system(format!("Find prepared transaction message failed: {e}")))?;
    let half = RecordView::parse(&bytes).map_err(|e| system(e.to_string()))?;
    check_half(h, &half)?;
    // The request names no topic; committing or rolling back needs PUB on
    // the one the half message is for.
    if let Some(acl) = &shard.acl {
        let topic = half.property(property::REAL_TOPIC).unwrap_or_default();
        acl.check_publish(peer_ip, request, topic)
            .map_err(Refusal::NoPermission)?;
    }
    let half_offset = half.queue_offset as u64;
    match shard.transactions.begin(half_offset) {
        Begin::Go => {}
        Begin::AlreadyDone => return Ok("the transaction was resolved before".into()),
        Begin::Loading => {
            return Err(Refusal::Busy(
                "transaction state is loading; it will be checked".into(),
            ))
        }
    }
    let written = match write_outcome(shard, &half, outcome).await {
        Ok(w) => w,
        Err(e) => {
            shard.transactions.abort(half_offset);
            return Err(system(e));
        }
    };
    let props = std::str::from_utf8(half.properties).unwrap_or_default();
    let (acked, _replicated) =
        wait_stored(shard, written.stored.clone(), waits_for_slave(shard, props)).await;
    if let Err(e) = acked {
        // In the log but not known durable: not resolved again; after a
        // restart its op is read back if it survived.
        return Err(Refusal::Store(e));
    }
    shard.transactions.resolved(shard, half_offset);
    if let Some((topic, queue_id)) = &written.committed_to {
        shard.signals.fire(topic, *queue_id);
    }
    count_resolved(shard, outcome);
    tracing::debug!(
        shard = %shard.id,
        half_offset,
        ?outcome,
        from_check = h.from_transaction_check,
        "transaction resolved"
    );
    Ok(String::new())
}

/// Whether the record the request names is the half message it claims:
/// in the half topic, of the producer group, at the state table offset.
fn check_half(h: &EndTransactionRequestHeader, half: &RecordView) -> Result<(), Refusal> {
    if half.topic != HALF_TOPIC {
        return Err(Refusal::System(format!(
            "the message at {} is not a half message",
            h.commit_log_offset
        )));
    }
    if half.property(property::PRODUCER_GROUP) != Some(h.producer_group.as_str()) {
        return Err(Refusal::System("The producer group wrong".into()));
    }
    if half.queue_offset != h.tran_state_table_offset {
        return Err(Refusal::System(
            "The transaction state table offset wrong".into(),
        ));
    }
    Ok(())
}

/// Counts a resolved transaction; a commit also counts a message in.
fn count_resolved(shard: &Shard, outcome: Outcome) {
    let stats = shard.my_stats();
    match outcome {
        Outcome::Commit => {
            ShardStats::add(&stats.transactions_committed, 1);
            ShardStats::add(&stats.messages_in, 1);
        }
        _ => ShardStats::add(&stats.transactions_rolled_back, 1),
    }
}
