//! The checkpoint: how far derived data (consume queues, key index) is
//! durable, so recovery re-reads only the commit log after it.
//!
//! RocketMQ's checkpoint (`spec/store-format.md` §6) stores timestamps and
//! relies on an `abort` file; RingMQ stores the commit-log offset itself and
//! whether the stop was clean, which makes the recovery decision exact. Two
//! slots, written alternately and each in its own 512-byte sector, so a torn
//! write can only lose the newer one.
//!
//! ```text
//! file <root>/checkpoint, 1024 bytes: slot 0 at 0, slot 1 at 512
//! slot (40 bytes, big-endian)
//!   0  8  magic "RMQCKPT1"
//!   8  8  sequence            higher wins
//!  16  8  dispatchedOffset    consume-queue and index files hold every record below it
//!  24  8  lastStoreTimestamp  of the last record below dispatchedOffset
//!  32  1  clean               1: clean stop, the log ends at dispatchedOffset
//!  33  3  reserved (zero)
//!  36  4  crc32 of bytes 0..36
//! ```

use std::path::Path;

use crate::disk::{Disk, DiskFile};
use crate::error::{Result, StoreError};
use crate::ids::CommitLogOffset;

const MAGIC: &[u8; 8] = b"RMQCKPT1";
/// Encoded size of one checkpoint slot, in bytes.
pub const SLOT_BYTES: usize = 40;
const SLOT_STRIDE_BYTES: u64 = 512;
const _: () = assert!(SLOT_BYTES as u64 <= SLOT_STRIDE_BYTES);

/// One checkpoint slot's contents (layout in the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Checkpoint {
    /// Incremented by every checkpoint; of the two slots, the higher wins.
    pub sequence: u64,
    /// Commit-log offset below which the consume-queue and index files hold
    /// every record.
    pub dispatched_offset: CommitLogOffset,
    /// Store timestamp (ms since the epoch) of the last record below
    /// `dispatched_offset`.
    pub last_store_timestamp_ms: i64,
    /// The store stopped cleanly and the log ends at `dispatched_offset`.
    pub clean: bool,
}

impl Checkpoint {
    /// The slot's [`SLOT_BYTES`] bytes, CRC included.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SLOT_BYTES);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.dispatched_offset.get().to_be_bytes());
        out.extend_from_slice(&self.last_store_timestamp_ms.to_be_bytes());
        out.push(u8::from(self.clean));
        out.extend_from_slice(&[0, 0, 0]);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// `None` for anything that is not a whole, intact slot.
    pub fn decode(buf: &[u8]) -> Option<Checkpoint> {
        let b = buf.get(..SLOT_BYTES)?;
        if &b[..8] != MAGIC {
            return None;
        }
        let crc = u32::from_be_bytes(b[36..40].try_into().expect("a slice of the array's length"));
        if crc32fast::hash(&b[..36]) != crc || b[32] > 1 {
            return None;
        }
        Some(Checkpoint {
            sequence: u64::from_be_bytes(
                b[8..16].try_into().expect("a slice of the array's length"),
            ),
            dispatched_offset: CommitLogOffset(u64::from_be_bytes(
                b[16..24].try_into().expect("a slice of the array's length"),
            )),
            last_store_timestamp_ms: i64::from_be_bytes(
                b[24..32].try_into().expect("a slice of the array's length"),
            ),
            clean: b[32] == 1,
        })
    }

    /// Reads the newest intact slot; `None` when there is none (new store).
    pub async fn load<D: Disk>(disk: &D, path: &Path) -> Result<Option<Checkpoint>> {
        let file = match disk.open(path, false).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io("open checkpoint", path, e)),
        };
        let bytes = file
            .read_at(0, 2 * SLOT_STRIDE_BYTES as usize)
            .await
            .map_err(|e| StoreError::io("read checkpoint", path, e))?;
        let slots = [
            Checkpoint::decode(&bytes),
            bytes
                .get(SLOT_STRIDE_BYTES as usize..)
                .and_then(Checkpoint::decode),
        ];
        Ok(slots.into_iter().flatten().max_by_key(|c| c.sequence))
    }

    /// Writes this checkpoint into the slot its sequence selects and makes it
    /// durable.
    pub async fn store<D: Disk>(&self, disk: &D, path: &Path) -> Result<()> {
        let file = disk
            .open(path, true)
            .await
            .map_err(|e| StoreError::io("open checkpoint", path, e))?;
        let pos = (self.sequence % 2) * SLOT_STRIDE_BYTES;
        file.write_all_at(self.encode(), pos)
            .await
            .map_err(|e| StoreError::io("write checkpoint", path, e))?;
        file.sync_data()
            .await
            .map_err(|e| StoreError::io("sync checkpoint", path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn golden_slot() {
        let c = Checkpoint {
            sequence: 1,
            dispatched_offset: CommitLogOffset(2),
            last_store_timestamp_ms: 3,
            clean: true,
        };
        let bytes = c.encode();
        assert_eq!(&bytes[..8], b"RMQCKPT1");
        assert_eq!(
            &bytes[8..33],
            &[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3, 1]
        );
        assert_eq!(bytes.len(), SLOT_BYTES);
        assert_eq!(Checkpoint::decode(&bytes), Some(c));
    }

    proptest! {
        #[test]
        fn slot_round_trips(seq in any::<u64>(), off in any::<u64>(), ts in any::<i64>(), clean in any::<bool>()) {
            let c = Checkpoint { sequence: seq, dispatched_offset: CommitLogOffset(off), last_store_timestamp_ms: ts, clean };
            prop_assert_eq!(Checkpoint::decode(&c.encode()), Some(c));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Checkpoint::decode(&bytes);
        }
    }
}
