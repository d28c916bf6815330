//! The remoting frame (§2): length-prefixed envelope around one command.
//!
//! This module owns frame boundaries only: it splits a byte stream into
//! [`Frame`]s and writes frame prefixes. It does not look inside the header
//! (that is [`crate::command`]).
//!
//! ```text
//! offset  size  field
//! 0       4     frame_length  i32 BE = 4 + header_length + body_length (excludes itself)
//! 4       4     header_word   i32 BE = serialize_type << 24 | header_length
//!                               top byte:  0 = JSON, 1 = ROCKETMQ binary
//!                               low 24 bits: header_length (so < 16 MiB)
//! 8       H     header        H = header_length
//! 8+H     B     body          B = frame_length - 4 - H, may be 0
//! ```
//!
//! Guarantees: [`FrameDecoder::decode`] validates the length prefix against
//! `frame_size_bytes_max` as soon as 4 bytes are present and the header word as
//! soon as 8 are, before waiting for (or reserving room for) the rest; it never
//! panics and consumes bytes from the buffer only when it returns a whole frame.
//! After an error the stream has lost framing and the connection must be closed
//! (a Java peer does the same on any decode error).

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Bytes of the `frame_length` prefix.
pub const FRAME_LENGTH_PREFIX_BYTES: usize = 4;
/// Bytes of the `header_word`.
pub const HEADER_WORD_BYTES: usize = 4;
/// Largest header length the 24-bit field of the header word can carry.
pub const HEADER_LENGTH_BYTES_MAX: usize = 0x00FF_FFFF;
/// Largest whole frame (prefix included) a Java peer accepts by default
/// (`com.rocketmq.remoting.frameMaxLength`).
pub const FRAME_SIZE_BYTES_MAX_DEFAULT: usize = 16 * 1024 * 1024;
/// Most the decoder reserves ahead of bytes that have not arrived yet. A peer
/// can claim a 16 MiB frame in 4 bytes; reserving all of it up front would let
/// idle connections pin memory they never fill.
pub const FRAME_RESERVE_BYTES_MAX: usize = 64 * 1024;
/// Smallest legal `frame_length` value: the header word alone.
pub const FRAME_LENGTH_MIN: i32 = HEADER_WORD_BYTES as i32;

const _: () = assert!(FRAME_SIZE_BYTES_MAX_DEFAULT == 16_777_216);
const _: () = assert!(FRAME_SIZE_BYTES_MAX_DEFAULT <= i32::MAX as usize);

/// How the header of a frame is serialized (§5.2), the top byte of the header
/// word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum SerializeType {
    /// fastjson text; the Java default.
    #[default]
    Json = 0,
    /// `RocketMQSerializable` binary layout (§3.2).
    RocketMq = 1,
}

impl SerializeType {
    /// The type for the header word's top byte; `None` for values other than 0 and 1.
    pub fn from_u8(value: u8) -> Option<SerializeType> {
        match value {
            0 => Some(SerializeType::Json),
            1 => Some(SerializeType::RocketMq),
            _ => None,
        }
    }

    /// The Java enum name, as written in the JSON header's
    /// `serializeTypeCurrentRPC` member.
    pub fn name(self) -> &'static str {
        match self {
            SerializeType::Json => "JSON",
            SerializeType::RocketMq => "ROCKETMQ",
        }
    }
}

