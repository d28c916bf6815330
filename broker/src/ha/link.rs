//! Replication's decisions as plain state machines: no sockets, clocks,
//! stores or tasks. The master's side of one slave connection is a
//! [`MasterLink`], the slave's side a [`SlaveLink`], and whether a
//! `SYNC_MASTER` send may be acknowledged is [`sync_master`].
//!
//! The tasks in `ha::master` and `ha::slave` drive these over TCP; the
//! deterministic simulation (`broker/tests/ha_sim.rs`) drives the same code
//! over simulated disks and a lossy, cuttable link, checking after every
//! step that the slave's log is a byte prefix of the master's and that no
//! acknowledged send is lost.
//!
//! All positions are commit-log offsets in bytes.

use std::fmt;
use std::ops::Range;

use ringmq_engine::CommitLogOffset;

/// Why a replication connection is closed. Each is a broken or diverged
/// peer: the connection ends, nothing is acknowledged from it, and the
/// slave retries from its own end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    /// The slave's first report is past this master's written end.
    AheadOfMaster {
        /// Where the slave says its log ends.
        reported: CommitLogOffset,
        /// This master's written end.
        written: CommitLogOffset,
    },
    /// A report past what this connection has sent: a broken slave, never
    /// a reason to acknowledge a `SYNC_MASTER` send.
    ReportPastSent {
        /// Where the slave says its log ends.
        reported: CommitLogOffset,
        /// End of what this connection has sent.
        sent: CommitLogOffset,
    },
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LinkError::AheadOfMaster { reported, written } => write!(
                f,
                "slave reports offset {reported}, past this master's end {written}: the logs have diverged"
            ),
            LinkError::ReportPastSent { reported, sent } => write!(
                f,
                "slave reports offset {reported}, past the {sent} this connection has sent"
            ),
        }
    }
}

/// The master's side of one slave connection: where its transfer stands
/// and what the slave last reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterLink {
    /// The slave's last report: it holds everything before this, from
    /// where its log starts.
    ack: CommitLogOffset,
    /// The slave was empty and starts at `sent`'s first value: it holds
    /// nothing before it.
    started_empty: bool,
    /// End of what this connection has sent (the next packet's offset).
    sent: CommitLogOffset,
}

impl MasterLink {
    /// Opens a link from the slave's first report. An empty slave (report 0)
    /// starts at the master's last segment, as in RocketMQ: older data is
    /// not replicated. A slave may resume anywhere up to the written end.
    ///
    /// The report is all the classic protocol carries: a slave holding
    /// bytes a master lost in a power failure, with the master since
    /// written past them, cannot be told from one in step (RocketMQ's
    /// classic HA has the same limit; its epoch-based HA truncates such a
    /// slave).
    pub fn open(
        first_report: CommitLogOffset,
        written: CommitLogOffset,
        segment_bytes: u64,
    ) -> Result<MasterLink, LinkError> {
        assert!(segment_bytes > 0, "segments have a size");
        let start = if first_report == CommitLogOffset::ZERO {
            written.segment_base(segment_bytes).start()
        } else {
            first_report
        };
        if start > written {
            return Err(LinkError::AheadOfMaster {
                reported: start,
                written,
            });
        }
        Ok(MasterLink {
            ack: first_report,
            started_empty: first_report == CommitLogOffset::ZERO,
            sent: start,
        })
    }

    /// For a slave that was empty, where its log starts: it will never hold
    /// anything before, whatever it reports.
    pub fn empty_start(&self) -> Option<CommitLogOffset> {
        self.started_empty.then_some(self.sent)
    }

    /// Where this connection's transfer stands: the next packet starts here.
    pub fn sent(&self) -> CommitLogOffset {
        self.sent
    }

    /// The slave's last report.
    pub fn ack(&self) -> CommitLogOffset {
        self.ack
    }

    /// The next packet to send, as (offset, most bytes), or `None` when the
    /// slave has everything written (the caller waits, or sends a
    /// heartbeat).
    pub fn next_packet(
        &self,
        written: CommitLogOffset,
        batch_bytes: usize,
    ) -> Option<(CommitLogOffset, usize)> {
        if written <= self.sent {
            return None;
        }
        let bytes = (written - self.sent).min(batch_bytes as u64) as usize;
        Some((self.sent, bytes))
    }

