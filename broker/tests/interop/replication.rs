//! Master/slave replication (issue: replication per shard), driven by
//! rocketmq-client-rust against real `mqbroker` processes on loopback.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use ringmq_net::client::BlockingClient;
use ringmq_net::{ExtFields, RemotingCommand, RequestCode, ResponseCode};
use rocketmq_model::result::SendStatus;

use super::support::{BrokerProcess, CuttableProxy, Flush, NamesrvProcess};
use super::*;

fn crc(body: &[u8]) -> u32 {
    crc32fast::hash(body) & 0x7FFF_FFFF
}

fn master(
    ns: &str,
    shards: u16,
    flush: Flush,
    role: &str,
    extra: &[(&str, String)],
) -> BrokerProcess {
    let mut settings = vec![("brokerRole", role.to_string())];
    settings.extend(extra.iter().cloned());
    BrokerProcess::start_member(ns, shards, flush, &settings)
}

fn slave(ns: &str, shards: u16, flush: Flush, extra: &[(&str, String)]) -> BrokerProcess {
    let mut settings = vec![
        ("brokerRole", "SLAVE".to_string()),
        ("brokerId", "1".to_string()),
        ("slaveReadEnable", "true".to_string()),
    ];
    settings.extend(extra.iter().cloned());
    BrokerProcess::start_member(ns, shards, flush, &settings)
}

pub(crate) fn info_u64(broker: &BrokerProcess, shard: u16, key: &str) -> u64 {
    let v = broker.runtime_info(&broker.shard_addr(shard));
    v["table"][key]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{key} in runtime info: {v}"))
}

/// Waits until the master reports every shard's slave holding everything
/// written (runtime info: the slave's reported offset = the log's end).
async fn wait_caught_up(master: &BrokerProcess) {
    for shard in 0..master.shards {
        let key = format!("ringmqShard{shard}HaPeerOffset");
        eventually(
            &format!("slave of shard {shard} catches up"),
            Duration::from_secs(30),
            || info_u64(master, shard, &key) == info_u64(master, shard, "commitLogMaxOffset"),
        )
        .await;
    }
}

/// `shorter` equals `longer` up to where it ends: every byte after the
/// first difference is zero in `shorter`. Returns that position.
fn assert_prefix(shorter: &Path, longer: &Path) -> usize {
    let a = std::fs::read(shorter).expect("slave segment");
    let b = std::fs::read(longer).expect("master segment");
    assert_eq!(a.len(), b.len(), "segment sizes");
    let diff = a
        .iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len());
    assert!(
        a[diff..].iter().all(|&x| x == 0),
        "{} differs from {} at {diff}, before its end",
        shorter.display(),
        longer.display()
    );
    diff
}

fn assert_logs_identical(a: &BrokerProcess, b: &BrokerProcess) {
    for shard in 0..a.shards {
        let (fa, fb) = (a.commit_log_files(shard), b.commit_log_files(shard));
        assert_eq!(fa.len(), fb.len(), "segment count of shard {shard}");
        assert!(!fa.is_empty());
        for (x, y) in fa.iter().zip(&fb) {
            assert_eq!(x.file_name(), y.file_name());
            let (bx, by) = (std::fs::read(x).unwrap(), std::fs::read(y).unwrap());
            let first = bx.iter().zip(&by).position(|(p, q)| p != q);
            assert!(
                bx.len() == by.len() && first.is_none(),
                "shard {shard} segment {:?} differs at {first:?}",
                x.file_name()
            );
        }
    }
}

/// Collects (body, stored body CRC) of everything a push consumer gets.
type Received = Arc<Mutex<Vec<(String, u32)>>>;

async fn crc_consumer(ns: &str, group: &str, topic: &str, sink: Received) -> DefaultMQPushConsumer {
    let mut c = DefaultMQPushConsumer::builder(client_runtime(group))
        .consumer_group(group)
        .name_server_addr(ns)
        .message_model(MessageModel::Clustering)
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .pull_batch_size(32)
        .build();
    c.subscribe(topic, "*").await.expect("subscribe");
    c.register_message_listener_concurrently(
        move |msgs: &[&MessageExt], _ctx: &ConsumeConcurrentlyContext| {
            let mut s = sink.lock().unwrap();
            for m in msgs {
                let body = m.body().unwrap_or_default();
                assert_eq!(crc(&body), m.body_crc(), "stored CRC matches the body");
                s.push((String::from_utf8_lossy(&body).into_owned(), m.body_crc()));
            }
            Ok(ConsumeConcurrentlyStatus::ConsumeSuccess)
        },
    );
    c.start().await.expect("consumer start");
    c
}

