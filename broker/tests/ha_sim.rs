//! Deterministic simulation of one master and one slave shard replicating
//! over a simulated link.
//!
//! Both shards are real engine stores ([`ShardStore`]) on simulated disks;
//! the link is two in-order queues that a step may deliver from, hold back
//! (delay), or drop entirely (a cut: both sides reconnect). The replication
//! decisions are the broker's own [`ringmq_broker::ha::link`] state
//! machines, the ones its HA tasks run over TCP. One seeded generator picks
//! every step: sends under `SYNC_MASTER`, writes, flushes, packets, reports,
//! cuts, and process kills or power losses of either side. Nothing runs
//! concurrently, so a seed replays exactly; a failure prints its seed and
//! `HA_SIM_SEED=<seed>` reruns only it.
//!
//! Checked after every step:
//! * the slave's log is a byte prefix of the master's;
//! * every send acknowledged under `SYNC_MASTER` is still held by the
//!   master or the slave, and when it was acknowledged the slave held it
//!   (unless the slave lost power since the report that covered it).
//!
//! Faults: link cuts and delays; process kills of either side (the page
//! cache survives); power losses of the slave (a seeded part of its
//! unsynced bytes survives). Not the master's power: the classic protocol
//! carries only the slave's end, so a slave holding bytes a master lost,
//! with the master since written past them, cannot be told from one in
//! step, in RocketMQ as here (its epoch-based HA is the fix). The master
//! is killed instead, which loses nothing written.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed run

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::rc::Rc;

use ringmq_broker::ha::link::{sync_master, MasterLink, SlaveLink, SlaveReports, SyncMaster};
use ringmq_engine::disk::sim::SimDisk;
use ringmq_engine::store::AppendedRecord;
use ringmq_engine::{CommitLogOffset, FlushGate, FlushMode, MessageIn, ShardStore, StoreConfig};

const SEGMENT_BYTES: u64 = 4096;
const STEPS: usize = 300;
/// Steps a `SYNC_MASTER` send waits for a report before it times out.
const SYNC_TIMEOUT_STEPS: usize = 120;
/// `haMaxGapNotInSync` in the simulation.
const FALLBEHIND_MAX_BYTES: u64 = 64 << 10;
const DISK_BYTES: u64 = 1 << 30;

/// xorshift64*: small, seedable, and the same on every machine.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

struct Node {
    disk: SimDisk,
    config: StoreConfig,
    store: ShardStore<SimDisk>,
    /// Power losses so far: a report made before one may cover bytes the
    /// node (under `ASYNC_FLUSH`) no longer holds.
    power_losses: u64,
}

impl Node {
    async fn open(disk: SimDisk, config: StoreConfig) -> ShardStore<SimDisk> {
        let clock: ringmq_engine::store::Clock = Rc::new(|| 1_700_000_000_000);
        ShardStore::open(disk, config, FlushGate::new(), clock)
            .await
            .unwrap()
    }

    /// Kills the process (`None`: the page cache survives) or cuts the
    /// power (`Some(seed)`: a seeded part of the unsynced bytes survives),
    /// then recovers.
    async fn crash(&mut self, power_loss: Option<u64>) {
        let disk = self.disk.copy_after(power_loss);
        self.store = Node::open(disk.clone(), self.config.clone()).await;
        self.disk = disk;
        if power_loss.is_some() {
            self.power_losses += 1;
        }
    }

    /// End of what this node has stored as its flush mode promises:
    /// written under `ASYNC_FLUSH`, durable under `SYNC_FLUSH`.
    fn stored_end(&self) -> CommitLogOffset {
        match self.config.flush_mode {
            FlushMode::Async => self.store.written_offset(),
            FlushMode::Sync => self.store.durable_offset(),
        }
    }

    async fn bytes(&self, offset: CommitLogOffset, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let piece = self
                .store
                .read_written(offset + out.len() as u64, len - out.len())
                .await
                .unwrap();
            assert!(!piece.is_empty(), "bytes at {offset} are written");
            out.extend_from_slice(&piece);
        }
        out
    }
}

