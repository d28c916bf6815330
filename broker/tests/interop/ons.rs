//! A third client nobody here wrote: npm `ali-ons` (pure JavaScript,
//! RocketMQ's remoting protocol), driven through `ons_client.js` against a
//! real `mqbroker`: sync, sharding-key and delay-level sends, a
//! push consumer with a tag filter whose `ACTION_RETRY` goes back through
//! CONSUMER_SEND_MSG_BACK, and a group resuming from its committed offset.
//!
//! The client is installed on first use under the test target directory
//! with the machine's node and npm. When the npm registry cannot be
//! reached the test says so and skips; any other failure fails it.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use super::schedule::create_topic;
use super::support::{BrokerProcess, Flush};
use super::*;

const PACKAGES: [&str; 2] = ["ali-ons@3.12.0", "urllib@2"];

/// The `node_modules` holding the client, or why not (registry
/// unreachable: the only reason to skip).
fn ons_client() -> Result<PathBuf, String> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ons-client");
    let modules = dir.join("node_modules");
    if modules.join("ali-ons/package.json").exists() && modules.join("urllib").exists() {
        return Ok(modules);
    }
    std::fs::create_dir_all(&dir).expect("client dir");
    super::support::install_client(
        Command::new("npm")
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--no-save",
                "--prefix",
            ])
            .arg(&dir)
            .args(PACKAGES),
        &format!("npm install {PACKAGES:?}"),
        &[
            "ENOTFOUND",
            "ECONNREFUSED",
            "ETIMEDOUT",
            "EAI_AGAIN",
            "ENETUNREACH",
        ],
    )?;
    Ok(modules)
}

fn run_node(modules: &PathBuf, args: &[&str]) -> serde_json::Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/ons_client.js");
    super::support::run_json_script(
        Command::new("node")
            .arg(script)
            .args(args)
            .env("NODE_PATH", modules),
        &format!("ons_client.js {args:?}"),
    )
}

fn ta_bodies(prefix: &str) -> BTreeSet<String> {
    let mut b: BTreeSet<String> = [0, 2, 4]
        .iter()
        .map(|i| format!("{prefix}-sync-{i}"))
        .collect();
    b.extend((0..4).map(|i| format!("{prefix}-order-{i}")));
    b.insert(format!("{prefix}-delay"));
    b.insert(format!("{prefix}-retry"));
    b
}

fn produce(modules: &PathBuf, ns: &str, topic: &str, prefix: &str) -> Vec<serde_json::Value> {
    let out = run_node(modules, &["produce", ns, topic, prefix]);
    let sent = out["sent"].as_array().expect("sent list").clone();
    assert_eq!(sent.len(), 12, "{out}");
    for s in &sent {
        assert_eq!(s["status"], "SEND_OK", "{s}");
        assert_eq!(
            s["id"].as_str().map(str::len),
            Some(32),
            "a message id for {s}"
        );
    }
    // One sharding key, one queue id (ali-ons 3.12 maps a key to a queue
    // id on whichever broker is next, so not to one queue).
    let order_queue_ids: BTreeSet<String> = sent
        .iter()
        .filter(|s| s["body"].as_str().unwrap().contains("-order-"))
        .map(|s| s["queue"].to_string())
        .collect();
    assert_eq!(order_queue_ids.len(), 1, "{sent:?}");
    sent
}

fn consume(modules: &PathBuf, ns: &str, topic: &str, deliveries: usize) -> Vec<serde_json::Value> {
    let out = run_node(
        modules,
        &[
            "consume",
            ns,
            topic,
            "cg-ons",
            "TA",
            &deliveries.to_string(),
            "40",
        ],
    );
    out["got"].as_array().expect("got list").clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ali_ons_client_sends_retries_and_consumes() {
    let modules = match ons_client() {
        Ok(m) => m,
        Err(why) => {
            println!("SKIPPED ali_ons_client_sends_retries_and_consumes: {why}");
            return;
        }
    };
    // Level 2 (the delayed send) is 2 s; level 3 (the first retry) 1 s.
    let broker = BrokerProcess::start_with_settings(
        2,
        Flush::Sync,
        &[("messageDelayLevel", "1s 2s 1s 1s 1s 1s")],
    );
    let ns = broker.namesrv();
    let topic = "OnsTopic";
    let mut p = producer(&ns, "pg-ons-setup").await;
    create_topic(&p, &ns, topic, 2).await;
    p.shutdown().await;

    let sent = produce(&modules, &ns, topic, "one");
    // Each TA message once, the retried one twice.
    let want = ta_bodies("one").len() + 1;
    let got = consume(&modules, &ns, topic, want);
    let distinct: BTreeSet<String> = got
        .iter()
        .map(|g| g["body"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(distinct, ta_bodies("one"), "only TA, all of it: {got:?}");
    assert_eq!(got.len(), want, "each once, the retried one twice: {got:?}");
    let retried: Vec<i64> = got
        .iter()
        .filter(|g| g["body"] == "one-retry")
        .map(|g| g["reconsume"].as_i64().unwrap())
        .collect();
    assert_eq!(
        retried,
        vec![0, 1],
        "redelivered by the broker with reconsume times 1"
    );
    assert_eq!(
        super::schedule::runtime_counter(&broker, "SendBackTotal"),
        1
    );
    let before = sent
        .iter()
        .find(|s| s["body"] == "one-delay")
        .and_then(|s| s["before_ms"].as_i64())
        .unwrap();
    let at = got
        .iter()
        .find(|g| g["body"] == "one-delay")
        .and_then(|g| g["at_ms"].as_i64())
        .unwrap();
    assert!(
        at >= before + 2_000,
        "delay level 2 honoured: {} ms",
        at - before
    );

    // The group resumes from its committed offset: only the new messages.
    produce(&modules, &ns, topic, "two");
    let got = consume(&modules, &ns, topic, ta_bodies("two").len() + 1);
    let distinct: BTreeSet<String> = got
        .iter()
        .map(|g| g["body"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        distinct,
        ta_bodies("two"),
        "resumed after the first run: {got:?}"
    );
    broker.stop();
}
