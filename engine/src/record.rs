//! The commit-log record: RocketMQ's stored-message layout, byte for byte
//! (`spec/store-format.md` §2). Pull responses, view-by-id bodies and the
//! replication stream are these bytes unchanged, so this module is the only
//! place that knows the layout.
//!
//! ```text
//! offset  size  field (IPv4 born and store host; big-endian)
//!   0      4    TOTALSIZE        whole record, this field included
//!   4      4    MAGICCODE        0xDAA320A7 (V1) | 0xDAA320AB (V2, 2-byte topic length)
//!   8      4    BODYCRC          crc32(body) & 0x7FFFFFFF
//!  12      4    QUEUEID
//!  16      4    FLAG
//!  20      8    QUEUEOFFSET      0 for PREPARED / ROLLBACK records
//!  28      8    PHYSICALOFFSET   absolute commit-log offset of this record
//!  36      4    SYSFLAG          bit 4: born host IPv6, bit 5: store host IPv6
//!  40      8    BORNTIMESTAMP
//!  48    8|20   BORNHOST         address + i32 port
//!  56      8    STORETIMESTAMP   (+12 after an IPv6 born host)
//!  64    8|20   STOREHOST
//!  72      4    RECONSUMETIMES   (+12 / +24 with IPv6 hosts from here on)
//!  76      8    PREPARED_TRANSACTION_OFFSET
//!  84      4    BODYLENGTH
//!  88      n    BODY
//!  88+n  1|2    TOPICLENGTH      1 byte (V1) or i16 (V2)
//!         t     TOPIC
//!         2     PROPERTIESLENGTH i16
//!         p     PROPERTIES       name\x01value\x02...
//! ```
//!
//! The end of a segment is closed by an 8-byte BLANK filler,
//! `[TOTALSIZE = bytes left in segment][MAGIC = 0xCBD43194]`.
//!
//! Decoding never panics and never trusts a length it has not checked against
//! the bytes it was given.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::ids::{CommitLogOffset, QueueId, QueueOffset};

/// MAGICCODE of a record whose TOPICLENGTH is one byte (topics of at most
/// [`TOPIC_V1_SIZE_BYTES_MAX`] bytes).
pub const MAGIC_V1: u32 = 0xDAA3_20A7;
/// MAGICCODE of a record whose TOPICLENGTH is a 2-byte `i16`; written only
/// for topics longer than [`TOPIC_V1_SIZE_BYTES_MAX`] bytes.
pub const MAGIC_V2: u32 = 0xDAA3_20AB;
/// MAGICCODE of the BLANK filler that closes a segment.
pub const MAGIC_BLANK: u32 = 0xCBD4_3194;
/// The BLANK filler: TOTALSIZE + MAGIC.
pub const BLANK_SIZE_BYTES: usize = 8;

/// `maxMessageSize` default: a body larger than this is `MESSAGE_ILLEGAL`.
pub const BODY_SIZE_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Whole record bound used by decoders: body max plus 64 KiB for the rest, as
/// Java's `maxMessageSize + 64 KiB`.
pub const RECORD_SIZE_BYTES_MAX: usize = BODY_SIZE_BYTES_MAX + 64 * 1024;
/// PROPERTIESLENGTH is a signed short.
pub const PROPERTIES_SIZE_BYTES_MAX: usize = i16::MAX as usize;
/// Topics longer than this need the V2 magic (2-byte topic length).
pub const TOPIC_V1_SIZE_BYTES_MAX: usize = 127;
/// Longest topic in bytes: V2's TOPICLENGTH is a signed short.
pub const TOPIC_SIZE_BYTES_MAX: usize = i16::MAX as usize;

/// SYSFLAG bit: BORNHOST is IPv6 (20 bytes instead of 8).
pub const SYSFLAG_BORNHOST_V6: i32 = 1 << 4;
/// SYSFLAG bit: STOREHOST is IPv6 (20 bytes instead of 8).
pub const SYSFLAG_STOREHOST_V6: i32 = 1 << 5;
const SYSFLAG_TRANSACTION_MASK: i32 = 0x0C;
/// SYSFLAG transaction type (bits 2–3) of a half message: no queue offset,
/// no consume-queue entry until committed.
pub const SYSFLAG_TRANSACTION_PREPARED: i32 = 0x04;
/// SYSFLAG transaction type (bits 2–3) of a committed transaction's
/// message, which consumers see.
pub const SYSFLAG_TRANSACTION_COMMIT: i32 = 0x08;
/// SYSFLAG transaction type (bits 2–3) of a rollback marker: no queue
/// offset, no consume-queue entry, no key-index entries.
pub const SYSFLAG_TRANSACTION_ROLLBACK: i32 = 0x0C;

