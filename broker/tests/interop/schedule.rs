//! Delay levels, send-back retries and dead letters (issue: scheduled
//! delivery), driven by rocketmq-client-rust against a real `mqbroker`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::support::{BrokerProcess, Flush};
use super::*;

pub(super) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// Most a delayed message may arrive after its time (the issue's bound).
const LATE_MS_MAX: i64 = 2_000;

/// Per body: when the broker stored the delivered copy in the real topic.
type Delivered = Arc<Mutex<BTreeMap<String, Vec<i64>>>>;

async fn delivery_consumer(
    ns: &str,
    group: &str,
    topic: &str,
    sink: Delivered,
) -> DefaultMQPushConsumer {
    let mut c = DefaultMQPushConsumer::builder(client_runtime(group))
        .consumer_group(group)
        .name_server_addr(ns)
        .message_model(MessageModel::Clustering)
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .consume_message_batch_max_size(1)
        .build();
    c.subscribe(topic, "D").await.expect("subscribe");
    c.register_message_listener_concurrently(
        move |msgs: &[&MessageExt], _ctx: &ConsumeConcurrentlyContext| {
            let mut s = sink.lock().unwrap();
            for m in msgs {
                let body = String::from_utf8_lossy(&m.body().unwrap_or_default()).into_owned();
                s.entry(body).or_default().push(m.store_timestamp());
            }
            Ok(ConsumeConcurrentlyStatus::ConsumeSuccess)
        },
    );
    c.start().await.expect("push consumer start");
    c
}

/// Auto-creates `topic` with a message of tag `W` (which the consumers
/// here do not subscribe to), then waits until the name server routes it
/// to all `shards`: each shard registers on its own, and a client that
/// refreshes its route between two registrations (a consumer's start
/// does) would send to one shard until its next refresh, 30 s later.
pub(super) async fn create_topic(p: &DefaultMQProducer, ns: &str, topic: &str, shards: usize) {
    p.send(message(topic, "W", usize::MAX))
        .await
        .expect("send that creates the topic");
    eventually(
        "the topic routed to every shard",
        Duration::from_secs(10),
        || routed_shards(ns, topic) == shards,
    )
    .await;
}

/// How many brokers (shards) the name server's route for `topic` lists.
fn routed_shards(ns: &str, topic: &str) -> usize {
    use ringmq_net::{RequestCode, ResponseCode};
    let r = admin_call(
        ns,
        RequestCode::GET_ROUTEINFO_BY_TOPIC,
        &[("topic", topic)],
        vec![],
    );
    if r.code != ResponseCode::SUCCESS {
        return 0;
    }
    let body = String::from_utf8_lossy(&r.body).into_owned();
    body.matches("\"brokerAddrs\"").count()
}

/// Sends `bodies` with a delay level; returns, per body, the times just
/// before the send and just after its acknowledgement.
async fn send_delayed(
    p: &DefaultMQProducer,
    topic: &str,
    level: i32,
    range: std::ops::Range<usize>,
) -> BTreeMap<String, (i64, i64)> {
    let mut sent = BTreeMap::new();
    for i in range {
        let mut msg = message(topic, "D", i);
        msg.set_delay_time_level(level);
        let before = now_ms();
        p.send(msg).await.expect("delayed send acknowledged");
        sent.insert(format!("body-{i}"), (before, now_ms()));
    }
    sent
}