/// A malformed frame prefix. Framing is lost after any of these: close the
/// connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The length prefix is smaller than the header word it must cover.
    #[error("frame length {frame_length} is below the minimum of {FRAME_LENGTH_MIN}")]
    LengthBelowMinimum {
        /// The `frame_length` prefix as received.
        frame_length: i32,
    },
    /// The frame declares more bytes than the decoder allows.
    #[error("frame of {frame_size_bytes} bytes (prefix included) exceeds the maximum of {frame_size_bytes_max}")]
    TooLarge {
        /// Bytes the frame declares, the 4-byte prefix included.
        frame_size_bytes: usize,
        /// The decoder's limit, in the same unit.
        frame_size_bytes_max: usize,
    },
    /// The header word declares a header longer than the frame.
    #[error("header length {header_length} exceeds the {frame_length}-byte frame")]
    HeaderLengthExceedsFrame {
        /// Header bytes the header word declares.
        header_length: usize,
        /// Bytes after the length prefix.
        frame_length: usize,
    },
    /// The header word's top byte is neither JSON (0) nor ROCKETMQ (1).
    #[error("unknown serialize type {serialize_type} in header word")]
    UnknownSerializeType {
        /// The byte received.
        serialize_type: u8,
    },
}

/// A frame that cannot be written: a length does not fit its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameEncodeError {
    /// The header is longer than [`HEADER_LENGTH_BYTES_MAX`].
    #[error("header of {header_length} bytes does not fit the 24-bit header length field")]
    HeaderTooLong {
        /// Header bytes to be written.
        header_length: usize,
    },
    /// Header word, header and body together exceed `i32::MAX` bytes.
    #[error("frame with {header_length}-byte header and {body_length}-byte body does not fit the i32 length field")]
    FrameTooLong {
        /// Header bytes to be written.
        header_length: usize,
        /// Body bytes to be written.
        body_length: usize,
    },
}

/// One whole frame, split into its header and body without copying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// How `header` is serialized (the header word's top byte).
    pub serialize_type: SerializeType,
    /// The serialized header, as many bytes as the header word declares.
    pub header: Bytes,
    /// Everything after the header up to the frame's end; may be empty.
    pub body: Bytes,
}

impl Frame {
    /// Writes the frame, prefix included.
    pub fn encode_to(&self, dst: &mut BytesMut) -> Result<(), FrameEncodeError> {
        let prefix = FramePrefix::new(self.serialize_type, self.header.len(), self.body.len())?;
        dst.reserve(prefix.frame_size_bytes());
        prefix.put(dst);
        dst.put_slice(&self.header);
        dst.put_slice(&self.body);
        Ok(())
    }
}

/// The first 8 bytes of a frame, computed with every length checked against
/// its field width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramePrefix {
    frame_length: i32,
    header_word: i32,
}

impl FramePrefix {
    /// Bytes of the prefix: the length prefix and the header word.
    pub const BYTES: usize = FRAME_LENGTH_PREFIX_BYTES + HEADER_WORD_BYTES;

    /// The prefix of a frame with these lengths (in bytes); fails when the
    /// header exceeds 24 bits or the frame exceeds `i32::MAX` bytes.
    pub fn new(
        serialize_type: SerializeType,
        header_length: usize,
        body_length: usize,
    ) -> Result<FramePrefix, FrameEncodeError> {
        if header_length > HEADER_LENGTH_BYTES_MAX {
            return Err(FrameEncodeError::HeaderTooLong { header_length });
        }
        let frame_length = HEADER_WORD_BYTES
            .checked_add(header_length)
            .and_then(|length| length.checked_add(body_length))
            .and_then(|length| i32::try_from(length).ok())
            .ok_or(FrameEncodeError::FrameTooLong {
                header_length,
                body_length,
            })?;
        // header_length <= 0xFF_FFFF, so the OR cannot touch the type byte.
        let header_word = (i32::from(serialize_type as u8) << 24) | header_length as i32;
        Ok(FramePrefix {
            frame_length,
            header_word,
        })
    }

    /// Whole frame size on the wire, the 4-byte length prefix included.
    pub fn frame_size_bytes(&self) -> usize {
        self.frame_length as usize + FRAME_LENGTH_PREFIX_BYTES
    }

    /// Appends the 8 prefix bytes, big-endian, to `dst`.
    pub fn put(&self, dst: &mut BytesMut) {
        dst.put_i32(self.frame_length);
        dst.put_i32(self.header_word);
    }

