//! The store on the real disk through glommio (io_uring), including a
//! `kill -9` of a process in the middle of `SYNC_FLUSH` appends.
#![allow(clippy::unwrap_used)] // tests and benchmarks: a failed unwrap is a failed run

use ringmq_engine::QueueId;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use glommio::{LocalExecutorBuilder, Placement};
use ringmq_engine::disk::glommio_disk::GlommioDisk;
use ringmq_engine::record::RecordView;
use ringmq_engine::store::system_clock;
use ringmq_engine::{FlushGate, FlushMode, MessageIn, QueueOffset, ShardStore, StoreConfig};

const CHILD_DIR_ENV: &str = "RINGMQ_KILL_TEST_DIR";
/// Set to "1" for a child writing with direct I/O (O_DIRECT | O_DSYNC).
const CHILD_DIRECT_ENV: &str = "RINGMQ_KILL_TEST_DIRECT";

fn on_glommio<T: Send + 'static, F: std::future::Future<Output = T> + 'static>(
    f: impl FnOnce() -> F + Send + 'static,
) -> T {
    LocalExecutorBuilder::new(Placement::Unbound)
        .io_memory(4 << 20)
        .spawn(f)
        .expect("start executor")
        .join()
        .expect("executor ran")
}

fn config(root: &Path) -> StoreConfig {
    let mut c = StoreConfig::new(root);
    c.flush_mode = FlushMode::Sync;
    c.segment_size_bytes = 1 << 20;
    c
}

fn message<'a>(body: &'a [u8], props: &'a [u8]) -> MessageIn<'a> {
    let host = SocketAddr::from(([127, 0, 0, 1], 1));
    MessageIn {
        topic: "RealTopic",
        queue_id: QueueId(0),
        flag: 0,
        body,
        properties: props,
        sys_flag: 0,
        born_timestamp_ms: 1,
        born_host: host,
        store_host: host,
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    }
}

async fn bodies(store: &ShardStore<GlommioDisk>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut offset = QueueOffset(0);
    loop {
        let read = store.read_queue("RealTopic", QueueId(0), offset, 64, 1 << 20, &|_| true);
        if read.message_count == 0 {
            return out;
        }
        // Ranges hold whole records, except that under direct I/O the last
        // record may end in the memory tail that follows them.
        let mut bytes = Vec::new();
        for range in &read.ranges {
            bytes.extend(store.read_range(range).await.unwrap());
        }
        bytes.extend_from_slice(&read.memory_tail);
        let mut at = 0;
        while at < bytes.len() {
            let v = RecordView::parse(&bytes[at..]).unwrap();
            v.verify_crc().unwrap();
            out.push(v.body.to_vec());
            at += v.size_bytes();
        }
        offset = read.next_offset;
    }
}

/// `ASYNC_FLUSH` with an interval that never comes: the background loop
/// flushes once `flush_least_bytes` are written and not durable, and not
/// while fewer are.
#[test]
fn async_flush_starts_at_least_bytes_without_the_interval() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    on_glommio(move || async move {
        let mut c = config(&root);
        c.flush_mode = FlushMode::Async;
        c.flush_interval_ms = 3_600_000;
        c.flush_least_bytes = 64 << 10;
        let store = Rc::new(
            ShardStore::open(GlommioDisk, c, FlushGate::new(), system_clock())
                .await
                .unwrap(),
        );
        let stop = Rc::new(std::cell::Cell::new(false));
        let background = glommio::spawn_local(ringmq_engine::background::run_background(
            store.clone(),
            stop.clone(),
        ))
        .detach();
        let body = vec![b'x'; 1000];
        let first = store.append(&message(&body, b"")).await.unwrap();
        let below_end = first.physical_offset + u64::from(first.size_bytes);
        store.ensure_written(below_end).await.unwrap();
        // Several background ticks with less than the least pending.
        glommio::timer::sleep(Duration::from_millis(100)).await;
        assert!(
            store.durable_offset() < below_end,
            "flushed below the least bytes"
        );
        let mut end = below_end;
        while end - below_end < 64 << 10 {
            let r = store.append(&message(&body, b"")).await.unwrap();
            end = r.physical_offset + u64::from(r.size_bytes);
        }
        store.ensure_written(end).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while store.durable_offset() < end && Instant::now() < deadline {
            glommio::timer::sleep(Duration::from_millis(5)).await;
        }
        assert!(
            store.durable_offset() >= end,
            "not flushed at the least bytes"
        );
        stop.set(true);
        background.await;
        store.shutdown().await.unwrap();
    });
}

