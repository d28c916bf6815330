//! ROCKETMQ binary header (serialize type 1, §3.2), Java's
//! `RocketMQSerializable`.
//!
//! ```text
//! size  field
//! 2     code        i16 BE
//! 1     language    LanguageCode byte
//! 2     version     i16 BE
//! 4     opaque      i32 BE
//! 4     flag        i32 BE
//! 4     remark_len  i32 BE; 0 = no remark
//! R     remark      UTF-8
//! 4     ext_len     i32 BE; byte length of the block below; 0 = none
//! E     ext_fields  repeated until ext_len bytes are consumed:
//!                     2  key_len    i16 BE
//!                     K  key        UTF-8
//!                     4  value_len  i32 BE
//!                     V  value      UTF-8
//! ```
//!
//! A zero-length remark, key or value means *null* to Java, so an entry with an
//! empty key or value is absent: the decoder drops such entries and the encoder
//! does not write them (an empty remark likewise decodes as `None`). `code` and
//! `version` are 16 bits wide here; the encoder refuses wider values instead of
//! truncating them as Java does.
//!
//! Where this decoder is stricter than Java: an ext entry must lie entirely
//! inside the `ext_len` block (Java bounds string lengths only by the whole
//! header). Like Java, it ignores bytes after the ext block.

use bytes::{BufMut, BytesMut};

use super::{CommandDecodeError, CommandEncodeError, ExtFields, RemotingCommand};
use crate::code::LanguageCode;
use crate::frame::SerializeType;

/// Bytes of the fixed part: code, language, version, opaque, flag, remark_len,
/// ext_len.
pub const FIXED_PART_BYTES: usize = 2 + 1 + 2 + 4 + 4 + 4 + 4;
const _: () = assert!(FIXED_PART_BYTES == 21);

pub(super) fn encode(
    command: &RemotingCommand,
    dst: &mut BytesMut,
) -> Result<(), CommandEncodeError> {
    let code = i16::try_from(command.code)
        .map_err(|_| CommandEncodeError::CodeOutOfRange { code: command.code })?;
    let version =
        i16::try_from(command.version).map_err(|_| CommandEncodeError::VersionOutOfRange {
            version: command.version,
        })?;
    dst.put_i16(code);
    dst.put_u8(command.language.to_u8());
    dst.put_i16(version);
    dst.put_i32(command.opaque);
    dst.put_i32(command.flag);
    let remark = command.remark.as_deref().unwrap_or("");
    put_i32_length(dst, remark.len())?;
    dst.put_slice(remark.as_bytes());

    let ext_len_at = dst.len();
    dst.put_i32(0);
    for (key, value) in &command.ext_fields {
        if key.is_empty() || value.is_empty() {
            continue;
        }
        let key_length =
            i16::try_from(key.len()).map_err(|_| CommandEncodeError::ExtKeyTooLong {
                key_length: key.len(),
            })?;
        dst.put_i16(key_length);
        dst.put_slice(key.as_bytes());
        put_i32_length(dst, value.len())?;
        dst.put_slice(value.as_bytes());
    }
    let ext_len = dst.len() - ext_len_at - 4;
    let ext_len = i32::try_from(ext_len).map_err(|_| header_too_long(dst.len()))?;
    dst[ext_len_at..ext_len_at + 4].copy_from_slice(&ext_len.to_be_bytes());
    Ok(())
}

fn put_i32_length(dst: &mut BytesMut, length: usize) -> Result<(), CommandEncodeError> {
    let length = i32::try_from(length).map_err(|_| header_too_long(length))?;
    dst.put_i32(length);
    Ok(())
}

fn header_too_long(header_length: usize) -> CommandEncodeError {
    CommandEncodeError::Frame(crate::frame::FrameEncodeError::HeaderTooLong { header_length })
}

pub(super) fn decode(header: &[u8]) -> Result<RemotingCommand, CommandDecodeError> {
    let mut reader = Reader::new(header, 0);
    let code = i32::from(reader.i16("code")?);
    let language = LanguageCode::from_u8(reader.u8("language")?);
    let version = i32::from(reader.i16("version")?);
    let opaque = reader.i32("opaque")?;
    let flag = reader.i32("flag")?;
    let remark = reader.string_i32("remark")?.map(str::to_owned);

    let ext_len = reader.length_i32("ext_len")?;
    let block_offset = reader.offset;
    let mut block = Reader::new(reader.take("ext_fields", ext_len)?, block_offset);
    let mut ext_fields = ExtFields::new();
    while !block.is_empty() {
        let key_offset = block.absolute_offset();
        let key_length = block.i16("ext_key_len")?;
        let key_length =
            usize::try_from(key_length).map_err(|_| CommandDecodeError::BinaryNegativeLength {
                field: "ext_key_len",
                offset: key_offset,
                length: i32::from(key_length),
            })?;
        let key = block.str("ext_key", key_length)?;
        let value = block.string_i32("ext_value")?;
        if let (false, Some(value)) = (key.is_empty(), value) {
            ext_fields.insert(key.to_owned(), value.to_owned());
        }
    }

    Ok(RemotingCommand {
        code,
        language,
        version,
        opaque,
        flag,
        remark,
        ext_fields,
        body: bytes::Bytes::new(),
        serialize_type: SerializeType::RocketMq,
    })
}

/// Bounds-checked big-endian cursor. `base` is where `bytes` starts within the
/// header, so error offsets are header-relative for nested blocks too.
struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], base: usize) -> Reader<'a> {
        Reader {
            bytes,
            offset: 0,
            base,
        }
    }

    fn is_empty(&self) -> bool {
        self.offset >= self.bytes.len()
    }

    fn absolute_offset(&self) -> usize {
        self.base + self.offset
    }

    fn take(&mut self, field: &'static str, needed: usize) -> Result<&'a [u8], CommandDecodeError> {
        let available = self.bytes.len() - self.offset;
        if needed > available {
            return Err(CommandDecodeError::BinaryTruncated {
                field,
                offset: self.absolute_offset(),
                needed,
                available,
            });
        }
        let taken = &self.bytes[self.offset..self.offset + needed];
        self.offset += needed;
        Ok(taken)
    }

    fn array<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[u8; N], CommandDecodeError> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.take(field, N)?);
        Ok(array)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, CommandDecodeError> {
        Ok(self.array::<1>(field)?[0])
    }

    fn i16(&mut self, field: &'static str) -> Result<i16, CommandDecodeError> {
        Ok(i16::from_be_bytes(self.array(field)?))
    }

    fn i32(&mut self, field: &'static str) -> Result<i32, CommandDecodeError> {
        Ok(i32::from_be_bytes(self.array(field)?))
    }

    fn length_i32(&mut self, field: &'static str) -> Result<usize, CommandDecodeError> {
        let offset = self.absolute_offset();
        let length = self.i32(field)?;
        usize::try_from(length).map_err(|_| CommandDecodeError::BinaryNegativeLength {
            field,
            offset,
            length,
        })
    }

    fn str(&mut self, field: &'static str, length: usize) -> Result<&'a str, CommandDecodeError> {
        let offset = self.absolute_offset();
        let bytes = self.take(field, length)?;
        std::str::from_utf8(bytes)
            .map_err(|_| CommandDecodeError::BinaryInvalidUtf8 { field, offset })
    }

    /// An i32-length-prefixed string; length 0 is Java's null.
    fn string_i32(&mut self, field: &'static str) -> Result<Option<&'a str>, CommandDecodeError> {
        let length = self.length_i32(field)?;
        let text = self.str(field, length)?;
        Ok((!text.is_empty()).then_some(text))
    }
}
