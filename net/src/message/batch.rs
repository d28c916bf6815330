//! The SEND_BATCH_MESSAGE body (§10.5): inner messages concatenated, each in
//! the client's compact record layout.
//!
//! ```text
//! offset  size  field
//! 0       4     total_size      i32 BE (client writes 22 + N + P; ignored, see below)
//! 4       4     magic_code      i32 BE (client writes 0; ignored)
//! 8       4     body_crc        i32 BE (client writes 0; the broker recomputes)
//! 12      4     flag            i32 BE, user flag
//! 16      4     body_len        i32 BE = N
//! 20      N     body
//! 20+N    2     properties_len  i16 BE = P
//! 22+N    P     properties      UTF-8, §10.1 (each message's own UNIQ_KEY, KEYS, TAGS)
//! ```
//!
//! The send header's topic, queue, sysFlag and born timestamp apply to every
//! record. Like Java's `MessageDecoder.decodeMessages`, the decoder walks the
//! records by their field lengths and does not trust `total_size`; the encoder
//! always writes the true size. Each length is checked against the bytes left
//! before it is used, and the number of records is capped by the caller.
//! Records borrow from the body; use `Bytes::slice_ref` to keep them zero-copy.

use bytes::{BufMut, BytesMut};

/// Bytes of a record with an empty body and no properties.
pub const RECORD_FIXED_BYTES: usize = 4 + 4 + 4 + 4 + 4 + 2;
const _: () = assert!(RECORD_FIXED_BYTES == 22);

/// Longest properties field of a record (its i16 length).
pub const RECORD_PROPERTIES_BYTES_MAX: usize = i16::MAX as usize;

/// Why a batch body could not be decoded, or a record encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// A field runs past the end of the body.
    #[error("batch record {record_index}: field `{field}` needs {needed} bytes at offset {offset}, only {available} remain")]
    Truncated {
        /// Index of the record, counting from 0.
        record_index: usize,
        /// Name of the field, as in the layout above.
        field: &'static str,
        /// Byte offset of the field in the body.
        offset: usize,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left in the body from `offset`.
        available: usize,
    },
    /// A length field is negative.
    #[error("batch record {record_index}: field `{field}` at offset {offset} has negative length {length}")]
    NegativeLength {
        /// Index of the record, counting from 0.
        record_index: usize,
        /// Name of the length field (`body_len` or `properties_len`).
        field: &'static str,
        /// Byte offset of the length field in the body.
        offset: usize,
        /// The length as read.
        length: i32,
    },
    /// A record's properties are not UTF-8.
    #[error("batch record {record_index}: properties at offset {offset} are not valid UTF-8")]
    InvalidUtf8 {
        /// Index of the record, counting from 0.
        record_index: usize,
        /// Byte offset of the properties field in the body.
        offset: usize,
    },
    /// The body holds more records than the caller allows.
    #[error("batch holds more than {messages_max} messages")]
    TooManyMessages {
        /// The caller's limit.
        messages_max: usize,
    },
    /// Encoding: the body, or the whole record, is longer than `i32::MAX` bytes.
    #[error("batch record body of {body_length} bytes does not fit the i32 length field")]
    BodyTooLong {
        /// Length of the body, in bytes.
        body_length: usize,
    },
    /// Encoding: the properties are longer than [`RECORD_PROPERTIES_BYTES_MAX`].
    #[error(
        "batch record properties of {properties_length} bytes exceed {RECORD_PROPERTIES_BYTES_MAX}"
    )]
    PropertiesTooLong {
        /// Length of the properties, in bytes.
        properties_length: usize,
    },
}

/// One inner message of a batch, borrowed from the batch body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchRecord<'a> {
    /// User flag of this message.
    pub flag: i32,
    /// Message body, as the producer sent it.
    pub body: &'a [u8],
    /// Properties string (§10.1), not yet parsed.
    pub properties: &'a str,
}

impl BatchRecord<'_> {
    /// Bytes this record occupies when encoded.
    pub fn encoded_len(&self) -> usize {
        RECORD_FIXED_BYTES + self.body.len() + self.properties.len()
    }
}

/// Iterates the records of a batch body. After the first error the iterator
/// ends.
pub fn iter_batch(body: &[u8]) -> BatchIter<'_> {
    BatchIter {
        bytes: body,
        offset: 0,
        record_index: 0,
        failed: false,
    }
}

/// Decodes a whole batch body, refusing more than `messages_max` records.
pub fn decode_batch(body: &[u8], messages_max: usize) -> Result<Vec<BatchRecord<'_>>, BatchError> {
    // Sized by a first pass over the records' lengths (no copies, no UTF-8
    // check), so a batch costs one allocation whatever its number of
    // messages.
    let mut records = Vec::with_capacity(count_framed(body, messages_max));
    for record in iter_batch(body) {
        if records.len() == messages_max {
            return Err(BatchError::TooManyMessages { messages_max });
        }
        records.push(record?);
    }
    Ok(records)
}

/// Appends one record in the client layout (zero magic and CRC, like a client).
pub fn encode_batch_record(record: &BatchRecord<'_>, dst: &mut BytesMut) -> Result<(), BatchError> {
    let body_length = i32::try_from(record.body.len()).map_err(|_| BatchError::BodyTooLong {
        body_length: record.body.len(),
    })?;
    let properties_length =
        i16::try_from(record.properties.len()).map_err(|_| BatchError::PropertiesTooLong {
            properties_length: record.properties.len(),
        })?;
    let total_size = i32::try_from(record.encoded_len()).map_err(|_| BatchError::BodyTooLong {
        body_length: record.body.len(),
    })?;
    dst.reserve(record.encoded_len());
    dst.put_i32(total_size);
    dst.put_i32(0);
    dst.put_i32(0);
    dst.put_i32(record.flag);
    dst.put_i32(body_length);
    dst.put_slice(record.body);
    dst.put_i16(properties_length);
    dst.put_slice(record.properties.as_bytes());
    Ok(())
}

