//! Message ids (§10.6): the broker's *offset message id* and the client's
//! *unique key* (`UNIQ_KEY`). Both are upper-case hex of a fixed big-endian
//! layout; the IP length (4 or 16 bytes) is implied by the text length.
//!
//! ```text
//! offset message id (broker "msgId"; 32 hex chars for IPv4, 56 for IPv6)
//!   store host IP    4 | 16
//!   store port       4   i32 BE
//!   commit-log off.  8   i64 BE
//!
//! unique key (UNIQ_KEY; 32 hex chars for IPv4, 56 for IPv6)
//!   client IP        4 | 16
//!   pid              2   low 16 bits
//!   class loader     4   i32 BE, Java's ClassLoader hashCode; any discriminator
//!   ms since month   4   i32 BE, wraps after ~24.8 days exactly as Java's (int) cast
//!   counter          2   u16 BE, wrapping
//! ```
//!
//! Tools connect to the address inside an offset message id and transactional
//! producers read the commit-log offset out of it, so the store host must be the
//! broker's real, reachable address. A unique key is opaque to the broker; the
//! parsed fields exist for diagnostics.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

const OFFSET_MESSAGE_ID_V4_BYTES: usize = 4 + 4 + 8;
const OFFSET_MESSAGE_ID_V6_BYTES: usize = 16 + 4 + 8;
const UNIQ_KEY_V4_BYTES: usize = 4 + 2 + 4 + 4 + 2;
const UNIQ_KEY_V6_BYTES: usize = 16 + 2 + 4 + 4 + 2;
const _: () = assert!(OFFSET_MESSAGE_ID_V4_BYTES * 2 == 32 && UNIQ_KEY_V4_BYTES * 2 == 32);
const _: () = assert!(OFFSET_MESSAGE_ID_V6_BYTES * 2 == 56 && UNIQ_KEY_V6_BYTES * 2 == 56);

const MILLIS_PER_DAY: i64 = 86_400_000;

/// Why a message id or unique key failed to decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageIdError {
    /// The text is neither 32 (IPv4) nor 56 (IPv6) bytes long.
    #[error("message id has {length} characters; expected 32 (IPv4) or 56 (IPv6)")]
    WrongLength {
        /// Length of the text, in bytes.
        length: usize,
    },
    /// A character is not a hex digit (either case is accepted).
    #[error("message id has a non-hex character at offset {offset}")]
    InvalidHex {
        /// Byte offset of the first bad character.
        offset: usize,
    },
    /// The offset message id's port field, an i32, does not fit a `u16`.
    #[error("offset message id carries port {port}, outside 0..=65535")]
    PortOutOfRange {
        /// The port as decoded.
        port: i32,
    },
}

/// Where a stored message lives: the broker that stored it and its commit-log
/// offset there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OffsetMessageId {
    /// Address of the broker that stored the message; it must be reachable,
    /// because tools and transactional producers connect to it.
    pub store_host: SocketAddr,
    /// Physical offset of the message's record in that broker's commit log, in
    /// bytes.
    pub commit_log_offset: i64,
}

impl OffsetMessageId {
    /// Upper-case hex text: 32 characters for an IPv4 store host, 56 for IPv6.
    pub fn encode(&self) -> String {
        let mut text = String::with_capacity(OFFSET_MESSAGE_ID_V6_BYTES * 2);
        self.encode_into(&mut text);
        text
    }

    /// [`OffsetMessageId::encode`] appended to `out`, without allocating
    /// (a send reply carries one per message of a batch).
    pub fn encode_into(&self, out: &mut String) {
        let mut bytes = [0u8; OFFSET_MESSAGE_ID_V6_BYTES];
        let ip_len = put_ip(&mut bytes, self.store_host.ip());
        bytes[ip_len..ip_len + 4].copy_from_slice(&i32::from(self.store_host.port()).to_be_bytes());
        bytes[ip_len + 4..ip_len + 12].copy_from_slice(&self.commit_log_offset.to_be_bytes());
        push_hex(&bytes[..ip_len + 12], out);
    }