/// Fixed part of a record with IPv4 hosts, excluding body, topic and
/// properties: 91 bytes minus the 1-byte topic length and 2-byte properties
/// length, i.e. every field up to and including BODYLENGTH.
const FIXED_PREFIX_IPV4_BYTES: usize = 88;

const POS_TOTAL_SIZE: usize = 0;
const POS_MAGIC: usize = 4;
const POS_BODY_CRC: usize = 8;
const POS_QUEUE_ID: usize = 12;
const POS_FLAG: usize = 16;
const POS_QUEUE_OFFSET: usize = 20;
const POS_PHYSICAL_OFFSET: usize = 28;
const POS_SYSFLAG: usize = 36;
const POS_BORN_TIMESTAMP: usize = 40;
const POS_BORN_HOST: usize = 48;

// The fixed positions follow from the field sizes; a typo in either breaks
// the build, not a record on disk.
const _: () = {
    assert!(POS_MAGIC == POS_TOTAL_SIZE + 4);
    assert!(POS_BODY_CRC == POS_MAGIC + 4);
    assert!(POS_QUEUE_ID == POS_BODY_CRC + 4);
    assert!(POS_FLAG == POS_QUEUE_ID + 4);
    assert!(POS_QUEUE_OFFSET == POS_FLAG + 4);
    assert!(POS_PHYSICAL_OFFSET == POS_QUEUE_OFFSET + 8);
    assert!(POS_SYSFLAG == POS_PHYSICAL_OFFSET + 8);
    assert!(POS_BORN_TIMESTAMP == POS_SYSFLAG + 4);
    assert!(POS_BORN_HOST == POS_BORN_TIMESTAMP + 8);
    // born host 8, store timestamp 8, store host 8, reconsume 4, prepared 8, body length 4
    assert!(FIXED_PREFIX_IPV4_BYTES == POS_BORN_HOST + 8 + 8 + 8 + 4 + 8 + 4);
};

/// Everything about a message the broker hands in; the engine adds queue
/// offset, physical offset and store timestamp.
#[derive(Clone, Debug)]
pub struct MessageIn<'a> {
    /// TOPIC: 1 to [`TOPIC_SIZE_BYTES_MAX`] bytes of RocketMQ's topic
    /// characters.
    pub topic: &'a str,
    /// QUEUEID: the queue of the topic the message goes to.
    pub queue_id: QueueId,
    /// FLAG: the producer's user flag, stored and returned unread.
    pub flag: i32,
    /// BODY: stored as received (compressed when SYSFLAG says so), at most
    /// [`BODY_SIZE_BYTES_MAX`] bytes.
    pub body: &'a [u8],
    /// Already encoded `name\x01value\x02...`.
    pub properties: &'a [u8],
    /// Host bits are recomputed from the addresses; the rest is kept.
    pub sys_flag: i32,
    /// BORNTIMESTAMP: the producer's clock when it sent the message, ms
    /// since the epoch.
    pub born_timestamp_ms: i64,
    /// BORNHOST: the producer's address and port.
    pub born_host: SocketAddr,
    /// STOREHOST: the storing broker's address and port.
    pub store_host: SocketAddr,
    /// RECONSUMETIMES: how many times the message has been redelivered
    /// after failed consumption; 0 for a new message.
    pub reconsume_times: i32,
    /// PREPARED_TRANSACTION_OFFSET: for a transaction's COMMIT record, the
    /// commit-log offset of its half message; otherwise 0.
    pub prepared_transaction_offset: i64,
}

