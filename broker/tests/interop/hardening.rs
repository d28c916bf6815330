//! Adversarial peers against a real `mqbroker` over raw TCP: listeners
//! bound to one address, a connection cap, idle connections, and a client
//! that never reads its replies. For each, the broker's memory stays
//! bounded and a well-behaved client keeps sending.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use ringmq_net::header::PullMessageRequestHeader;
use ringmq_net::{CommandHeader, RemotingCommand, RequestCode};

use crate::support::{BrokerProcess, Flush};
use crate::{message, producer};

/// The broker's resident memory, from `/proc`.
fn rss_bytes(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib * 1024
}

/// One shard counter from GET_BROKER_RUNTIME_INFO.
fn shard_counter(broker: &BrokerProcess, name: &str) -> u64 {
    let v = broker.runtime_info(&broker.main_addr());
    v["table"][format!("ringmqShard0{name}")]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{name} in runtime info: {v}"))
}

/// Whether the broker closed `s` (EOF or reset) within `limit`.
fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 64];
    matches!(s.read(&mut buf), Ok(0))
        || matches!(s.read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_address_keeps_every_listener_on_one_address() {
    let broker =
        BrokerProcess::start_with_settings(2, Flush::Async, &[("bindAddress", "127.0.0.2")]);
    let ports = [
        broker.base,     // embedded name server
        broker.base + 1, // main port
        broker.base + 2, // shard 0
        broker.base + crate::support::HA_PORT_OFFSET,
    ];
    for port in ports {
        assert!(
            TcpStream::connect(("127.0.0.2", port)).is_ok(),
            "port {port} is on 127.0.0.2"
        );
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "port {port} is not on 127.0.0.1"
        );
    }
    // The address advertised (brokerIP1) follows bindAddress, so a client
    // that knows only the name server reaches the broker.
    let p = producer(&broker.namesrv(), "pg-bind").await;
    let sent = p
        .send(message("BindTopic", "T", 0))
        .await
        .expect("send through a route that names 127.0.0.2");
    assert!(sent.is_some());
    // A request on the main port for shard 1's queue is forwarded to
    // shard 1, which listens on 127.0.0.2 too.
    let mut c =
        ringmq_net::client::BlockingClient::connect(&broker.main_addr(), Duration::from_secs(2))
            .unwrap();
    let mut fields = ringmq_net::ExtFields::new();
    for (k, v) in [
        ("topic", "BindTopic"),
        ("queueId", "0"),
        ("bname", "ringmq-1"),
    ] {
        fields.insert(k.into(), v.into());
    }
    let r = c
        .invoke(
            RemotingCommand::request(RequestCode::GET_MAX_OFFSET, fields),
            Duration::from_secs(5),
        )
        .unwrap();
    assert_eq!(r.code, ringmq_net::ResponseCode::SUCCESS, "{:?}", r.remark);
    let mut p = p;
    p.shutdown().await;
    broker.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_cap_and_idle_close_bound_memory() {
    const CAP: usize = 4000;
    const OPENED: usize = 5000;
    let broker = BrokerProcess::start_with_settings(
        1,
        Flush::Async,
        &[
            ("shardConnectionsMax", "4000"),
            ("serverChannelMaxIdleTimeSeconds", "4"),
        ],
    );
    let p = producer(&broker.namesrv(), "pg-idle").await;
    p.send(message("IdleTopic", "T", 0)).await.expect("send");
    let rss_before = rss_bytes(broker.pid());

    let addr = broker.shard_addr(0);
    let mut idle: Vec<TcpStream> = (0..OPENED)
        .map(|_| TcpStream::connect(&addr).expect("connect"))
        .collect();
    // Past the cap (the producer holds one or two), connections are closed
    // at once.
    let mut closed = 0;
    for s in idle.iter_mut().rev().take(OPENED - CAP) {
        if closed_within(s, Duration::from_secs(5)) {
            closed += 1;
        }
    }
    assert!(
        closed >= OPENED - CAP - 2,
        "{closed} of the {} connections past the cap were closed",
        OPENED - CAP
    );
    let rss_held = rss_bytes(broker.pid());
    // Stated bound: 4,000 idle connections cost under 64 KiB each.
    let per_connection = rss_held.saturating_sub(rss_before) / CAP as u64;
    assert!(
        per_connection < 64 << 10,
        "{per_connection} bytes of RSS per idle connection (before {rss_before}, with them {rss_held})"
    );
    // The producer still sends while the shard is full: its connection
    // was there first.
    p.send(message("IdleTopic", "T", 1))
        .await
        .expect("send with the shard at its connection cap");

    // Idle ones are closed after serverChannelMaxIdleTimeSeconds.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut still_open = idle.len();
    while Instant::now() < deadline {
        still_open = idle
            .iter_mut()
            .take(CAP)
            .map(|s| closed_within(s, Duration::from_millis(1)))
            .filter(|closed| !closed)
            .count();
        if still_open == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        still_open, 0,
        "idle connections left open past the idle timeout"
    );
    drop(idle);
    assert!(shard_counter(&broker, "ConnectionsRefusedTotal") >= (OPENED - CAP - 2) as u64);
    assert!(broker.log().contains("shardConnectionsMax reached"));
    let mut p = p;
    p.shutdown().await;
    broker.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_disconnected() {
    let broker = BrokerProcess::start_with_settings(
        1,
        Flush::Async,
        &[("serverChannelWriteTimeoutSeconds", "2")],
    );
    let p = producer(&broker.namesrv(), "pg-stall").await;
    // 16 messages of 256 KiB, incompressible (the client compresses bodies
    // over 4 KiB): pull replies carry a message or more each.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..16 {
        let body: Vec<u8> = (0..256 << 10)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let m = rocketmq_model::common::message::message_single::Message::builder()
            .topic("StallTopic")
            .body_slice(&body)
            .build_unchecked();
        p.send(m).await.expect("send");
    }
    let rss_before = rss_bytes(broker.pid());

    // Pipelined pulls, none of whose replies is ever read: at least 150 MiB
    // of replies against a few MiB of socket buffers.
    let mut stalled = TcpStream::connect(broker.shard_addr(0)).unwrap();
    let header = crate::support::pull_header("stall", "StallTopic", 0, 0, 0);
    let mut requests = Vec::new();
    for opaque in 0..600 {
        let header = PullMessageRequestHeader {
            queue_id: opaque % 4,
            ..header.clone()
        };
        let request = RemotingCommand::request(RequestCode::PULL_MESSAGE, header.to_ext_fields())
            .with_opaque(opaque);
        requests.extend_from_slice(&request.encode().unwrap());
    }
    stalled.write_all(&requests).unwrap();

    // Meanwhile, another client's sends go through.
    let started = Instant::now();
    for i in 0..20 {
        p.send(message("OtherTopic", "T", i))
            .await
            .expect("send beside a stalled client");
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "sends beside a stalled client took {:?}",
        started.elapsed()
    );

    // The broker gives up on it after the write timeout.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !broker.log().contains("within the write timeout") {
        assert!(
            Instant::now() < deadline,
            "no write timeout logged; log:\n{}",
            broker.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let rss_after = rss_bytes(broker.pid());
    // Stated bound: what the stalled client's replies hold is under 64 MiB
    // (the outbox holds at most 1,024 replies; file-backed replies hold no
    // copies).
    assert!(
        rss_after.saturating_sub(rss_before) < 64 << 20,
        "RSS grew from {rss_before} to {rss_after}"
    );
    // It is closed: reading drains what the kernel held, then ends.
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut sink = vec![0u8; 1 << 20];
    let ended = loop {
        match stalled.read(&mut sink) {
            Ok(0) => break true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    assert!(ended, "the stalled connection was not closed");
    let mut p = p;
    p.shutdown().await;
    broker.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_and_dlq_topics_need_their_group() {
    let broker = BrokerProcess::start_with_settings(
        1,
        Flush::Async,
        &[("autoCreateSubscriptionGroup", "false")],
    );
    let p = producer(&broker.namesrv(), "pg-retry-spam").await;
    for topic in ["%RETRY%nobody", "%DLQ%nobody"] {
        let sent = p.send(message(topic, "T", 0)).await;
        assert!(sent.is_err(), "a send created {topic}: {sent:?}");
    }
    // The refusal is the one RocketMQ gives, with the reason.
    let mut c =
        ringmq_net::client::BlockingClient::connect(&broker.main_addr(), Duration::from_secs(2))
            .unwrap();
    let fields = crate::support::send_fields("%RETRY%nobody", "0");
    let r = c
        .invoke(
            RemotingCommand::request(RequestCode::SEND_MESSAGE, fields).with_body(&b"x"[..]),
            Duration::from_secs(5),
        )
        .unwrap();
    assert_eq!(
        r.code,
        ringmq_net::ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST,
        "{:?}",
        r.remark
    );
    // Not in the broker's topic table either.
    let r = c
        .invoke(
            RemotingCommand::request(RequestCode::GET_ALL_TOPIC_CONFIG, Default::default()),
            Duration::from_secs(5),
        )
        .unwrap();
    let table: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let names: Vec<&String> = table["topicConfigTable"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert!(names.iter().any(|n| n.as_str() == "TBW102"), "{names:?}");
    assert!(
        !names.iter().any(|n| n.ends_with("nobody")),
        "topics were created: {names:?}"
    );
    let mut p = p;
    p.shutdown().await;
    broker.stop();
}

fn invoke(c: &mut ringmq_net::client::BlockingClient, code: i32, body: Vec<u8>) -> RemotingCommand {
    c.invoke(
        RemotingCommand::request(code, Default::default()).with_body(body),
        Duration::from_secs(30),
    )
    .expect("an answer")
}

fn heartbeat(client_id: &str, groups: std::ops::Range<usize>, topic: &str) -> Vec<u8> {
    let consumers: Vec<serde_json::Value> = groups
        .map(|g| {
            serde_json::json!({
                "groupName": format!("flood-{g}"), "consumeType": "CONSUME_PASSIVELY",
                "messageModel": "CLUSTERING", "consumeFromWhere": "CONSUME_FROM_LAST_OFFSET",
                "subscriptionDataSet": [{"topic": topic, "subString": "*", "tagsSet": [], "codeSet": [], "subVersion": 1}],
                "unitMode": false
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "clientID": client_id, "producerDataSet": [], "consumerDataSet": consumers
    }))
    .unwrap()
}

/// Floods of per-client state, each refused past its named cap with a
/// clear answer: a 1 MiB client id, 10,001 consumer groups, and lock
/// requests for 100,352 queue locks. The broker's memory stays bounded
/// and a producer keeps sending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_state_floods_are_capped() {
    use ringmq_broker::clients::{GROUPS_MAX, LOCKS_MAX};
    use ringmq_net::ResponseCode;
    let broker = BrokerProcess::start_with_settings(
        1,
        Flush::Async,
        // Groups are not persisted: the flood is of connected-client state.
        &[("autoCreateSubscriptionGroup", "false")],
    );
    let ns = broker.namesrv();
    let p = producer(&ns, "pg-flood").await;
    crate::schedule::create_topic(&p, &ns, "FloodTopic", 1).await;
    let rss_before = rss_bytes(broker.pid());
    let addr = broker.main_addr();
    let (lock_topic_queues, granted_total) = tokio::task::spawn_blocking(move || {
        let mut c = ringmq_net::client::BlockingClient::connect(&addr, Duration::from_secs(2)).unwrap();
        // A client id of 1 MiB.
        let huge_id = "x".repeat(1 << 20);
        let r = invoke(&mut c, RequestCode::HEART_BEAT, heartbeat(&huge_id, 0..1, "FloodTopic"));
        assert_eq!(r.code, ResponseCode::INVALID_PARAMETER, "{:?}", r.remark);
        assert!(r.remark.unwrap_or_default().contains("clientID longer than"));
        // GROUPS_MAX groups in one heartbeat, then one more.
        let r = invoke(&mut c, RequestCode::HEART_BEAT, heartbeat("flooder", 0..GROUPS_MAX, "FloodTopic"));
        assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
        let r = invoke(
            &mut c,
            RequestCode::HEART_BEAT,
            heartbeat("flooder", GROUPS_MAX..GROUPS_MAX + 1, "FloodTopic"),
        );
        assert_eq!(r.code, ResponseCode::SYSTEM_ERROR, "{:?}", r.remark);
        assert!(r.remark.unwrap_or_default().contains("too many consumer groups"));
        // Queue locks: a 1024-queue topic locked by group after group.
        let r = c
            .invoke(
                crate::support::create_topic_request("LockFlood", 1024),
                Duration::from_secs(10),
            )
            .unwrap();
        assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
        let queues: Vec<serde_json::Value> = (0..1024)
            .map(|q| serde_json::json!({"topic": "LockFlood", "brokerName": "ringmq-0", "queueId": q}))
            .collect();
        let mut granted_total = 0;
        let mut last_granted = usize::MAX;
        for g in 0..(LOCKS_MAX / 1024 + 2) {
            let body = serde_json::to_vec(&serde_json::json!({
                "consumerGroup": format!("locker-{g}"), "clientId": "locker",
                "mqSet": queues, "onlyThisBroker": true
            }))
            .unwrap();
            let r = invoke(&mut c, RequestCode::LOCK_BATCH_MQ, body);
            assert_eq!(r.code, ResponseCode::SUCCESS, "{:?}", r.remark);
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            last_granted = v["lockOKMQSet"].as_array().map_or(0, Vec::len);
            granted_total += last_granted;
        }
        assert_eq!(last_granted, 0, "locks past LOCKS_MAX were granted");
        (1024, granted_total)
    })
    .await
    .unwrap();
    assert_eq!(
        granted_total, LOCKS_MAX,
        "{lock_topic_queues}-queue lock requests granted {granted_total}"
    );
    let rss_after = rss_bytes(broker.pid());
    assert!(
        rss_after.saturating_sub(rss_before) < 128 << 20,
        "RSS grew from {rss_before} to {rss_after}"
    );
    // A well-behaved client is unaffected.
    p.send(message("FloodTopic", "T", 1))
        .await
        .expect("send after the floods");
    let mut p = p;
    p.shutdown().await;
    broker.stop();
}

/// Slow-loris frames: 500 connections each declare a 16 MiB frame and then
/// trickle its bytes. The broker's buffers grow only by what arrived (not
/// by what was declared), so its memory stays bounded, and a producer's
/// sends keep going through meanwhile; a frame declared past the maximum
/// is refused and its connection closed at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_frames_cost_only_what_arrived() {
    const TRICKLERS: usize = 500;
    let broker = BrokerProcess::start(1, Flush::Async);
    let p = producer(&broker.namesrv(), "pg-trickle").await;
    p.send(message("TrickleTopic", "T", 0)).await.expect("send");
    let rss_before = rss_bytes(broker.pid());
    let addr = broker.shard_addr(0);
    let mut slow: Vec<TcpStream> = (0..TRICKLERS)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).expect("connect");
            // Length 16 MiB - 8 (16 MiB with its prefix), header length
            // 8: a frame the decoder accepts and waits for.
            let mut head = ((16u32 << 20) - 8).to_be_bytes().to_vec();
            head.extend_from_slice(&8u32.to_be_bytes());
            s.write_all(&head).expect("frame head");
            s
        })
        .collect();
    for round in 0..10 {
        for s in &mut slow {
            s.write_all(&[b'{'; 16]).expect("trickle");
        }
        p.send(message("TrickleTopic", "T", round + 1))
            .await
            .expect("send while frames trickle in");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rss_held = rss_bytes(broker.pid());
    // Declared: 500 × 16 MiB = 8 GiB. Arrived: 500 × 168 bytes.
    assert!(
        rss_held.saturating_sub(rss_before) < 64 << 20,
        "RSS grew from {rss_before} to {rss_held} for {TRICKLERS} trickled frames"
    );
    // One declared past the frame maximum is refused at once.
    let mut big = TcpStream::connect(&addr).expect("connect");
    let mut head = (1u32 << 30).to_be_bytes().to_vec();
    head.extend_from_slice(&8u32.to_be_bytes());
    big.write_all(&head).unwrap();
    assert!(
        closed_within(&mut big, Duration::from_secs(5)),
        "an oversized frame was not refused"
    );
    assert!(broker.log().contains("refused frame"));
    drop(slow);
    let mut p = p;
    p.shutdown().await;
    broker.stop();
}

/// One connection holds 1,000 long-poll pulls (30 s each) on an empty
/// queue: all are held, a producer's sends go through meanwhile, and when
/// the connection closes every one is released at once, not at its
/// deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_pulls_end_with_their_connection() {
    const HELD: i32 = 1000;
    let broker = BrokerProcess::start(1, Flush::Async);
    let p = producer(&broker.namesrv(), "pg-held").await;
    crate::schedule::create_topic(&p, &broker.namesrv(), "HeldTopic", 1).await;
    // Pulls from queue 0's end (create_topic's message may be there).
    let end: i64 = {
        let mut c = ringmq_net::client::BlockingClient::connect(
            &broker.shard_addr(0),
            Duration::from_secs(2),
        )
        .unwrap();
        let mut f = ringmq_net::ExtFields::new();
        f.insert("topic".into(), "HeldTopic".into());
        f.insert("queueId".into(), "0".into());
        let r = c
            .invoke(
                RemotingCommand::request(RequestCode::GET_MAX_OFFSET, f),
                Duration::from_secs(5),
            )
            .unwrap();
        r.ext_field("offset")
            .and_then(|o| o.parse().ok())
            .expect("max offset")
    };
    let held = |broker: &BrokerProcess| -> u64 {
        let v = broker.runtime_info(&broker.shard_addr(0));
        v["table"]["ringmqPullsHeld"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("ringmqPullsHeld")
    };
    let mut holder = TcpStream::connect(broker.shard_addr(0)).unwrap();
    let mut requests = Vec::new();
    for opaque in 0..HELD {
        let header = crate::support::pull_header("held", "HeldTopic", 0, end, 30_000);
        let request = RemotingCommand::request(RequestCode::PULL_MESSAGE, header.to_ext_fields())
            .with_opaque(opaque);
        requests.extend_from_slice(&request.encode().unwrap());
    }
    holder.write_all(&requests).unwrap();
    crate::support::eventually("1,000 pulls held", Duration::from_secs(20), || {
        held(&broker) == HELD as u64
    })
    .await;
    p.send(message("OtherTopic", "T", 0))
        .await
        .expect("send beside held pulls");
    drop(holder);
    let closed_at = Instant::now();
    crate::support::eventually("held pulls released", Duration::from_secs(20), || {
        held(&broker) == 0
    })
    .await;
    assert!(
        closed_at.elapsed() < Duration::from_secs(10),
        "held pulls outlived their connection by {:?}",
        closed_at.elapsed()
    );
    let mut p = p;
    p.shutdown().await;
    broker.stop();
}

/// One commit-log record of `topic`'s queue, as a master would ship it.
fn replicated_record(topic: &str, queue_id: i32, queue_offset: u64, at: u64) -> Vec<u8> {
    use ringmq_engine::record::{encode_record, record_size, Assigned, MessageIn};
    let host: std::net::SocketAddr = "127.0.0.1:10911".parse().unwrap();
    let msg = MessageIn {
        topic,
        queue_id: ringmq_engine::QueueId(queue_id),
        flag: 0,
        body: b"replicated",
        properties: b"",
        sys_flag: 0,
        born_timestamp_ms: 1_700_000_000_000,
        born_host: host,
        store_host: host,
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    };
    let size = record_size(&msg).unwrap();
    let mut out = Vec::new();
    let assigned = Assigned {
        queue_offset: ringmq_engine::QueueOffset(queue_offset),
        physical_offset: ringmq_engine::CommitLogOffset(at),
        store_timestamp_ms: 1_700_000_000_001,
    };
    encode_record(&msg, size, assigned, &mut out);
    out
}

/// A master's side of the HA protocol, played by the test: it accepts
/// the slave's connections and ships what it is told to.
struct FakeMaster {
    listener: std::net::TcpListener,
}

impl FakeMaster {
    /// The slave's next connection and its first report (where it wants
    /// the stream to start).
    fn accept(&self) -> (TcpStream, u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut s = loop {
            match self.listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "the slave did not connect");
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("accept: {e}"),
            }
        };
        s.set_nonblocking(false).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let first = Self::report(&mut s).expect("the slave's first report");
        (s, first)
    }

    /// The slave's next 8-byte report, or None when it closed.
    fn report(s: &mut TcpStream) -> Option<u64> {
        let mut bytes = [0u8; ringmq_net::ha::REPORT_BYTES];
        s.read_exact(&mut bytes).ok()?;
        Some(ringmq_net::ha::decode_report(&bytes).expect("a valid report"))
    }

    fn ship(s: &mut TcpStream, at: u64, bytes: &[u8]) {
        let header = ringmq_net::ha::TransferHeader {
            offset: at,
            body_bytes: bytes.len(),
        };
        s.write_all(&header.encode()).unwrap();
        s.write_all(bytes).unwrap();
    }

    /// Reads reports until one says `end`.
    fn wait_report(s: &mut TcpStream, end: u64) {
        loop {
            match Self::report(s) {
                Some(r) if r == end => return,
                Some(r) => assert!(r < end, "the slave reports {r}, past {end}"),
                None => panic!("the slave closed before reporting {end}"),
            }
        }
    }

    /// Reads reports until the slave closes the connection, which it must
    /// do within the read timeout; every report stays at or below `held`.
    fn wait_refused(s: &mut TcpStream, held: u64) {
        loop {
            let mut bytes = [0u8; ringmq_net::ha::REPORT_BYTES];
            match s.read_exact(&mut bytes) {
                Ok(()) => {
                    let r = ringmq_net::ha::decode_report(&bytes).unwrap();
                    assert!(r <= held, "the slave took a bad record: it reports {r}");
                }
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    panic!("the slave kept the connection after a bad record")
                }
                Err(_) => return,
            }
        }
    }
}

