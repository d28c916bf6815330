//! Tasks waiting for a commit-log position to become written or durable.
//! Shard-local (not `Send`); the store wakes them when a position advances
//! and fails them all when the log is poisoned. Registering reuses the
//! list's capacity, so steady-state waits do not allocate.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// One position (or event counter) and the tasks waiting for it to reach
/// theirs; shard-local.
#[derive(Default)]
pub struct PositionWaiters {
    position: Cell<u64>,
    failed: Cell<bool>,
    waiting: RefCell<Vec<(u64, Waker)>>,
}

impl PositionWaiters {
    /// The position reached so far.
    pub fn position(&self) -> u64 {
        self.position.get()
    }

    /// Moves the position to `position` and wakes every waiter it reaches.
    /// Panics if the position would move backwards.
    pub fn advance(&self, position: u64) {
        assert!(position >= self.position.get(), "position went backwards");
        self.position.set(position);
        let mut waiting = self.waiting.borrow_mut();
        waiting.retain(|(target, waker)| {
            if *target <= position {
                waker.wake_by_ref();
                false
            } else {
                true
            }
        });
    }

    /// Used as a counter of events: one more happened.
    pub fn bump(&self) {
        self.advance(self.position() + 1);
    }

    /// Used as a counter of events: resolves at the next [`Self::bump`]
    /// after this call (or a failure).
    pub fn next_bump(&self) -> WaitPosition<'_> {
        self.wait(self.position() + 1)
    }

    /// Every current and future waiter completes with failure.
    pub fn fail_all(&self) {
        self.failed.set(true);
        for (_, waker) in self.waiting.borrow_mut().drain(..) {
            waker.wake();
        }
    }

    /// Resolves to `true` once the position reaches `target`, `false` if the
    /// log failed first. Dropping the future just stops waiting.
    pub fn wait(&self, target: u64) -> WaitPosition<'_> {
        WaitPosition {
            waiters: self,
            target,
        }
    }
}

/// [`PositionWaiters::wait`]'s future: `true` once the position reaches
/// the target, `false` if the waiters were failed first.
pub struct WaitPosition<'a> {
    waiters: &'a PositionWaiters,
    target: u64,
}

impl Future for WaitPosition<'_> {
    type Output = bool;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        if self.waiters.position.get() >= self.target {
            return Poll::Ready(true);
        }
        if self.waiters.failed.get() {
            return Poll::Ready(false);
        }
        let mut waiting = self.waiters.waiting.borrow_mut();
        if !waiting
            .iter()
            .any(|(t, w)| *t == self.target && w.will_wake(cx.waker()))
        {
            waiting.push((self.target, cx.waker().clone()));
        }
        Poll::Pending
    }
}
