//! SQL92 property filters (issue: transactions, filters and more clients,
//! point 2): rocketmq-client-rust's push consumer subscribed by SQL92
//! against a real `mqbroker` with `enablePropertyFilter=true`, and the
//! refusals on raw pulls.

use std::time::Duration;

use ringmq_net::{RequestCode, ResponseCode};
use rocketmq_client_rust::MessageSelector;

use super::schedule::{admin_call, create_topic};
use super::support::{BrokerProcess, Flush};
use super::*;

fn with_level(topic: &str, tag: &str, i: usize) -> Message {
    Message::builder()
        .topic(topic)
        .tags(tag)
        .key(format!("key-{i}"))
        .body_slice(format!("body-{i}").as_bytes())
        .raw_property("level", i.to_string())
        .expect("valid property")
        .build_unchecked()
}

/// A raw pull naming its subscription; the reply.
fn pull_with(addr: &str, topic: &str, kind: &str, expression: &str) -> ringmq_net::RemotingCommand {
    admin_call(
        addr,
        RequestCode::PULL_MESSAGE,
        &[
            ("consumerGroup", "cg-sql-raw"),
            ("topic", topic),
            ("queueId", "0"),
            ("queueOffset", "0"),
            ("maxMsgNums", "32"),
            ("sysFlag", "4"),
            ("commitOffset", "0"),
            ("suspendTimeoutMillis", "0"),
            ("subscription", expression),
            ("subVersion", "0"),
            ("expressionType", kind),
        ],
        Vec::new(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql92_subscriptions_filter_on_the_broker() {
    let broker =
        BrokerProcess::start_with_settings(2, Flush::Async, &[("enablePropertyFilter", "true")]);
    let ns = broker.namesrv();
    let topic = "SqlTopic";
    let mut p = producer(&ns, "pg-sql").await;
    create_topic(&p, &ns, topic, 2).await;
    for i in 0..20 {
        let tag = if i % 2 == 0 { "Even" } else { "Odd" };
        p.send(with_level(topic, tag, i)).await.expect("send");
    }

    let got: Collected = Default::default();
    let sink = got.clone();
    let mut c = DefaultMQPushConsumer::builder(client_runtime("cg-sql"))
        .consumer_group("cg-sql")
        .name_server_addr(&ns)
        .message_model(MessageModel::Clustering)
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .build();
    c.subscribe_with_selector(
        topic,
        Some(MessageSelector::by_sql(
            "level BETWEEN 4 AND 15 AND TAGS IN ('Even') AND level <> 8",
        )),
    )
    .await
    .expect("subscribe by SQL92");
    c.register_message_listener_concurrently(
        move |msgs: &[&MessageExt], _ctx: &ConsumeConcurrentlyContext| {
            let mut s = sink.lock().unwrap();
            for m in msgs {
                s.push(seen(m));
            }
            Ok(ConsumeConcurrentlyStatus::ConsumeSuccess)
        },
    );
    c.start().await.expect("consumer start");
    let want: HashSet<String> = [4, 6, 10, 12, 14]
        .iter()
        .map(|i| format!("body-{i}"))
        .collect();
    eventually(
        "the matching messages consumed",
        Duration::from_secs(30),
        || distinct_bodies(&got.lock().unwrap()) == want,
    )
    .await;
    // Nothing else trickles in.
    tokio::time::sleep(Duration::from_secs(2)).await;
    c.shutdown().await;
    p.shutdown().await;
    let got = got.lock().unwrap().clone();
    assert_eq!(distinct_bodies(&got), want);
    assert_eq!(got.len(), want.len(), "each once");

    // A lite pull consumer (another group) filters by SQL92 too.
    let lite = DefaultLitePullConsumer::builder(client_runtime("cg-sql-lite"))
        .consumer_group("cg-sql-lite")
        .name_server_addr(ns.as_str())
        .pull_batch_size(16)
        .poll_timeout_millis(500)
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .build()
        .expect("lite consumer");
    lite.subscribe_with_selector(
        topic,
        Some(MessageSelector::by_sql("level >= 17 OR level = 1")),
    )
    .await
    .expect("lite subscribe by SQL92");
    lite.start().await.expect("lite start");
    let want_lite: HashSet<String> = [1, 17, 18, 19]
        .iter()
        .map(|i| format!("body-{i}"))
        .collect();
    let mut pulled: Vec<Seen> = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while distinct_bodies(&pulled) != want_lite && std::time::Instant::now() < deadline {
        for m in lite.poll_with_timeout(500).await {
            pulled.push(seen(&m));
        }
    }
    for m in lite.poll_with_timeout(1_000).await {
        pulled.push(seen(&m));
    }
    lite.shutdown().await;
    assert_eq!(distinct_bodies(&pulled), want_lite, "lite pull by SQL92");
    assert_eq!(pulled.len(), want_lite.len(), "each once");

    // Raw pulls: a bad expression says why; an unknown type is refused.
    let shard = broker.shard_addr(0);
    let r = pull_with(&shard, topic, "SQL92", "level BETWEEN 4");
    assert_eq!(
        r.code,
        ResponseCode::SUBSCRIPTION_PARSE_FAILED,
        "{:?}",
        r.remark
    );
    assert!(
        r.remark.as_deref().unwrap_or_default().contains("AND"),
        "{:?}",
        r.remark
    );
    let r = pull_with(&shard, topic, "XPATH", "a");
    assert_eq!(r.code, ResponseCode::SUBSCRIPTION_PARSE_FAILED);
    broker.stop();

    // Off by default, as in RocketMQ.
    let plain = BrokerProcess::start(1, Flush::Async);
    let mut p = producer(&plain.namesrv(), "pg-sql-off").await;
    create_topic(&p, &plain.namesrv(), topic, 1).await;
    p.shutdown().await;
    let r = pull_with(&plain.shard_addr(0), topic, "SQL92", "level > 1");
    assert_eq!(r.code, ResponseCode::SYSTEM_ERROR, "{:?}", r.remark);
    plain.stop();
}