/// Why a message cannot be stored (`MESSAGE_ILLEGAL` at the broker).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IllegalMessage {
    #[error("body of {size_bytes} bytes exceeds the {max_bytes}-byte maximum")]
    /// The body is longer than [`BODY_SIZE_BYTES_MAX`].
    BodyTooLarge {
        /// Length of the body, bytes.
        size_bytes: usize,
        /// The limit, bytes.
        max_bytes: usize,
    },
    #[error("properties of {size_bytes} bytes exceed the {max_bytes}-byte maximum")]
    /// The encoded properties are longer than [`PROPERTIES_SIZE_BYTES_MAX`].
    PropertiesTooLarge {
        /// Length of the encoded properties, bytes.
        size_bytes: usize,
        /// The limit, bytes.
        max_bytes: usize,
    },
    #[error("topic must be 1..={max_bytes} bytes, got {size_bytes}")]
    /// The topic is empty or longer than [`TOPIC_SIZE_BYTES_MAX`].
    TopicLength {
        /// Length of the topic, bytes.
        size_bytes: usize,
        /// The limit, bytes.
        max_bytes: usize,
    },
    #[error("topic {topic:?} has characters outside RocketMQ's [A-Za-z0-9_%|-]")]
    /// The topic has a character [`is_topic_name`] refuses.
    TopicCharacters {
        /// The topic's first 64 characters.
        topic: String,
    },
    #[error("properties end with a NUL byte; a record must end with a non-zero byte (recovery reads a zero there as a torn write)")]
    /// The properties' last byte is 0, which recovery would take for a torn
    /// write.
    PropertiesEndWithNul,
    #[error("record of {size_bytes} bytes does not fit a {segment_size_bytes}-byte segment")]
    /// The record, or the whole batch (which a segment must hold together),
    /// does not fit one segment with room for a BLANK filler.
    LargerThanSegment {
        /// Size of the record or batch as stored, bytes.
        size_bytes: usize,
        /// The commit log's segment size, bytes.
        segment_size_bytes: u64,
    },
}

/// Why bytes are not a valid record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("need {needed} bytes, have {available}")]
    /// The bytes end before the record or field they must hold.
    Truncated {
        /// Bytes from the start of the buffer the read needed.
        needed: usize,
        /// Bytes the buffer had.
        available: usize,
    },
    #[error("bad magic {0:#010x}")]
    /// MAGICCODE is none the reader accepts at that position (a record's
    /// V1 or V2, or where [`read_head`] looks, BLANK or an all-zero head);
    /// holds the value read.
    BadMagic(u32),
    #[error("TOTALSIZE {0} is out of range")]
    /// TOTALSIZE is below the smallest possible record or above
    /// [`RECORD_SIZE_BYTES_MAX`]; holds the value read.
    BadTotalSize(i64),
    #[error("TOTALSIZE {declared} disagrees with the {computed} bytes its fields describe")]
    /// TOTALSIZE differs from the sum of the field lengths.
    SizeMismatch {
        /// TOTALSIZE as read, bytes.
        declared: usize,
        /// Bytes the fixed fields and the length fields add up to.
        computed: usize,
    },
    #[error("negative length field {field}: {value}")]
    /// A length field (BODYLENGTH, TOPICLENGTH or PROPERTIESLENGTH) is
    /// negative.
    NegativeLength {
        /// Name of the length field.
        field: &'static str,
        /// The value read.
        value: i64,
    },
    #[error("body CRC {stored:#010x} != computed {computed:#010x}")]
    /// BODYCRC differs from the body's CRC: the body is corrupt or torn.
    CrcMismatch {
        /// BODYCRC as read.
        stored: u32,
        /// [`body_crc`] of the body read.
        computed: u32,
    },
    #[error("topic is not UTF-8")]
    /// TOPIC is not valid UTF-8.
    TopicNotUtf8,
    /// The topic and non-empty properties each end with a non-zero byte
    /// (append refuses others), and segments are zero past the log's end:
    /// a zero there is a write a crash cut short. The body CRC does not
    /// cover the topic and properties, so this is what catches a tear in
    /// them (a zeroed length field shows as a size mismatch).
    #[error("topic or properties end with a zero byte: the record's tail was never written")]
    ZeroTail,
    #[error("topic {0:?} is not a topic name (RocketMQ's characters only)")]
    /// The topic has characters [`is_topic_name`] refuses; holds its first
    /// 64 characters.
    BadTopicName(String),
    #[error("negative queue id {0}")]
    /// QUEUEID is negative; holds the value read.
    NegativeQueueId(i32),
    #[error("queue id {0} is not below {QUEUES_PER_TOPIC_MAX}")]
    /// QUEUEID is [`QUEUES_PER_TOPIC_MAX`] or more; holds the value read.
    QueueIdTooLarge(i32),
}

