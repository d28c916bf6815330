//! Request-reply (issue: transactions, filters and more clients, point 3):
//! rocketmq-client-rust's `request()` gets the reply a responder sends with
//! `MessageUtil::create_reply_message`, through a real `mqbroker`.

use std::time::Duration;

use rocketmq_client_rust::MessageUtil;

use super::schedule::create_topic;
use super::support::{BrokerProcess, Flush};
use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_gets_the_responders_reply() {
    let broker = BrokerProcess::start(2, Flush::Async);
    let ns = broker.namesrv();
    let topic = "RequestTopic";
    let mut requester = producer(&ns, "pg-requester").await;
    create_topic(&requester, &ns, topic, 2).await;

    // The responder: a consumer whose listener hands requests to a task
    // that replies with its own producer.
    let mut responder = producer(&ns, "pg-responder").await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<MessageExt>();
    let mut c = DefaultMQPushConsumer::builder(client_runtime("cg-responder"))
        .consumer_group("cg-responder")
        .name_server_addr(&ns)
        .message_model(MessageModel::Clustering)
        .consume_from_where(ConsumeFromWhere::ConsumeFromLastOffset)
        .build();
    c.subscribe(topic, "Q").await.expect("subscribe");
    c.register_message_listener_concurrently(
        move |msgs: &[&MessageExt], _ctx: &ConsumeConcurrentlyContext| {
            for m in msgs {
                let _ = tx.send((*m).clone());
            }
            Ok(ConsumeConcurrentlyStatus::ConsumeSuccess)
        },
    );
    c.start().await.expect("responder start");
    let replies = tokio::spawn(async move {
        let mut n = 0;
        while let Some(m) = rx.recv().await {
            let body = String::from_utf8_lossy(&m.body().unwrap_or_default()).into_owned();
            let reply =
                MessageUtil::create_reply_message(&m.message, format!("re:{body}").as_bytes())
                    .expect("a request carries CLUSTER and REPLY_TO_CLIENT");
            responder.send(reply).await.expect("reply sent");
            n += 1;
            if n == 3 {
                break;
            }
        }
        responder.shutdown().await;
    });
    // Let the responder's group settle before requesting.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for i in 0..3 {
        let reply = requester
            .request(message(topic, "Q", i), 20_000)
            .await
            .expect("a reply within the timeout");
        let body = reply.get_body().cloned().unwrap_or_default();
        assert_eq!(String::from_utf8_lossy(&body), format!("re:body-{i}"));
    }
    replies.await.expect("responder task");
    c.shutdown().await;
    requester.shutdown().await;
    broker.stop();
}
