//! ACL: rocketmq-client-rust 1.0.0 signs its requests with
//! `SessionCredentials` (its `AclClientRPCHook`) against a broker with
//! `aclEnable=true`: the right account produces and consumes; a wrong
//! secret, no credentials, or an account without the permission is
//! refused; an edit of the ACL file takes effect without a restart.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocketmq_client_rust::{
    AclClientRPCHook, ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus, DefaultMQProducer,
    DefaultMQPushConsumer, MQPushConsumer, SessionCredentials,
};
use rocketmq_model::common::consumer::consume_from_where::ConsumeFromWhere;
use rocketmq_model::common::message::message_ext::MessageExt;
use rocketmq_protocol::protocol::heartbeat::message_model::MessageModel;

use crate::message;
use crate::support::{client_runtime, eventually, BrokerProcess, Flush};

fn acl_file(reader_topic_perm: &str) -> String {
    format!(
        r"
accounts:
  - accessKey: writer-key
    secretKey: writer-secret
    defaultTopicPerm: DENY
    defaultGroupPerm: DENY
    topicPerms:
      - AclTopic=PUB
  - accessKey: reader-key
    secretKey: reader-secret
    defaultTopicPerm: DENY
    defaultGroupPerm: DENY
    topicPerms:
      - AclTopic={reader_topic_perm}
    groupPerms:
      - acl-readers=SUB
  - accessKey: cluster-admin
    secretKey: cluster-secret
    admin: true
"
    )
}

fn hook(access_key: &str, secret_key: &str) -> Arc<AclClientRPCHook> {
    Arc::new(AclClientRPCHook::new(SessionCredentials::with_keys(
        access_key.to_string(),
        secret_key.to_string(),
    )))
}

async fn producer_as(ns: &str, group: &str, keys: Option<(&str, &str)>) -> DefaultMQProducer {
    let mut builder = DefaultMQProducer::builder(client_runtime(group))
        .producer_group(group)
        .name_server_addr(ns)
        .send_msg_timeout(5_000)
        .retry_times_when_send_failed(0);
    if let Some((ak, sk)) = keys {
        builder = builder.rpc_hook(hook(ak, sk));
    }
    let mut p = builder.build();
    p.start().await.expect("producer start");
    p
}