/// Most queues a topic may have per shard, so queue ids are below it. The
/// broker's topic table holds to it; recovery and replication refuse a
/// record past it, so a bad log or a hostile master cannot make a slave
/// create a consume queue per id.
pub const QUEUES_PER_TOPIC_MAX: i32 = 1024;

/// Whether a topic name keeps to RocketMQ's characters (`[%|a-zA-Z0-9_-]`),
/// which also keeps it safe as a directory name under `consumequeue/`.
pub fn is_topic_name(topic: &str) -> bool {
    !topic.is_empty()
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'%' || b == b'|')
}

/// Checks what a record's consume-queue entry would be built from: recovery
/// and replication dispatch records this shard did not encode, and a topic
/// such as `../x` would name a directory outside the store.
pub fn check_placement(view: &RecordView<'_>) -> Result<(), RecordError> {
    if !is_topic_name(view.topic) {
        return Err(RecordError::BadTopicName(
            view.topic.chars().take(64).collect(),
        ));
    }
    if view.queue_id < 0 {
        return Err(RecordError::NegativeQueueId(view.queue_id));
    }
    if view.queue_id >= QUEUES_PER_TOPIC_MAX {
        return Err(RecordError::QueueIdTooLarge(view.queue_id));
    }
    Ok(())
}

/// CRC the way RocketMQ stores it: IEEE CRC-32 masked to 31 bits.
pub fn body_crc(body: &[u8]) -> u32 {
    crc32fast::hash(body) & 0x7FFF_FFFF
}

fn host_len(addr: &SocketAddr) -> usize {
    match addr {
        SocketAddr::V4(_) => 8,
        SocketAddr::V6(_) => 20,
    }
}

fn host_sys_flag(msg: &MessageIn<'_>) -> i32 {
    let mut flag = msg.sys_flag & !(SYSFLAG_BORNHOST_V6 | SYSFLAG_STOREHOST_V6);
    if msg.born_host.is_ipv6() {
        flag |= SYSFLAG_BORNHOST_V6;
    }
    if msg.store_host.is_ipv6() {
        flag |= SYSFLAG_STOREHOST_V6;
    }
    flag
}

fn topic_len_size(topic_bytes: usize) -> usize {
    if topic_bytes > TOPIC_V1_SIZE_BYTES_MAX {
        2
    } else {
        1
    }
}

/// Validates a message and returns its stored size in bytes.
pub fn record_size(msg: &MessageIn<'_>) -> Result<usize, IllegalMessage> {
    let topic_bytes = msg.topic.len();
    if topic_bytes == 0 || topic_bytes > TOPIC_SIZE_BYTES_MAX {
        return Err(IllegalMessage::TopicLength {
            size_bytes: topic_bytes,
            max_bytes: TOPIC_SIZE_BYTES_MAX,
        });
    }
    if msg.body.len() > BODY_SIZE_BYTES_MAX {
        return Err(IllegalMessage::BodyTooLarge {
            size_bytes: msg.body.len(),
            max_bytes: BODY_SIZE_BYTES_MAX,
        });
    }
    if msg.properties.len() > PROPERTIES_SIZE_BYTES_MAX {
        return Err(IllegalMessage::PropertiesTooLarge {
            size_bytes: msg.properties.len(),
            max_bytes: PROPERTIES_SIZE_BYTES_MAX,
        });
    }
    if msg.properties.last() == Some(&0) {
        return Err(IllegalMessage::PropertiesEndWithNul);
    }
    Ok(FIXED_PREFIX_IPV4_BYTES - 16
        + host_len(&msg.born_host)
        + host_len(&msg.store_host)
        + msg.body.len()
        + topic_len_size(topic_bytes)
        + topic_bytes
        + 2
        + msg.properties.len())
}

/// Positions the engine assigns at append time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Assigned {
    /// QUEUEOFFSET: the message's offset in its consume queue; 0 for
    /// PREPARED and ROLLBACK records.
    pub queue_offset: QueueOffset,
    /// PHYSICALOFFSET: the commit-log offset the record is written at.
    pub physical_offset: CommitLogOffset,
    /// STORETIMESTAMP: the broker's clock at append, ms since the epoch;
    /// never decreases along the log.
    pub store_timestamp_ms: i64,
}