/// Every path under `root` whose name contains `needle`.
fn paths_named(root: &std::path::Path, needle: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_name().to_string_lossy().contains(needle) {
                found.push(path.clone());
            }
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                dirs.push(path);
            }
        }
    }
    found
}

/// A slave fed by a hostile master over a real HA socket: a record whose
/// topic is `../escape`, one that skips queue offsets, and one with a
/// queue id past the maximum are each refused (the connection is closed,
/// nothing of the record is kept, no path outside the store is made);
/// the slave reconnects from where it was, still takes good records, and
/// serves them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slave_refuses_records_that_escape_the_store_or_skip_offsets() {
    let ns = crate::support::NamesrvProcess::start();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let master_addr = listener.local_addr().unwrap().to_string();
    let master = FakeMaster { listener };
    let slave = BrokerProcess::start_member(
        &ns.addr,
        1,
        Flush::Async,
        &[
            ("brokerRole", "SLAVE".to_string()),
            ("brokerId", "1".to_string()),
            ("haMasterAddress", master_addr),
        ],
    );
    let (fed, slave) = tokio::task::spawn_blocking(move || {
        let good = replicated_record("Replicated", 0, 0, 0);
        let held = good.len() as u64;
        let (mut s, first) = master.accept();
        assert_eq!(first, 0, "an empty slave asks from 0");
        FakeMaster::ship(&mut s, 0, &good);
        FakeMaster::wait_report(&mut s, held);

        let hostile = [
            (
                "a topic with a path in it",
                replicated_record("../escape", 0, 0, held),
            ),
            (
                "a queue-offset gap",
                replicated_record("Replicated", 0, 5, held),
            ),
            (
                "a queue id past the maximum",
                replicated_record("Replicated", 1 << 20, 0, held),
            ),
        ];
        for (what, record) in hostile {
            FakeMaster::ship(&mut s, held, &record);
            FakeMaster::wait_refused(&mut s, held);
            let (next, from) = master.accept();
            assert_eq!(from, held, "after {what}, the slave resumes where it was");
            s = next;
        }
        let next = replicated_record("Replicated", 0, 1, held);
        FakeMaster::ship(&mut s, held, &next);
        FakeMaster::wait_report(&mut s, held + next.len() as u64);
        (held + next.len() as u64, slave)
    })
    .await
    .unwrap();

    let escaped = paths_named(&slave.dir, "escape");
    assert!(escaped.is_empty(), "paths made for ../escape: {escaped:?}");
    let log = slave.log();
    assert!(
        log.matches("replicated bytes refused").count() >= 3,
        "each bad record is logged: {log}"
    );
    // The slave serves what it took: two messages of queue 0.
    let mut c =
        ringmq_net::client::BlockingClient::connect(&slave.shard_addr(0), Duration::from_secs(2))
            .unwrap();
    let mut f = ringmq_net::ExtFields::new();
    f.insert("topic".into(), "Replicated".into());
    f.insert("queueId".into(), "0".into());
    let max = c
        .invoke(
            RemotingCommand::request(RequestCode::GET_MAX_OFFSET, f),
            Duration::from_secs(5),
        )
        .unwrap();
    assert_eq!(max.ext_field("offset"), Some("2"), "{max:?}");
    assert!(
        crate::replication::info_u64(&slave, 0, "commitLogMaxOffset") >= fed,
        "the slave's log holds both good records"
    );
    slave.stop();
}

