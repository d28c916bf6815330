//! TLS on the client ports (`tlsMode`): rocketmq-client-rust with
//! `use_tls`, verifying the broker's certificate (a self-signed one made
//! for 127.0.0.1), produces and consumes through the name server and the
//! shards; in `permissive` mode a plain client works beside it, in
//! `enforcing` mode a plain connection to a shard is closed unanswered.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rocketmq_client_rust::{
    ClientConfig, DefaultMQProducer, DefaultMQPushConsumer, MQPushConsumer,
};
use rocketmq_client_rust::{ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus};
use rocketmq_model::common::consumer::consume_from_where::ConsumeFromWhere;
use rocketmq_model::common::message::message_ext::MessageExt;

use crate::support::{client_runtime, eventually, BrokerProcess, Flush};
use crate::{message, producer, seen, Collected};

/// A self-signed certificate for 127.0.0.1 and localhost: (cert, key) paths.
fn certificate(dir: &std::path::Path) -> (String, String) {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("certificate");
    let (cert, key) = (dir.join("broker.pem"), dir.join("broker.key"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    (cert.display().to_string(), key.display().to_string())
}

fn tls_config(ns: &str, trust: &str) -> ClientConfig {
    let mut c = ClientConfig::default();
    c.set_use_tls(true);
    c.set_tls_client_auth_server(true);
    c.set_tls_client_trust_cert_path(trust);
    c.set_namesrv_addr(ns.into());
    c
}

async fn tls_producer(ns: &str, trust: &str, group: &str) -> DefaultMQProducer {
    let mut p = DefaultMQProducer::builder(client_runtime(group))
        .client_config(tls_config(ns, trust))
        .producer_group(group)
        .name_server_addr(ns)
        .send_msg_timeout(5_000)
        .build();
    p.start().await.expect("TLS producer start");
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_clients_produce_and_consume_beside_plain_ones() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(certs.path());
    let broker = BrokerProcess::start_with_settings(
        2,
        Flush::Async,
        &[
            ("tlsMode", "permissive"),
            ("tlsServerCertPath", &cert),
            ("tlsServerKeyPath", &key),
        ],
    );
    let ns = broker.namesrv();
    let topic = "TlsTopic";
    let mut secure = tls_producer(&ns, &cert, "pg-tls").await;
    crate::schedule::create_topic(&secure, &ns, topic, 2).await;
    for i in 0..10 {
        secure
            .send(message(topic, "T", i))
            .await
            .expect("TLS send")
            .expect("result");
    }
    let mut plain = producer(&ns, "pg-plain").await;
    for i in 10..20 {
        plain
            .send(message(topic, "T", i))
            .await
            .expect("plain send")
            .expect("result");
    }
    let got: Collected = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    let mut c = DefaultMQPushConsumer::builder(client_runtime("cg-tls"))
        .client_config(tls_config(&ns, &cert))
        .consumer_group("cg-tls")
        .name_server_addr(&ns)
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .build();
    c.subscribe(topic, "*").await.expect("subscribe");
    c.register_message_listener_concurrently(
        move |msgs: &[&MessageExt], _ctx: &ConsumeConcurrentlyContext| {
            sink.lock().unwrap().extend(msgs.iter().map(|m| seen(m)));
            Ok(ConsumeConcurrentlyStatus::ConsumeSuccess)
        },
    );
    c.start().await.expect("TLS consumer start");
    eventually(
        "the TLS consumer gets all 20",
        Duration::from_secs(60),
        || {
            let bodies: std::collections::HashSet<String> =
                got.lock().unwrap().iter().map(|s| s.body.clone()).collect();
            (0..20).all(|i| bodies.contains(&format!("body-{i}")))
        },
    )
    .await;
    assert!(
        !broker.log().contains("TLS handshake failed"),
        "{}",
        broker.log()
    );
    c.shutdown().await;
    secure.shutdown().await;
    plain.shutdown().await;
    broker.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enforcing_mode_closes_plain_connections() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(certs.path());
    let broker = BrokerProcess::start_with_settings(
        1,
        Flush::Async,
        &[
            ("tlsMode", "enforcing"),
            ("tlsServerCertPath", &cert),
            ("tlsServerKeyPath", &key),
        ],
    );
    let ns = broker.namesrv();
    // A plain request to the shard gets no answer: the connection closes.
    let addr = broker.shard_addr(0);
    let closed = tokio::task::spawn_blocking(move || {
        let mut c =
            ringmq_net::client::BlockingClient::connect(&addr, Duration::from_secs(5)).unwrap();
        let request = ringmq_net::RemotingCommand::request(
            ringmq_net::RequestCode::GET_BROKER_RUNTIME_INFO,
            ringmq_net::ExtFields::new(),
        );
        c.invoke(request, Duration::from_secs(5)).is_err()
    })
    .await
    .unwrap();
    assert!(
        closed,
        "a plain request was answered under tlsMode=enforcing"
    );
    // A TLS client is served.
    let mut secure = tls_producer(&ns, &cert, "pg-enforced").await;
    crate::schedule::create_topic(&secure, &ns, "EnforcedTopic", 1).await;
    let r = secure
        .send(message("EnforcedTopic", "T", 1))
        .await
        .expect("TLS send");
    assert!(r.is_some());
    secure.shutdown().await;
    assert!(broker
        .log()
        .contains("plain connection refused: tlsMode=enforcing"));

    // RingMQ's own tools speak TLS too: the admin client (blocking, what
    // mqadmin and the dashboard use) and the pipelined one (mqbench's).
    let trusted = ringmq_net::tls::ClientTls::load(std::path::Path::new(&cert)).unwrap();
    let shard = broker.shard_addr(0);
    let (blocking, plain_refused) = {
        let (trusted, ns, shard) = (trusted.clone(), ns.clone(), shard.clone());
        tokio::task::spawn_blocking(move || {
            let secure = ringmq_tools::admin::Admin::new(&ns, None).with_tls(Some(trusted));
            let info = secure
                .runtime_info(&shard)
                .map(|t| t.contains_key("msgPutTotalTodayNow"));
            let plain = ringmq_tools::admin::Admin::new(&ns, None).runtime_info(&shard);
            (info.map_err(|e| e.to_string()), plain.is_err())
        })
        .await
        .unwrap()
    };
    assert_eq!(blocking, Ok(true), "the admin client over TLS");
    assert!(plain_refused, "the admin client without TLS is refused");
    let pipelined = std::thread::spawn(move || {
        glommio::LocalExecutorBuilder::default()
            .io_memory(1 << 20)
            .make()
            .unwrap()
            .run(async move {
                let client = ringmq_net::pipelined::PipelinedClient::with_tls(shard, Some(trusted));
                let request = ringmq_net::RemotingCommand::request(
                    ringmq_net::RequestCode::GET_BROKER_RUNTIME_INFO,
                    ringmq_net::ExtFields::new(),
                );
                client.invoke(request).await.map(|r| r.code)
            })
    })
    .join()
    .unwrap();
    assert_eq!(pipelined, Ok(ringmq_net::ResponseCode::SUCCESS));
    broker.stop();
}