/// One packet on the wire from master to slave.
struct Packet {
    offset: CommitLogOffset,
    bytes: Vec<u8>,
}

/// A connection: the two directions, and each side's state machine. The
/// master's side opens when the slave's first report arrives.
struct Connection {
    master: Option<MasterLink>,
    slave: SlaveLink,
    to_slave: VecDeque<Packet>,
    /// Reports, each with the slave's power-loss count when it was made.
    to_master: VecDeque<(CommitLogOffset, u64)>,
}

/// A send waiting, as the broker's send handler does, for the master's own
/// flush mode and for the slave at once.
struct Pending {
    record: AppendedRecord,
    since_step: usize,
    /// `None` while waiting for a report; then whether the reports cover
    /// the send.
    replicated: Option<bool>,
}

struct Acked {
    offset: CommitLogOffset,
    bytes: Vec<u8>,
}

struct Sim {
    rng: Rng,
    step: usize,
    master: Node,
    slave: Node,
    /// The slaves' reports to this master process, and the slave's
    /// power-loss count at the highest.
    reports: SlaveReports,
    acked_power_losses: u64,
    link: Option<Connection>,
    pending: Vec<Pending>,
    acked: Vec<Acked>,
    sent_messages: u64,
    /// What happened, for the final summary.
    links_opened: u64,
    bytes_replicated: u64,
    crashes: u64,
    trace: bool,
}

fn config(rng: &mut Rng, root: &str) -> StoreConfig {
    let mut c = StoreConfig::new(root);
    c.flush_mode = if rng.chance(50) {
        FlushMode::Sync
    } else {
        FlushMode::Async
    };
    c.segment_size_bytes = SEGMENT_BYTES;
    c.write_buffer_bytes_max = 16 << 10;
    c.consume_queue_segment_entries = 8;
    c.index_segment_entries = 16;
    c.direct_io = rng.chance(30);
    c
}