async fn consumer_as(
    ns: &str,
    group: &str,
    keys: (&str, &str),
    sink: Arc<Mutex<Vec<String>>>,
) -> DefaultMQPushConsumer {
    let mut c = DefaultMQPushConsumer::builder(client_runtime(group))
        .consumer_group(group)
        .name_server_addr(ns)
        .message_model(MessageModel::Clustering)
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .rpc_hook(Some(hook(keys.0, keys.1) as _))
        .build();
    c.subscribe("AclTopic", "*").await.expect("subscribe");
    c.register_message_listener_concurrently(
        move |msgs: &[&MessageExt], _ctx: &ConsumeConcurrentlyContext| {
            let mut s = sink.lock().unwrap();
            for m in msgs {
                s.push(String::from_utf8_lossy(&m.body().unwrap_or_default()).into_owned());
            }
            Ok(ConsumeConcurrentlyStatus::ConsumeSuccess)
        },
    );
    c.start().await.expect("push consumer start");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_accounts_produce_consume_and_are_refused_by_rocketmq_client_rust() {
    let conf = tempfile::tempdir().unwrap();
    let path = conf.path().join("plain_acl.yml");
    std::fs::write(&path, acl_file("SUB")).unwrap();
    let broker = BrokerProcess::start_with_settings(
        1,
        Flush::Async,
        &[
            ("aclEnable", "true"),
            ("plainAclFile", path.to_str().unwrap()),
        ],
    );
    let ns = broker.namesrv();

    let writer = producer_as(&ns, "pg-acl-writer", Some(("writer-key", "writer-secret"))).await;
    for i in 0..3 {
        writer
            .send(message("AclTopic", "T", i))
            .await
            .expect("the writer account publishes to AclTopic");
    }
    let refused = [
        ("pg-acl-none", None, "no credentials"),
        (
            "pg-acl-wrong",
            Some(("writer-key", "not-the-secret")),
            "a wrong secret",
        ),
        (
            "pg-acl-reader",
            Some(("reader-key", "reader-secret")),
            "an account with SUB only",
        ),
    ];
    for (group, keys, what) in refused {
        let mut p = producer_as(&ns, group, keys).await;
        let sent = p.send(message("AclTopic", "T", 99)).await;
        assert!(sent.is_err(), "a send with {what} was accepted: {sent:?}");
        p.shutdown().await;
    }
    // Each for its own reason.
    let log = broker.log();
    for why in [
        "the request is not signed (no AccessKey)",
        r#"the Signature does not match AccessKey "writer-key""#,
        r#"no PUB permission on topic "AclTopic""#,
    ] {
        assert!(log.contains(why), "no refusal {why:?} in the log:\n{log}");
    }

    // The broker registered with its embedded name server by signing with
    // the admin account (it is routable, above); a peer that is neither
    // white-listed nor signed cannot register, so cannot hijack a route,
    // and cannot open a replication connection.
    {
        use ringmq_net::client::BlockingClient;
        use ringmq_net::ResponseCode;
        let mut c = BlockingClient::connect(&ns, Duration::from_secs(2)).unwrap();
        let r = c
            .invoke(
                crate::support::register_request("ringmq-0"),
                Duration::from_secs(5),
            )
            .unwrap();
        assert_eq!(r.code, ResponseCode::NO_PERMISSION, "{:?}", r.remark);
        assert!(broker.log().contains("name server request refused by ACL"));
        let mut ha = std::net::TcpStream::connect(broker.ha_addr(0)).unwrap();
        ha.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 8];
        use std::io::Read;
        let closed = match ha.read(&mut buf) {
            Ok(0) => true,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
            Ok(_) => false,
        };
        assert!(closed, "an HA connection was kept");
        assert!(broker.log().contains("HA connection refused by ACL"));
    }

    // The reader account consumes; the writer account, without SUB on
    // the topic or the group, gets nothing.
    let got = Arc::new(Mutex::new(Vec::new()));
    let mut reader = consumer_as(
        &ns,
        "acl-readers",
        ("reader-key", "reader-secret"),
        got.clone(),
    )
    .await;
    let denied = Arc::new(Mutex::new(Vec::new()));
    let mut intruder = consumer_as(
        &ns,
        "acl-writers",
        ("writer-key", "writer-secret"),
        denied.clone(),
    )
    .await;
    eventually(
        "the reader account gets the three messages",
        Duration::from_secs(60),
        || got.lock().unwrap().len() >= 3,
    )
    .await;
    let mut bodies = got.lock().unwrap().clone();
    bodies.sort();
    bodies.dedup();
    assert_eq!(bodies, vec!["body-0", "body-1", "body-2"]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        denied.lock().unwrap().is_empty(),
        "an account without SUB consumed: {:?}",
        denied.lock().unwrap()
    );
    intruder.shutdown().await;
    reader.shutdown().await;

    // Granting PUB in the file lets the reader publish, without a restart.
    std::fs::write(&path, acl_file("PUB|SUB")).unwrap();
    let mut p = producer_as(&ns, "pg-acl-reader2", Some(("reader-key", "reader-secret"))).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match p.send(message("AclTopic", "T", 100)).await {
            Ok(_) => break,
            Err(e) => assert!(
                Instant::now() < deadline,
                "the reloaded ACL file did not take effect: {e:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(broker.log().contains("ACL file reloaded"));
    p.shutdown().await;
    let mut writer = writer;
    writer.shutdown().await;
    broker.stop();
}

/// The standalone `mqnamesrv --aclFile`: a broker of the cluster (signing
/// with the file's admin account) registers and is routed; an unsigned
/// registration from a peer that is not white-listed is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_namesrv_takes_registrations_only_from_the_cluster() {
    use ringmq_net::client::BlockingClient;
    use ringmq_net::{ExtFields, RemotingCommand, RequestCode, ResponseCode};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain_acl.yml");
    std::fs::write(&file, acl_file("PUB|SUB")).unwrap();
    let ns =
        crate::support::NamesrvProcess::start_with_args(&["--aclFile", file.to_str().unwrap()]);
    let broker = BrokerProcess::start_member(
        &ns.addr,
        1,
        Flush::Async,
        &[
            ("aclEnable", "true".to_string()),
            ("plainAclFile", file.display().to_string()),
        ],
    );
    let addr = ns.addr.clone();
    let (registered, refused) = tokio::task::spawn_blocking(move || {
        let mut c = BlockingClient::connect(&addr, Duration::from_secs(2)).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let registered = loop {
            let r = c
                .invoke(
                    RemotingCommand::request(
                        RequestCode::GET_BROKER_CLUSTER_INFO,
                        ExtFields::new(),
                    ),
                    Duration::from_secs(5),
                )
                .unwrap();
            let text = String::from_utf8_lossy(&r.body).into_owned();
            if text.contains("ringmq-0") || std::time::Instant::now() > deadline {
                break text.contains("ringmq-0");
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let r = c
            .invoke(
                crate::support::register_request("intruder-0"),
                Duration::from_secs(5),
            )
            .unwrap();
        (registered, r.code)
    })
    .await
    .unwrap();
    assert!(
        registered,
        "the ACL broker's signed registration was not taken"
    );
    assert_eq!(refused, ResponseCode::NO_PERMISSION);
    broker.stop();
}

/// END_TRANSACTION names no topic, so the broker checks PUB on the topic
/// of the half message it resolves: an account that may only read the
/// topic can neither commit nor roll back a producer's half message; the
/// producing account commits it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_transaction_needs_pub_on_the_half_messages_topic() {
    use ringmq_net::client::BlockingClient;
    use ringmq_net::{RemotingCommand, RequestCode, ResponseCode};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain_acl.yml");
    std::fs::write(&path, acl_file("SUB")).unwrap();
    let broker = BrokerProcess::start_with_settings(
        1,
        Flush::Async,
        &[
            ("aclEnable", "true"),
            ("plainAclFile", path.to_str().unwrap()),
        ],
    );
    let shard = broker.shard_addr(0);
    let codes = tokio::task::spawn_blocking(move || {
        let mut c = BlockingClient::connect(&shard, Duration::from_secs(2)).unwrap();
        let mut call = |mut request: RemotingCommand, (ak, sk): (&str, &str)| {
            ringmq_net::acl::sign(&mut request, ak, sk);
            c.invoke(request, Duration::from_secs(5)).unwrap()
        };
        let admin = ("cluster-admin", "cluster-secret");
        let created = call(crate::support::create_topic_request("AclTopic", 1), admin);
        assert_eq!(created.code, ResponseCode::SUCCESS, "{created:?}");
        let mut fields = crate::support::send_fields("AclTopic", "0");
        fields.insert(
            "properties".into(),
            "TRAN_MSG\u{1}true\u{2}PGROUP\u{1}pg-tx\u{2}".into(),
        );
        let half = call(
            RemotingCommand::request(RequestCode::SEND_MESSAGE, fields).with_body(b"half".to_vec()),
            ("writer-key", "writer-secret"),
        );
        assert_eq!(half.code, ResponseCode::SUCCESS, "{half:?}");
        let msg_id = half.ext_field("msgId").unwrap().to_string();
        // An offset message id ends with the commit-log offset (16 hex digits).
        let commit_log_offset = i64::from_str_radix(&msg_id[msg_id.len() - 16..], 16).unwrap();
        let end = |commit_or_rollback: &str| {
            let mut f = ringmq_net::ExtFields::new();
            for (k, v) in [
                ("producerGroup", "pg-tx".to_string()),
                (
                    "tranStateTableOffset",
                    half.ext_field("queueOffset").unwrap().to_string(),
                ),
                ("commitLogOffset", commit_log_offset.to_string()),
                ("commitOrRollback", commit_or_rollback.to_string()),
                ("fromTransactionCheck", "false".to_string()),
                ("msgId", msg_id.clone()),
            ] {
                f.insert(k.into(), v);
            }
            RemotingCommand::request(RequestCode::END_TRANSACTION, f)
        };
        let reader = ("reader-key", "reader-secret");
        let reader_commit = call(end("8"), reader).code;
        let reader_rollback = call(end("12"), reader).code;
        let writer_commit = call(end("8"), ("writer-key", "writer-secret")).code;
        (reader_commit, reader_rollback, writer_commit)
    })
    .await
    .unwrap();
    assert_eq!(
        codes,
        (
            ResponseCode::NO_PERMISSION,
            ResponseCode::NO_PERMISSION,
            ResponseCode::SUCCESS
        ),
        "{}",
        broker.log()
    );
    broker.stop();
}