/// SYNC_MASTER + SYNC_FLUSH, a producer sending all the time, `kill -9`
/// of the master mid-stream: every send the producer saw acknowledged
/// (SEND_OK) is read back from the slave with the same body CRC, and the
/// slave's commit log is a byte-identical prefix of the dead master's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_master_killed_mid_stream_loses_nothing_acknowledged() {
    let ns = NamesrvProcess::start();
    let mut m = master(&ns.addr, 2, Flush::Sync, "SYNC_MASTER", &[]);
    let s = slave(&ns.addr, 2, Flush::Sync, &[]);
    let topic = "HaKillTopic";
    let mut p = producer(&ns.addr, "pg-ha-kill").await;
    // The first send creates the topic; wait for both shards' slaves.
    for shard in 0..2 {
        let key = format!("ringmqShard{shard}HaPeers");
        eventually("slave connected", Duration::from_secs(20), || {
            info_u64(&m, shard, &key) == 1
        })
        .await;
    }
    let acked: Arc<Mutex<BTreeMap<String, u32>>> = Arc::default();
    let sender = {
        let acked = acked.clone();
        tokio::spawn(async move {
            let mut errors = 0;
            for i in 0.. {
                let msg = message(topic, "T", i);
                let body = format!("body-{i}");
                match p.send(msg).await {
                    Ok(Some(r)) if r.send_status == SendStatus::SendOk => {
                        acked
                            .lock()
                            .unwrap()
                            .insert(body.clone(), crc(body.as_bytes()));
                    }
                    Ok(_) => {}
                    Err(_) => {
                        errors += 1;
                        if errors >= 3 {
                            break;
                        }
                    }
                }
            }
            p.shutdown().await;
        })
    };
    eventually("300 acknowledged sends", Duration::from_secs(60), || {
        acked.lock().unwrap().len() >= 300
    })
    .await;
    m.kill9();
    tokio::time::timeout(Duration::from_secs(120), sender)
        .await
        .expect("producer notices the dead master")
        .unwrap();
    let acked = acked.lock().unwrap().clone();

    // Consumers find the group on the slave (the master is gone from the
    // routes; the queue data stays while the slave is registered).
    let got: Received = Arc::default();
    let mut c = crc_consumer(&ns.addr, "cg-ha-kill", topic, got.clone()).await;
    eventually(
        "every acknowledged message from the slave",
        Duration::from_secs(90),
        || {
            let got = got.lock().unwrap();
            let have: BTreeMap<&str, u32> = got.iter().map(|(b, c)| (b.as_str(), *c)).collect();
            let missing = acked
                .iter()
                .filter(|(b, c)| have.get(b.as_str()) != Some(c))
                .count();
            eprintln!(
                "acked {} received {} missing {missing}",
                acked.len(),
                got.len()
            );
            missing == 0
        },
    )
    .await;
    c.shutdown().await;
    for shard in 0..2 {
        for (x, y) in s
            .commit_log_files(shard)
            .iter()
            .zip(&m.commit_log_files(shard))
        {
            assert_prefix(x, y);
        }
    }
    s.stop();
}