    /// Records that `bytes` more have been sent.
    pub fn record_sent(&mut self, bytes: usize) {
        self.sent += bytes as u64;
    }

    /// Takes a later report. Reports may go backwards (a slave that lost
    /// power holds less), never past what this connection sent.
    pub fn on_report(&mut self, reported: CommitLogOffset) -> Result<(), LinkError> {
        if reported > self.sent {
            return Err(LinkError::ReportPastSent {
                reported,
                sent: self.sent,
            });
        }
        self.ack = reported;
        Ok(())
    }
}

/// Whether a `SYNC_MASTER` send ending at `end` may be acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMaster {
    /// A slave has reported holding it.
    Replicated,
    /// No slave is connected, or the best one is at least
    /// `haMaxGapNotInSync` behind the written end: fail at once.
    SlaveNotAvailable,
    /// Wait for a report (up to `syncFlushTimeout`).
    Wait,
}

/// What a master shard's slaves have reported, as the `SYNC_MASTER` rule
/// reads it. One per master shard, on that shard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlaveReports {
    /// The highest offset any slave has reported (RocketMQ's
    /// `push2SlaveMaxOffset`).
    pub acked: CommitLogOffset,
    /// The highest start of a slave that connected empty: it holds nothing
    /// before, so its reports cover only sends at or after it. RocketMQ
    /// reads `push2SlaveMaxOffset` alone, and acknowledges a send waiting
    /// while an empty slave joins past it.
    pub empty_start_max: CommitLogOffset,
}

impl SlaveReports {
    /// Whether a slave holds `sent` by these reports.
    pub fn cover(&self, sent: &Range<CommitLogOffset>) -> bool {
        self.acked >= sent.end && sent.start >= self.empty_start_max
    }

    /// Takes a link's report.
    pub fn on_report(&mut self, reported: CommitLogOffset) {
        self.acked = self.acked.max(reported);
    }

    /// Takes a newly opened link.
    pub fn on_open(&mut self, link: &MasterLink) {
        if let Some(start) = link.empty_start() {
            self.empty_start_max = self.empty_start_max.max(start);
        }
        self.on_report(link.ack());
    }
}

/// The `SYNC_MASTER` rule for a send that stored `sent`, when it starts
/// waiting. `best_ack`: the best connected slave's last report, `None`
/// without one; `written`: the master's written end. A send told
/// [`SyncMaster::Wait`] is acknowledged once [`SlaveReports::cover`] holds,
/// and fails when its wait times out.
pub fn sync_master(
    sent: &Range<CommitLogOffset>,
    reports: &SlaveReports,
    best_ack: Option<CommitLogOffset>,
    written: CommitLogOffset,
    fallbehind_max_bytes: u64,
) -> SyncMaster {
    if reports.cover(sent) {
        return SyncMaster::Replicated;
    }
    if sent.start < reports.empty_start_max {
        return SyncMaster::SlaveNotAvailable;
    }
    match best_ack {
        None => SyncMaster::SlaveNotAvailable,
        Some(ack) if written.get().saturating_sub(ack.get()) >= fallbehind_max_bytes => {
            SyncMaster::SlaveNotAvailable
        }
        Some(_) => SyncMaster::Wait,
    }
}

/// The slave's side of one connection: what it has reported and how far
/// the master's transfer has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaveLink {
    /// Last report sent: the slave held (written or durable, per its flush
    /// mode) everything before it.
    reported: CommitLogOffset,
    /// End of the master's last packet or heartbeat.
    master_offset: CommitLogOffset,
}

impl SlaveLink {
    /// A connection whose first report is `start`, the slave's stored end.
    pub fn open(start: CommitLogOffset) -> SlaveLink {
        SlaveLink {
            reported: start,
            master_offset: CommitLogOffset::ZERO,
        }
    }

    /// Takes a packet's header; true when it carries bytes to append (false
    /// for a heartbeat).
    pub fn on_packet(&mut self, offset: CommitLogOffset, body_bytes: usize) -> bool {
        self.master_offset = self.master_offset.max(offset + body_bytes as u64);
        body_bytes > 0
    }

