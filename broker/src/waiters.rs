//! Wake-ups within one shard: a version others wait to pass, and per-queue
//! arrival signals that held pulls wait on. Single-threaded (shard-local).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// The wakers of the futures waiting on one condition: one slot per
/// waiting future, freed when the future completes or is dropped. A wait
/// that loses a race (`or` with a timer) therefore leaves nothing behind:
/// a list that kept every waker until the next wake-up grew by one clone
/// per lost race, and 32 768 clones of one task overflow glommio's waker
/// reference count (an abort, seen under load in a timer loop).
#[derive(Default)]
struct WakerSet {
    slots: RefCell<Vec<Option<Waker>>>,
    free: RefCell<Vec<usize>>,
}

impl WakerSet {
    fn register(&self, slot: &mut Option<usize>, waker: &Waker) {
        let mut slots = self.slots.borrow_mut();
        match *slot {
            Some(i) => match &mut slots[i] {
                Some(w) if w.will_wake(waker) => {}
                entry => *entry = Some(waker.clone()),
            },
            None => {
                let i = match self.free.borrow_mut().pop() {
                    Some(i) => i,
                    None => {
                        slots.push(None);
                        slots.len() - 1
                    }
                };
                slots[i] = Some(waker.clone());
                *slot = Some(i);
            }
        }
    }

    fn unregister(&self, slot: &mut Option<usize>) {
        if let Some(i) = slot.take() {
            self.slots.borrow_mut()[i] = None;
            self.free.borrow_mut().push(i);
        }
    }

    /// Wakes every registered future. Their slots stay theirs until they
    /// complete or are dropped.
    fn wake_all(&self) {
        let wakers: Vec<Waker> = self
            .slots
            .borrow_mut()
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        for w in wakers {
            w.wake();
        }
    }
}

/// Resolves once `ready` holds; registered in `set` while pending.
struct WaitUntil<'a, F: Fn() -> bool> {
    set: &'a WakerSet,
    ready: F,
    slot: Option<usize>,
}

impl<F: Fn() -> bool + Unpin> Future for WaitUntil<'_, F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if (this.ready)() {
            this.set.unregister(&mut this.slot);
            Poll::Ready(())
        } else {
            this.set.register(&mut this.slot, cx.waker());
            Poll::Pending
        }
    }
}

impl<F: Fn() -> bool> Drop for WaitUntil<'_, F> {
    fn drop(&mut self) {
        self.set.unregister(&mut self.slot);
    }
}

/// A monotonic version with waiters, plus a "something changed" poke.
#[derive(Default)]
pub struct VersionWaiters {
    version: Cell<u64>,
    waiters: WakerSet,
    pokes: Cell<u64>,
    poke_waiters: WakerSet,
}

impl VersionWaiters {
    pub fn version(&self) -> u64 {
        self.version.get()
    }

    pub fn advance(&self, to: u64) {
        if to > self.version.get() {
            self.version.set(to);
            self.waiters.wake_all();
        }
    }

    pub async fn wait_for(&self, version: u64) {
        WaitUntil {
            set: &self.waiters,
            ready: || self.version.get() >= version,
            slot: None,
        }
        .await;
    }

    pub fn poke(&self) {
        self.pokes.set(self.pokes.get() + 1);
        self.poke_waiters.wake_all();
    }

    /// Resolves at the next [`VersionWaiters::poke`].
    pub async fn changed(&self) {
        let seen = self.pokes.get();
        WaitUntil {
            set: &self.poke_waiters,
            ready: || self.pokes.get() != seen,
            slot: None,
        }
        .await;
    }
}

/// One queue's arrival counter.
#[derive(Default)]
pub struct Signal {
    generation: Cell<u64>,
    waiters: WakerSet,
}

impl Signal {
    pub fn generation(&self) -> u64 {
        self.generation.get()
    }

    /// Resolves once the generation differs from `seen`. A wait dropped
    /// before (a held pull that timed out) leaves no waker behind.
    pub async fn wait_past(&self, seen: u64) {
        WaitUntil {
            set: &self.waiters,
            ready: || self.generation.get() != seen,
            slot: None,
        }
        .await;
    }

    fn fire(&self) {
        self.generation.set(self.generation.get() + 1);
        self.waiters.wake_all();
    }
}

thread_local! {
    /// Pulls held on this shard's thread.
    pub static PULL_HELD: Cell<usize> = const { Cell::new(0) };
    /// Pops held on this shard's thread.
    pub static POP_HELD: Cell<usize> = const { Cell::new(0) };
}

/// One held request counted against a per-shard maximum while it lives.
pub struct HoldSlot(&'static std::thread::LocalKey<Cell<usize>>);

impl HoldSlot {
    /// A slot, or None when `max` are held.
    pub fn try_new(
        count: &'static std::thread::LocalKey<Cell<usize>>,
        max: usize,
    ) -> Option<HoldSlot> {
        count.with(|c| {
            (c.get() < max).then(|| {
                c.set(c.get() + 1);
                HoldSlot(count)
            })
        })
    }
}

impl Drop for HoldSlot {
    fn drop(&mut self) {
        self.0.with(|c| c.set(c.get() - 1));
    }
}

/// The signal of a topic fired for a message on any of its queues (a pop
/// waits on all of them); never a real queue id.
pub const ANY_QUEUE: i32 = -1;

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

    /// A message for the queue is visible to consumers. Fires the queue's
    /// signal and the topic's [`ANY_QUEUE`] one.
    pub fn fire(&self, topic: &str, queue_id: i32) {
        if let Some(queues) = self.signals.borrow().get(topic) {
            for id in [queue_id, ANY_QUEUE] {
                if let Some(s) = queues.get(&id) {
                    s.fire();
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A wait that loses a race leaves no waker behind (a lost race per
    /// loop once overflowed glommio's waker count and aborted a broker).
    #[test]
    fn lost_races_leave_no_wakers() {
        let v = VersionWaiters::default();
        let s = Signal::default();
        futures_lite::future::block_on(async {
            for _ in 0..100_000 {
                futures_lite::future::or(v.changed(), async {}).await;
                futures_lite::future::or(s.wait_past(s.generation()), async {}).await;
            }
        });
        assert!(v.poke_waiters.slots.borrow().iter().all(Option::is_none));
        assert!(v.poke_waiters.slots.borrow().len() <= 1);
        assert!(s.waiters.slots.borrow().len() <= 1);
        // And a waiting future is still woken.
        futures_lite::future::block_on(futures_lite::future::zip(v.changed(), async { v.poke() }));
        futures_lite::future::block_on(futures_lite::future::zip(
            s.wait_past(s.generation()),
            async { s.fire() },
        ));
    }
}
