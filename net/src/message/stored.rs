//! Reading the stored-message records a pull response carries
//! (`spec/store-format.md` §2), as a client does: only the fields a
//! consumer needs, every length checked against the bytes present.
//!
//! ```text
//! 0 totalSize i32 | 4 magic | 8 bodyCRC | 12 queueId | 16 flag | 20 queueOffset i64
//! 28 physicalOffset i64 | 36 sysFlag i32 | 40 bornTimestamp i64 | 48 bornHost (8|20)
//! storeTimestamp i64 | storeHost (8|20) | reconsumeTimes i32 | preparedTxOffset i64
//! bodyLength i32 | body | topicLength (u8 for magic V1, i16 for V2) | topic
//! propertiesLength i16 | properties
//! ```

use std::net::{IpAddr, SocketAddr};

/// Host fields are 20 bytes instead of 8 when these sysFlag bits are set.
const BORN_HOST_V6: i32 = 0x10;
const STORE_HOST_V6: i32 = 0x20;
const MAGIC_V1: i32 = -626_843_481;
const MAGIC_V2: i32 = -626_843_477;

/// The parts of one stored record a consumer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredRecord<'a> {
    /// The record's whole length (`totalSize`).
    pub store_size: i32,
    /// CRC32 of the body as the broker computed it when storing.
    pub body_crc: i32,
    /// Queue id within the topic.
    pub queue_id: i32,
    /// User flag the producer set.
    pub flag: i32,
    /// Logical offset of the message in its consume queue.
    pub queue_offset: i64,
    /// Byte offset of the record in the broker's commit log.
    pub physical_offset: i64,
    /// sysFlag bits (`super::sys_flag`): compression, transaction type, IPv6 hosts.
    pub sys_flag: i32,
    /// When the producer created the message, in ms since the epoch.
    pub born_timestamp_ms: i64,
    /// When the broker stored the message, in ms since the epoch.
    pub store_timestamp_ms: i64,
    /// Address of the producer that sent the message.
    pub born_host: SocketAddr,
    /// Address of the broker that stored the message.
    pub store_host: SocketAddr,
    /// How many times the message has been redelivered for reconsumption.
    pub reconsume_times: i32,
    /// Commit-log offset of the half message, for transactional commit/rollback
    /// records; 0 otherwise.
    pub prepared_transaction_offset: i64,
    /// Message body, still compressed if the sysFlag says so.
    pub body: &'a [u8],
    /// Topic name bytes (UTF-8 as written by the broker, not checked here).
    pub topic: &'a [u8],
    /// Properties string (§10.1) bytes, not yet parsed or checked as UTF-8.
    pub properties: &'a [u8],
}

/// A pull body whose records could not be walked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored record at byte {at}: {reason}")]
pub struct StoredRecordError {
    /// Byte offset in the pull body of the record that failed.
    pub at: usize,
    /// What was wrong, for logs.
    pub reason: &'static str,
}

/// An address as stored: 4 or 16 address bytes, then the port as an i32.
fn host(b: &[u8], at: usize, v6: bool) -> Option<SocketAddr> {
    let (ip, port_at) = if v6 {
        let octets: [u8; 16] = b.get(at..at + 16)?.try_into().ok()?;
        (IpAddr::from(octets), at + 16)
    } else {
        let octets: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        (IpAddr::from(octets), at + 4)
    };
    let port = u16::try_from(be_i32(b, port_at)?).ok()?;
    Some(SocketAddr::new(ip, port))
}

