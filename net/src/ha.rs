//! RocketMQ's classic HA wire format (spec ha-and-cluster §3): not the
//! remoting protocol, just two byte streams on one socket.
//!
//! * slave → master: an 8-byte big-endian report of the slave's commit-log
//!   end (the first one says where to start);
//! * master → slave: a 12-byte header (`masterPhyOffset` i64, `bodySize`
//!   i32; 0 = heartbeat) followed by that many raw commit-log bytes.
//!
//! The body size is checked against a maximum before anything is read or
//! allocated.

/// Bytes of the slave's offset report: one big-endian i64.
pub const REPORT_BYTES: usize = 8;
/// Bytes of the master's transfer header: big-endian i64 offset, i32 body size.
pub const TRANSFER_HEADER_BYTES: usize = 12;

/// An HA header or report that cannot be valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HaError {
    /// A commit-log offset on the wire was negative.
    #[error("negative commit-log offset {0}")]
    NegativeOffset(i64),
    /// A transfer body size was negative or above the reader's maximum.
    #[error("transfer body of {size} bytes is negative or above the {max}-byte maximum")]
    BodySize {
        /// The size the header declared.
        size: i64,
        /// The reader's maximum, in bytes.
        max: usize,
    },
}

/// One transfer packet's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferHeader {
    /// Commit-log offset (`masterPhyOffset`) of the body's first byte.
    pub offset: u64,
    /// Bytes of commit log that follow the header; 0 for a heartbeat.
    pub body_bytes: usize,
}

impl TransferHeader {
    /// The 12 wire bytes. The caller keeps `offset` within i64 and
    /// `body_bytes` within i32; larger values are not checked here.
    pub fn encode(&self) -> [u8; TRANSFER_HEADER_BYTES] {
        let mut out = [0u8; TRANSFER_HEADER_BYTES];
        out[..8].copy_from_slice(&(self.offset as i64).to_be_bytes());
        out[8..].copy_from_slice(&(self.body_bytes as i32).to_be_bytes());
        out
    }

    /// Reads a header; fails on a negative offset, or a body size that is
    /// negative or above `body_bytes_max`.
    pub fn decode(
        bytes: &[u8; TRANSFER_HEADER_BYTES],
        body_bytes_max: usize,
    ) -> Result<TransferHeader, HaError> {
        let offset = i64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"));
        let size = i64::from(i32::from_be_bytes(bytes[8..].try_into().expect("4 bytes")));
        if offset < 0 {
            return Err(HaError::NegativeOffset(offset));
        }
        if size < 0 || size as usize > body_bytes_max {
            return Err(HaError::BodySize {
                size,
                max: body_bytes_max,
            });
        }
        Ok(TransferHeader {
            offset: offset as u64,
            body_bytes: size as usize,
        })
    }
}

/// The slave's report of its commit-log end (`offset` within i64).
pub fn encode_report(offset: u64) -> [u8; REPORT_BYTES] {
    (offset as i64).to_be_bytes()
}

/// Reads a slave's report; fails on a negative offset.
pub fn decode_report(bytes: &[u8; REPORT_BYTES]) -> Result<u64, HaError> {
    let offset = i64::from_be_bytes(*bytes);
    if offset < 0 {
        return Err(HaError::NegativeOffset(offset));
    }
    Ok(offset as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn golden_header() {
        let h = TransferHeader {
            offset: 0x0102_0304_0506_0708,
            body_bytes: 32 * 1024,
        };
        assert_eq!(h.encode(), [1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0x80, 0]);
        assert_eq!(encode_report(1 << 32), [0, 0, 0, 1, 0, 0, 0, 0]);
    }

    #[test]
    fn oversized_and_negative_are_refused() {
        let mut b = TransferHeader {
            offset: 0,
            body_bytes: 0,
        }
        .encode();
        b[8..].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(matches!(
            TransferHeader::decode(&b, 100),
            Err(HaError::BodySize { .. })
        ));
        b[8..].copy_from_slice(&101i32.to_be_bytes());
        assert!(matches!(
            TransferHeader::decode(&b, 100),
            Err(HaError::BodySize { .. })
        ));
        assert!(decode_report(&(-5i64).to_be_bytes()).is_err());
    }

    proptest! {
        #[test]
        fn header_round_trips(offset in 0u64..(1 << 62), size in 0usize..(1 << 20)) {
            let h = TransferHeader { offset, body_bytes: size };
            prop_assert_eq!(TransferHeader::decode(&h.encode(), 1 << 20), Ok(h));
            prop_assert_eq!(decode_report(&encode_report(offset)), Ok(offset));
        }

        #[test]
        fn any_bytes_decode_without_panic(bytes in any::<[u8; 12]>()) {
            if let Ok(h) = TransferHeader::decode(&bytes, 4096) {
                prop_assert!(h.body_bytes <= 4096);
            }
        }
    }
}
