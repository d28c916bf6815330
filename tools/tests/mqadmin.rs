//! mqadmin against a real RingMQ broker (2 shards) started in this
//! process: each command run as an operator runs it, its text checked
//! against what the broker holds, and its `--json` read back.
//! (Commands about live clients — consumerConnection, producerConnection,
//! consumerProgress, resetOffsetByTime with a consumer re-reading — are
//! driven by rocketmq-client-rust in `broker/tests/interop/mqadmin.rs`.)
#![allow(clippy::unwrap_used, clippy::field_reassign_with_default)] // tests: a failed unwrap is a failed run

use std::process::Command;
use std::time::{Duration, Instant};

mod support;
use support::{broker, broker_with, namesrv, shard_addr};

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn mqadmin(ns: &str, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_mqadmin"))
        .args(args)
        .env("NAMESRV_ADDR", ns)
        .output()
        .expect("run mqadmin");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs a command that must succeed; returns its stdout.
fn ok(ns: &str, args: &[&str]) -> String {
    let r = mqadmin(ns, args);
    assert!(r.ok, "mqadmin {args:?} failed:\n{}\n{}", r.stdout, r.stderr);
    r.stdout
}

fn json(ns: &str, args: &[&str]) -> serde_json::Value {
    let mut with = args.to_vec();
    with.push("--json");
    serde_json::from_str(&ok(ns, &with)).unwrap()
}

/// Waits until `f` holds (the name server learns of changes at the
/// broker's next registration).
/// Whether `f` comes to hold within 20 s.
fn until_ok(mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether the route of `topic` lists both shards, each with `perm`.
fn perms_are(ns: &str, topic: &str, perm: i32) -> bool {
    let rows = route_rows(ns, topic);
    rows.len() == 2 && rows.iter().all(|r| r.3 == perm)
}

/// Rows of a `topicRoute -l` table: (broker name, read, write, perm).
fn route_rows(ns: &str, topic: &str) -> Vec<(String, i32, i32, i32)> {
    let r = mqadmin(ns, &["topicRoute", "-t", topic, "-l"]);
    if !r.ok {
        return Vec::new();
    }
    r.stdout
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with('-'))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let n = |i: usize| f[i].parse().unwrap();
            (f[1].to_string(), n(3), n(4), n(5))
        })
        .collect()
}

