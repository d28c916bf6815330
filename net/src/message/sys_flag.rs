//! Message sysFlag bits (`MessageSysFlag`, §10.3), a 32-bit field of the send
//! header and of every stored record.
//!
//! ```text
//! bit   10 9 8   7       6       5         4         3 2        1          0
//!       compr.   INNER   NEED    STORE_V6  BORN_V6   tx type    MULTI_TAGS COMPRESSED
//!       type     BATCH   UNWRAP
//! ```

/// The body is compressed; bits 8–10 say how, and 0 there means ZLIB (pre-5.x clients).
pub const COMPRESSED_FLAG: i32 = 0x001;
/// The message carries several tags (`MessageSysFlag.MULTI_TAGS_FLAG`).
pub const MULTI_TAGS_FLAG: i32 = 0x002;
/// Mask of the transaction type bits (2–3).
pub const TRANSACTION_TYPE_MASK: i32 = 0x00C;
/// Transaction type of an ordinary, non-transactional message.
pub const TRANSACTION_NOT_TYPE: i32 = 0x000;
/// Transaction type of a half (prepared) message, hidden from consumers until committed.
pub const TRANSACTION_PREPARED_TYPE: i32 = 0x004;
/// Transaction type of an end-transaction commit.
pub const TRANSACTION_COMMIT_TYPE: i32 = 0x008;
/// Transaction type of an end-transaction rollback.
pub const TRANSACTION_ROLLBACK_TYPE: i32 = 0x00C;
/// Born host is IPv6 (16-byte address in the stored record).
pub const BORNHOST_V6_FLAG: i32 = 0x010;
/// Store host is IPv6.
pub const STOREHOSTADDRESS_V6_FLAG: i32 = 0x020;
/// The record is an inner batch whose messages must be unwrapped on consumption.
pub const NEED_UNWRAP_FLAG: i32 = 0x040;
/// The record is an inner batch stored as one record and indexed by a batch consume queue.
pub const INNER_BATCH_FLAG: i32 = 0x080;
/// Mask of the compression type bits (8–10).
pub const COMPRESSION_TYPE_MASK: i32 = 0x700;
/// Compression type bits for LZ4.
pub const COMPRESSION_LZ4_TYPE: i32 = 0x100;
/// Compression type bits for Zstandard.
pub const COMPRESSION_ZSTD_TYPE: i32 = 0x200;
/// Compression type bits for ZLIB (also what 0 means when [`COMPRESSED_FLAG`] is set).
pub const COMPRESSION_ZLIB_TYPE: i32 = 0x300;

const _: () = assert!(
    COMPRESSED_FLAG
        & MULTI_TAGS_FLAG
        & TRANSACTION_TYPE_MASK
        & BORNHOST_V6_FLAG
        & STOREHOSTADDRESS_V6_FLAG
        & NEED_UNWRAP_FLAG
        & INNER_BATCH_FLAG
        & COMPRESSION_TYPE_MASK
        == 0
);

/// The transaction type bits of `sys_flag` (one of the `TRANSACTION_*_TYPE`).
pub fn transaction_type(sys_flag: i32) -> i32 {
    sys_flag & TRANSACTION_TYPE_MASK
}

/// `sys_flag` with its transaction type replaced by `transaction_type`.
pub fn with_transaction_type(sys_flag: i32, transaction_type: i32) -> i32 {
    (sys_flag & !TRANSACTION_TYPE_MASK) | (transaction_type & TRANSACTION_TYPE_MASK)
}

/// How a compressed body is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompressionType {
    /// ZLIB (deflate with a zlib wrapper); Java producers' default, level 5.
    Zlib,
    /// LZ4.
    Lz4,
    /// Zstandard.
    Zstd,
    /// Compression bits a 5.3 client never sets; the raw bits 8–10 value.
    Unknown(u8),
}

/// The body's compression, `None` when [`COMPRESSED_FLAG`] is clear. Type bits 0
/// with the flag set mean zlib: pre-5.x clients set only the flag.
pub fn compression_type(sys_flag: i32) -> Option<CompressionType> {
    if sys_flag & COMPRESSED_FLAG == 0 {
        return None;
    }
    Some(match sys_flag & COMPRESSION_TYPE_MASK {
        0 | COMPRESSION_ZLIB_TYPE => CompressionType::Zlib,
        COMPRESSION_LZ4_TYPE => CompressionType::Lz4,
        COMPRESSION_ZSTD_TYPE => CompressionType::Zstd,
        other => CompressionType::Unknown((other >> 8) as u8),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_type_follows_spec_table() {
        assert_eq!(compression_type(0), None);
        assert_eq!(compression_type(COMPRESSION_ZSTD_TYPE), None);
        assert_eq!(
            compression_type(COMPRESSED_FLAG),
            Some(CompressionType::Zlib)
        );
        assert_eq!(
            compression_type(COMPRESSED_FLAG | COMPRESSION_LZ4_TYPE),
            Some(CompressionType::Lz4)
        );
        assert_eq!(
            compression_type(COMPRESSED_FLAG | 0x500),
            Some(CompressionType::Unknown(5))
        );
    }

    #[test]
    fn transaction_type_is_replaced_in_place() {
        let prepared = MULTI_TAGS_FLAG | TRANSACTION_PREPARED_TYPE;
        let committed = with_transaction_type(prepared, TRANSACTION_COMMIT_TYPE);
        assert_eq!(transaction_type(committed), TRANSACTION_COMMIT_TYPE);
        assert_eq!(committed & MULTI_TAGS_FLAG, MULTI_TAGS_FLAG);
    }
}
