//! A second client nobody here wrote: PyPI `rocketmq` 0.4.4, whose wheel
//! bundles Apache's C++ client (rocketmq-client-cpp), driven through
//! `py_client.py` against a real `mqbroker`: sync, ordered, batch and
//! delayed sends, a push consumer with a tag filter, and a group resuming
//! from its committed offset.
//!
//! The client is installed on first use into a virtualenv under the test
//! target directory with the machine's `python3` and pip. When PyPI cannot
//! be reached the test says so and skips; any other failure fails it.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use super::schedule::create_topic;
use super::support::{BrokerProcess, Flush};
use super::*;

const PY_PACKAGE: &str = "rocketmq==0.4.4";

/// The virtualenv's python with the client importable, or why not (PyPI
/// unreachable: the only reason to skip).
fn python_client() -> Result<PathBuf, String> {
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("py-rocketmq");
    let python = venv.join("bin/python");
    let importable = |p: &PathBuf| {
        Command::new(p)
            .args(["-c", "import rocketmq.client"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if importable(&python) {
        return Ok(python);
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .expect("python3 runs (the machine has CPython 3.11)");
    assert!(made.success(), "python3 -m venv failed");
    super::support::install_client(
        Command::new(venv.join("bin/pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            PY_PACKAGE,
        ]),
        &format!("pip install {PY_PACKAGE}"),
        &[
            "NewConnectionError",
            "Temporary failure in name resolution",
            "Network is unreachable",
            "ConnectTimeoutError",
            "Connection refused",
            "ProxyError",
        ],
    )?;
    assert!(
        importable(&python),
        "{PY_PACKAGE} installed but does not import"
    );
    Ok(python)
}

fn run_py(python: &PathBuf, args: &[&str]) -> serde_json::Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/py_client.py");
    super::support::run_json_script(
        Command::new(python).arg(script).args(args),
        &format!("py_client.py {args:?}"),
    )
}

/// The bodies a `TA` subscriber should get from one `produce` run.
fn ta_bodies(prefix: &str) -> BTreeSet<String> {
    let mut b: BTreeSet<String> = [0, 2, 4]
        .iter()
        .map(|i| format!("{prefix}-sync-{i}"))
        .collect();
    b.extend((0..4).map(|i| format!("{prefix}-order-{i}")));
    b.extend((0..3).map(|i| format!("{prefix}-batch-{i}")));
    b.insert(format!("{prefix}-delay"));
    b
}

/// Produces with the Python client; checks every send succeeded.
fn produce(python: &PathBuf, ns: &str, topic: &str, prefix: &str) -> serde_json::Value {
    let out = run_py(python, &["produce", ns, topic, prefix]);
    let sent = out["sent"].as_array().expect("sent list");
    assert_eq!(sent.len(), 14, "{out}");
    for s in sent {
        assert_eq!(s["status"], 0, "SEND_OK for {s}");
        // The C++ client reports no id for a batch; every other send
        // has one.
        if !s["body"].as_str().unwrap().contains("-batch-") {
            assert_eq!(
                s["id"].as_str().map(str::len),
                Some(32),
                "a message id for {s}"
            );
        }
    }
    out
}

fn consume(python: &PathBuf, ns: &str, topic: &str, want: usize) -> Vec<serde_json::Value> {
    let out = run_py(
        python,
        &["consume", ns, topic, "cg-py", "TA", &want.to_string(), "40"],
    );
    out["got"].as_array().expect("got list").clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_cpp_client_sends_and_consumes() {
    let python = match python_client() {
        Ok(p) => p,
        Err(why) => {
            println!("SKIPPED python_cpp_client_sends_and_consumes: {why}");
            return;
        }
    };
    let broker = BrokerProcess::start(2, Flush::Sync);
    let ns = broker.namesrv();
    let topic = "PyTopic";
    // The C++ client does not create topics; our client does, on both shards.
    let mut p = producer(&ns, "pg-py-setup").await;
    create_topic(&p, &ns, topic, 2).await;
    p.shutdown().await;

    let sent = produce(&python, &ns, topic, "one");
    let got = consume(&python, &ns, topic, ta_bodies("one").len());
    let bodies: Vec<String> = got
        .iter()
        .map(|g| g["body"].as_str().unwrap().to_string())
        .collect();
    let distinct: BTreeSet<String> = bodies.iter().cloned().collect();
    assert_eq!(distinct, ta_bodies("one"), "only TA, all of it: {got:?}");
    assert_eq!(bodies.len(), distinct.len(), "each once: {bodies:?}");
    // The ordered sends share a queue.
    let order_queues: BTreeSet<i64> = got
        .iter()
        .filter(|g| g["body"].as_str().unwrap().contains("-order-"))
        .map(|g| g["queue"].as_i64().unwrap())
        .collect();
    assert_eq!(order_queues.len(), 1, "{got:?}");
    // The delayed one (level 2: 5 s) came no earlier than its delay.
    let before = sent["sent"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["body"] == "one-delay")
        .and_then(|s| s["before_ms"].as_i64())
        .unwrap();
    let delivered = got
        .iter()
        .find(|g| g["body"] == "one-delay")
        .and_then(|g| g["at_ms"].as_i64())
        .unwrap();
    assert!(
        delivered >= before + 5_000,
        "delay level 2 honoured: {} ms",
        delivered - before
    );

    // The group resumes from its committed offset: only the new messages.
    produce(&python, &ns, topic, "two");
    let got = consume(&python, &ns, topic, ta_bodies("two").len());
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