/// Every sent body was delivered exactly once, no earlier than `delay_ms`
/// after its send began and at most [`LATE_MS_MAX`] after its time.
fn assert_on_time(
    delivered: &BTreeMap<String, Vec<i64>>,
    sent: &BTreeMap<String, (i64, i64)>,
    delay_ms: i64,
) {
    for (body, (before, acked)) in sent {
        let times = delivered
            .get(body)
            .unwrap_or_else(|| panic!("{body} delivered"));
        assert_eq!(times.len(), 1, "{body} delivered once: {times:?}");
        let at = times[0];
        assert!(
            at >= before + delay_ms,
            "{body} delivered {} ms early",
            before + delay_ms - at
        );
        assert!(
            at <= acked + delay_ms + LATE_MS_MAX,
            "{body} delivered {} ms late",
            at - acked - delay_ms
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_levels_deliver_on_time_and_survive_kill_9() {
    let mut broker =
        BrokerProcess::start_with_settings(2, Flush::Sync, &[("messageDelayLevel", "1s 2s 4s 6s")]);
    let ns = broker.namesrv();
    let topic = "DelayTopic";
    let mut p = producer(&ns, "pg-delay").await;
    create_topic(&p, &ns, topic, 2).await;

    // Level 2 (2 s): each message reaches its topic after its time, once.
    let seen: Delivered = Default::default();
    let mut c = delivery_consumer(&ns, "cg-delay", topic, seen.clone()).await;
    let first = send_delayed(&p, topic, 2, 0..10).await;
    eventually(
        "level-2 messages delivered",
        Duration::from_secs(20),
        || seen.lock().unwrap().len() == 10,
    )
    .await;
    assert_on_time(&seen.lock().unwrap(), &first, 2_000);
    // Their progress is saved before the crash below.
    eventually("delay offsets saved", Duration::from_secs(10), || {
        delay_offsets_saved(&broker) == 10
    })
    .await;
    c.shutdown().await;

    // Level 4 (6 s), then kill -9 while they wait: they still arrive on
    // time after the restart, and nothing delivered before is repeated.
    let second = send_delayed(&p, topic, 4, 10..20).await;
    broker.kill9();
    broker.restart();
    let after: Delivered = Default::default();
    let mut fresh = delivery_consumer(&ns, "cg-delay-fresh", topic, after.clone()).await;
    eventually(
        "every delayed message after kill -9",
        Duration::from_secs(30),
        || after.lock().unwrap().len() == 20,
    )
    .await;
    let all = after.lock().unwrap().clone();
    assert_on_time(&all, &second, 6_000);
    for body in first.keys() {
        assert_eq!(all[body].len(), 1, "{body} not delivered again");
    }
    fresh.shutdown().await;
    p.shutdown().await;
    broker.stop();
}

/// Level offsets over every shard's `delayOffset.json`.
fn delay_offsets_saved(b: &BrokerProcess) -> i64 {
    b.shard_config_files("delayOffset.json")
        .iter()
        .filter_map(|v| v["offsetTable"].as_object())
        .flat_map(|t| t.values().filter_map(|o| o.as_i64()))
        .sum()
}

pub(super) fn runtime_counter(b: &BrokerProcess, name: &str) -> u64 {
    let v = b.runtime_info(&b.main_addr());
    (0..b.shards)
        .map(|s| {
            v["table"][format!("ringmqShard{s}{name}")]
                .as_str()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("ringmqShard{s}{name} in runtime info"))
        })
        .sum()
}

/// What the failing consumer saw of one delivery.
#[derive(Clone, Debug)]
struct Attempt {
    topic: String,
    reconsume_times: i32,
    uniq_id: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconsume_later_retries_with_backoff_then_dead_letters() {
    // Levels 3.. (the retry back-off) are 1 s, so four attempts take a
    // few seconds.
    let broker = BrokerProcess::start_with_settings(
        2,
        Flush::Async,
        &[("messageDelayLevel", "1s 1s 1s 1s 1s 1s")],
    );
    let ns = broker.namesrv();
    let topic = "RetryTopic";
    let group = "cg-retry";
    const MESSAGES: usize = 6;
    const MAX_RECONSUME: i32 = 3;

    let mut p = producer(&ns, "pg-retry").await;
    create_topic(&p, &ns, topic, 2).await;
    let attempts: Arc<Mutex<BTreeMap<String, Vec<Attempt>>>> = Default::default();
    let sink = attempts.clone();
    let mut c = DefaultMQPushConsumer::builder(client_runtime(group))
        .consumer_group(group)
        .name_server_addr(&ns)
        .message_model(MessageModel::Clustering)
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .consume_message_batch_max_size(1)
        .max_reconsume_times(MAX_RECONSUME)
        .build();
    c.subscribe(topic, "R").await.expect("subscribe");
    c.register_message_listener_concurrently(
        move |msgs: &[&MessageExt], _ctx: &ConsumeConcurrentlyContext| {
            let mut s = sink.lock().unwrap();
            for m in msgs {
                let body = String::from_utf8_lossy(&m.body().unwrap_or_default()).into_owned();
                s.entry(body).or_default().push(Attempt {
                    topic: m.topic().to_string(),
                    reconsume_times: m.reconsume_times(),
                    uniq_id: m
                        .property(&"UNIQ_KEY".into())
                        .map(|v| v.to_string())
                        .unwrap_or_default(),
                });
            }
            Ok(ConsumeConcurrentlyStatus::ReconsumeLater)
        },
    );
    c.start().await.expect("push consumer start");

    // Spread over both shards' queues: each send-back goes to the shard
    // that holds the message.
    let mut brokers = std::collections::BTreeSet::new();
    for i in 0..MESSAGES {
        let r = p
            .send(message(topic, "R", i))
            .await
            .expect("send")
            .expect("result");
        brokers.insert(r.message_queue.expect("queue").broker_name().to_string());
    }
    assert_eq!(brokers.len(), 2, "messages on both shards");

    let all_attempts = (MAX_RECONSUME + 1) as usize;
    eventually("every attempt", Duration::from_secs(60), || {
        let a = attempts.lock().unwrap();
        a.len() == MESSAGES && a.values().all(|v| v.len() >= all_attempts)
    })
    .await;
    eventually("dead letters stored", Duration::from_secs(20), || {
        runtime_counter(&broker, "DeadLetterTotal") == MESSAGES as u64
    })
    .await;
    // Give a wrongly scheduled fifth attempt time to show up.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let attempts = attempts.lock().unwrap().clone();
    for (body, tries) in &attempts {
        let times: Vec<i32> = tries.iter().map(|a| a.reconsume_times).collect();
        assert_eq!(
            times,
            (0..=MAX_RECONSUME).collect::<Vec<_>>(),
            "{body}: one attempt per reconsume time"
        );
        assert!(
            tries.iter().all(|a| a.topic == topic),
            "{body}: retries are delivered under the original topic: {tries:?}"
        );
        assert!(
            tries.iter().all(|a| a.uniq_id == tries[0].uniq_id),
            "{body}: one message id throughout: {tries:?}"
        );
    }
    // The broker did the retries (CONSUMER_SEND_MSG_BACK), not the
    // client's fallback send.
    assert_eq!(
        runtime_counter(&broker, "SendBackTotal"),
        (MESSAGES as i32 * MAX_RECONSUME) as u64
    );
    c.shutdown().await;

    // Each dead letter is in %DLQ%<group> with its original id and body.
    let dlq = format!("%DLQ%{group}");
    for i in 0..MESSAGES {
        let body = format!("body-{i}");
        let found = p
            .query_message(&dlq, &format!("key-{i}"), 32, 0, u64::MAX / 2)
            .await
            .expect("query the dead-letter topic");
        let msgs = found.message_list();
        assert_eq!(msgs.len(), 1, "{body}: one dead letter");
        let m = &msgs[0];
        assert_eq!(String::from_utf8_lossy(&m.body().unwrap_or_default()), body);
        let prop = |k: &str| {
            m.property(&k.into())
                .map(|v| v.to_string())
                .unwrap_or_default()
        };
        assert_eq!(
            prop("UNIQ_KEY"),
            attempts[&body][0].uniq_id,
            "{body}: original id"
        );
        assert_eq!(prop("RETRY_TOPIC"), topic);
        assert!(!prop("ORIGIN_MESSAGE_ID").is_empty());
        assert_eq!(m.reconsume_times(), MAX_RECONSUME + 1);
    }
    p.shutdown().await;
    broker.stop();
}

/// One admin request over the remoting protocol; the reply.
pub(super) fn admin_call(
    addr: &str,
    code: i32,
    fields: &[(&str, &str)],
    body: Vec<u8>,
) -> ringmq_net::RemotingCommand {
    use ringmq_net::client::BlockingClient;
    use ringmq_net::{ExtFields, RemotingCommand};
    let mut ext = ExtFields::new();
    for (k, v) in fields {
        ext.insert(k.to_string(), v.to_string());
    }
    let mut c = BlockingClient::connect(addr, Duration::from_secs(2)).expect("connect");
    c.invoke(
        RemotingCommand::request(code, ext).with_body(body),
        Duration::from_secs(5),
    )
    .expect("admin reply")
}

/// A group config as rocketmq-client-rust's admin serializes it.
fn group_config_body(group: &str, consume_enable: bool) -> Vec<u8> {
    use rocketmq_protocol::protocol::subscription::subscription_group_config::SubscriptionGroupConfig;
    let mut g = SubscriptionGroupConfig::new(group.into());
    g.set_consume_enable(consume_enable);
    g.set_retry_max_times(5);
    serde_json::to_vec(&g).expect("client config serializes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_groups_gate_consumption_and_persist() {
    use ringmq_net::{RequestCode, ResponseCode};
    use rocketmq_protocol::protocol::subscription::subscription_group_config::SubscriptionGroupConfig;

    let mut broker = BrokerProcess::start(2, Flush::Async);
    let ns = broker.namesrv();
    let (topic, group) = ("GatedTopic", "cg-gated");
    let admin = broker.main_addr();
    let r = admin_call(
        &admin,
        RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
        &[],
        group_config_body(group, false),
    );
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);

    let mut p = producer(&ns, "pg-gated").await;
    create_topic(&p, &ns, topic, 2).await;
    for i in 0..5 {
        p.send(message(topic, "D", i)).await.expect("send");
    }
    // consumeEnable=false: the group's pulls are refused, nothing arrives.
    let seen: Delivered = Default::default();
    let mut c = delivery_consumer(&ns, group, topic, seen.clone()).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        seen.lock().unwrap().is_empty(),
        "a disabled group consumed: {:?}",
        seen.lock().unwrap()
    );
    // Enabled through another shard's port: the table is broker-wide.
    let r = admin_call(
        &broker.shard_addr(1),
        RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
        &[],
        group_config_body(group, true),
    );
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    eventually(
        "the enabled group consumes",
        Duration::from_secs(30),
        || seen.lock().unwrap().len() == 5,
    )
    .await;
    c.shutdown().await;
    p.shutdown().await;

    // The config survives a restart and reads back with the client's
    // decoder; the consumer's heartbeat auto-created nothing over it.
    broker.stop_cleanly();
    broker.restart();
    let r = admin_call(
        &admin,
        RequestCode::GET_SUBSCRIPTIONGROUP_CONFIG,
        &[("group", group)],
        Vec::new(),
    );
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    let g: SubscriptionGroupConfig = serde_json::from_slice(&r.body).expect("client decodes");
    assert_eq!((g.consume_enable(), g.retry_max_times()), (true, 5));
    let all = admin_call(
        &admin,
        RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG,
        &[],
        Vec::new(),
    );
    let v: serde_json::Value = serde_json::from_slice(&all.body).unwrap();
    assert!(v["subscriptionGroupTable"][group].is_object(), "{v}");
    assert!(v["dataVersion"]["counter"].as_i64().unwrap() > 0);

    let r = admin_call(
        &admin,
        RequestCode::DELETE_SUBSCRIPTIONGROUP,
        &[("groupName", group), ("cleanOffset", "true")],
        Vec::new(),
    );
    assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
    let r = admin_call(
        &admin,
        RequestCode::GET_SUBSCRIPTIONGROUP_CONFIG,
        &[("group", group)],
        Vec::new(),
    );
    assert_eq!(r.code, ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST);
    // The system topics the delay levels and timers live in cannot be
    // deleted.
    for system in ["SCHEDULE_TOPIC_XXXX", "rmq_sys_wheel_timer"] {
        let r = admin_call(
            &admin,
            RequestCode::DELETE_TOPIC_IN_BROKER,
            &[("topic", system)],
            Vec::new(),
        );
        assert_eq!(
            r.code,
            ResponseCode::NO_PERMISSION,
            "{system}: {:?}",
            r.remark
        );
    }
    // A malformed config is refused with a reason.
    let r = admin_call(
        &admin,
        RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
        &[],
        br#"{"groupName":"bad group"}"#.to_vec(),
    );
    assert_eq!(r.code, ResponseCode::INVALID_PARAMETER);
    broker.stop();

    // autoCreateSubscriptionGroup=false: an unknown group may not pull.
    let strict = BrokerProcess::start_with_settings(
        1,
        Flush::Async,
        &[("autoCreateSubscriptionGroup", "false")],
    );
    let mut p = producer(&strict.namesrv(), "pg-strict").await;
    create_topic(&p, &strict.namesrv(), topic, 1).await;
    p.shutdown().await;
    let r = admin_call(
        &strict.shard_addr(0),
        RequestCode::PULL_MESSAGE,
        &[
            ("consumerGroup", "cg-unknown"),
            ("topic", topic),
            ("queueId", "0"),
            ("queueOffset", "0"),
            ("maxMsgNums", "32"),
            ("sysFlag", "4"),
            ("commitOffset", "0"),
            ("suspendTimeoutMillis", "0"),
            ("subscription", "*"),
            ("subVersion", "0"),
            ("expressionType", "TAG"),
        ],
        Vec::new(),
    );
    assert_eq!(
        r.code,
        ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST,
        "{:?}",
        r.remark
    );
    strict.stop();
}

fn timer_message(topic: &str, i: usize, deliver_ms: i64) -> Message {
    Message::builder()
        .topic(topic)
        .tags("D")
        .key(format!("key-{i}"))
        .body_slice(format!("body-{i}").as_bytes())
        .deliver_time_ms(deliver_ms as u64)
        .build_unchecked()
}

/// The saved timer checkpoint of every shard.
fn timer_checkpoints(b: &BrokerProcess) -> Vec<serde_json::Value> {
    b.shard_config_files("timerCheckpoint.json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timer_messages_deliver_on_time_and_survive_kill_9() {
    let mut broker =
        BrokerProcess::start_with_settings(2, Flush::Sync, &[("timerMaxDelaySec", "60")]);
    let ns = broker.namesrv();
    let topic = "TimerTopic";
    let mut p = producer(&ns, "pg-timer").await;
    create_topic(&p, &ns, topic, 2).await;
    let seen: Delivered = Default::default();
    let mut c = delivery_consumer(&ns, "cg-timer", topic, seen.clone()).await;

    // Arbitrary delivery times (1.5 to 2.4 s ahead, one in the past):
    // each arrives after its time, within the bound, once.
    let mut first = BTreeMap::new();
    let mut last_due: BTreeMap<String, i64> = BTreeMap::new();
    for i in 0..10 {
        let before = now_ms();
        let delay = if i == 9 {
            -5_000
        } else {
            1_500 + 100 * i as i64
        };
        let r = p
            .send(timer_message(topic, i, before + delay))
            .await
            .expect("timer send acknowledged")
            .expect("send result");
        if delay > 0 {
            let shard = r.message_queue.expect("queue").broker_name().to_string();
            let due = last_due.entry(shard).or_insert(0i64);
            *due = (*due).max(before + delay);
        }
        first.insert(format!("body-{i}"), (before, now_ms(), delay.max(0)));
    }
    eventually("timer messages delivered", Duration::from_secs(20), || {
        seen.lock().unwrap().len() == 10
    })
    .await;
    {
        let seen = seen.lock().unwrap();
        for (body, (before, acked, delay)) in &first {
            let at = seen[body][0];
            assert_eq!(seen[body].len(), 1, "{body} once");
            assert!(
                at >= before + delay,
                "{body} {} ms early",
                before + delay - at
            );
            assert!(
                at <= acked + delay + LATE_MS_MAX,
                "{body} {} ms late",
                at - acked - delay
            );
        }
    }
    assert_eq!(
        runtime_counter(&broker, "TimerDeliveredTotal"),
        9,
        "the past one went straight through"
    );
    // Beyond timerMaxDelaySec: refused, not stored.
    let refused = p.send(timer_message(topic, 99, now_ms() + 120_000)).await;
    assert!(
        refused.is_err(),
        "a timer beyond the maximum is refused: {refused:?}"
    );
    // Wait until the checkpoints cover those deliveries, so that none of
    // them may repeat after the crash below.
    eventually("timer checkpoints saved", Duration::from_secs(10), || {
        let saved = timer_checkpoints(&broker);
        last_due.iter().all(|(broker_name, due)| {
            let shard: usize = broker_name.rsplit('-').next().unwrap().parse().unwrap();
            saved[shard]["deliveredBeforeMs"].as_i64().unwrap_or(0) > *due
        })
    })
    .await;
    c.shutdown().await;

    // Timers 5 s out, then kill -9 while they wait.
    let mut second = BTreeMap::new();
    for i in 10..20 {
        let before = now_ms();
        p.send(timer_message(topic, i, before + 5_000))
            .await
            .expect("timer send acknowledged");
        second.insert(format!("body-{i}"), (before, now_ms()));
    }
    broker.kill9();
    broker.restart();
    let after: Delivered = Default::default();
    let mut fresh = delivery_consumer(&ns, "cg-timer-fresh", topic, after.clone()).await;
    eventually(
        "every timer message after kill -9",
        Duration::from_secs(30),
        || after.lock().unwrap().len() == 20,
    )
    .await;
    let all = after.lock().unwrap().clone();
    assert_on_time(&all, &second, 5_000);
    for body in first.keys() {
        assert_eq!(all[body].len(), 1, "{body} not delivered again");
    }
    fresh.shutdown().await;
    p.shutdown().await;
    broker.stop();
}