fn be_i32(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be_i64(b: &[u8], at: usize) -> Option<i64> {
    Some(i64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Parses one record that fills `rec` exactly.
pub fn parse_stored(rec: &[u8]) -> Option<StoredRecord<'_>> {
    let magic = be_i32(rec, 4)?;
    if magic != MAGIC_V1 && magic != MAGIC_V2 {
        return None;
    }
    let sys_flag = be_i32(rec, 36)?;
    let born = if sys_flag & BORN_HOST_V6 != 0 { 20 } else { 8 };
    let store = if sys_flag & STORE_HOST_V6 != 0 { 20 } else { 8 };
    let store_ts_at = 48 + born;
    let body_len_at = store_ts_at + 8 + store + 4 + 8;
    let body_len = usize::try_from(be_i32(rec, body_len_at)?).ok()?;
    let body_at = body_len_at + 4;
    let body = rec.get(body_at..body_at.checked_add(body_len)?)?;
    let mut at = body_at + body_len;
    let topic_len = if magic == MAGIC_V1 {
        *rec.get(at)? as usize
    } else {
        u16::from_be_bytes(rec.get(at..at + 2)?.try_into().ok()?) as usize
    };
    at += if magic == MAGIC_V1 { 1 } else { 2 };
    let topic = rec.get(at..at + topic_len)?;
    at += topic_len;
    let props_len = u16::from_be_bytes(rec.get(at..at + 2)?.try_into().ok()?) as usize;
    let properties = rec.get(at + 2..at + 2 + props_len)?;
    let store_host_at = store_ts_at + 8;
    Some(StoredRecord {
        store_size: be_i32(rec, 0)?,
        body_crc: be_i32(rec, 8)?,
        queue_id: be_i32(rec, 12)?,
        flag: be_i32(rec, 16)?,
        queue_offset: be_i64(rec, 20)?,
        physical_offset: be_i64(rec, 28)?,
        sys_flag,
        born_timestamp_ms: be_i64(rec, 40)?,
        store_timestamp_ms: be_i64(rec, store_ts_at)?,
        born_host: host(rec, 48, born == 20)?,
        store_host: host(rec, store_host_at, store == 20)?,
        reconsume_times: be_i32(rec, store_host_at + store)?,
        prepared_transaction_offset: be_i64(rec, store_host_at + store + 4)?,
        body,
        topic,
        properties,
    })
}

/// Iterates the records of a pull body; stops with an error at the first
/// record that does not parse.
pub fn iter_stored(
    body: &[u8],
) -> impl Iterator<Item = Result<StoredRecord<'_>, StoredRecordError>> {
    let mut at = 0usize;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || at >= body.len() {
            return None;
        }
        let err = |reason| StoredRecordError { at, reason };
        let Some(size) = be_i32(body, at) else {
            failed = true;
            return Some(Err(err("truncated size")));
        };
        let Some(rec) = usize::try_from(size)
            .ok()
            .and_then(|s| body.get(at..at.checked_add(s)?))
        else {
            failed = true;
            return Some(Err(err("size outside the body")));
        };
        match parse_stored(rec) {
            Some(r) => {
                at += rec.len();
                Some(Ok(r))
            }
            None => {
                failed = true;
                Some(Err(err("malformed record")))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record(body: &[u8], topic: &str, props: &[u8]) -> Vec<u8> {
        let mut r = Vec::new();
        let size = 88 + body.len() + 1 + topic.len() + 2 + props.len();
        r.extend_from_slice(&(size as i32).to_be_bytes());
        r.extend_from_slice(&MAGIC_V1.to_be_bytes());
        r.extend_from_slice(&0i32.to_be_bytes()); // crc
        r.extend_from_slice(&3i32.to_be_bytes()); // queue id
        r.extend_from_slice(&0i32.to_be_bytes()); // flag
        r.extend_from_slice(&7i64.to_be_bytes()); // queue offset
        r.extend_from_slice(&100i64.to_be_bytes()); // physical
        r.extend_from_slice(&0i32.to_be_bytes()); // sys flag
        r.extend_from_slice(&11i64.to_be_bytes()); // born ts
        r.extend_from_slice(&[127, 0, 0, 1, 0, 0, 0, 1]);
        r.extend_from_slice(&12i64.to_be_bytes()); // store ts
        r.extend_from_slice(&[127, 0, 0, 1, 0, 0, 0, 2]);
        r.extend_from_slice(&0i32.to_be_bytes());
        r.extend_from_slice(&0i64.to_be_bytes());
        r.extend_from_slice(&(body.len() as i32).to_be_bytes());
        r.extend_from_slice(body);
        r.push(topic.len() as u8);
        r.extend_from_slice(topic.as_bytes());
        r.extend_from_slice(&(props.len() as u16).to_be_bytes());
        r.extend_from_slice(props);
        assert_eq!(r.len(), size);
        r
    }

    #[test]
    fn reads_records_back_to_back() {
        let mut body = record(b"hello", "T", b"TAGS\x01a\x02");
        body.extend(record(b"", "Topic2", b""));
        let recs: Vec<_> = iter_stored(&body).collect::<Result<_, _>>().unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].body, b"hello");
        assert_eq!(recs[0].queue_offset, 7);
        assert_eq!(recs[0].store_timestamp_ms, 12);
        assert_eq!(recs[0].properties, b"TAGS\x01a\x02");
        assert_eq!(recs[1].topic, b"Topic2");
        assert_eq!(recs[0].born_host.to_string(), "127.0.0.1:1");
        assert_eq!(recs[0].store_host.to_string(), "127.0.0.1:2");
        assert_eq!(recs[0].queue_id, 3);
        let first_len = record(b"hello", "T", b"TAGS\x01a\x02").len();
        assert_eq!(recs[0].store_size as usize, first_len);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            for r in iter_stored(&bytes) {
                let _ = r;
            }
        }
    }
}
