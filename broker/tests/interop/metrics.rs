//! The Prometheus exporter against a real `mqbroker`: rocketmq-client-rust
//! produces and consumes, and the scraped counters rise by exactly what
//! was sent, in text a strict exposition-format parser accepts.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{eventually, BrokerProcess, Flush};
use crate::{message, producer, push_consumer};

/// One parsed sample: family, labels, value.
type Series = (String, Vec<(String, String)>, f64);

/// Parses Prometheus text format (version 0.0.4) strictly: HELP and TYPE
/// once per family and before its samples, valid names, quoted and escaped
/// label values, numeric values, no series twice, counters named `_total`.
fn parse_exposition(text: &str) -> Result<Vec<Series>, String> {
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars().enumerate().all(|(i, c)| {
                c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
            })
    };
    let mut types: HashMap<String, String> = HashMap::new();
    let mut helped = HashSet::new();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let bad = |why: &str| format!("line {}: {why}: {line:?}", n + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or("");
            if !name_ok(name) || !helped.insert(name.to_string()) {
                return Err(bad("bad or repeated HELP"));
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let (name, kind) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            if !name_ok(name) || !["counter", "gauge"].contains(&kind) || types.contains_key(name) {
                return Err(bad("bad or repeated TYPE"));
            }
            if kind == "counter" && !name.ends_with("_total") {
                return Err(bad("a counter not named _total"));
            }
            types.insert(name.to_string(), kind.to_string());
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let open = line.find('{').ok_or_else(|| bad("no labels"))?;
        let close = line.rfind("} ").ok_or_else(|| bad("no value"))?;
        let name = &line[..open];
        if !types.contains_key(name) {
            return Err(bad("a sample before its TYPE"));
        }
        let mut labels = Vec::new();
        let mut rest = &line[open + 1..close];
        while !rest.is_empty() {
            let eq = rest.find("=\"").ok_or_else(|| bad("label without value"))?;
            let key = &rest[..eq];
            if !name_ok(key) {
                return Err(bad("bad label name"));
            }
            let mut value = String::new();
            let mut chars = rest[eq + 2..].char_indices();
            let end = loop {
                match chars.next() {
                    Some((i, '"')) => break eq + 2 + i,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, c @ ('\\' | '"'))) => value.push(c),
                        _ => return Err(bad("bad escape")),
                    },
                    Some((_, c)) => value.push(c),
                    None => return Err(bad("unterminated label value")),
                }
            };
            labels.push((key.to_string(), value));
            rest = &rest[end + 1..];
            rest = rest.strip_prefix(',').unwrap_or(rest);
        }
        let value: f64 = line[close + 2..]
            .parse()
            .map_err(|_| bad("value is not a number"))?;
        if !seen.insert((name.to_string(), labels.clone())) {
            return Err(bad("the same series twice"));
        }
        out.push((name.to_string(), labels, value));
    }
    Ok(out)
}

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

/// Sum of a family's series whose labels include every `(key, value)`.
fn total(series: &[Series], family: &str, with: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<f64> = series
        .iter()
        .filter(|(name, labels, _)| {
            name == family
                && with
                    .iter()
                    .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|(_, _, v)| *v)
        .collect();
    (!matching.is_empty()).then(|| matching.iter().sum())
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
            && total(&series, "rocketmq_storage_size", &[("shard", "1")]).is_some_and(|n| n > 0.0);
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

#[test]
fn the_parser_refuses_what_prometheus_refuses() {
    let ok = "# HELP a_total x\n# TYPE a_total counter\na_total{l=\"v\\\"\"} 1\n";
    assert_eq!(parse_exposition(ok).unwrap()[0].1[0].1, "v\"");
    for bad in [
        "a_total{l=\"v\"} 1\n",                         // no TYPE
        "# TYPE a counter\na{} 1\n",                    // counter without _total
        "# TYPE a gauge\na{l=\"v\"} x\n",               // not a number
        "# TYPE a gauge\na{l=\"v\"} 1\na{l=\"v\"} 2\n", // same series twice
        "# TYPE a gauge\n# TYPE a gauge\n",             // TYPE twice
        "# TYPE a gauge\na{l=\"v} 1\n",                 // unterminated
    ] {
        assert!(parse_exposition(bad).is_err(), "{bad:?} was accepted");
    }
}