fn put_host(out: &mut Vec<u8>, addr: &SocketAddr) {
    match addr.ip() {
        IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
    }
    out.extend_from_slice(&i32::from(addr.port()).to_be_bytes());
}

/// Appends one record to `out` and returns the view of it, built from what
/// was encoded rather than parsed back (the append path dispatches every
/// record; parsing each again was 5 % of the shard's CPU). Debug builds
/// check that parsing gives the same view. `size` must come from
/// [`record_size`] for the same message. Writes into spare capacity;
/// allocates only if `out` must grow.
pub fn encode_record<'o>(
    msg: &MessageIn<'_>,
    size: usize,
    at: Assigned,
    out: &'o mut Vec<u8>,
) -> RecordView<'o> {
    let start = out.len();
    let topic = msg.topic.as_bytes();
    let magic = if topic.len() > TOPIC_V1_SIZE_BYTES_MAX {
        MAGIC_V2
    } else {
        MAGIC_V1
    };
    let crc = body_crc(msg.body);
    let sys_flag = host_sys_flag(msg);
    out.extend_from_slice(&(size as i32).to_be_bytes());
    out.extend_from_slice(&magic.to_be_bytes());
    out.extend_from_slice(&crc.to_be_bytes());
    out.extend_from_slice(&msg.queue_id.get().to_be_bytes());
    out.extend_from_slice(&msg.flag.to_be_bytes());
    out.extend_from_slice(&(at.queue_offset.get() as i64).to_be_bytes());
    out.extend_from_slice(&(at.physical_offset.get() as i64).to_be_bytes());
    out.extend_from_slice(&sys_flag.to_be_bytes());
    out.extend_from_slice(&msg.born_timestamp_ms.to_be_bytes());
    put_host(out, &msg.born_host);
    out.extend_from_slice(&at.store_timestamp_ms.to_be_bytes());
    put_host(out, &msg.store_host);
    out.extend_from_slice(&msg.reconsume_times.to_be_bytes());
    out.extend_from_slice(&msg.prepared_transaction_offset.to_be_bytes());
    out.extend_from_slice(&(msg.body.len() as i32).to_be_bytes());
    let body_at = out.len() - start;
    out.extend_from_slice(msg.body);
    if magic == MAGIC_V2 {
        out.extend_from_slice(&(topic.len() as i16).to_be_bytes());
    } else {
        out.push(topic.len() as u8);
    }
    let topic_at = out.len() - start;
    out.extend_from_slice(topic);
    out.extend_from_slice(&(msg.properties.len() as i16).to_be_bytes());
    let properties_at = out.len() - start;
    out.extend_from_slice(msg.properties);
    assert_eq!(
        out.len() - start,
        size,
        "record_size and encode_record disagree"
    );
    let bytes = &out[start..];
    let view = RecordView {
        bytes,
        body_crc: crc,
        queue_id: msg.queue_id.get(),
        flag: msg.flag,
        queue_offset: at.queue_offset.get() as i64,
        physical_offset: at.physical_offset.get() as i64,
        sys_flag,
        born_timestamp_ms: msg.born_timestamp_ms,
        born_host: msg.born_host,
        store_timestamp_ms: at.store_timestamp_ms,
        store_host: msg.store_host,
        reconsume_times: msg.reconsume_times,
        prepared_transaction_offset: msg.prepared_transaction_offset,
        body: &bytes[body_at..body_at + msg.body.len()],
        topic: std::str::from_utf8(&bytes[topic_at..topic_at + topic.len()])
            .expect("copied from a str"),
        properties: &bytes[properties_at..],
    };
    debug_assert_eq!(RecordView::parse(bytes), Ok(view));
    view
}

/// Appends the BLANK filler that closes a segment with `bytes_left` bytes.
pub fn encode_blank(bytes_left: u32, out: &mut Vec<u8>) {
    out.extend_from_slice(&(bytes_left as i32).to_be_bytes());
    out.extend_from_slice(&MAGIC_BLANK.to_be_bytes());
}

