//! Message-level encodings that travel inside remoting commands (§10): the
//! properties string, well-known property keys, message sysFlag bits, the
//! SEND_BATCH_MESSAGE body, message ids, and Java's tag hash.
//!
//! Every decoder here takes untrusted bytes, is bounded by its input (and by an
//! explicit maximum where the format allows more than the protocol does), and
//! returns errors rather than panicking.

pub mod batch;
pub mod id;
pub mod properties;
pub mod property;
pub mod stored;
pub mod sys_flag;
pub mod tag;

pub use batch::{decode_batch, encode_batch_record, iter_batch, BatchError, BatchRecord};
pub use id::{MessageIdError, OffsetMessageId, UniqKey, UniqKeyGenerator};
pub use properties::{
    decode_properties, encode_properties, iter_properties, property_value, Properties,
    PropertiesError,
};
pub use tag::java_string_hash;