#[test]
fn topics_messages_and_cluster_views() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path());
    let ns = &namesrv(&b);

    // Shards are one broker unless asked for shard rows.
    until("both shards registered", || {
        json(ns, &["clusterList", "--shards"])
            .as_array()
            .unwrap()
            .len()
            == 2
    });
    let grouped = ok(ns, &["clusterList"]);
    let lines: Vec<&str> = grouped.lines().collect();
    assert_eq!(lines.len(), 2, "{grouped}");
    assert!(lines[0].starts_with("#Cluster Name") && lines[0].contains("#InTPS(LOAD)"));
    assert!(
        lines[1].starts_with("DefaultCluster") && lines[1].contains(" broker-a "),
        "{grouped}"
    );
    let shard_rows = ok(ns, &["clusterList", "--shards"]);
    assert!(shard_rows.contains(" broker-a-0 ") && shard_rows.contains(" broker-a-1 "));
    let grouped = json(ns, &["clusterList"]);
    assert_eq!(grouped[0]["shards"].as_array().unwrap().len(), 2);

    // updateTopic on the cluster reaches every shard; topicRoute shows it.
    let created = ok(
        ns,
        &[
            "updateTopic",
            "-c",
            "DefaultCluster",
            "-t",
            "AdminT",
            "-r",
            "3",
            "-w",
            "3",
        ],
    );
    assert_eq!(created.matches("create topic to ").count(), 2, "{created}");
    assert!(created
        .contains("TopicConfig [topicName=AdminT, readQueueNums=3, writeQueueNums=3, perm=RW-"));
    until("AdminT routed on both shards", || {
        route_rows(ns, "AdminT").len() == 2
    });
    for (name, read, write, perm) in route_rows(ns, "AdminT") {
        assert!(name.starts_with("broker-a-"));
        assert_eq!((read, write, perm), (3, 3, 6));
    }
    assert!(ok(ns, &["topicList"]).lines().any(|l| l == "AdminT"));
    assert!(ok(ns, &["topicRoute", "-t", "AdminT"]).contains("\"queueDatas\""));
    let bad = mqadmin(ns, &["updateTopic", "-c", "NoSuchCluster", "-t", "X"]);
    assert!(
        !bad.ok
            && bad
                .stderr
                .contains("Make sure the specified clusterName exists")
    );

    // Messages: sendMessage, then every way to find them again.
    let mut sent = Vec::new();
    for i in 0..6 {
        let key = format!("key{}", i % 2);
        let body = format!("body-{i}");
        let r = json(
            ns,
            &[
                "sendMessage",
                "-t",
                "AdminT",
                "-p",
                &body,
                "-k",
                &key,
                "-c",
                "TagA",
            ],
        );
        assert_eq!(r["sendStatus"], "SEND_OK");
        sent.push(r);
    }
    let text = ok(
        ns,
        &[
            "sendMessage",
            "-t",
            "AdminT",
            "-p",
            "body-6",
            "-b",
            "broker-a-1",
            "-i",
            "2",
        ],
    );
    assert!(
        text.contains("#Broker Name") && text.contains("broker-a-1") && text.contains("SEND_OK")
    );
    let status = json(ns, &["topicStatus", "-t", "AdminT"]);
    let queues = status["queues"].as_array().unwrap();
    assert_eq!(queues.len(), 6, "3 queues on each of 2 shards");
    let stored: i64 = queues
        .iter()
        .map(|q| q["maxOffset"].as_i64().unwrap())
        .sum();
    assert_eq!(stored, 7);
    let text = ok(ns, &["topicStatus", "-t", "AdminT"]);
    assert!(text.starts_with("#Broker Name") && text.contains("Topic Put TPS:"));

    let by_key = json(ns, &["queryMsgByKey", "-t", "AdminT", "-k", "key1"]);
    let mut bodies: Vec<&str> = by_key
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    bodies.sort_unstable();
    assert_eq!(bodies, ["body-1", "body-3", "body-5"]);
    let text = ok(ns, &["queryMsgByKey", "-t", "AdminT", "-k", "key0"]);
    assert_eq!(text.lines().count(), 4, "header and three rows:\n{text}");
    let missing = mqadmin(ns, &["queryMsgByKey", "-t", "AdminT", "-k", "nope"]);
    assert!(!missing.ok && missing.stderr.contains("no message"));

    let uniq = sent[2]["msgId"].as_str().unwrap();
    let found = json(ns, &["queryMsgByUniqueKey", "-t", "AdminT", "-i", uniq]);
    assert_eq!(found[0]["body"], "body-2");
    let text = ok(ns, &["queryMsgByUniqueKey", "-t", "AdminT", "-i", uniq]);
    assert!(
        text.contains("Keys:                [key0]")
            && text.contains("Tags:                [TagA]"),
        "{text}"
    );
    assert!(!text.contains("OffsetID:"));

    // By offset id (where it is stored), and by unique key through -i.
    let offset_id = sent[3]["offsetMsgId"].as_str().unwrap();
    let text = ok(
        ns,
        &[
            "queryMsgById",
            "-t",
            "AdminT",
            "-i",
            offset_id,
            "-f",
            "UTF-8",
        ],
    );
    assert!(
        text.contains(&format!("OffsetID:            {offset_id}")),
        "{text}"
    );
    assert!(text.contains("Message Body:        body-3"), "{text}");
    let path = text
        .lines()
        .find_map(|l| l.strip_prefix("Message Body Path:"))
        .unwrap()
        .trim();
    assert_eq!(std::fs::read(path).unwrap(), b"body-3");
    let via_uniq = json(
        ns,
        &[
            "queryMsgById",
            "-t",
            "AdminT",
            "-i",
            sent[4]["msgId"].as_str().unwrap(),
        ],
    );
    assert_eq!(via_uniq[0]["body"], "body-4");

    let q = &sent[5];
    let qid = q["queueId"].as_i64().unwrap().to_string();
    let qoff = q["queueOffset"].as_i64().unwrap().to_string();
    let by_offset = json(
        ns,
        &[
            "queryMsgByOffset",
            "-t",
            "AdminT",
            "-b",
            q["brokerName"].as_str().unwrap(),
            "-i",
            &qid,
            "-o",
            &qoff,
        ],
    );
    assert_eq!(by_offset[0]["body"], "body-5");

    let printed = ok(ns, &["printMsg", "-t", "AdminT"]);
    assert_eq!(printed.matches("MSGID: ").count(), 7, "{printed}");
    assert_eq!(printed.matches("minOffset=").count(), 6);
    for i in 0..7 {
        assert!(printed.contains(&format!("BODY: body-{i}\n")));
    }
    let quiet = ok(ns, &["printMsg", "-t", "AdminT", "-d", "false"]);
    assert_eq!(quiet.matches("BODY: NOT PRINT BODY").count(), 7);
    let consumed = json(ns, &["consumeMessage", "-t", "AdminT", "-c", "4"]);
    assert_eq!(consumed.as_array().unwrap().len(), 4);
    let one_queue = json(
        ns,
        &[
            "consumeMessage",
            "-t",
            "AdminT",
            "-b",
            "broker-a-1",
            "-i",
            "2",
            "-o",
            "0",
        ],
    );
    assert!(one_queue
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["body"] == "body-6"));

    // Broker and name server views.
    let status = ok(ns, &["brokerStatus", "-b", &shard_addr(&b, 0)]);
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("msgPutTotalTodayNow") && l.ends_with(": 7")),
        "{status}"
    );
    assert!(status.contains("putTps"));
    let config = ok(ns, &["getBrokerConfig", "-c", "DefaultCluster"]);
    assert_eq!(
        config.matches("============Master: ").count(),
        2,
        "{config}"
    );
    assert!(config.contains("brokerClusterName                                 =  DefaultCluster"));
    let nsconfig = ok(ns, &["getNamesrvConfig"]);
    assert!(
        nsconfig.starts_with(&format!("============{ns}============\n"))
            && nsconfig.contains("listenPort")
    );

    // Write permission through the name servers, by broker (every shard).
    let wiped = ok(ns, &["wipeWritePerm", "-b", "broker-a"]);
    assert_eq!(wiped.matches("OK, ").count(), 2, "{wiped}");
    assert!(perms_are(ns, "AdminT", 4));
    assert!(!mqadmin(ns, &["sendMessage", "-t", "AdminT", "-p", "x"]).ok);
    ok(ns, &["addWritePerm", "-b", "broker-a"]);
    assert!(perms_are(ns, "AdminT", 6));

    // Live broker config: brokerPermission read-only refuses sends and
    // re-registers the routes read-only; other keys are refused.
    ok(
        ns,
        &[
            "updateBrokerConfig",
            "-c",
            "DefaultCluster",
            "-k",
            "brokerPermission",
            "-v",
            "4",
        ],
    );
    // The broker refuses sends at once (a client with the old route still
    // sends there), whatever the route says by now.
    let admin = ringmq_tools::admin::Admin::new(ns, None);
    let send = ringmq_tools::admin::client::request(
        ringmq_net::RequestCode::SEND_MESSAGE,
        &[
            ("producerGroup", "pg".to_string()),
            ("topic", "AdminT".to_string()),
            ("defaultTopic", "TBW102".to_string()),
            ("defaultTopicQueueNums", "4".to_string()),
            ("queueId", "0".to_string()),
            ("sysFlag", "0".to_string()),
            ("bornTimestamp", "0".to_string()),
            ("flag", "0".to_string()),
        ],
    )
    .with_body(b"x".to_vec());
    let refused = admin.call(&shard_addr(&b, 0), send).unwrap();
    assert_eq!(refused.code, ringmq_net::ResponseCode::NO_PERMISSION);
    assert!(
        refused
            .remark
            .unwrap_or_default()
            .contains("sending message is forbidden"),
        "refused for another reason"
    );
    // And routes go read-only, so route-following clients stop sending.
    let no_queue = mqadmin(ns, &["sendMessage", "-t", "AdminT", "-p", "x"]);
    let read_only = until_ok(|| perms_are(ns, "AdminT", 4));
    assert!(read_only && !no_queue.ok);
    assert!(ok(ns, &["getBrokerConfig", "-b", &shard_addr(&b, 1)])
        .contains("brokerPermission                                  =  4"));
    ok(
        ns,
        &[
            "updateBrokerConfig",
            "-b",
            &shard_addr(&b, 0),
            "-k",
            "brokerPermission",
            "-v",
            "6",
        ],
    );
    until("routes writable", || perms_are(ns, "AdminT", 6));
    let not_live = mqadmin(
        ns,
        &[
            "updateBrokerConfig",
            "-b",
            &shard_addr(&b, 0),
            "-k",
            "listenPort",
            "-v",
            "1",
        ],
    );
    assert!(
        !not_live.ok
            && not_live
                .stderr
                .contains("cannot change while the broker runs")
    );

    // Subscription groups.
    let text = ok(
        ns,
        &[
            "updateSubGroup",
            "-c",
            "DefaultCluster",
            "-g",
            "AdminG",
            "-r",
            "3",
        ],
    );
    assert!(text.contains("retryMaxTimes=3"), "{text}");
    // Every group's progress, with progress reported on stderr.
    let all = mqadmin(ns, &["consumerProgress", "--progress"]);
    assert!(all.ok, "{}", all.stderr);
    assert!(
        all.stdout.starts_with("#Group") && all.stdout.contains("AdminG"),
        "{}",
        all.stdout
    );
    let steps = all
        .stderr
        .lines()
        .filter(|l| l.starts_with("consumerProgress "))
        .count();
    assert!(
        steps >= 1 && all.stderr.contains("AdminG"),
        "{}",
        all.stderr
    );
    let deleted = ok(
        ns,
        &["deleteSubGroup", "-c", "DefaultCluster", "-g", "AdminG"],
    );
    assert_eq!(
        deleted
            .matches("delete subscription group [AdminG]")
            .count(),
        2
    );

    // deleteTopic: gone from the brokers and the routes.
    let text = ok(ns, &["deleteTopic", "-t", "AdminT", "-c", "DefaultCluster"]);
    assert!(text.contains("delete topic [AdminT] from cluster [DefaultCluster] success."));
    assert!(text.contains("delete topic [AdminT] from NameServer success."));
    until("AdminT unrouted", || {
        !ok(ns, &["topicList"]).lines().any(|l| l == "AdminT")
    });
    b.stop();
}