/// What the first 8 bytes at a position say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    /// A message record of this many bytes (not yet validated beyond magic
    /// and a size that fits the bounds).
    Record {
        /// TOTALSIZE: the whole record, bytes.
        size_bytes: usize,
    },
    /// End-of-segment filler: continue at the next segment.
    Blank,
    /// Zeroes: nothing was ever written here.
    Empty,
}

/// Reads TOTALSIZE and MAGIC.
pub fn read_head(buf: &[u8]) -> Result<Head, RecordError> {
    if buf.len() < BLANK_SIZE_BYTES {
        return Err(RecordError::Truncated {
            needed: BLANK_SIZE_BYTES,
            available: buf.len(),
        });
    }
    let size = i32::from_be_bytes(buf[0..4].try_into().expect("a slice of the array's length"));
    let magic = u32::from_be_bytes(buf[4..8].try_into().expect("a slice of the array's length"));
    match magic {
        MAGIC_BLANK => Ok(Head::Blank),
        MAGIC_V1 | MAGIC_V2 => {
            let min = FIXED_PREFIX_IPV4_BYTES + 1 + 1 + 2;
            if size < min as i32 || size as usize > RECORD_SIZE_BYTES_MAX {
                return Err(RecordError::BadTotalSize(i64::from(size)));
            }
            Ok(Head::Record {
                size_bytes: size as usize,
            })
        }
        0 if size == 0 => Ok(Head::Empty),
        other => Err(RecordError::BadMagic(other)),
    }
}

/// A parsed view of one record; borrows the bytes it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// The whole record, TOTALSIZE bytes.
    pub bytes: &'a [u8],
    /// BODYCRC as stored: CRC-32 of the body masked to 31 bits (see
    /// [`RecordView::verify_crc`]).
    pub body_crc: u32,
    /// QUEUEID as stored: the queue of the topic the message is in. Like
    /// every field of a view, unchecked; [`RecordView::queue`] types it
    /// once [`check_placement`] has.
    pub queue_id: i32,
    /// FLAG: the producer's user flag.
    pub flag: i32,
    /// QUEUEOFFSET: the message's offset in its consume queue; 0 for
    /// PREPARED and ROLLBACK records.
    pub queue_offset: i64,
    /// PHYSICALOFFSET: the commit-log offset of the record's first byte.
    pub physical_offset: i64,
    /// SYSFLAG: `MessageSysFlag` bits (compression, transaction type, IPv6
    /// hosts).
    pub sys_flag: i32,
    /// BORNTIMESTAMP: the producer's clock when it sent the message, ms
    /// since the epoch.
    pub born_timestamp_ms: i64,
    /// BORNHOST: the producer's address and port.
    pub born_host: SocketAddr,
    /// STORETIMESTAMP: the broker's clock at append, ms since the epoch;
    /// never decreases along the log.
    pub store_timestamp_ms: i64,
    /// STOREHOST: the storing broker's address and port.
    pub store_host: SocketAddr,
    /// RECONSUMETIMES: how many times the message has been redelivered
    /// after failed consumption.
    pub reconsume_times: i32,
    /// PREPARED_TRANSACTION_OFFSET: for a transaction's COMMIT record, the
    /// commit-log offset of its half message; otherwise 0.
    pub prepared_transaction_offset: i64,
    /// BODY, as stored (not checked against BODYCRC by parsing).
    pub body: &'a [u8],
    /// TOPIC, checked to be UTF-8 (its characters are checked by
    /// [`check_placement`]).
    pub topic: &'a str,
    /// PROPERTIES: `name\x01value\x02...`; read with
    /// [`RecordView::property`].
    pub properties: &'a [u8],
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(RecordError::Truncated {
                needed: self.pos.saturating_add(n),
                available: self.buf.len(),
            }),
        }
    }
    fn i16(&mut self) -> Result<i16, RecordError> {
        Ok(i16::from_be_bytes(
            self.take(2)?
                .try_into()
                .expect("a slice of the array's length"),
        ))
    }
    fn i32(&mut self) -> Result<i32, RecordError> {
        Ok(i32::from_be_bytes(
            self.take(4)?
                .try_into()
                .expect("a slice of the array's length"),
        ))
    }
    fn u32(&mut self) -> Result<u32, RecordError> {
        Ok(u32::from_be_bytes(
            self.take(4)?
                .try_into()
                .expect("a slice of the array's length"),
        ))
    }
    fn i64(&mut self) -> Result<i64, RecordError> {
        Ok(i64::from_be_bytes(
            self.take(8)?
                .try_into()
                .expect("a slice of the array's length"),
        ))
    }
    fn host(&mut self, v6: bool) -> Result<SocketAddr, RecordError> {
        let ip = if v6 {
            let o: [u8; 16] = self
                .take(16)?
                .try_into()
                .expect("a slice of the array's length");
            IpAddr::V6(Ipv6Addr::from(o))
        } else {
            let o: [u8; 4] = self
                .take(4)?
                .try_into()
                .expect("a slice of the array's length");
            IpAddr::V4(Ipv4Addr::from(o))
        };
        let port = self.i32()?;
        Ok(SocketAddr::new(ip, port as u16))
    }
    fn len_field(&mut self, field: &'static str, value: i64) -> Result<usize, RecordError> {
        if value < 0 {
            return Err(RecordError::NegativeLength { field, value });
        }
        Ok(value as usize)
    }

    /// Reads BODYLENGTH and BODY, TOPICLENGTH (one byte in V1, two in V2)
    /// and TOPIC, PROPERTIESLENGTH and PROPERTIES.
    fn variable_tail(&mut self, magic: u32) -> Result<VariableTail<'a>, RecordError> {
        let body_len = i64::from(self.i32()?);
        let body_len = self.len_field("BODYLENGTH", body_len)?;
        let body = self.take(body_len)?;
        let topic_len = if magic == MAGIC_V2 {
            i64::from(self.i16()?)
        } else {
            i64::from(self.take(1)?[0])
        };
        let topic_len = self.len_field("TOPICLENGTH", topic_len)?;
        let topic =
            std::str::from_utf8(self.take(topic_len)?).map_err(|_| RecordError::TopicNotUtf8)?;
        let props_len = i64::from(self.i16()?);
        let props_len = self.len_field("PROPERTIESLENGTH", props_len)?;
        let properties = self.take(props_len)?;
        Ok(VariableTail {
            body,
            topic,
            properties,
        })
    }
}