    /// Overwrites the first [`FramePrefix::BYTES`] bytes of `dst` (a slot reserved
    /// before the header length was known).
    pub(crate) fn patch(&self, dst: &mut [u8]) {
        dst[..4].copy_from_slice(&self.frame_length.to_be_bytes());
        dst[4..8].copy_from_slice(&self.header_word.to_be_bytes());
    }
}

/// Incremental frame splitter with an explicit size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameDecoder {
    frame_size_bytes_max: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder::new(FRAME_SIZE_BYTES_MAX_DEFAULT)
    }
}

impl FrameDecoder {
    /// `frame_size_bytes_max` counts the whole frame including its 4-byte length
    /// prefix, as Java's `frameMaxLength` does. Values below the smallest
    /// possible frame (8 bytes) or above what the i32 length field can express
    /// are clamped.
    pub fn new(frame_size_bytes_max: usize) -> FrameDecoder {
        FrameDecoder {
            frame_size_bytes_max: frame_size_bytes_max.clamp(
                FramePrefix::BYTES,
                i32::MAX as usize + FRAME_LENGTH_PREFIX_BYTES,
            ),
        }
    }

    /// The largest frame this decoder accepts, in bytes including the
    /// 4-byte length prefix.
    pub fn frame_size_bytes_max(&self) -> usize {
        self.frame_size_bytes_max
    }

    /// Takes one whole frame off the front of `src`.
    ///
    /// `Ok(None)`: more bytes are needed; `src` is untouched except that, once the
    /// length prefix has been validated, room for more of the frame (at most
    /// [`FRAME_RESERVE_BYTES_MAX`]) is reserved so the next read lands in place.
    pub fn decode(&self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let Some(prefix) = src.get(..FRAME_LENGTH_PREFIX_BYTES) else {
            return Ok(None);
        };
        let frame_length = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        if frame_length < FRAME_LENGTH_MIN {
            return Err(FrameError::LengthBelowMinimum { frame_length });
        }
        // Non-negative i32 plus 4 always fits usize on the 32/64-bit targets we build for.
        let frame_length = frame_length as usize;
        let frame_size_bytes = frame_length + FRAME_LENGTH_PREFIX_BYTES;
        if frame_size_bytes > self.frame_size_bytes_max {
            return Err(FrameError::TooLarge {
                frame_size_bytes,
                frame_size_bytes_max: self.frame_size_bytes_max,
            });
        }

        let Some(word) = src.get(FRAME_LENGTH_PREFIX_BYTES..FramePrefix::BYTES) else {
            reserve_for(src, frame_size_bytes);
            return Ok(None);
        };
        let header_word = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        let serialize_type_byte = (header_word >> 24) as u8;
        let serialize_type = SerializeType::from_u8(serialize_type_byte).ok_or(
            FrameError::UnknownSerializeType {
                serialize_type: serialize_type_byte,
            },
        )?;
        let header_length = (header_word & HEADER_LENGTH_BYTES_MAX as u32) as usize;
        if header_length > frame_length - HEADER_WORD_BYTES {
            return Err(FrameError::HeaderLengthExceedsFrame {
                header_length,
                frame_length,
            });
        }

        if src.len() < frame_size_bytes {
            reserve_for(src, frame_size_bytes);
            return Ok(None);
        }
        let mut frame = src.split_to(frame_size_bytes);
        frame.advance(FramePrefix::BYTES);
        let header = frame.split_to(header_length).freeze();
        let body = frame.freeze();
        Ok(Some(Frame {
            serialize_type,
            header,
            body,
        }))
    }
}

