//! One fdatasync in flight per disk, across shards.
//!
//! Two cores flushing one disk at once got less than half the bandwidth of
//! one core flushing alone (`docs/perf-log.md`, 2026-12-04). Every shard whose
//! store sits on the same disk shares one [`FlushGate`] (it is `Send + Sync`,
//! the only engine type that crosses shards); a shard takes it around each
//! fdatasync and releases it right after. Waiters are served in arrival order.
//!
//! A durable (O_DSYNC) direct write is a flush too. One shard may have two
//! of them in flight under one permit (`CommitLog::enter_gate`): two
//! O_DSYNC writers from one core got more than one alone
//! (`perf/disk_ceiling.sh`; figures: `docs/perf-log.md`, 2026-12-04), so the rule is
//! one *shard* flushing a disk at a time, and a shard holding the gate
//! queues behind anyone waiting for it instead of adding another write.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// The gate of one disk, shared by every shard whose store is on it
/// (cloning shares it); one holder at a time, in arrival order.
#[derive(Clone, Default)]
pub struct FlushGate {
    state: Arc<Mutex<GateState>>,
}

#[derive(Default)]
struct GateState {
    held: bool,
    next_ticket: u64,
    queue: VecDeque<(u64, Waker)>,
}

/// Held while one fdatasync runs; dropping it lets the next shard in.
pub struct FlushPermit {
    state: Arc<Mutex<GateState>>,
}

impl Drop for FlushPermit {
    fn drop(&mut self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        assert!(s.held, "flush permit released twice");
        s.held = false;
        if let Some((_, waker)) = s.queue.front() {
            waker.wake_by_ref();
        }
    }
}

impl FlushGate {
    /// A gate nobody holds, for one disk.
    pub fn new() -> FlushGate {
        FlushGate::default()
    }

    /// Someone waits for the gate (a holder that could go on without
    /// releasing it should release it instead).
    pub fn has_waiters(&self) -> bool {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        !s.queue.is_empty()
    }

    /// Waits for the disk. Cancelling the future gives up the place in line.
    pub fn acquire(&self) -> Acquire {
        Acquire {
            state: self.state.clone(),
            ticket: None,
        }
    }
}

/// [`FlushGate::acquire`]'s future: resolves to the permit once it is
/// this waiter's turn; dropping it gives up the place in line.
pub struct Acquire {
    state: Arc<Mutex<GateState>>,
    ticket: Option<u64>,
}

impl Future for Acquire {
    type Output = FlushPermit;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<FlushPermit> {
        let state = self.state.clone();
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        let ticket = match self.ticket {
            Some(t) => t,
            None => {
                let t = s.next_ticket;
                s.next_ticket += 1;
                s.queue.push_back((t, cx.waker().clone()));
                self.ticket = Some(t);
                t
            }
        };
        let first = s.queue.front().map(|(t, _)| *t) == Some(ticket);
        if first && !s.held {
            s.held = true;
            s.queue.pop_front();
            drop(s);
            self.ticket = None;
            return Poll::Ready(FlushPermit { state });
        }
        if let Some(entry) = s.queue.iter_mut().find(|(t, _)| *t == ticket) {
            entry.1.clone_from(cx.waker());
        }
        Poll::Pending
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            s.queue.retain(|(t, _)| *t != ticket);
            if !s.held {
                if let Some((_, waker)) = s.queue.front() {
                    waker.wake_by_ref();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn one_holder_at_a_time_across_threads() {
        let gate = FlushGate::new();
        let inside = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let gate = gate.clone();
                let inside = inside.clone();
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        let permit = futures_lite::future::block_on(gate.acquire());
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                        std::thread::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                        drop(permit);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
}