    /// Parses the hex text of an offset message id (either case); fails on a
    /// length other than 32 or 56, a non-hex character, or a port outside
    /// `0..=65535`.
    pub fn decode(text: &str) -> Result<OffsetMessageId, MessageIdError> {
        let mut bytes = [0u8; OFFSET_MESSAGE_ID_V6_BYTES];
        let bytes = decode_hex(text, &mut bytes)?;
        let (ip, rest) = take_ip(bytes);
        let port = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let port = u16::try_from(port).map_err(|_| MessageIdError::PortOutOfRange { port })?;
        let mut offset = [0u8; 8];
        offset.copy_from_slice(&rest[4..12]);
        Ok(OffsetMessageId {
            store_host: SocketAddr::new(ip, port),
            commit_log_offset: i64::from_be_bytes(offset),
        })
    }
}

/// The parsed fields of a unique key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UniqKey {
    /// IP address of the client that generated the key.
    pub ip: IpAddr,
    /// Low 16 bits of the generating process's id.
    pub pid: u16,
    /// Java's `ClassLoader` hash code, or any per-generator discriminator.
    pub class_loader_hash: i32,
    /// Milliseconds since the start of the month the key was generated in,
    /// truncated to i32 as Java's `(int)` cast does (wraps after ~24.8 days).
    pub millis_since_month_start: i32,
    /// Per-generator sequence number, wrapping at `u16::MAX`.
    pub counter: u16,
}

impl UniqKey {
    /// Upper-case hex text: 32 characters for an IPv4 client, 56 for IPv6.
    pub fn encode(&self) -> String {
        let mut text = String::with_capacity(UNIQ_KEY_V6_BYTES * 2);
        self.encode_into(&mut text);
        text
    }

    /// [`UniqKey::encode`] appended to `out`, without allocating.
    pub fn encode_into(&self, out: &mut String) {
        let mut bytes = [0u8; UNIQ_KEY_V6_BYTES];
        let ip_len = put_ip(&mut bytes, self.ip);
        let rest = &mut bytes[ip_len..ip_len + 12];
        rest[..2].copy_from_slice(&self.pid.to_be_bytes());
        rest[2..6].copy_from_slice(&self.class_loader_hash.to_be_bytes());
        rest[6..10].copy_from_slice(&self.millis_since_month_start.to_be_bytes());
        rest[10..12].copy_from_slice(&self.counter.to_be_bytes());
        push_hex(&bytes[..ip_len + 12], out);
    }

    /// Parses the hex text of a unique key (either case); fails on a length
    /// other than 32 or 56 or on a non-hex character.
    pub fn decode(text: &str) -> Result<UniqKey, MessageIdError> {
        let mut bytes = [0u8; UNIQ_KEY_V6_BYTES];
        let bytes = decode_hex(text, &mut bytes)?;
        let (ip, rest) = take_ip(bytes);
        Ok(UniqKey {
            ip,
            pid: u16::from_be_bytes([rest[0], rest[1]]),
            class_loader_hash: i32::from_be_bytes([rest[2], rest[3], rest[4], rest[5]]),
            millis_since_month_start: i32::from_be_bytes([rest[6], rest[7], rest[8], rest[9]]),
            counter: u16::from_be_bytes([rest[10], rest[11]]),
        })
    }
}

/// Creates unique keys the way Java's `MessageClientIDSetter` does, for messages
/// that arrive without one.
///
/// Keys from two generators collide only if all of (ip, pid, discriminator)
/// match, so give each shard its own `class_loader_hash` (for example the shard
/// id mixed into a per-process value). Months are UTC; Java uses the local time
/// zone, which only shifts an opaque number.
#[derive(Debug, Clone)]
pub struct UniqKeyGenerator {
    ip: IpAddr,
    pid: u16,
    class_loader_hash: i32,
    month_start_ms: i64,
    next_month_start_ms: i64,
    counter: u16,
}