/// The record at the start of `buf`: its magic says it is one, and `buf`
/// holds all TOTALSIZE bytes of it.
fn record_bytes(buf: &[u8]) -> Result<&[u8], RecordError> {
    let size_bytes = match read_head(buf)? {
        Head::Record { size_bytes } => size_bytes,
        Head::Blank | Head::Empty => {
            let magic = u32::from_be_bytes(
                buf[POS_MAGIC..8]
                    .try_into()
                    .expect("a slice of the array's length"),
            );
            return Err(RecordError::BadMagic(magic));
        }
    };
    if buf.len() < size_bytes {
        return Err(RecordError::Truncated {
            needed: size_bytes,
            available: buf.len(),
        });
    }
    Ok(&buf[..size_bytes])
}

/// The length-prefixed fields after the fixed-size head: BODY, TOPIC and
/// PROPERTIES.
struct VariableTail<'a> {
    body: &'a [u8],
    topic: &'a str,
    properties: &'a [u8],
}

impl<'a> RecordView<'a> {
    /// Parses the record at the start of `buf` (which may hold more bytes
    /// after it). Checks magic, every length against the bytes present, and
    /// that TOTALSIZE equals the size the fields describe. Does not check the
    /// CRC; see [`RecordView::verify_crc`].
    pub fn parse(buf: &'a [u8]) -> Result<RecordView<'a>, RecordError> {
        let bytes = record_bytes(buf)?;
        let size_bytes = bytes.len();
        let mut c = Cursor { buf: bytes, pos: 0 };
        let _total = c.i32()?;
        let magic = c.u32()?;
        let body_crc = c.u32()?;
        let queue_id = c.i32()?;
        let flag = c.i32()?;
        let queue_offset = c.i64()?;
        let physical_offset = c.i64()?;
        let sys_flag = c.i32()?;
        let born_timestamp_ms = c.i64()?;
        let born_host = c.host(sys_flag & SYSFLAG_BORNHOST_V6 != 0)?;
        let store_timestamp_ms = c.i64()?;
        let store_host = c.host(sys_flag & SYSFLAG_STOREHOST_V6 != 0)?;
        let reconsume_times = c.i32()?;
        let prepared_transaction_offset = c.i64()?;
        let VariableTail {
            body,
            topic,
            properties,
        } = c.variable_tail(magic)?;
        if c.pos != size_bytes {
            return Err(RecordError::SizeMismatch {
                declared: size_bytes,
                computed: c.pos,
            });
        }
        if topic.as_bytes().last() == Some(&0) || properties.last() == Some(&0) {
            return Err(RecordError::ZeroTail);
        }
        Ok(RecordView {
            bytes,
            body_crc,
            queue_id,
            flag,
            queue_offset,
            physical_offset,
            sys_flag,
            born_timestamp_ms,
            born_host,
            store_timestamp_ms,
            store_host,
            reconsume_times,
            prepared_transaction_offset,
            body,
            topic,
            properties,
        })
    }

    /// TOTALSIZE: the whole record, bytes.
    pub fn size_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// Checks BODYCRC against the body; [`RecordError::CrcMismatch`] when
    /// they differ.
    pub fn verify_crc(&self) -> Result<(), RecordError> {
        let computed = body_crc(self.body);
        if computed != self.body_crc {
            return Err(RecordError::CrcMismatch {
                stored: self.body_crc,
                computed,
            });
        }
        Ok(())
    }

    /// The record's queue (QUEUEID), for a record [`check_placement`]
    /// accepts.
    pub fn queue(&self) -> QueueId {
        QueueId(self.queue_id)
    }

    /// PREPARED and ROLLBACK records take no queue offset and get no
    /// consume-queue entry (spec §2.2, §3.1).
    pub fn takes_queue_offset(&self) -> bool {
        takes_queue_offset(self.sys_flag)
    }

    /// Value of one property, if present.
    pub fn property(&self, name: &str) -> Option<&'a str> {
        property(self.properties, name)
    }
}