fn host(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

impl Sim {
    async fn new(seed: u64, trace: bool) -> Sim {
        let mut rng = Rng::new(seed);
        let master_config = config(&mut rng, "/master");
        let slave_config = config(&mut rng, "/slave");
        let master_disk = SimDisk::new(DISK_BYTES);
        let slave_disk = SimDisk::new(DISK_BYTES);
        let master_store = Node::open(master_disk.clone(), master_config.clone()).await;
        let slave_store = Node::open(slave_disk.clone(), slave_config.clone()).await;
        let sim = Sim {
            rng,
            step: 0,
            master: Node {
                disk: master_disk,
                config: master_config,
                store: master_store,
                power_losses: 0,
            },
            slave: Node {
                disk: slave_disk,
                config: slave_config,
                store: slave_store,
                power_losses: 0,
            },
            reports: SlaveReports::default(),
            acked_power_losses: 0,
            link: None,
            pending: Vec::new(),
            acked: Vec::new(),
            sent_messages: 0,
            links_opened: 0,
            bytes_replicated: 0,
            crashes: 0,
            trace,
        };
        sim.trace(format!(
            "master {:?} direct {}, slave {:?} direct {}",
            sim.master.config.flush_mode,
            sim.master.config.direct_io,
            sim.slave.config.flush_mode,
            sim.slave.config.direct_io
        ));
        sim
    }

    /// With one seed (`HA_SIM_SEED`), prints what happens.
    fn trace(&self, line: String) {
        if self.trace {
            eprintln!("{}: {line}", self.step);
        }
    }

    async fn run(&mut self) {
        for step in 0..STEPS {
            self.step = step;
            // Weights in thousandths; faults are rare enough that links
            // carry sends between them.
            match self.rng.below(1000) {
                0..=199 => self.produce().await,
                200..=279 => self.master_write().await,
                280..=319 => self.master_flush().await,
                320..=369 => self.connect().await,
                370..=539 => self.master_send().await,
                540..=699 => self.deliver_to_slave().await,
                700..=829 => self.slave_report().await,
                830..=969 => self.deliver_to_master(),
                970..=979 => self.cut("cut"),
                980..=989 => self.crash_master().await,
                990..=994 => self.crash_slave(false).await,
                _ => self.crash_slave(true).await,
            }
            self.resolve_pending().await;
            self.check().await;
        }
    }

    async fn produce(&mut self) {
        let count = 1 + self.rng.below(3) as usize;
        let bodies: Vec<Vec<u8>> = (0..count)
            .map(|_| {
                self.sent_messages += 1;
                let len = 1 + self.rng.below(300) as usize;
                let fill = (self.sent_messages % 251) as u8;
                let mut body = vec![fill; len];
                body[..8.min(len)].copy_from_slice(&self.sent_messages.to_le_bytes()[..8.min(len)]);
                body
            })
            .collect();
        let queue_id = self.rng.below(3) as i32;
        let msgs: Vec<MessageIn<'_>> = bodies
            .iter()
            .map(|body| MessageIn {
                topic: "SimTopic",
                queue_id: ringmq_engine::QueueId(queue_id),
                flag: 0,
                body,
                properties: b"TAGS\x01t\x02",
                sys_flag: 0,
                born_timestamp_ms: 1,
                born_host: host(1000),
                store_host: host(10911),
                reconsume_times: 0,
                prepared_transaction_offset: 0,
            })
            .collect();
        let mut out = Vec::new();
        if self
            .master
            .store
            .append_batch(&msgs, &mut out)
            .await
            .is_err()
        {
            return;
        }
        let written = self.master.store.written_offset();
        let best_ack = self.best_ack();
        for record in out {
            let sent = record.physical_offset..record.end();
            let replicated = match sync_master(
                &sent,
                &self.reports,
                best_ack,
                written,
                FALLBEHIND_MAX_BYTES,
            ) {
                SyncMaster::Replicated => Some(true),
                SyncMaster::Wait => None,
                SyncMaster::SlaveNotAvailable => continue,
            };
            self.pending.push(Pending {
                record,
                since_step: self.step,
                replicated,
            });
        }
    }

    fn best_ack(&self) -> Option<CommitLogOffset> {
        self.link
            .as_ref()
            .and_then(|l| l.master.as_ref())
            .map(MasterLink::ack)
    }

    async fn master_write(&mut self) {
        let end = self.master.store.appended_offset();
        let _ = self.master.store.ensure_written(end).await;
    }

    async fn master_flush(&mut self) {
        let _ = self.master.store.flush().await;
    }

    /// The slave connects: its first report is its stored end, once stored.
    async fn connect(&mut self) {
        if self.link.is_some() {
            return;
        }
        let start = self.slave.store.appended_offset();
        self.slave.store.wait_acked(start).await.unwrap();
        let slave = SlaveLink::open(start);
        let mut to_master = VecDeque::new();
        to_master.push_back((start, self.slave.power_losses));
        self.link = Some(Connection {
            master: None,
            slave,
            to_slave: VecDeque::new(),
            to_master,
        });
        self.trace(format!("connect from {start}"));
        self.links_opened += 1;
    }

    fn cut(&mut self, why: &str) {
        if self.link.take().is_some() {
            self.trace(format!("link closed: {why}"));
        }
    }

    async fn master_send(&mut self) {
        let batch = 1 + self.rng.below(6000) as usize;
        let written = self.master.store.written_offset();
        let Some(link) = self.link.as_mut() else {
            return;
        };
        let Some(master) = link.master.as_mut() else {
            return;
        };
        let packet = match master.next_packet(written, batch) {
            None => Packet {
                offset: master.sent(),
                bytes: Vec::new(),
            },
            Some((offset, most)) => {
                let bytes = self.master.store.read_written(offset, most).await.unwrap();
                master.record_sent(bytes.len());
                if self.trace {
                    eprintln!("{}: sent {offset}+{}", self.step, bytes.len());
                }
                Packet { offset, bytes }
            }
        };
        link.to_slave.push_back(packet);
    }

    async fn deliver_to_slave(&mut self) {
        let Some(link) = self.link.as_mut() else {
            return;
        };
        let Some(packet) = link.to_slave.pop_front() else {
            return;
        };
        if !link.slave.on_packet(packet.offset, packet.bytes.len()) {
            return;
        }
        match self
            .slave
            .store
            .append_replica(packet.offset, &packet.bytes)
            .await
        {
            Ok(end) => {
                self.bytes_replicated += packet.bytes.len() as u64;
                self.trace(format!(
                    "slave appended {}+{} to {end}",
                    packet.offset,
                    packet.bytes.len()
                ));
            }
            Err(e) => self.cut(&format!("slave refused packet at {}: {e}", packet.offset)),
        }
    }

    async fn slave_report(&mut self) {
        if self.link.is_none() {
            return;
        }
        let end = self.slave.store.appended_offset();
        self.slave.store.wait_acked(end).await.unwrap();
        let power_losses = self.slave.power_losses;
        let link = self.link.as_mut().unwrap();
        let report = link.slave.report(end);
        link.to_master.push_back((report, power_losses));
    }

    fn deliver_to_master(&mut self) {
        let written = self.master.store.written_offset();
        let Some(link) = self.link.as_mut() else {
            return;
        };
        let Some((report, power_losses)) = link.to_master.pop_front() else {
            return;
        };
        let result = match link.master.as_mut() {
            None => MasterLink::open(report, written, SEGMENT_BYTES).map(|m| {
                self.reports.on_open(&m);
                link.master = Some(m);
            }),
            Some(master) => master.on_report(report),
        };
        match result {
            Ok(()) => {
                if report > self.reports.acked {
                    self.acked_power_losses = power_losses;
                }
                self.reports.on_report(report);
            }
            // Neither side is broken or diverged here: a refusal is a bug.
            Err(e) => panic!("link refused: {e}"),
        }
    }

    /// Kills the master process: what it had written survives.
    async fn crash_master(&mut self) {
        let written_before = self.master.store.written_offset();
        self.master.crash(None).await;
        self.crashes += 1;
        self.cut("master killed");
        // The producers of unacknowledged sends get no answer.
        self.pending.clear();
        let recovered = self.master.store.appended_offset();
        assert!(
            recovered >= written_before,
            "a killed master recovered to {recovered}, short of the {written_before} it had written"
        );
        self.reports = SlaveReports::default();
        self.trace(format!("master killed, recovered to {recovered}"));
    }

    async fn crash_slave(&mut self, power: bool) {
        let power_loss = power.then(|| self.rng.next());
        self.trace(format!(
            "slave before crash: appended {} written {} durable {}",
            self.slave.store.appended_offset(),
            self.slave.store.written_offset(),
            self.slave.store.durable_offset()
        ));
        self.slave.crash(power_loss).await;
        self.crashes += 1;
        self.cut("slave crashed");
        let end = self.slave.store.appended_offset();
        self.trace(format!(
            "slave {} recovered to {end}",
            if power_loss.is_some() {
                "lost power,"
            } else {
                "killed,"
            }
        ));
    }

    /// Acknowledges each pending send the master may acknowledge now: its
    /// own flush mode satisfied and the reports covering it, judged when
    /// they first reach its end, as the broker's wait does.
    async fn resolve_pending(&mut self) {
        let own = self.master.stored_end();
        let mut still = Vec::new();
        for mut p in std::mem::take(&mut self.pending) {
            let offset = p.record.physical_offset;
            let end = p.record.end();
            if p.replicated.is_none() && self.reports.acked >= end {
                p.replicated = Some(self.reports.cover(&(offset..end)));
            }
            match p.replicated {
                Some(false) => {
                    self.trace(format!("send {offset}..{end}: slave not available"));
                    continue;
                }
                Some(true) if own >= end => {}
                _ => {
                    if self.step - p.since_step < SYNC_TIMEOUT_STEPS {
                        still.push(p);
                    }
                    continue;
                }
            }
            let bytes = self
                .master
                .bytes(offset, p.record.size_bytes as usize)
                .await;
            // Acknowledged as replicated: the slave holds it, unless it
            // lost power since the report that covered it.
            if self.acked_power_losses == self.slave.power_losses {
                assert!(
                    self.slave.stored_end() >= end
                        && self.slave.store.min_commit_log_offset() <= offset,
                    "acknowledged {offset}..{end} as replicated; the slave stores {}..{}",
                    self.slave.store.min_commit_log_offset(),
                    self.slave.stored_end()
                );
                assert_eq!(self.slave.bytes(offset, bytes.len()).await, bytes);
            }
            self.acked.push(Acked { offset, bytes });
        }
        self.pending = still;
    }

    async fn check(&mut self) {
        let master_written = self.master.store.written_offset();
        let slave_from = self.slave.store.min_commit_log_offset();
        let slave_written = self.slave.store.written_offset();
        // The slave's log against the master's.
        let common = slave_written.min(master_written);
        let prefix = if common > slave_from {
            let len = (common - slave_from) as usize;
            self.slave.bytes(slave_from, len).await == self.master.bytes(slave_from, len).await
        } else {
            true
        };
        assert!(prefix, "the slave's log differs from the master's");
        assert!(
            self.slave.store.appended_offset() <= self.master.store.appended_offset(),
            "the slave's log is longer than the master's"
        );
        // Every acknowledged send is held somewhere.
        for a in &self.acked {
            let end = a.offset + a.bytes.len() as u64;
            let on_master = self.master.store.written_offset() >= end
                && self.master.bytes(a.offset, a.bytes.len()).await == a.bytes;
            let on_slave = self.slave.stored_end() >= end
                && self.slave.store.min_commit_log_offset() <= a.offset
                && self.slave.bytes(a.offset, a.bytes.len()).await == a.bytes;
            assert!(
                on_master || on_slave,
                "acknowledged send at {}..{end} is lost",
                a.offset
            );
        }
    }
}

fn run_seed(seed: u64, trace: bool) -> Sim {
    futures_lite::future::block_on(async {
        let mut sim = Sim::new(seed, trace).await;
        sim.run().await;
        sim
    })
}

#[test]
fn master_and_slave_under_faults() {
    let seeds: Vec<u64> = match std::env::var("HA_SIM_SEED") {
        Ok(s) => vec![s.parse().expect("HA_SIM_SEED is a number")],
        Err(_) => {
            let count: u64 = std::env::var("HA_SIM_SEEDS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(2000);
            (0..count).collect()
        }
    };
    let trace = seeds.len() == 1;
    let (mut acked, mut links, mut bytes, mut crashes) = (0usize, 0u64, 0u64, 0u64);
    for seed in &seeds {
        let seed = *seed;
        let result = std::panic::catch_unwind(|| run_seed(seed, trace));
        match result {
            Ok(sim) => {
                acked += sim.acked.len();
                links += sim.links_opened;
                bytes += sim.bytes_replicated;
                crashes += sim.crashes;
            }
            Err(panic) => {
                eprintln!("ha_sim failed at seed {seed}; rerun with HA_SIM_SEED={seed}");
                std::panic::resume_unwind(panic);
            }
        }
    }
    eprintln!(
        "ha_sim: {} seeds, {acked} sends acknowledged under SYNC_MASTER, {links} connections, \
         {bytes} bytes replicated, {crashes} crashes",
        seeds.len()
    );
    // The runs must have exercised what they check.
    if seeds.len() > 1 {
        assert!(acked > 0 && links > 0 && bytes > 0 && crashes > 0);
    }
}
