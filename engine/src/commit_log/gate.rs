//! The disk's flush gate, shared by the log's durable writes in flight.

use crate::disk::Disk;

use super::CommitLog;

/// One durable write's share of the log's flush-gate permit; the last one
/// out releases the gate.
pub(super) struct GateUse<'a, D: Disk> {
    log: &'a CommitLog<D>,
}

impl<D: Disk> Drop for GateUse<'_, D> {
    fn drop(&mut self) {
        let users = self.log.gate_users.get() - 1;
        self.log.gate_users.set(users);
        if users == 0 {
            self.log.gate_permit.borrow_mut().take();
        }
    }
}

/// A task of the log waiting at the flush gate with the next write; when
/// it stops waiting (it got the gate, or it was cancelled), tasks waiting
/// for a chance to write look again.
struct GateWaiter<'a, D: Disk> {
    log: &'a CommitLog<D>,
}

impl<D: Disk> Drop for GateWaiter<'_, D> {
    fn drop(&mut self) {
        self.log.gate_waiter.set(false);
        self.log.write_ends.bump();
    }
}

impl<D: Disk> CommitLog<D> {
    /// Holds the disk's flush gate for one durable write. The log's writes
    /// in flight share one permit: a write joins them while nobody else
    /// (another shard, or this shard's segment fill) waits at the gate, and
    /// otherwise queues, so a log that always has a write in flight cannot
    /// keep the gate from the others. At most one task of the log queues:
    /// `None` when another already does (its write will take the pending
    /// bytes; [`CommitLog::can_issue`] is false meanwhile). With every
    /// writer queueing, the broker's `SYNC_FLUSH` batch throughput with two
    /// shards fell (figures: `docs/perf-log.md`, 2026-12-04), most likely
    /// because each extra holder, with nothing left to write, handed the
    /// gate on: a wake-up across cores while the disk sat idle.
    pub(super) async fn enter_gate(&self) -> Option<GateUse<'_, D>> {
        if self.gate_users.get() == 0 || self.gate.has_waiters() {
            if self.gate_waiter.replace(true) {
                return None;
            }
            let waiting = GateWaiter { log: self };
            let permit = self.gate.acquire().await;
            drop(waiting);
            // One permit exists at a time: this log's last one went when
            // its last user left.
            assert!(self.gate_users.get() == 0 && self.gate_permit.borrow().is_none());
            *self.gate_permit.borrow_mut() = Some(permit);
        }
        self.gate_users.set(self.gate_users.get() + 1);
        Some(GateUse { log: self })
    }
}
