//! mqbench against a real RingMQ broker started in this process: its
//! command line, its JSON, and `--verify` catching nothing lost.
#![allow(clippy::unwrap_used, clippy::field_reassign_with_default)] // tests and benchmarks: a failed unwrap is a failed run

use std::process::Command;

mod support;
use support::broker;

fn mqbench(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mqbench"))
        .args(args)
        .output()
        .expect("run mqbench");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn e2e_with_verify_writes_every_phase_to_json() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path());
    let ns = b.namesrv_addr().unwrap().port().to_string();
    let ns = format!("127.0.0.1:{ns}");
    let json = dir.path().join("e2e.json");
    let (ok, text) = mqbench(&[
        "e2e",
        "-n",
        &ns,
        "-t",
        "BenchE2E",
        "--queues",
        "2",
        "-p",
        "2",
        "-s",
        "512",
        "-b",
        "4",
        "--mode",
        "async",
        "--inflight",
        "8",
        "--messages",
        "4000",
        "--verify",
        "--json",
        json.to_str().unwrap(),
        "--plot",
        dir.path().join("plot").to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    assert!(text.contains("verify: ok"), "{text}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    for phase in ["produce", "consume", "e2e"] {
        for k in ["msgs_per_sec", "mb_per_sec", "errors"] {
            assert!(v[phase][k].is_number(), "{phase}.{k} in {v}");
        }
        for p in ["p50", "p90", "p99", "p999", "p9999", "max"] {
            assert!(
                v[phase]["latency_us"][p].is_number(),
                "{phase}.latency_us.{p}"
            );
        }
    }
    assert_eq!(v["produce"]["messages"], 4000);
    assert_eq!(v["verify"]["received"], 4000);
    assert!(v["machine"]["kernel"].is_string());
    assert!(v["mqbench_cpu"]["cores_used"].is_number());
    assert!(dir.path().join("plot-latency.svg").exists());
    b.stop();
}

#[test]
fn produce_then_consume_the_backlog_and_omb_workload() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path());
    let ns = format!("127.0.0.1:{}", b.namesrv_addr().unwrap().port());
    let (ok, text) = mqbench(&[
        "produce",
        "-n",
        &ns,
        "-t",
        "Backlog",
        "--queues",
        "2",
        "-p",
        "2",
        "-s",
        "1024",
        "--mode",
        "sync",
        "--messages",
        "1000",
        "--tag",
        "T",
        "--keys",
    ]);
    assert!(ok, "{text}");
    let (ok, text) = mqbench(&[
        "consume",
        "-n",
        &ns,
        "-t",
        "Backlog",
        "-g",
        "g1",
        "-c",
        "2",
        "--messages",
        "1000",
        "-d",
        "30s",
    ]);
    assert!(ok, "{text}");
    assert!(text.contains("consume"), "{text}");

    let workload = dir.path().join("w.yaml");
    std::fs::write(
        &workload,
        "name: tiny\ntopics: 1\npartitionsPerTopic: 2\nmessageSize: 256\nsubscriptionsPerTopic: 1\n\
         consumerPerSubscription: 1\nproducersPerTopic: 1\nproducerRate: 2000\n\
         consumerBacklogSizeGB: 0\ntestDurationMinutes: 0.05\n",
    )
    .unwrap();
    let json = dir.path().join("omb.json");
    let (ok, text) = mqbench(&[
        "e2e",
        "-n",
        &ns,
        "-t",
        "Omb",
        "--workload",
        workload.to_str().unwrap(),
        "--mode",
        "async",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert!(v["omb"]["aggregatedPublishLatency99pct"].is_number());
    let rate = v["produce"]["msgs_per_sec"].as_f64().unwrap();
    assert!(
        rate > 500.0 && rate < 3000.0,
        "open-loop rate near 2000/s, got {rate}"
    );
    b.stop();
}

#[test]
fn delayed_and_timer_e2e_report_lateness_and_nothing_early() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path());
    let ns = format!("127.0.0.1:{}", b.namesrv_addr().unwrap().port());
    for (topic, delay) in [
        ("BenchTimer", ["--deliver-after", "1s"]),
        ("BenchDelay", ["--delay-level", "1"]),
    ] {
        let json = dir.path().join(format!("{topic}.json"));
        let mut args = vec![
            "e2e",
            "-n",
            &ns,
            "-t",
            topic,
            "--queues",
            "2",
            "-p",
            "2",
            "-s",
            "256",
            "--mode",
            "async",
            "--inflight",
            "8",
            "--messages",
            "600",
            "--verify",
            "--json",
        ];
        args.push(json.to_str().unwrap());
        args.extend(delay);
        let (ok, text) = mqbench(&args);
        assert!(ok, "{text}");
        assert!(text.contains("verify: ok"), "{text}");
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        assert_eq!(
            v["e2e"]["errors"], 0,
            "nothing consumed early: {}",
            v["e2e"]
        );
        assert!(v["e2e"]["latency_us"]["p50"].is_number());
    }
    // Batches of delayed messages are refused up front, as the broker would.
    let (ok, text) = mqbench(&["produce", "-n", &ns, "-b", "4", "--deliver-after", "1s"]);
    assert!(!ok && text.contains("batched"), "{text}");
    b.stop();
}

/// The Prometheus exporter scraped while mqbench produces: every scrape
/// parses strictly, the stored-message counter never falls, and after the
/// run it equals what mqbench sent.
#[test]
fn metrics_scraped_during_a_run_rise_by_what_was_sent() {
    use ringmq_tools::promtext::{parse_exposition, scrape, total};
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_ports(1);
    let b = support::broker_with(
        dir.path(),
        &[
            ("metricsExporterType", "PROM"),
            ("metricsPromExporterPort", &port.to_string()),
        ],
    );
    let ns = support::namesrv(&b);
    let exporter = format!("127.0.0.1:{port}");
    // At a fixed rate, so the run lasts ~4 s and scrapes (published every
    // second) see it in progress.
    const SENT: u64 = 32_000;
    let mut run = Command::new(env!("CARGO_BIN_EXE_mqbench"))
        .args([
            "produce",
            "-n",
            &ns,
            "-t",
            "MetricsBench",
            "--queues",
            "2",
            "-p",
            "2",
        ])
        .args(["-s", "256", "-b", "16", "--mode", "async", "--rate", "8000"])
        .args(["--messages", &SENT.to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let topic = [("topic", "MetricsBench")];
    let (mut during, mut last_seen) = (0, 0.0);
    let finished = loop {
        let text = scrape(&exporter).expect("scrape");
        let series = parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let stored = total(&series, "rocketmq_messages_in_total", &topic).unwrap_or(0.0);
        assert!(
            stored >= last_seen,
            "the counter fell from {last_seen} to {stored}"
        );
        last_seen = stored;
        if let Some(status) = run.try_wait().unwrap() {
            break status;
        }
        if stored > 0.0 {
            during += 1;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let out = run.wait_with_output().unwrap();
    assert!(
        finished.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(during > 0, "no scrape saw the run's messages while it ran");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let series = parse_exposition(&scrape(&exporter).unwrap()).unwrap();
        let stored = total(&series, "rocketmq_messages_in_total", &topic);
        // mqbench's topic creation stores no message; every produced one is counted.
        if stored == Some(SENT as f64) {
            let bytes = total(&series, "rocketmq_throughput_in_total", &topic).unwrap();
            assert!(
                bytes >= (SENT * 256) as f64,
                "{bytes} bytes for {SENT} messages of 256"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "stored {stored:?}, sent {SENT}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    b.stop();
}