/// Whether a record with this SYSFLAG takes a queue offset and a
/// consume-queue entry: every transaction type but PREPARED and ROLLBACK.
pub fn takes_queue_offset(sys_flag: i32) -> bool {
    let t = sys_flag & SYSFLAG_TRANSACTION_MASK;
    t != SYSFLAG_TRANSACTION_PREPARED && t != SYSFLAG_TRANSACTION_ROLLBACK
}

/// Fixed positions other modules read without a full parse.
pub fn read_store_timestamp(buf: &[u8]) -> Option<i64> {
    let sys_flag = i32::from_be_bytes(buf.get(POS_SYSFLAG..POS_SYSFLAG + 4)?.try_into().ok()?);
    let born_len = if sys_flag & SYSFLAG_BORNHOST_V6 != 0 {
        20
    } else {
        8
    };
    let pos = POS_BORN_HOST + born_len;
    Some(i64::from_be_bytes(buf.get(pos..pos + 8)?.try_into().ok()?))
}

/// Finds `name` in a `name\x01value\x02...` string. Malformed pairs are
/// skipped, never panicked on.
pub fn property<'a>(properties: &'a [u8], name: &str) -> Option<&'a str> {
    for pair in properties.split(|&b| b == 2) {
        let Some(sep) = pair.iter().position(|&b| b == 1) else {
            continue;
        };
        if &pair[..sep] == name.as_bytes() {
            return std::str::from_utf8(&pair[sep + 1..]).ok();
        }
    }
    None
}

/// Java `String.hashCode()` over UTF-16 code units: the consume queue's tag
/// code and the key index's hash.
pub fn java_string_hash(s: &str) -> i32 {
    java_string_hash_from(0, s)
}

/// Goes on with a Java hash `h` over the UTF-16 code units of `s`. ASCII
/// (tags, keys, message ids) takes a byte loop: its code units are its
/// bytes, and `encode_utf16` was most of the cost of a tag's hash.
fn java_string_hash_from(mut h: i32, s: &str) -> i32 {
    if s.is_ascii() {
        for &b in s.as_bytes() {
            h = h.wrapping_mul(31).wrapping_add(i32::from(b));
        }
    } else {
        for unit in s.encode_utf16() {
            h = h.wrapping_mul(31).wrapping_add(i32::from(unit));
        }
    }
    h
}

/// Java `String.hashCode()` of `a + b + c` without building the string.
pub fn java_string_hash_parts(parts: &[&str]) -> i32 {
    parts
        .iter()
        .fold(0, |h, part| java_string_hash_from(h, part))
}

#[cfg(test)]
mod tests;