/// Iterator over the records of a batch body, from [`iter_batch`]; it yields
/// `Err` at most once and then ends.
pub struct BatchIter<'a> {
    bytes: &'a [u8],
    offset: usize,
    record_index: usize,
    failed: bool,
}

impl<'a> BatchIter<'a> {
    fn take(&mut self, field: &'static str, needed: usize) -> Result<&'a [u8], BatchError> {
        let available = self.bytes.len() - self.offset;
        if needed > available {
            return Err(BatchError::Truncated {
                record_index: self.record_index,
                field,
                offset: self.offset,
                needed,
                available,
            });
        }
        let taken = &self.bytes[self.offset..self.offset + needed];
        self.offset += needed;
        Ok(taken)
    }

    fn i32(&mut self, field: &'static str) -> Result<i32, BatchError> {
        let bytes = self.take(field, 4)?;
        Ok(i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn length(
        &mut self,
        field: &'static str,
        length: i32,
        offset: usize,
    ) -> Result<usize, BatchError> {
        usize::try_from(length).map_err(|_| BatchError::NegativeLength {
            record_index: self.record_index,
            field,
            offset,
            length,
        })
    }

    fn record(&mut self) -> Result<BatchRecord<'a>, BatchError> {
        let framed = self.framed()?;
        let properties =
            std::str::from_utf8(framed.properties).map_err(|_| BatchError::InvalidUtf8 {
                record_index: self.record_index,
                offset: framed.properties_offset,
            })?;
        Ok(BatchRecord {
            flag: framed.flag,
            body: framed.body,
            properties,
        })
    }

    /// The next record's framing, lengths checked.
    fn framed(&mut self) -> Result<Framed<'a>, BatchError> {
        let _total_size = self.i32("total_size")?;
        let _magic_code = self.i32("magic_code")?;
        let _body_crc = self.i32("body_crc")?;
        let flag = self.i32("flag")?;
        let body_length_offset = self.offset;
        let body_length = self.i32("body_len")?;
        let body_length = self.length("body_len", body_length, body_length_offset)?;
        let body = self.take("body", body_length)?;
        let properties_length_offset = self.offset;
        let properties_length = self.take("properties_len", 2)?;
        let properties_length = i16::from_be_bytes([properties_length[0], properties_length[1]]);
        let properties_length = self.length(
            "properties_len",
            i32::from(properties_length),
            properties_length_offset,
        )?;
        let properties_offset = self.offset;
        let properties = self.take("properties", properties_length)?;
        Ok(Framed {
            flag,
            body,
            properties,
            properties_offset,
        })
    }
}

/// One record as framed by its lengths: its properties not yet checked as
/// UTF-8.
struct Framed<'a> {
    flag: i32,
    body: &'a [u8],
    properties: &'a [u8],
    /// Offset of the properties in the batch body, for errors.
    properties_offset: usize,
}

/// How many records frame in `body`, at most `max`, walking their lengths
/// only (no UTF-8 check): sizes [`decode_batch`]'s list before it decodes.
fn count_framed(body: &[u8], max: usize) -> usize {
    let mut walk = iter_batch(body);
    let mut count = 0;
    while count < max && walk.offset < body.len() && walk.framed().is_ok() {
        count += 1;
    }
    count
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = Result<BatchRecord<'a>, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.offset >= self.bytes.len() {
            return None;
        }
        let record = self.record();
        self.failed = record.is_err();
        self.record_index += 1;
        Some(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_single_record() {
        let record = BatchRecord {
            flag: 7,
            body: b"hi",
            properties: "K\u{1}v\u{2}",
        };
        let mut wire = BytesMut::new();
        encode_batch_record(&record, &mut wire).unwrap();
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0, 0, 0, 28, // total_size = 22 + 2 + 4
            0, 0, 0, 0,  // magic_code
            0, 0, 0, 0,  // body_crc
            0, 0, 0, 7,  // flag
            0, 0, 0, 2,  // body_len
            b'h', b'i',
            0, 4,        // properties_len
            b'K', 1, b'v', 2,
        ];
        assert_eq!(&wire[..], expected);
        assert_eq!(decode_batch(&wire, 1).unwrap(), vec![record]);
    }

    #[test]
    fn bounded_and_checked() {
        let record = BatchRecord {
            flag: 0,
            body: b"",
            properties: "",
        };
        let mut wire = BytesMut::new();
        for _ in 0..3 {
            encode_batch_record(&record, &mut wire).unwrap();
        }
        assert_eq!(decode_batch(&wire, 3).unwrap().len(), 3);
        assert_eq!(
            decode_batch(&wire, 2),
            Err(BatchError::TooManyMessages { messages_max: 2 })
        );
        assert!(matches!(
            decode_batch(&wire[..wire.len() - 1], 10),
            Err(BatchError::Truncated {
                record_index: 2,
                field: "properties_len",
                ..
            })
        ));
        let mut negative = wire.to_vec();
        negative[16..20].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(matches!(
            decode_batch(&negative, 10),
            Err(BatchError::NegativeLength {
                record_index: 0,
                field: "body_len",
                offset: 16,
                length: -1
            })
        ));
        assert_eq!(decode_batch(&[], 10), Ok(vec![]));
    }
}