/// ASYNC_MASTER: the slave is stopped while the master keeps taking
/// writes, restarted, killed and restarted again; it catches up and the
/// two commit logs end byte-identical. Topic config and consumer offsets
/// reach the slave too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_master_slave_catches_up_after_restart() {
    let ns = NamesrvProcess::start();
    let m = master(&ns.addr, 2, Flush::Async, "ASYNC_MASTER", &[]);
    let mut s = slave(&ns.addr, 2, Flush::Async, &[]);
    let topic = "HaAsyncTopic";
    let mut p = producer(&ns.addr, "pg-ha-async").await;
    let send = async |range: std::ops::Range<usize>| {
        for i in range {
            let r = p.send(message(topic, "T", i)).await.expect("send");
            assert_eq!(r.expect("result").send_status, SendStatus::SendOk);
        }
    };
    send(0..100).await;
    s.stop_cleanly();
    send(100..250).await;
    s.restart();
    send(250..300).await;
    s.kill9();
    send(300..350).await;
    s.restart();
    send(350..400).await;
    wait_caught_up(&m).await;

    // Consumer offsets committed on the master reach the slave's store.
    assert_eq!(
        consume_bodies(&ns.addr, "cg-ha-async", topic, 400).await,
        bodies(0..400)
    );
    eventually("offsets on the master", Duration::from_secs(10), || {
        durable_offsets_sum(&m, "cg-ha-async") == 400
    })
    .await;
    eventually(
        "offsets copied to the slave",
        Duration::from_secs(30),
        || durable_offsets_sum(&s, "cg-ha-async") == 400,
    )
    .await;
    let slave_topics =
        std::fs::read_to_string(s.store_dir().join("store/config/topics.json")).unwrap();
    assert!(
        slave_topics.contains(topic),
        "topic config copied to the slave"
    );

    // Delay-level progress reaches the slave too (level 1: 1 s).
    for i in 0..4 {
        let mut msg = message(topic, "D", 1_000 + i);
        msg.set_delay_time_level(1);
        p.send(msg).await.expect("delayed send");
    }
    eventually(
        "delayed messages delivered on the master",
        Duration::from_secs(20),
        || {
            delay_offsets(&m)
                .iter()
                .map(|t| t.get("1").copied().unwrap_or(0))
                .sum::<i64>()
                == 4
        },
    )
    .await;
    // (Other levels may move too: the client hands messages it had not
    // consumed at shutdown back for a retry.)
    eventually(
        "delay offsets copied to the slave",
        Duration::from_secs(30),
        || delay_offsets(&s) == delay_offsets(&m),
    )
    .await;

    // And the timer checkpoint: two timer messages, then the slave holds
    // the master's checkpoint (what it would take over with).
    for i in 0..2 {
        let msg = Message::builder()
            .topic(topic)
            .tags("D")
            .body_slice(format!("timer-{i}").as_bytes())
            .delay_millis(500)
            .build_unchecked();
        p.send(msg).await.expect("timer send");
    }
    let timer_state = |b: &BrokerProcess| b.shard_config_files("timerCheckpoint.json");
    eventually(
        "timers read in on the master",
        Duration::from_secs(20),
        || {
            timer_state(&m)
                .iter()
                .filter_map(|c| c["enqueuedTo"].as_i64())
                .sum::<i64>()
                == 2
        },
    )
    .await;
    eventually(
        "timer checkpoints copied to the slave",
        Duration::from_secs(30),
        || timer_state(&s) == timer_state(&m),
    )
    .await;

    // And which groups POP which topics.
    let r = super::schedule::admin_call(
        &m.main_addr(),
        ringmq_net::RequestCode::SET_MESSAGE_REQUEST_MODE,
        &[],
        format!(
            r#"{{"topic":"{topic}","consumerGroup":"cg-ha-pop","mode":"POP","popShareQueueNum":0}}"#
        )
        .into_bytes(),
    );
    assert_eq!(r.code, ringmq_net::ResponseCode::SUCCESS, "{:?}", r.remark);
    eventually(
        "request modes copied to the slave",
        Duration::from_secs(30),
        || {
            std::fs::read_to_string(s.store_dir().join("store/config/messageRequestMode.json"))
                .is_ok_and(|t| t.contains("cg-ha-pop"))
        },
    )
    .await;

    // And transactions: the committed halves' progress (CID_RMQ_SYS_TRANS
    // offsets) reaches the slave with the log.
    let mut tp = super::transaction::transaction_producer(&ns.addr, "pg-ha-tx", topic).await;
    let tx: Vec<String> = (0..2).map(|i| format!("commit-ha-{i}")).collect();
    super::transaction::send_all(&mut tp, topic, &tx).await;
    tp.shutdown().await;
    let half_progress = |b: &BrokerProcess| -> i64 {
        b.shard_config_files("consumerOffset.json")
            .iter()
            .filter_map(|f| {
                f["offsetTable"]["RMQ_SYS_TRANS_HALF_TOPIC@CID_RMQ_SYS_TRANS"]["0"].as_i64()
            })
            .sum()
    };
    eventually(
        "transactions resolved on the master",
        Duration::from_secs(20),
        || half_progress(&m) == tx.len() as i64,
    )
    .await;
    eventually(
        "transaction progress copied to the slave",
        Duration::from_secs(30),
        || half_progress(&s) == tx.len() as i64,
    )
    .await;

    p.shutdown().await;
    let (mut m, mut s) = (m, s);
    m.stop_cleanly();
    s.stop_cleanly();
    assert_logs_identical(&m, &s);
}

