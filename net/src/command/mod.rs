//! `RemotingCommand` (§4): the one message type of the protocol, with its two
//! header serializations, JSON ([`json`], §3.1) and ROCKETMQ binary
//! ([`binary`], §3.2).
//!
//! This module owns the mapping between a decoded [`Frame`] and a command, and
//! the encoding of a command into a frame. Decoding guarantees: the header is
//! parsed from exactly the bytes the frame gave it, every length is checked
//! against the bytes remaining, and any malformation is a
//! [`CommandDecodeError`]. Encoding guarantees: a command whose fields do not fit
//! the chosen serialization (a code above 32767 in a binary header, an oversize
//! header) is refused with a [`CommandEncodeError`] and leaves the destination
//! buffer as it was, instead of being silently truncated as Java does.
//!
//! The body is never copied by decoding (it is a slice of the frame) and can be
//! left out of encoding ([`RemotingCommand::encode_header_to`]) so a server can
//! send the body straight from a file.

pub mod binary;
pub mod json;

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};

use crate::code::{version, LanguageCode};
use crate::frame::{Frame, FrameEncodeError, FramePrefix, SerializeType};

/// The custom header: a flat string map (§7). Ordered so encodings are
/// deterministic; peers do not care about order.
pub type ExtFields = BTreeMap<String, String>;

/// `flag` bit 0: the command is a response.
pub const FLAG_RESPONSE: i32 = 0x1;
/// `flag` bit 1: a request that must not be answered, not even with an error.
pub const FLAG_ONEWAY: i32 = 0x2;

/// A header that could not be parsed. The frame boundary is intact, so a server
/// may answer with an error response before closing, but Java peers close the
/// connection on these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandDecodeError {
    /// The JSON header is not a JSON object or does not deserialize into a command.
    #[error("JSON header: {reason}")]
    Json {
        /// What was wrong, for logs.
        reason: String,
    },
    /// A binary header field runs past the end of the header bytes.
    #[error("binary header: field `{field}` needs {needed} bytes at offset {offset}, only {available} remain")]
    BinaryTruncated {
        /// Name of the field.
        field: &'static str,
        /// Byte offset of the field in the header.
        offset: usize,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left in the header from `offset`.
        available: usize,
    },
    /// A binary header length field is negative.
    #[error("binary header: field `{field}` at offset {offset} has negative length {length}")]
    BinaryNegativeLength {
        /// Name of the length field.
        field: &'static str,
        /// Byte offset of the length field in the header.
        offset: usize,
        /// The length as read.
        length: i32,
    },
    /// A binary header string (remark, ext-field key or value) is not UTF-8.
    #[error("binary header: field `{field}` at offset {offset} is not valid UTF-8")]
    BinaryInvalidUtf8 {
        /// Name of the field.
        field: &'static str,
        /// Byte offset of the string in the header.
        offset: usize,
    },
}

/// A command that cannot be represented in its chosen serialization.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandEncodeError {
    /// The code does not fit the binary header's 16-bit code field.
    #[error("code {code} does not fit the binary header's 16-bit code field; use a JSON header")]
    CodeOutOfRange {
        /// The command's code.
        code: i32,
    },
    /// The version does not fit the binary header's 16-bit version field.
    #[error("version {version} does not fit the binary header's 16-bit version field")]
    VersionOutOfRange {
        /// The command's version.
        version: i32,
    },
    /// An ext-field key is too long for the binary header's 16-bit key length.
    #[error(
        "ext field key of {key_length} bytes does not fit the binary header's 16-bit key length"
    )]
    ExtKeyTooLong {
        /// Length of the key, in bytes.
        key_length: usize,
    },
    /// The encoded header or the whole frame does not fit the frame's length fields.
    #[error(transparent)]
    Frame(#[from] FrameEncodeError),
}

/// One request or response (§4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotingCommand {
    /// Request code ([`crate::RequestCode`]) or response code
    /// ([`crate::ResponseCode`]); [`RemotingCommand::is_response`] says which.
    pub code: i32,
    /// Implementation language of the sender; peers only log it.
    pub language: LanguageCode,
    /// The sender's `MQVersion` ordinal ([`crate::code::version`]).
    pub version: i32,
    /// Request id, copied into the response.
    pub opaque: i32,
    /// Bit field: [`FLAG_RESPONSE`], [`FLAG_ONEWAY`].
    pub flag: i32,
    /// Free text, usually the error message of a failed response.
    pub remark: Option<String>,
    /// The custom header (§7), typed through [`crate::header`].
    pub ext_fields: ExtFields,
    /// The body; empty when the command has none.
    pub body: Bytes,
    /// The header serialization this command arrived with or will be sent with.
    pub serialize_type: SerializeType,
}

impl RemotingCommand {
    /// A request with the current version, JSON header and no body. The caller
    /// assigns `opaque`.
    ///
    /// `language` defaults to `JAVA`, what a Java broker sends: peers only log
    /// the field, and a value they have never seen from a server gains nothing.
    pub fn request(code: i32, ext_fields: ExtFields) -> RemotingCommand {
        RemotingCommand {
            code,
            language: LanguageCode::Java,
            version: version::CURRENT,
            opaque: 0,
            flag: 0,
            remark: None,
            ext_fields,
            body: Bytes::new(),
            serialize_type: SerializeType::Json,
        }
    }

