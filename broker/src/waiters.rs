//! Wake-ups within one shard: a version others wait to pass, and per-queue
//! arrival signals that held pulls wait on. Single-threaded (shard-local).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::task::{Poll, Waker};

/// A monotonic version with waiters, plus a "something changed" poke.
#[derive(Default)]
pub struct VersionWaiters {
    version: Cell<u64>,
    waiters: RefCell<Vec<Waker>>,
    pokes: Cell<u64>,
    poke_waiters: RefCell<Vec<Waker>>,
}

impl VersionWaiters {
    pub fn version(&self) -> u64 {
        self.version.get()
    }

    pub fn advance(&self, to: u64) {
        if to > self.version.get() {
            self.version.set(to);
            for w in self.waiters.borrow_mut().drain(..) {
                w.wake();
            }
        }
    }

    pub async fn wait_for(&self, version: u64) {
        futures_lite::future::poll_fn(|cx| {
            if self.version.get() >= version {
                Poll::Ready(())
            } else {
                self.waiters.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    pub fn poke(&self) {
        self.pokes.set(self.pokes.get() + 1);
        for w in self.poke_waiters.borrow_mut().drain(..) {
            w.wake();
        }
    }

    /// Resolves at the next [`VersionWaiters::poke`].
    pub async fn changed(&self) {
        let seen = self.pokes.get();
        futures_lite::future::poll_fn(|cx| {
            if self.pokes.get() != seen {
                Poll::Ready(())
            } else {
                self.poke_waiters.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

/// One queue's arrival counter.
#[derive(Default)]
pub struct Signal {
    generation: Cell<u64>,
    waiters: RefCell<Vec<Waker>>,
}

impl Signal {
    pub fn generation(&self) -> u64 {
        self.generation.get()
    }

    /// Resolves once the generation differs from `seen`.
    pub async fn wait_past(&self, seen: u64) {
        futures_lite::future::poll_fn(|cx| {
            if self.generation.get() != seen {
                Poll::Ready(())
            } else {
                self.waiters.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    fn fire(&self) {
        self.generation.set(self.generation.get() + 1);
        for w in self.waiters.borrow_mut().drain(..) {
            w.wake();
        }
    }
}

/// Arrival signals of one shard's queues, created on first use by a held
/// pull. Bounded by the number of queues pulls have named, which the topic
/// table bounds. Keyed by topic, then queue id, so the send path looks a
/// queue up without building a key.
#[derive(Default)]
pub struct QueueSignals {
    signals: RefCell<HashMap<String, HashMap<i32, Rc<Signal>>>>,
}

impl QueueSignals {
    pub fn get(&self, topic: &str, queue_id: i32) -> Rc<Signal> {
        let mut signals = self.signals.borrow_mut();
        if !signals.contains_key(topic) {
            signals.insert(topic.to_string(), HashMap::new());
        }
        signals
            .get_mut(topic)
            .expect("inserted above")
            .entry(queue_id)
            .or_default()
            .clone()
    }

    /// A message for the queue is visible to consumers.
    pub fn fire(&self, topic: &str, queue_id: i32) {
        if let Some(s) = self
            .signals
            .borrow()
            .get(topic)
            .and_then(|q| q.get(&queue_id))
        {
            s.fire();
        }
    }

    /// Something may be visible in any queue (replicated bytes on a slave).
    pub fn fire_all(&self) {
        for queues in self.signals.borrow().values() {
            queues.values().for_each(|s| s.fire());
        }
    }

    pub fn remove_topic(&self, topic: &str) {
        self.signals.borrow_mut().remove(topic);
    }
}
