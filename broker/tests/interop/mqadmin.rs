//! mqadmin's client-facing commands against rocketmq-client-rust producers
//! and a push consumer: producerConnection, consumerConnection,
//! consumerProgress (one group and every group), and resetOffsetByTime
//! making the running consumer read the topic again.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringmq_tools::admin::{group, now_ms, topic, Admin, Output};

use crate::support::{eventually, BrokerProcess, Flush};
use crate::{message, producer, push_consumer, Collected};

/// Runs a read-only mqadmin command off the async runtime, for its text
/// and then for its JSON.
async fn run(
    ns: &str,
    command: impl Fn(&Admin, &mut Output) -> anyhow::Result<()> + Send + Sync + Clone + 'static,
) -> (String, serde_json::Value) {
    let text = run_once(ns, false, command.clone()).await;
    let json = run_once(ns, true, command).await;
    (text, serde_json::from_str(&json).unwrap())
}

/// Runs an mqadmin command once (commands that change state), text or JSON.
async fn run_once(
    ns: &str,
    json: bool,
    command: impl Fn(&Admin, &mut Output) -> anyhow::Result<()> + Send + Sync + 'static,
) -> String {
    let ns = ns.to_string();
    tokio::task::spawn_blocking(move || {
        let admin = Admin::new(&ns, None);
        let mut buf = Vec::new();
        command(&admin, &mut Output::new(json, &mut buf)).expect("mqadmin command");
        String::from_utf8(buf).unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_sees_clients_and_resets_a_running_consumer() {
    let broker = BrokerProcess::start(2, Flush::Async);
    let ns = broker.namesrv();
    let t = "AdminResetTopic";
    let spec = topic::TopicSpec {
        topic: t.into(),
        read_queue_nums: 2,
        write_queue_nums: 2,
        perm: 6,
        order: false,
        sys_flag: 0,
        attributes: None,
    };
    run(&ns, move |a, o| {
        topic::update_topic(a, o, &spec, None, Some("DefaultCluster"))
    })
    .await;
    let ns2 = ns.clone();
    eventually(
        "the topic routed on both shards",
        Duration::from_secs(20),
        move || {
            Admin::new(&ns2, None)
                .topic_route(t)
                .is_ok_and(|r| r.masters().len() == 2)
        },
    )
    .await;
    let before = now_ms() - 1;
    let mut p = producer(&ns, "pg-admin").await;
    for i in 0..20 {
        p.send(message(t, "A", i))
            .await
            .expect("send")
            .expect("result");
    }
    let got: Collected = Arc::new(Mutex::new(Vec::new()));
    let mut c = push_consumer(&ns, "cg-admin", t, "*", got.clone()).await;
    eventually("20 consumed", Duration::from_secs(60), || {
        got.lock().unwrap().len() >= 20
    })
    .await;

    // producerConnection: the producer, as the client reported itself.
    let (text, json) = run(&ns, move |a, o| {
        group::producer_connection(a, o, "pg-admin", t)
    })
    .await;
    assert!(text.starts_with("0001  "), "{text}");
    assert_eq!(json["connectionSet"][0]["language"], "RUST", "{json}");

    // consumerConnection: the member and its subscription.
    let (text, json) = run(&ns, |a, o| {
        group::consumer_connection(a, o, "cg-admin", None)
    })
    .await;
    assert!(text.starts_with("#ClientId"), "{text}");
    assert!(text.contains("Below is subscription:"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with(t) && l.trim_end().ends_with('*')),
        "{text}"
    );
    assert!(
        text.contains("ConsumeType: CONSUME_PASSIVELY")
            && text.contains("MessageModel: CLUSTERING"),
        "{text}"
    );
    assert_eq!(json["connectionSet"].as_array().unwrap().len(), 1);

    // consumerProgress: every queue caught up once the offsets are committed.
    let ns2 = ns.clone();
    eventually("offsets committed", Duration::from_secs(30), move || {
        let admin = Admin::new(&ns2, None);
        group::consume_stats(&admin, "cg-admin", Some(t), None)
            .map(|(rows, _)| {
                rows.len() == 4 && rows.iter().all(|r| r.consumer_offset == r.broker_offset)
            })
            .unwrap_or(false)
    })
    .await;
    let (text, json) = run(&ns, move |a, o| {
        group::consumer_progress(a, o, Some("cg-admin"), Some(t), None)
    })
    .await;
    assert!(text.contains("Consume Diff Total: 0"), "{text}");
    assert_eq!(
        json["queues"].as_array().unwrap().len(),
        4,
        "2 queues on each of 2 shards"
    );
    let (text, json) = run(&ns, |a, o| group::consumer_progress(a, o, None, None, None)).await;
    let row = json
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["group"] == "cg-admin")
        .cloned();
    let row = row.unwrap_or_else(|| panic!("cg-admin missing from:\n{text}"));
    assert_eq!(
        (row["count"].as_i64(), row["type"].as_str()),
        (Some(1), Some("PUSH")),
        "{text}"
    );

    // resetOffsetByTime to before the first send: the running consumer
    // reads all 20 again, without a restart. Its pulls are held (nothing
    // new to read), and the reset answers them at once: the re-read starts
    // well before their 15 s suspend time would end them.
    let reset_at = std::time::Instant::now();
    let json = run_once(&ns, true, move |a, o| {
        let time_text = before.to_string();
        let reset = group::OffsetReset {
            group: "cg-admin",
            topic: t,
            time_text: &time_text,
            timestamp: before,
            force: true,
        };
        group::reset_offset_by_time(a, o, &reset, None)
    })
    .await;
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let offsets = json["offsets"].as_array().unwrap();
    assert_eq!(offsets.len(), 4);
    assert!(offsets.iter().all(|o| o["offset"] == 0), "{json}");
    eventually("the re-read starts", Duration::from_secs(60), || {
        got.lock().unwrap().len() > 20
    })
    .await;
    let started = reset_at.elapsed();
    assert!(
        started < Duration::from_secs(8),
        "the re-read took {started:?}: held pulls did not answer the reset"
    );
    eventually(
        "every message consumed again",
        Duration::from_secs(60),
        || got.lock().unwrap().len() >= 40,
    )
    .await;
    let seen = got.lock().unwrap().clone();
    for i in 0..20 {
        let body = format!("body-{i}");
        assert!(
            seen.iter().filter(|s| s.body == body).count() >= 2,
            "{body} not read again"
        );
    }
    c.shutdown().await;
    p.shutdown().await;
    broker.stop();
}