#[test]
fn acl_clusters_need_signed_admin_requests() {
    let dir = tempfile::tempdir().unwrap();
    let acl = dir.path().join("plain_acl.yml");
    std::fs::write(
        &acl,
        "globalWhiteRemoteAddresses: []\naccounts:\n  - accessKey: opsAdmin\n    secretKey: ops-secret-1\n    admin: true\n  - accessKey: appUser1\n    secretKey: app-secret-1\n    admin: false\n    defaultTopicPerm: PUB|SUB\n    defaultGroupPerm: SUB\n",
    )
    .unwrap();
    let b = broker_with(
        dir.path(),
        &[
            ("aclEnable", "true"),
            ("plainAclFile", acl.to_str().unwrap()),
        ],
    );
    let ns = &namesrv(&b);
    let admin = ["--accessKey", "opsAdmin", "--secretKey", "ops-secret-1"];
    let with = |extra: &[&str]| -> Vec<String> {
        extra
            .iter()
            .chain(admin.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let run = |args: Vec<String>| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        mqadmin(ns, &a)
    };
    let unsigned = mqadmin(ns, &["updateTopic", "-c", "DefaultCluster", "-t", "AclT"]);
    assert!(
        !unsigned.ok && unsigned.stderr.contains("CODE: 16"),
        "{}",
        unsigned.stderr
    );
    let app = mqadmin(
        ns,
        &[
            "updateTopic",
            "-c",
            "DefaultCluster",
            "-t",
            "AclT",
            "--accessKey",
            "appUser1",
            "--secretKey",
            "app-secret-1",
        ],
    );
    assert!(
        !app.ok && app.stderr.contains("CODE: 16"),
        "a non-admin account is refused"
    );
    let r = run(with(&["updateTopic", "-c", "DefaultCluster", "-t", "AclT"]));
    assert!(r.ok, "{}", r.stderr);
    until("AclT routed", || {
        run(with(&["topicRoute", "-t", "AclT"])).ok
    });
    assert!(run(with(&["wipeWritePerm", "-b", "broker-a"])).ok);
    assert!(run(with(&["addWritePerm", "-b", "broker-a"])).ok);
    b.stop();
}

#[test]
fn json_and_help_and_bad_flags() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path());
    let ns = &namesrv(&b);
    let help = mqadmin(ns, &["--help"]);
    for name in [
        "updateTopic",
        "consumerProgress",
        "resetOffsetByTime",
        "queryMsgByUniqueKey",
        "wipeWritePerm",
        "getNamesrvConfig",
    ] {
        assert!(help.stdout.contains(name), "{name} missing from --help");
    }
    let missing = mqadmin(ns, &["updateTopic", "-t", "X"]);
    assert!(
        !missing.ok && missing.stderr.contains("--brokerAddr"),
        "{}",
        missing.stderr
    );
    let unreachable = mqadmin("127.0.0.1:1", &["topicList"]);
    assert!(!unreachable.ok && unreachable.stderr.contains("connecting to 127.0.0.1:1"));
    until("registered", || mqadmin(ns, &["topicList"]).ok);
    let list = json(ns, &["topicList"]);
    assert!(list["topicList"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t == "TBW102"));
    b.stop();
}
