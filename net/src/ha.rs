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

pub const REPORT_BYTES: usize = 8;
pub const TRANSFER_HEADER_BYTES: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HaError {
    #[error("negative commit-log offset {0}")]
    NegativeOffset(i64),
    #[error("transfer body of {size} bytes is negative or above the {max}-byte maximum")]
    BodySize { size: i64, max: usize },
}

/// One transfer packet's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferHeader {
    pub offset: u64,
    pub body_bytes: usize,
}

impl TransferHeader {
    pub fn encode(&self) -> [u8; TRANSFER_HEADER_BYTES] {
        let mut out = [0u8; TRANSFER_HEADER_BYTES];
        out[..8].copy_from_slice(&(self.offset as i64).to_be_bytes());
        out[8..].copy_from_slice(&(self.body_bytes as i32).to_be_bytes());
        out
    }

    pub fn decode(
        bytes: &[u8; TRANSFER_HEADER_BYTES],
        body_bytes_max: usize,
    ) -> Result<TransferHeader, HaError> {
        let offset = i64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"));
        let size = i32::from_be_bytes(bytes[8..].try_into().expect("4 bytes")) as i64;
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

pub fn encode_report(offset: u64) -> [u8; REPORT_BYTES] {
    (offset as i64).to_be_bytes()
}

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