/// Each shard's saved `delayOffset.json`: level → next offset.
fn delay_offsets(b: &BrokerProcess) -> Vec<BTreeMap<String, i64>> {
    b.shard_config_files("delayOffset.json")
        .iter()
        .map(|v| {
            v["offsetTable"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(level, o)| Some((level.clone(), o.as_i64()?)))
                .collect()
        })
        .collect()
}

/// The replication connection is cut (both sockets closed) again and
/// again while messages flow: each time the slave reconnects and resumes
/// where it was, so the logs end byte-identical and a consumer reading
/// only the slave gets every message once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_replication_connection_resumes_without_gaps_or_duplicates() {
    let ns = NamesrvProcess::start();
    let m = master(&ns.addr, 1, Flush::Async, "ASYNC_MASTER", &[]);
    let mut proxy = CuttableProxy::start(m.ha_addr(0));
    let s = slave(
        &ns.addr,
        1,
        Flush::Async,
        &[("haMasterAddress", proxy.addr.clone())],
    );
    let topic = "HaCutTopic";
    let mut p = producer(&ns.addr, "pg-ha-cut").await;
    for round in 0..6 {
        for i in round * 50..(round + 1) * 50 {
            // A large body, so cuts land inside transfers.
            let mut msg = message(topic, "T", i);
            msg.set_body(Some(
                format!("body-{i}-{}", "x".repeat(4000)).into_bytes().into(),
            ));
            p.send(msg).await.expect("send");
        }
        proxy.cut();
        // The slave notices and reconnects (after a second) before the
        // next round, so every round's transfer is cut while live.
        let connected = round + 2;
        eventually("the slave reconnects", Duration::from_secs(20), || {
            s.log().matches("replicating from master").count() >= connected
        })
        .await;
    }
    wait_caught_up(&m).await;
    p.shutdown().await;
    let mut m = m;
    m.stop_cleanly(); // unregisters: consumers now read the slave only
    let got: Received = Arc::default();
    let mut c = crc_consumer(&ns.addr, "cg-ha-cut", topic, got.clone()).await;
    eventually("300 from the slave", Duration::from_secs(60), || {
        got.lock().unwrap().len() >= 300
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    c.shutdown().await;
    let got = got.lock().unwrap().clone();
    let distinct: HashSet<&str> = got
        .iter()
        .map(|(b, _)| &b[..b.find("-x").unwrap_or(b.len())])
        .collect();
    assert_eq!(distinct.len(), 300);
    assert_eq!(got.len(), 300, "no message twice");
    let mut s = s;
    s.stop_cleanly();
    assert_logs_identical(&m, &s);
}

/// One request with these header fields, on a fresh connection.
fn raw_request(addr: &str, code: i32, fields: &[(&str, &str)], body: &[u8]) -> RemotingCommand {
    let mut c = BlockingClient::connect(addr, Duration::from_secs(2)).expect("connect");
    let mut ext = ExtFields::new();
    for (k, v) in fields {
        ext.insert((*k).into(), (*v).into());
    }
    let req = RemotingCommand::request(code, ext).with_body(body.to_vec());
    c.invoke(req, Duration::from_secs(5)).expect("answered")
}

fn raw_send(addr: &str, topic: &str) -> RemotingCommand {
    let fields = [
        ("producerGroup", "pg-raw"),
        ("topic", topic),
        ("defaultTopic", "TBW102"),
        ("defaultTopicQueueNums", "4"),
        ("queueId", "0"),
        ("sysFlag", "0"),
        ("bornTimestamp", "0"),
        ("flag", "0"),
        ("properties", ""),
        ("reconsumeTimes", "0"),
        ("unitMode", "false"),
        ("batch", "false"),
    ];
    raw_request(addr, RequestCode::SEND_MESSAGE, &fields, b"raw")
}

fn raw_pull(addr: &str, topic: &str) -> RemotingCommand {
    let fields = [
        ("consumerGroup", "cg-raw"),
        ("topic", topic),
        ("queueId", "0"),
        ("queueOffset", "0"),
        ("maxMsgNums", "32"),
        ("sysFlag", "4"),
        ("commitOffset", "0"),
        ("suspendTimeoutMillis", "0"),
        ("subscription", "*"),
        ("subVersion", "0"),
    ];
    raw_request(addr, RequestCode::PULL_MESSAGE, &fields, b"")
}

/// A one-shard `SYNC_MASTER` that gives up on its slave after 1.5 s.
fn sync_master(ns: &str) -> BrokerProcess {
    master(
        ns,
        1,
        Flush::Async,
        "SYNC_MASTER",
        &[("slaveTimeout", "1500".to_string())],
    )
}

async fn send_status(p: &mut DefaultMQProducer, topic: &str, i: usize) -> SendStatus {
    p.send(message(topic, "T", i))
        .await
        .expect("send")
        .expect("result")
        .send_status
}

/// What producers and consumers are told: SLAVE_NOT_AVAILABLE with no
/// slave, FLUSH_SLAVE_TIMEOUT when the slave stops answering, SEND_OK
/// when it does; a slave refuses sends, and pulls unless slaveReadEnable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_master_statuses_and_slave_refusals() {
    let ns = NamesrvProcess::start();
    let m = sync_master(&ns.addr);
    let topic = "HaStatusTopic";
    let mut p = producer(&ns.addr, "pg-ha-status").await;
    let status = async |p: &mut DefaultMQProducer, i: usize| send_status(p, topic, i).await;
    assert_eq!(status(&mut p, 0).await, SendStatus::SlaveNotAvailable);

    let s = slave(
        &ns.addr,
        1,
        Flush::Async,
        &[("slaveReadEnable", "false".into())],
    );
    eventually("slave connected", Duration::from_secs(20), || {
        info_u64(&m, 0, "ringmqShard0HaPeers") == 1
    })
    .await;
    assert_eq!(status(&mut p, 1).await, SendStatus::SendOk);

    // A slave that stops answering: the send is stored on the master, and
    // the producer hears FLUSH_SLAVE_TIMEOUT after slaveTimeout.
    let pid = s.pid();
    // SAFETY: signals to our own child process.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let started = Instant::now();
    let stalled = status(&mut p, 2).await;
    unsafe { libc::kill(pid, libc::SIGCONT) };
    assert_eq!(stalled, SendStatus::FlushSlaveTimeout);
    assert!(started.elapsed() >= Duration::from_millis(1500));
    assert_eq!(status(&mut p, 3).await, SendStatus::SendOk);

    let refused = raw_send(&s.shard_addr(0), topic);
    assert_eq!(refused.code, ResponseCode::SYSTEM_BUSY);
    assert!(
        refused.remark.as_deref().unwrap_or("").contains("SLAVE"),
        "{:?}",
        refused.remark
    );
    let pull = raw_pull(&s.shard_addr(0), topic);
    assert_eq!(pull.code, ResponseCode::SYSTEM_BUSY);
    assert!(pull
        .remark
        .as_deref()
        .unwrap_or("")
        .contains("slaveReadEnable"));
    let on_master = raw_pull(&m.shard_addr(0), topic).code;
    assert!(
        on_master == ResponseCode::SUCCESS || on_master == ResponseCode::PULL_NOT_FOUND,
        "the master serves pulls: {on_master}"
    );
    p.shutdown().await;
    s.stop();
    m.stop();
}

