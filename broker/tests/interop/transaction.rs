//! Transactional messages (issue: transactions and more clients, point 1),
//! driven by rocketmq-client-rust's `TransactionMQProducer` against a real
//! `mqbroker`: commit, rollback, check-back, discard after the check
//! limit, and half messages surviving `kill -9`.

use std::any::Any;
use std::time::Duration;

use rocketmq_client_rust::{LocalTransactionState, TransactionListener, TransactionMQProducer};

use super::schedule::{create_topic, runtime_counter};
use super::support::{BrokerProcess, Flush};
use super::*;

/// Decides by body: `commit-*` and `rollback-*` at once; the rest answer
/// unknown first, then at the check `never-*` stays unknown and every
/// other commits.
pub(super) struct ByBody;

fn body_of(body: Option<bytes::Bytes>) -> String {
    String::from_utf8_lossy(&body.unwrap_or_default()).into_owned()
}

impl TransactionListener for ByBody {
    fn execute_local_transaction(
        &self,
        msg: &dyn MessageTrait,
        _arg: Option<&(dyn Any + Send + Sync)>,
    ) -> LocalTransactionState {
        let body = body_of(msg.get_body().cloned());
        if body.starts_with("commit") {
            LocalTransactionState::CommitMessage
        } else if body.starts_with("rollback") {
            LocalTransactionState::RollbackMessage
        } else {
            LocalTransactionState::Unknown
        }
    }

    fn check_local_transaction(&self, msg: &MessageExt) -> LocalTransactionState {
        if body_of(msg.body()).starts_with("never") {
            LocalTransactionState::Unknown
        } else {
            LocalTransactionState::CommitMessage
        }
    }
}

pub(super) async fn transaction_producer(
    ns: &str,
    group: &str,
    topic: &str,
) -> TransactionMQProducer {
    let mut p = TransactionMQProducer::builder(client_runtime(group))
        .producer_group(group.to_string())
        .name_server_addr(ns.to_string())
        .topics(vec![topic])
        .transaction_listener(ByBody)
        .build();
    p.start().await.expect("transaction producer start");
    p
}

pub(super) async fn send_all(p: &mut TransactionMQProducer, topic: &str, bodies: &[String]) {
    for b in bodies {
        let msg = Message::builder()
            .topic(topic)
            .tags("T")
            .body_slice(b.as_bytes())
            .build_unchecked();
        p.send_message_in_transaction::<(), _>(msg, None)
            .await
            .expect("transactional send");
    }
}

fn named(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

fn counts(c: &Collected) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for s in c.lock().unwrap().iter() {
        *m.entry(s.body.clone()).or_default() += 1;
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_commit_roll_back_check_and_survive_kill_9() {
    let settings = [
        ("transactionTimeOut", "3000"),
        ("transactionCheckInterval", "1000"),
        ("transactionCheckMax", "5"),
    ];
    let mut broker = BrokerProcess::start_with_settings(2, Flush::Sync, &settings);
    let ns = broker.namesrv();
    let topic = "TxTopic";
    let mut plain = producer(&ns, "pg-tx-plain").await;
    create_topic(&plain, &ns, topic, 2).await;
    plain.shutdown().await;

    let got: Collected = Default::default();
    let mut c = push_consumer(&ns, "cg-tx", topic, "T", got.clone()).await;
    let mut p = transaction_producer(&ns, "pg-tx", topic).await;
    let (commit, rollback, checked, never) = (
        named("commit", 6),
        named("rollback", 6),
        named("checked", 4),
        named("never", 2),
    );
    for set in [&commit, &rollback, &checked, &never] {
        send_all(&mut p, topic, set).await;
    }
    eventually(
        "committed and checked-back messages consumed",
        Duration::from_secs(30),
        || {
            let n = counts(&got);
            commit.iter().chain(&checked).all(|b| n.contains_key(b))
        },
    )
    .await;
    // `never-*` is checked five times, then discarded.
    eventually(
        "unresolved half messages discarded",
        Duration::from_secs(30),
        || runtime_counter(&broker, "TransactionDiscardedTotal") == never.len() as u64,
    )
    .await;
    assert_eq!(
        runtime_counter(&broker, "TransactionCommittedTotal"),
        (commit.len() + checked.len()) as u64
    );
    assert_eq!(
        runtime_counter(&broker, "TransactionRolledBackTotal"),
        rollback.len() as u64
    );
    assert!(
        runtime_counter(&broker, "TransactionCheckedTotal")
            >= (checked.len() + 5 * never.len()) as u64
    );

    // Half messages waiting for their check survive kill -9; what was
    // resolved before stays resolved.
    let crash = named("crash", 4);
    send_all(&mut p, topic, &crash).await;
    p.shutdown().await;
    broker.kill9();
    broker.restart();
    // A producer of the group has to be connected to be asked.
    let mut p = transaction_producer(&ns, "pg-tx", topic).await;
    eventually(
        "half messages from before the crash checked and committed",
        Duration::from_secs(40),
        || {
            let n = counts(&got);
            crash.iter().all(|b| n.contains_key(b))
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    c.shutdown().await;
    p.shutdown().await;
    let n = counts(&got);
    for b in commit.iter().chain(&checked).chain(&crash) {
        assert_eq!(n.get(b), Some(&1), "{b} consumed once: {n:?}");
    }
    for b in rollback.iter().chain(&never) {
        assert!(!n.contains_key(b), "{b} must never be consumed: {n:?}");
    }
    broker.stop();
}