/// `KEYS` amplification: 2,000 sends each carrying 2,500 keys (a 17 KB
/// property) would add five million key-index entries; the broker indexes
/// the first 64 of each message, its memory stays bounded, a message is
/// found by an indexed key and not by one past the cap, and another
/// client's sends keep working beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_amplification_is_capped() {
    const MESSAGES: usize = 2_000;
    const KEYS: usize = 2_500;
    let broker = BrokerProcess::start(1, Flush::Async);
    let shard = broker.shard_addr(0);
    let pid = broker.pid();
    let (rss_before, rss_after, found, past_cap) = tokio::task::spawn_blocking(move || {
        use ringmq_net::client::BlockingClient;
        let mut c = BlockingClient::connect(&shard, Duration::from_secs(2)).unwrap();
        let keys: Vec<String> = (0..KEYS).map(|j| format!("k{j:05}")).collect();
        let properties = format!("KEYS\u{1}{}\u{2}", keys.join(" "));
        let send = |c: &mut BlockingClient, i: usize| {
            let mut fields = crate::support::send_fields("KeysTopic", "0");
            fields.insert("properties".into(), properties.clone());
            let r = c
                .invoke(
                    RemotingCommand::request(RequestCode::SEND_MESSAGE, fields)
                        .with_body(format!("m{i}").into_bytes()),
                    Duration::from_secs(10),
                )
                .unwrap();
            assert_eq!(r.code, 0, "send {i}: {r:?}");
        };
        send(&mut c, 0);
        let rss_before = rss_bytes(pid);
        for i in 1..MESSAGES {
            send(&mut c, i);
        }
        let rss_after = rss_bytes(pid);
        let query = |c: &mut BlockingClient, key: &str| {
            let mut f = ringmq_net::ExtFields::new();
            for (k, v) in [
                ("topic", "KeysTopic".to_string()),
                ("key", key.to_string()),
                ("maxNum", "32".to_string()),
                ("beginTimestamp", "0".to_string()),
                ("endTimestamp", i64::MAX.to_string()),
            ] {
                f.insert(k.into(), v);
            }
            c.invoke(
                RemotingCommand::request(RequestCode::QUERY_MESSAGE, f),
                Duration::from_secs(10),
            )
            .unwrap()
            .code
        };
        let found = query(&mut c, "k00000");
        let past_cap = query(&mut c, &format!("k{:05}", KEYS - 1));
        (rss_before, rss_after, found, past_cap)
    })
    .await
    .unwrap();
    assert_eq!(found, 0, "a message is found by an indexed key");
    assert_eq!(
        past_cap,
        ringmq_net::ResponseCode::QUERY_NOT_FOUND,
        "keys past the cap are not indexed"
    );
    let grown = rss_after.saturating_sub(rss_before);
    assert!(
        grown < 64 << 20,
        "RSS grew by {} MiB for {MESSAGES} messages",
        grown >> 20
    );
    let p = producer(&broker.namesrv(), "pg-keys").await;
    p.send(message("OtherTopic", "T", 0))
        .await
        .expect("a send beside the flood");
    let mut p = p;
    p.shutdown().await;
    broker.stop();
}