impl UniqKeyGenerator {
    /// A generator for keys carrying `ip`, `pid` and `class_loader_hash`; its
    /// counter starts at 0.
    pub fn new(ip: IpAddr, pid: u16, class_loader_hash: i32) -> UniqKeyGenerator {
        UniqKeyGenerator {
            ip,
            pid,
            class_loader_hash,
            month_start_ms: 0,
            // Forces the month to be computed on first use.
            next_month_start_ms: i64::MIN,
            counter: 0,
        }
    }

    /// The next key, for a message created at `now_ms` (ms since the epoch).
    pub fn next_key(&mut self, now_ms: i64) -> UniqKey {
        if now_ms >= self.next_month_start_ms {
            let (month_start_ms, next_month_start_ms) = month_bounds_ms(now_ms);
            self.month_start_ms = month_start_ms;
            self.next_month_start_ms = next_month_start_ms;
        }
        // Java: (int) (current - startTime), which wraps after ~24.8 days; a small
        // negative difference (clock stepped back) is clamped to 0.
        let mut millis_since_month_start = now_ms.wrapping_sub(self.month_start_ms) as i32;
        if (-1_000_000..0).contains(&millis_since_month_start) {
            millis_since_month_start = 0;
        }
        let counter = self.counter;
        self.counter = self.counter.wrapping_add(1);
        UniqKey {
            ip: self.ip,
            pid: self.pid,
            class_loader_hash: self.class_loader_hash,
            millis_since_month_start,
            counter,
        }
    }
}

/// UTC start of the month containing `now_ms`, and of the month after.
fn month_bounds_ms(now_ms: i64) -> (i64, i64) {
    let (year, month, _) = civil_from_days(now_ms.div_euclid(MILLIS_PER_DAY));
    let (next_year, next_month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    (
        days_from_civil(year, month, 1).saturating_mul(MILLIS_PER_DAY),
        days_from_civil(next_year, next_month, 1).saturating_mul(MILLIS_PER_DAY),
    )
}

// Proleptic Gregorian conversions (H. Hinnant's public-domain algorithms);
// days are counted from 1970-01-01.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Writes `ip` at the front of `bytes` (at least 16 long); returns its length.
fn put_ip(bytes: &mut [u8], ip: IpAddr) -> usize {
    match ip {
        IpAddr::V4(ip) => {
            bytes[..4].copy_from_slice(&ip.octets());
            4
        }
        IpAddr::V6(ip) => {
            bytes[..16].copy_from_slice(&ip.octets());
            16
        }
    }
}

/// Splits the IP off a decoded id; the caller's buffer length (already checked
/// to be a v4 or v6 layout) says which: v6 ids are 12 bytes longer.
fn take_ip(bytes: &[u8]) -> (IpAddr, &[u8]) {
    if bytes.len() == OFFSET_MESSAGE_ID_V6_BYTES {
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&bytes[..16]);
        (IpAddr::V6(Ipv6Addr::from(octets)), &bytes[16..])
    } else {
        let octets = [bytes[0], bytes[1], bytes[2], bytes[3]];
        (IpAddr::V4(Ipv4Addr::from(octets)), &bytes[4..])
    }
}

fn push_hex(bytes: &[u8], out: &mut String) {
    const HEX_DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    out.reserve(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(HEX_DIGITS[usize::from(byte & 0xF)]));
    }
}