fn reserve_for(src: &mut BytesMut, frame_size_bytes: usize) {
    let missing = frame_size_bytes.saturating_sub(src.len());
    src.reserve(missing.min(FRAME_RESERVE_BYTES_MAX));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(decoder: &FrameDecoder, bytes: &[u8]) -> Result<Option<Frame>, FrameError> {
        decoder.decode(&mut BytesMut::from(bytes))
    }

    #[test]
    fn waits_for_prefix_header_word_and_body() {
        let decoder = FrameDecoder::default();
        let frame = Frame {
            serialize_type: SerializeType::RocketMq,
            header: Bytes::from_static(b"hdr"),
            body: Bytes::from_static(b"body"),
        };
        let mut wire = BytesMut::new();
        frame.encode_to(&mut wire).unwrap();
        assert_eq!(&wire[..8], &[0, 0, 0, 11, 1, 0, 0, 3]);
        for cut in 0..wire.len() {
            let mut partial = BytesMut::from(&wire[..cut]);
            assert_eq!(decoder.decode(&mut partial), Ok(None), "cut at {cut}");
            assert_eq!(partial.len(), cut, "partial input must stay in the buffer");
        }
        let mut whole = wire.clone();
        whole.extend_from_slice(b"next");
        assert_eq!(decoder.decode(&mut whole), Ok(Some(frame)));
        assert_eq!(&whole[..], b"next");
    }

    #[test]
    fn reservation_is_bounded_by_what_arrived() {
        let decoder = FrameDecoder::default();
        let mut buffer = BytesMut::from(&16_777_212i32.to_be_bytes()[..]);
        assert_eq!(decoder.decode(&mut buffer), Ok(None));
        assert!(buffer.capacity() <= 4 + FRAME_RESERVE_BYTES_MAX + 64);
    }

    #[test]
    fn rejects_short_length() {
        let decoder = FrameDecoder::default();
        for frame_length in [i32::MIN, -1, 0, 3] {
            assert_eq!(
                decode_all(&decoder, &frame_length.to_be_bytes()),
                Err(FrameError::LengthBelowMinimum { frame_length })
            );
        }
    }

    #[test]
    fn enforces_maximum_including_prefix() {
        let decoder = FrameDecoder::new(64);
        assert_eq!(decode_all(&decoder, &60i32.to_be_bytes()), Ok(None));
        assert_eq!(
            decode_all(&decoder, &61i32.to_be_bytes()),
            Err(FrameError::TooLarge {
                frame_size_bytes: 65,
                frame_size_bytes_max: 64
            })
        );
        let java_default = FrameDecoder::default();
        assert_eq!(
            decode_all(&java_default, &(16_777_212i32).to_be_bytes()),
            Ok(None)
        );
        assert!(decode_all(&java_default, &(16_777_213i32).to_be_bytes()).is_err());
        assert!(decode_all(&java_default, &i32::MAX.to_be_bytes()).is_err());
    }

    #[test]
    fn rejects_header_longer_than_frame() {
        let decoder = FrameDecoder::default();
        let wire = [0, 0, 0, 6, 0, 0, 0, 3];
        assert_eq!(
            decode_all(&decoder, &wire),
            Err(FrameError::HeaderLengthExceedsFrame {
                header_length: 3,
                frame_length: 6
            })
        );
        // Exactly filling the frame is fine.
        assert_eq!(decode_all(&decoder, &[0, 0, 0, 6, 0, 0, 0, 2]), Ok(None));
    }

    #[test]
    fn rejects_unknown_serialize_type() {
        let decoder = FrameDecoder::default();
        assert_eq!(
            decode_all(&decoder, &[0, 0, 0, 4, 2, 0, 0, 0]),
            Err(FrameError::UnknownSerializeType { serialize_type: 2 })
        );
    }

    #[test]
    fn encoder_checks_field_widths() {
        assert_eq!(
            FramePrefix::new(SerializeType::Json, HEADER_LENGTH_BYTES_MAX + 1, 0),
            Err(FrameEncodeError::HeaderTooLong {
                header_length: HEADER_LENGTH_BYTES_MAX + 1
            })
        );
        assert!(FramePrefix::new(SerializeType::Json, 0, i32::MAX as usize).is_err());
        assert!(FramePrefix::new(SerializeType::Json, 0, i32::MAX as usize - 4).is_ok());
    }
}
