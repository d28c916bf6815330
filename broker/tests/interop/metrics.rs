//! The Prometheus exporter against a real `mqbroker`: rocketmq-client-rust
//! produces and consumes, and the scraped counters rise by exactly what
//! was sent, in text a strict exposition-format parser accepts.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringmq_tools::promtext::{parse_exposition, total};

use crate::support::{eventually, BrokerProcess, Flush};
use crate::{message, producer, push_consumer};

fn scrape(addr: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the exporter");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    body.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_counters_rise_by_what_was_sent_and_consumed() {
    let port = BrokerProcess::free_base();
    let broker = BrokerProcess::start_with_settings(
        2,
        Flush::Async,
        &[
            ("metricsExporterType", "PROM"),
            ("metricsPromExporterPort", &port.to_string()),
        ],
    );
    let addr = format!("127.0.0.1:{port}");
    let ns = broker.namesrv();
    let before = parse_exposition(&scrape(&addr)).expect("valid exposition at start");
    assert_eq!(
        total(
            &before,
            "rocketmq_messages_in_total",
            &[("topic", "MetricsTopic")]
        ),
        None
    );

    let p = producer(&ns, "pg-metrics").await;
    crate::schedule::create_topic(&p, &ns, "MetricsTopic", 2).await;
    const SENT: usize = 20;
    for i in 0..SENT {
        p.send(message("MetricsTopic", "T", i)).await.expect("send");
    }
    let got = Arc::new(Mutex::new(Vec::new()));
    let mut c = push_consumer(&ns, "metrics-group", "MetricsTopic", "*", got.clone()).await;
    eventually(
        "the consumer gets every message",
        Duration::from_secs(60),
        || got.lock().unwrap().len() >= SENT,
    )
    .await;

    // Within a publish interval or two: in and out by topic and group, and
    // a lag that falls to zero once the consumer commits its offsets.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let last = loop {
        let last = scrape(&addr);
        let series = parse_exposition(&last).unwrap_or_else(|e| panic!("{e}\n{last}"));
        let topic = [("topic", "MetricsTopic")];
        let group = [
            ("topic", "MetricsTopic"),
            ("consumer_group", "metrics-group"),
        ];
        // `create_topic` sends one message of its own.
        let stored = SENT + 1;
        let done = total(&series, "rocketmq_messages_in_total", &topic) == Some(stored as f64)
            && total(&series, "rocketmq_throughput_in_total", &topic)
                .is_some_and(|b| b >= (SENT * "body-0".len()) as f64)
            && total(&series, "rocketmq_messages_out_total", &group)
                .is_some_and(|n| n >= SENT as f64)
            && total(&series, "rocketmq_consumer_lag_messages", &group) == Some(0.0)
            && total(&series, "ringmq_requests_total", &[]).is_some_and(|n| n > 0.0)
            && total(&series, "rocketmq_storage_size", &[("shard", "1")]).is_some_and(|n| n > 0.0)
            // Every send answered is timed (this client sends with
            // SEND_MESSAGE, code 10), and the stored bytes were made
            // durable by flushes.
            && total(&series, "rocketmq_rpc_latency_count", &[("request_code", "10")])
                .is_some_and(|n| n >= SENT as f64)
            && total(&series, "rocketmq_rpc_latency_bucket", &[("request_code", "10"), ("le", "+Inf")])
                == total(&series, "rocketmq_rpc_latency_count", &[("request_code", "10")])
            && total(&series, "ringmq_flush_latency_seconds_count", &[]).is_some_and(|n| n > 0.0)
            // What the consumer read was read from files (buffered I/O: no
            // hot window).
            && total(&series, "ringmq_read_bytes_total", &[("source", "file")])
                .is_some_and(|b| b >= (SENT * "body-0".len()) as f64)
            && total(&series, "ringmq_group_commit_bytes_sum", &[])
                .is_some_and(|b| b >= (SENT * "body-0".len()) as f64);
        if done {
            break last;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the scraped metrics never showed what was sent and consumed:\n{last}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(last.contains("cluster=\"DefaultCluster\""));
    // Anything but /metrics is not served.
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");

    c.shutdown().await;
    let mut p = p;
    p.shutdown().await;
    broker.stop();
}
