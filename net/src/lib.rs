//! RingMQ's implementation of Apache RocketMQ's "remoting" wire protocol.
//!
//! This crate owns the byte-level codec: frames ([`frame`]), commands and their
//! JSON / ROCKETMQ binary headers ([`command`]), request and response codes
//! ([`code`]), typed custom headers and small JSON bodies ([`header`]), and the
//! message-level encodings that travel inside requests ([`message`]).
//!
//! Guarantees, for every decoder in this crate: input is untrusted; a decoder
//! never panics, never reads past the bytes it was given, and never allocates
//! from a length it has not first checked against the bytes actually present or
//! against a configured maximum. Malformed input is a returned error with enough
//! context to log; what to do about it (error response or closed connection) is
//! the caller's decision.
//!
//! The byte-exact reference is `shared/spec/remoting-protocol.md`; section
//! numbers in comments (`§2`, `§10.5`, ...) point there.

#![warn(missing_docs)]

pub mod acl;
pub mod client;
pub mod code;
pub mod command;
pub mod cpus;
pub mod fastjson;
pub mod frame;
pub mod ha;
pub mod header;
pub mod message;
pub mod pipelined;
pub mod server;
pub mod splice;
pub mod tls;

pub use code::{LanguageCode, RequestCode, ResponseCode};
pub use command::{CommandDecodeError, CommandEncodeError, ExtFields, RemotingCommand};
pub use frame::{Frame, FrameDecoder, FrameError, SerializeType, FRAME_SIZE_BYTES_MAX_DEFAULT};
pub use header::{CommandHeader, HeaderError};
