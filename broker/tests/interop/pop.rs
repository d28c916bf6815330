//! POP consumption (issue: scheduled delivery, point 5): rocketmq-client-rust's
//! push consumer in POP mode against a real `mqbroker`, and the raw
//! protocol for what that client never does (leave a message unacknowledged).

use std::collections::BTreeMap;
use std::time::Duration;

use ringmq_net::message::stored::iter_stored;
use ringmq_net::{RequestCode, ResponseCode};

use super::schedule::{admin_call, create_topic, now_ms, runtime_counter};
use super::support::{BrokerProcess, Flush};
use super::*;

/// Switches `group` to POP for `topic`, as `mqadmin setConsumeMode` does.
fn set_pop_mode(broker: &BrokerProcess, topic: &str, group: &str) {
    let body = serde_json::json!({
        "topic": topic, "consumerGroup": group, "mode": "POP", "popShareQueueNum": 0
    });
    let r = admin_call(
        &broker.main_addr(),
        RequestCode::SET_MESSAGE_REQUEST_MODE,
        &[],
        serde_json::to_vec(&body).unwrap(),
    );
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
}

/// Per body: (reconsume times, when received) of each delivery.
type Deliveries = Arc<Mutex<BTreeMap<String, Vec<(i32, i64)>>>>;