/// Decodes 32 or 56 hex characters (either case) into the front of `buffer`
/// (28 bytes, the v6 size) and returns the decoded part.
fn decode_hex<'b>(text: &str, buffer: &'b mut [u8; 28]) -> Result<&'b [u8], MessageIdError> {
    let length = match text.len() {
        32 => 16,
        56 => 28,
        length => return Err(MessageIdError::WrongLength { length }),
    };
    let digits = text.as_bytes();
    for (index, byte) in buffer[..length].iter_mut().enumerate() {
        let high =
            hex_value(digits[2 * index]).ok_or(MessageIdError::InvalidHex { offset: 2 * index })?;
        let low = hex_value(digits[2 * index + 1]).ok_or(MessageIdError::InvalidHex {
            offset: 2 * index + 1,
        })?;
        *byte = high << 4 | low;
    }
    Ok(&buffer[..length])
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_message_id_golden() {
        let id = OffsetMessageId {
            store_host: "10.0.0.1:10911".parse().unwrap(),
            commit_log_offset: 0x1234,
        };
        // 0A000001 | 00002A9F (10911) | 0000000000001234
        assert_eq!(id.encode(), "0A00000100002A9F0000000000001234");
        assert_eq!(OffsetMessageId::decode(&id.encode()), Ok(id));
        assert_eq!(
            OffsetMessageId::decode("0a00000100002a9f0000000000001234"),
            Ok(id)
        );
        let v6 = OffsetMessageId {
            store_host: "[::1]:10911".parse().unwrap(),
            commit_log_offset: -1,
        };
        assert_eq!(v6.encode().len(), 56);
        assert_eq!(OffsetMessageId::decode(&v6.encode()), Ok(v6));
    }

    #[test]
    fn offset_message_id_rejects_garbage() {
        assert_eq!(
            OffsetMessageId::decode("00"),
            Err(MessageIdError::WrongLength { length: 2 })
        );
        assert_eq!(
            OffsetMessageId::decode("0A00000100002A9F00000000000012345"),
            Err(MessageIdError::WrongLength { length: 33 })
        );
        assert_eq!(
            OffsetMessageId::decode("0A00000100002A9G0000000000001234"),
            Err(MessageIdError::InvalidHex { offset: 15 })
        );
        assert_eq!(
            OffsetMessageId::decode("0A000001000100000000000000001234"),
            Err(MessageIdError::PortOutOfRange { port: 65536 })
        );
        // A multi-byte character must not split the hex walk.
        assert!(OffsetMessageId::decode("é0000100002A9F00000000000012345").is_err());
    }

    #[test]
    fn month_bounds_match_calendar() {
        // 2024-03-15T00:00:00Z → [2024-03-01, 2024-04-01).
        assert_eq!(
            month_bounds_ms(1_710_460_800_000),
            (1_709_251_200_000, 1_711_929_600_000)
        );
        // December rolls into the next year: 2023-12-31T23:59:59.999Z.
        assert_eq!(
            month_bounds_ms(1_704_067_199_999),
            (1_701_388_800_000, 1_704_067_200_000)
        );
        assert_eq!(month_bounds_ms(0), (0, 31 * MILLIS_PER_DAY));
        // Extreme clocks must not panic.
        let _ = month_bounds_ms(i64::MAX);
        let _ = month_bounds_ms(i64::MIN);
    }

    #[test]
    fn generator_counts_and_resets_per_month() {
        let ip = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10));
        let mut generator = UniqKeyGenerator::new(ip, 0x1234, 0x0BAD_F00D);
        let first = generator.next_key(1_710_460_800_000);
        assert_eq!(first.millis_since_month_start, 14 * 86_400_000);
        assert_eq!(first.counter, 0);
        assert_eq!(generator.next_key(1_710_460_800_000).counter, 1);
        let april = generator.next_key(1_711_929_600_005);
        assert_eq!(april.millis_since_month_start, 5);
        let text = april.encode();
        assert_eq!(text, "C0A8010A12340BADF00D000000050002");
        assert_eq!(UniqKey::decode(&text), Ok(april));
        let mut wrapping = UniqKeyGenerator::new(ip, 1, 1);
        wrapping.counter = u16::MAX;
        assert_eq!(wrapping.next_key(0).counter, u16::MAX);
        assert_eq!(wrapping.next_key(0).counter, 0);
    }
}
