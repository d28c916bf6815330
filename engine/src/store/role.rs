//! Jobs one task at a time does for the store (flushing, preparing a
//! segment), and the turn that holds one.

use std::cell::Cell;

use crate::waiters::PositionWaiters;

/// A job one task at a time does for the store: flushing, preparing a
/// segment. Tasks that find it taken wait for the holder to
/// finish and look again (its work may not cover theirs).
#[derive(Default)]
pub(super) struct Role {
    held: Cell<bool>,
    /// Counts finished turns.
    turns: PositionWaiters,
}

/// A held [`Role`]. Dropping it frees the role and wakes its waiters, also
/// when the holder is cancelled at an await, so a dropped caller can never
/// leave the role held and the shard stalled.
pub(super) struct Turn<'a>(&'a Role);

impl Role {
    pub(super) fn try_take(&self) -> Option<Turn<'_>> {
        if self.held.replace(true) {
            None
        } else {
            Some(Turn(self))
        }
    }

    /// Waits for the current holder's turn to end.
    pub(super) async fn turn_ended(&self) {
        self.turns.next_bump().await;
    }

    pub(super) async fn take(&self) -> Turn<'_> {
        loop {
            if let Some(turn) = self.try_take() {
                return turn;
            }
            self.turn_ended().await;
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0.held.set(false);
        self.0.turns.bump();
    }
}