/// A POP-mode push consumer that answers `ReconsumeLater` the first time
/// it sees a body in `fail_once`.
async fn pop_consumer(
    ns: &str,
    group: &str,
    topic: &str,
    fail_once: &'static [&'static str],
    sink: Deliveries,
) -> DefaultMQPushConsumer {
    let mut c = DefaultMQPushConsumer::builder(client_runtime(group))
        .consumer_group(group)
        .name_server_addr(ns)
        .message_model(MessageModel::Clustering)
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .client_rebalance(false)
        .build();
    c.subscribe(topic, "P").await.expect("subscribe");
    c.register_message_listener_concurrently(
        move |msgs: &[&MessageExt], _ctx: &ConsumeConcurrentlyContext| {
            let mut s = sink.lock().unwrap();
            let mut status = ConsumeConcurrentlyStatus::ConsumeSuccess;
            for m in msgs {
                assert_eq!(
                    m.topic().to_string(),
                    "PopTopic",
                    "the client sees the topic it popped"
                );
                let body = String::from_utf8_lossy(&m.body().unwrap_or_default()).into_owned();
                let seen = s.entry(body.clone()).or_default();
                if seen.is_empty() && fail_once.contains(&body.as_str()) {
                    status = ConsumeConcurrentlyStatus::ReconsumeLater;
                }
                seen.push((m.reconsume_times(), now_ms()));
            }
            Ok(status)
        },
    );
    c.start().await.expect("pop consumer start");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop_consumer_acks_retries_and_resumes_after_kill_9() {
    let mut broker = BrokerProcess::start(2, Flush::Sync);
    let ns = broker.namesrv();
    let (topic, group) = ("PopTopic", "cg-pop");
    const MESSAGES: usize = 12;

    let mut p = producer(&ns, "pg-pop").await;
    create_topic(&p, &ns, topic, 2).await;
    set_pop_mode(&broker, topic, group);
    for i in 0..MESSAGES {
        p.send(message(topic, "P", i)).await.expect("send");
    }
    // Not subscribed: the broker filters it out of pops.
    p.send(message(topic, "Q", 99)).await.expect("send");

    let seen: Deliveries = Default::default();
    let mut c = pop_consumer(&ns, group, topic, &["body-3"], seen.clone()).await;
    eventually("every message popped", Duration::from_secs(30), || {
        seen.lock().unwrap().len() == MESSAGES
    })
    .await;
    // body-3 was answered ReconsumeLater: the client hides it for 10 s
    // (its first back-off), then the broker revives it into the POP retry
    // topic with reconsume times 1 and it is popped again.
    eventually(
        "the failed message redelivered",
        Duration::from_secs(40),
        || seen.lock().unwrap()["body-3"].len() == 2,
    )
    .await;
    eventually(
        "every delivery acknowledged",
        Duration::from_secs(10),
        || runtime_counter(&broker, "PopAckedTotal") == MESSAGES as u64,
    )
    .await;
    c.shutdown().await;
    let seen_now = seen.lock().unwrap().clone();
    assert!(
        !seen_now.contains_key("body-99"),
        "tag filter: {seen_now:?}"
    );
    let retried = &seen_now["body-3"];
    assert_eq!((retried[0].0, retried[1].0), (0, 1), "reconsume times");
    assert!(
        retried[1].1 - retried[0].1 >= 9_000,
        "redelivered after the invisible time, not before: {retried:?}"
    );
    for (body, deliveries) in &seen_now {
        if body != "body-3" {
            assert_eq!(deliveries.len(), 1, "{body} delivered once: {deliveries:?}");
        }
    }
    assert_eq!(runtime_counter(&broker, "PopRevivedTotal"), 1);

    // The group's progress is its consumer offset: durable, so after a
    // kill -9 a new consumer of the group gets only what is new.
    tokio::time::sleep(Duration::from_millis(500)).await;
    broker.kill9();
    broker.restart();
    p.send(message(topic, "P", 100))
        .await
        .expect("send after restart");
    let after: Deliveries = Default::default();
    let mut c = pop_consumer(&ns, group, topic, &[], after.clone()).await;
    eventually("the new message popped", Duration::from_secs(30), || {
        after.lock().unwrap().contains_key("body-100")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    c.shutdown().await;
    let after = after.lock().unwrap().clone();
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        vec!["body-100"],
        "nothing acknowledged came back"
    );
    p.shutdown().await;
    broker.stop();
}

/// A raw POP_MESSAGE; the reply.
fn pop_raw(
    addr: &str,
    topic: &str,
    group: &str,
    invisible_ms: &str,
) -> ringmq_net::RemotingCommand {
    let born = now_ms().to_string();
    admin_call(
        addr,
        RequestCode::POP_MESSAGE,
        &[
            ("consumerGroup", group),
            ("topic", topic),
            ("queueId", "-1"),
            ("maxMsgNums", "32"),
            ("invisibleTime", invisible_ms),
            ("pollTime", "0"),
            ("bornTime", &born),
            ("initMode", "0"),
            ("expType", "TAG"),
            ("exp", "*"),
        ],
        Vec::new(),
    )
}

/// A popped record: body, topic, queue id, queue offset.
type Popped = (String, String, i32, i64);

/// The records of a pop reply.
fn popped(r: &ringmq_net::RemotingCommand) -> Vec<Popped> {
    iter_stored(&r.body)
        .map(|rec| {
            let rec = rec.expect("record parses");
            (
                String::from_utf8_lossy(rec.body).into_owned(),
                String::from_utf8_lossy(rec.topic).into_owned(),
                rec.queue_id,
                rec.queue_offset,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_pop_is_redelivered_after_its_invisible_time() {
    let broker = BrokerProcess::start(1, Flush::Async);
    let ns = broker.namesrv();
    let (topic, group) = ("RawPopTopic", "cg-raw-pop");
    let shard = broker.shard_addr(0);
    let mut p = producer(&ns, "pg-raw-pop").await;
    create_topic(&p, &ns, topic, 1).await;
    for i in 0..3 {
        p.send(message(topic, "P", i)).await.expect("send");
    }
    p.shutdown().await;

    let r = pop_raw(&shard, topic, group, "2000");
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    let first = popped(&r);
    // The topic-creating message (tag W) and the three sent.
    assert_eq!(first.len(), 4, "{first:?}");
    for key in ["popTime", "invisibleTime", "reviveQid", "restNum"] {
        assert!(r.ext_field(key).is_some(), "{key} in {:?}", r.ext_fields);
    }
    let offsets = r.ext_field("msgOffsetInfo").unwrap().to_string();
    assert!(offsets.starts_with("0 "), "{offsets}");
    // Hidden: a second pop gets nothing, and says so with the header.
    let r = pop_raw(&shard, topic, group, "2000");
    assert_eq!(r.code, ResponseCode::POLLING_TIMEOUT, "{:?}", r.remark);
    assert!(r.ext_field("popTime").is_some());

    // Acknowledge the topic-creating message and leave the rest.
    let (_, _, queue, offset) = first
        .iter()
        .find(|(b, ..)| *b == format!("body-{}", usize::MAX))
        .expect("the topic-creating message")
        .clone();
    let (queue, offset) = (queue.to_string(), offset.to_string());
    let ack = admin_call(
        &shard,
        RequestCode::ACK_MESSAGE,
        &[
            ("consumerGroup", group),
            ("topic", topic),
            ("queueId", &queue),
            ("extraInfo", "0 0 2000 0 0 x 0 0"),
            ("offset", &offset),
        ],
        Vec::new(),
    );
    assert_eq!(ack.code, ResponseCode::SUCCESS, "{:?}", ack.remark);

    // After the invisible time the other three come back, from the
    // group's POP retry topic.
    let retry_topic = format!("%RETRY%{group}_{topic}");
    let mut again = Vec::new();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let r = pop_raw(&shard, topic, group, "30000");
        if r.code == ResponseCode::SUCCESS {
            assert!(r.ext_field("msgOffsetInfo").unwrap().starts_with("1 0 "));
            again.extend(popped(&r));
            if again.len() >= 3 {
                break;
            }
        }
    }
    let mut bodies: Vec<_> = again.iter().map(|(b, ..)| b.clone()).collect();
    bodies.sort();
    assert_eq!(bodies, vec!["body-0", "body-1", "body-2"], "{again:?}");
    assert!(
        again.iter().all(|(_, t, ..)| *t == retry_topic),
        "{again:?}"
    );

    // Bad input is refused with a reason.
    let r = pop_raw(&shard, topic, group, "10");
    assert_eq!(r.code, ResponseCode::INVALID_PARAMETER, "{:?}", r.remark);
    let r = pop_raw(&shard, "NoSuchTopic", group, "5000");
    assert_eq!(r.code, ResponseCode::TOPIC_NOT_EXIST);
    let r = admin_call(
        &shard,
        RequestCode::BATCH_ACK_MESSAGE,
        &[],
        br#"{"brokerName":"","acks":[{"c":"g","t":"T","r":"7","so":0,"q":0,"rq":0,"pt":0,"it":0,"b":[1]}]}"#.to_vec(),
    );
    assert_eq!(r.code, ResponseCode::INVALID_PARAMETER, "{:?}", r.remark);
    broker.stop();
}