#[test]
fn append_restart_and_query_on_real_disk() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let r = root.clone();
    on_glommio(move || async move {
        let store = ShardStore::open(GlommioDisk, config(&r), FlushGate::new(), system_clock())
            .await
            .unwrap();
        let body = vec![b'x'; 1000];
        for i in 0..3000 {
            let props = format!("KEYS\x01key{i}\x02");
            let rec = store
                .append(&message(&body, props.as_bytes()))
                .await
                .unwrap();
            if i % 100 == 99 {
                store.wait_acked(rec.end()).await.unwrap();
            }
        }
        store.shutdown().await.unwrap();
    });
    // Three 1 MiB segments at least, each exactly the configured size.
    let segs: Vec<_> = std::fs::read_dir(root.join("commitlog")).unwrap().collect();
    assert!(segs.len() >= 3);
    for s in segs {
        assert_eq!(s.unwrap().metadata().unwrap().len(), 1 << 20);
    }
    on_glommio(move || async move {
        let store = ShardStore::open(GlommioDisk, config(&root), FlushGate::new(), system_clock())
            .await
            .unwrap();
        assert_eq!(
            store.max_queue_offset("RealTopic", QueueId(0)),
            QueueOffset(3000)
        );
        assert_eq!(bodies(&store).await.len(), 3000);
        let found = store
            .query_by_key("RealTopic", "key1234", 4, 0, i64::MAX)
            .await
            .unwrap();
        assert_eq!(found.len(), 1);
        store.shutdown().await.unwrap();
    });
}

/// Not a test on its own: the writer process `kill_9_loses_no_acknowledged_message`
/// starts and kills. Does nothing unless that test set the environment.
#[test]
fn kill_test_child_writer() {
    let Ok(dir) = std::env::var(CHILD_DIR_ENV) else {
        return;
    };
    let root = PathBuf::from(dir);
    let mut config = config(&root);
    config.direct_io = std::env::var(CHILD_DIRECT_ENV).is_ok_and(|v| v == "1");
    on_glommio(move || async move {
        let store = Rc::new(
            ShardStore::open(GlommioDisk, config, FlushGate::new(), system_clock())
                .await
                .unwrap(),
        );
        let mut stdout = std::io::stdout();
        for i in 0u64.. {
            let body = format!("msg-{i}");
            let rec = store.append(&message(body.as_bytes(), b"")).await.unwrap();
            store.wait_acked(rec.end()).await.unwrap();
            writeln!(stdout, "acked {i}").unwrap();
            stdout.flush().unwrap();
        }
    });
}

#[test]
fn kill_9_loses_no_acknowledged_message() {
    kill_9_during_sync_flush_appends(false);
}

/// Direct I/O under `SYNC_FLUSH` acknowledges on the completion of an
/// O_DSYNC write, with no fdatasync after it.
#[test]
fn kill_9_loses_no_acknowledged_message_with_direct_io() {
    kill_9_during_sync_flush_appends(true);
}

fn kill_9_during_sync_flush_appends(direct: bool) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "kill_test_child_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR_ENV, dir.path())
        .env(CHILD_DIRECT_ENV, if direct { "1" } else { "0" })
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut acked: i64 = -1;
    while acked < 500 && Instant::now() < deadline {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(n) = line.strip_prefix("acked ") {
                    acked = n.parse().unwrap();
                }
            }
            _ => break,
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(acked >= 500, "writer acknowledged only {acked} messages");

    let mut config = config(dir.path());
    config.direct_io = direct;
    let got = on_glommio(move || async move {
        let store = ShardStore::open(GlommioDisk, config, FlushGate::new(), system_clock())
            .await
            .unwrap();
        let b = bodies(&store).await;
        store.shutdown().await.unwrap();
        b
    });
    assert!(
        got.len() as i64 > acked,
        "{} recovered, {} acknowledged",
        got.len(),
        acked + 1
    );
    for (i, body) in got.iter().enumerate() {
        assert_eq!(body, format!("msg-{i}").as_bytes());
    }
}