/// A slave that reports holding bytes it was never sent (a bug, or a
/// stranger on the HA port) is disconnected, and its report releases no
/// `SYNC_MASTER` send: the producer hears SLAVE_NOT_AVAILABLE, not SEND_OK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slave_report_past_what_was_sent_is_refused() {
    use std::io::{Read, Write};
    let ns = NamesrvProcess::start();
    let m = sync_master(&ns.addr);
    let topic = "HaLyingSlaveTopic";
    let mut p = producer(&ns.addr, "pg-ha-lying").await;
    assert_eq!(
        send_status(&mut p, topic, 0).await,
        SendStatus::SlaveNotAvailable
    );

    // The HA protocol's reports are 8-byte big-endian offsets: first where
    // to start (0: the last segment), then how far the slave holds.
    let mut liar = std::net::TcpStream::connect(m.ha_addr(0)).expect("HA port");
    liar.write_all(&0u64.to_be_bytes()).unwrap();
    eventually(
        "the liar is a connected slave",
        Duration::from_secs(10),
        || info_u64(&m, 0, "ringmqShard0HaPeers") == 1,
    )
    .await;
    liar.write_all(&(1u64 << 40).to_be_bytes()).unwrap();
    eventually("the master drops the liar", Duration::from_secs(10), || {
        info_u64(&m, 0, "ringmqShard0HaPeers") == 0
    })
    .await;
    // The master closed its end: reading drains what it sent, then ends.
    liar.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut sink = Vec::new();
    liar.read_to_end(&mut sink)
        .expect("the master closes the connection");
    assert_eq!(
        send_status(&mut p, topic, 1).await,
        SendStatus::SlaveNotAvailable
    );
    p.shutdown().await;
    m.stop();
}