    /// A response not yet tied to a request (`opaque` 0, JSON header).
    pub fn response(code: i32, remark: Option<String>) -> RemotingCommand {
        RemotingCommand {
            flag: FLAG_RESPONSE,
            remark,
            ..RemotingCommand::request(code, ExtFields::new())
        }
    }

    /// The response to `request`: same `opaque`, and the same header
    /// serialization, which every known client accepts (§3.3).
    pub fn response_to(request: &RemotingCommand, code: i32) -> RemotingCommand {
        RemotingCommand {
            opaque: request.opaque,
            serialize_type: request.serialize_type,
            ..RemotingCommand::response(code, None)
        }
    }

    /// This command with `opaque` set.
    pub fn with_opaque(mut self, opaque: i32) -> RemotingCommand {
        self.opaque = opaque;
        self
    }

    /// This command with `remark` set.
    pub fn with_remark(mut self, remark: impl Into<String>) -> RemotingCommand {
        self.remark = Some(remark.into());
        self
    }

    /// This command with its body replaced.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> RemotingCommand {
        self.body = body.into();
        self
    }

    /// This command with its ext fields replaced.
    pub fn with_ext_fields(mut self, ext_fields: ExtFields) -> RemotingCommand {
        self.ext_fields = ext_fields;
        self
    }

    /// This command, to be encoded with `serialize_type`'s header.
    pub fn with_serialize_type(mut self, serialize_type: SerializeType) -> RemotingCommand {
        self.serialize_type = serialize_type;
        self
    }

    /// This command with [`FLAG_ONEWAY`] set, so the peer sends no response.
    pub fn mark_oneway(mut self) -> RemotingCommand {
        self.flag |= FLAG_ONEWAY;
        self
    }

    /// Whether [`FLAG_RESPONSE`] is set.
    pub fn is_response(&self) -> bool {
        self.flag & FLAG_RESPONSE != 0
    }

    /// Whether [`FLAG_ONEWAY`] is set.
    pub fn is_oneway(&self) -> bool {
        self.flag & FLAG_ONEWAY != 0
    }

    /// One ext field, for handlers that need a single value without a typed
    /// header.
    pub fn ext_field(&self, key: &str) -> Option<&str> {
        self.ext_fields.get(key).map(String::as_str)
    }

    /// Decodes the command carried by `frame`; the body is the frame's body,
    /// shared, not copied.
    pub fn decode(frame: Frame) -> Result<RemotingCommand, CommandDecodeError> {
        RemotingCommand::decode_header(frame.serialize_type, &frame.header, frame.body)
    }

    /// Decodes a header of the given serialization and attaches `body`.
    pub fn decode_header(
        serialize_type: SerializeType,
        header: &[u8],
        body: Bytes,
    ) -> Result<RemotingCommand, CommandDecodeError> {
        let mut command = match serialize_type {
            SerializeType::Json => json::decode(header)?,
            SerializeType::RocketMq => binary::decode(header)?,
        };
        command.body = body;
        Ok(command)
    }

    /// Appends the whole frame: prefix, header and `self.body`.
    pub fn encode_to(&self, dst: &mut BytesMut) -> Result<(), CommandEncodeError> {
        self.encode_header_to(self.body.len(), dst)?;
        dst.put_slice(&self.body);
        Ok(())
    }

    /// Appends the frame prefix and header for a frame whose body, of
    /// `body_len` bytes, the caller sends separately (for example by
    /// `sendfile` from the commit log). `self.body` is ignored. On error `dst`
    /// is left as it was.
    pub fn encode_header_to(
        &self,
        body_len: usize,
        dst: &mut BytesMut,
    ) -> Result<(), CommandEncodeError> {
        let start = dst.len();
        // The header length is known only after writing it: reserve the prefix
        // slot and patch it, rather than serializing twice.
        dst.put_bytes(0, FramePrefix::BYTES);
        let written = match self.serialize_type {
            SerializeType::Json => {
                json::encode(self, dst);
                Ok(())
            }
            SerializeType::RocketMq => binary::encode(self, dst),
        };
        let header_length = dst.len() - start - FramePrefix::BYTES;
        let prefix = written.and_then(|()| {
            FramePrefix::new(self.serialize_type, header_length, body_len)
                .map_err(CommandEncodeError::from)
        });
        match prefix {
            Ok(prefix) => {
                prefix.patch(&mut dst[start..]);
                Ok(())
            }
            Err(error) => {
                dst.truncate(start);
                Err(error)
            }
        }
    }

    /// [`RemotingCommand::encode_header_to`] into a fresh buffer.
    pub fn encode_header_for_body_len(&self, body_len: usize) -> Result<Bytes, CommandEncodeError> {
        let mut dst = BytesMut::with_capacity(256);
        self.encode_header_to(body_len, &mut dst)?;
        Ok(dst.freeze())
    }

    /// The whole frame in a fresh buffer.
    pub fn encode(&self) -> Result<Bytes, CommandEncodeError> {
        let mut dst = BytesMut::with_capacity(256 + self.body.len());
        self.encode_to(&mut dst)?;
        Ok(dst.freeze())
    }
}

#[cfg(test)]
mod tests;