    /// The master's transfer position as last seen.
    pub fn master_offset(&self) -> CommitLogOffset {
        self.master_offset
    }

    /// The last report sent.
    pub fn reported(&self) -> CommitLogOffset {
        self.reported
    }

    /// The next report, once the slave's log up to `stored` is stored.
    /// Reports never go backwards on one connection.
    pub fn report(&mut self, stored: CommitLogOffset) -> CommitLogOffset {
        self.reported = self.reported.max(stored);
        self.reported
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEG: u64 = 1000;

    fn at(offset: u64) -> CommitLogOffset {
        CommitLogOffset(offset)
    }

    fn span(from: u64, to: u64) -> Range<CommitLogOffset> {
        at(from)..at(to)
    }

    #[test]
    fn an_empty_slave_starts_at_the_masters_last_segment() {
        let link = MasterLink::open(at(0), at(2500), SEG).unwrap();
        assert_eq!(link.sent(), at(2000));
        assert_eq!(link.ack(), at(0));
        assert_eq!(link.next_packet(at(2500), 300), Some((at(2000), 300)));
        assert_eq!(link.next_packet(at(2000), 300), None);
    }

    #[test]
    fn a_slave_ahead_of_the_master_is_refused() {
        assert_eq!(
            MasterLink::open(at(2600), at(2500), SEG),
            Err(LinkError::AheadOfMaster {
                reported: at(2600),
                written: at(2500)
            })
        );
    }

    #[test]
    fn reports_never_pass_what_was_sent() {
        let mut link = MasterLink::open(at(100), at(500), SEG).unwrap();
        link.record_sent(200);
        assert_eq!(link.on_report(at(300)), Ok(()));
        assert_eq!(link.ack(), at(300));
        assert_eq!(
            link.on_report(at(301)),
            Err(LinkError::ReportPastSent {
                reported: at(301),
                sent: at(300)
            })
        );
        // A slave that lost power may report less.
        assert_eq!(link.on_report(at(150)), Ok(()));
        assert_eq!(link.ack(), at(150));
    }

    #[test]
    fn sync_master_waits_only_for_a_slave_that_can_catch_up() {
        let reports = |acked| SlaveReports {
            acked: at(acked),
            empty_start_max: at(0),
        };
        assert_eq!(
            sync_master(&span(50, 100), &reports(100), None, at(500), 50),
            SyncMaster::Replicated
        );
        assert_eq!(
            sync_master(&span(150, 200), &reports(100), None, at(500), 1000),
            SyncMaster::SlaveNotAvailable
        );
        assert_eq!(
            sync_master(&span(150, 200), &reports(100), Some(at(100)), at(500), 400),
            SyncMaster::SlaveNotAvailable
        );
        assert_eq!(
            sync_master(&span(150, 200), &reports(100), Some(at(100)), at(500), 401),
            SyncMaster::Wait
        );
    }

    #[test]
    fn an_empty_slave_covers_nothing_before_its_start() {
        // A send at 1900..2300 waits; the slave reconnects empty and starts
        // at the master's last segment, 4000, then reports 5000.
        let mut reports = SlaveReports::default();
        let link = MasterLink::open(at(0), at(4500), SEG * 4).unwrap();
        assert_eq!(link.empty_start(), Some(at(4000)));
        reports.on_open(&link);
        reports.on_report(at(5000));
        assert!(!reports.cover(&span(1900, 2300)));
        assert!(reports.cover(&span(4000, 4900)));
        assert_eq!(
            sync_master(
                &span(1900, 2300),
                &reports,
                Some(at(5000)),
                at(5000),
                1 << 20
            ),
            SyncMaster::SlaveNotAvailable
        );
        // A slave that resumes holds what it held.
        let resumed = MasterLink::open(at(4200), at(5000), SEG * 4).unwrap();
        assert_eq!(resumed.empty_start(), None);
    }

    #[test]
    fn slave_reports_never_go_backwards_on_one_connection() {
        let mut link = SlaveLink::open(at(100));
        assert!(!link.on_packet(at(100), 0));
        assert!(link.on_packet(at(100), 50));
        assert_eq!(link.master_offset(), at(150));
        assert_eq!(link.report(at(150)), at(150));
        assert_eq!(link.report(at(120)), at(150));
    }
}
