//! Typed custom headers (§7, §9) and the small JSON bodies that belong to the
//! same requests.
//!
//! A custom header travels as the command's flat `extFields` string map. Each
//! struct here names its Java fields exactly (case-sensitive) and converts with
//! [`CommandHeader::from_ext_fields`] / [`CommandHeader::to_ext_fields`].
//!
//! Field typing follows the Java classes: a field of type `T` is required
//! (`@CFNotNull`), `Option<T>` is nullable. Integers travel as decimal text,
//! booleans as `true`/`false` (`1`/`0` accepted). Decoding guarantees: a missing required field or
//! an unparsable value is a [`HeaderError`] naming the field; unknown keys (the
//! 5.x generic `ns`, `nsd`, `oway`, `lo`, ACL fields, ...) are ignored; nothing
//! panics. Encoding writes every required field and every `Some` optional one.

mod admin;
mod body;
mod consumer;
mod namesrv;
mod offset;
mod pop;
mod pull;
mod query;
mod send;
mod transaction;

pub use admin::{
    CreateTopicRequestHeader, DeleteSubscriptionGroupRequestHeader, DeleteTopicRequestHeader,
    GetSubscriptionGroupConfigRequestHeader,
};
pub use body::{
    BatchAck, BatchAckMessageRequestBody, BodyError, ConsumerListBody, LockBatchRequestBody,
    LockBatchResponseBody, MessageQueue, MessageQueueAssignment, QueryAssignmentRequestBody,
    QueryAssignmentResponseBody, SetMessageRequestModeRequestBody, UnlockBatchRequestBody,
    BATCH_ACK_BITMAP_BYTES_MAX,
};
pub use consumer::{
    ConsumerSendMsgBackRequestHeader, GetConsumerListByGroupRequestHeader,
    NotifyConsumerIdsChangedRequestHeader, UnregisterClientRequestHeader,
};
pub use namesrv::{
    GetRouteInfoRequestHeader, RegisterBrokerRequestHeader, RegisterBrokerResponseHeader,
    UnregisterBrokerRequestHeader,
};
pub use offset::{
    GetEarliestMsgStoretimeRequestHeader, GetEarliestMsgStoretimeResponseHeader,
    GetMaxOffsetRequestHeader, GetMinOffsetRequestHeader, OffsetResponseHeader,
    QueryConsumerOffsetRequestHeader, SearchOffsetRequestHeader, UpdateConsumerOffsetRequestHeader,
};
pub use pop::{
    AckMessageRequestHeader, ChangeInvisibleTimeRequestHeader, ChangeInvisibleTimeResponseHeader,
    PopMessageRequestHeader, PopMessageResponseHeader,
};
pub use pull::{pull_sys_flag, PullMessageRequestHeader, PullMessageResponseHeader};
pub use query::{QueryMessageRequestHeader, QueryMessageResponseHeader, ViewMessageRequestHeader};
pub use send::{SendMessageRequestHeader, SendMessageRequestHeaderV2, SendMessageResponseHeader};
pub use transaction::{CheckTransactionStateRequestHeader, EndTransactionRequestHeader};

use crate::command::ExtFields;

/// Longest prefix of an offending value quoted in a [`HeaderError`], so a
/// hostile peer cannot make log lines arbitrarily long.
const QUOTED_VALUE_CHARS_MAX: usize = 64;

/// A custom header that does not match its Java class.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// A field the Java class requires is absent (Java would throw
    /// `RemotingCommandException`).
    #[error("required header field `{field}` is missing")]
    Missing {
        /// The ext-field key.
        field: &'static str,
    },
    /// A field is present but its text does not parse as its type.
    #[error("header field `{field}` = {value:?} is not a valid {expected}")]
    Invalid {
        /// The ext-field key.
        field: &'static str,
        /// The received text, cut to a loggable length.
        value: String,
        /// The type the text should have had, for the message.
        expected: &'static str,
    },
}

/// A typed view of a command's `extFields`.
pub trait CommandHeader: Sized {
    /// Reads the header; fails on a missing required field or unparsable text.
    /// Unknown keys are ignored.
    fn from_ext_fields(fields: &ExtFields) -> Result<Self, HeaderError>;

    /// Adds this header's fields to `fields`, replacing same-named entries.
    fn write_ext_fields(&self, fields: &mut ExtFields);

    /// This header's fields as a fresh map.
    fn to_ext_fields(&self) -> ExtFields {
        let mut fields = ExtFields::new();
        self.write_ext_fields(&mut fields);
        fields
    }
}

/// How one struct field maps to one ext-field entry. Implemented for the value
/// types Java headers use and their `Option`s; `Option` is what makes a field
/// optional.
pub trait HeaderField: Sized {
    /// Reads the entry `key`; a missing entry is an error unless `Self` is
    /// an `Option`.
    fn read(fields: &ExtFields, key: &'static str) -> Result<Self, HeaderError>;
    /// Sets the entry `key` to this value's text; `None` writes nothing.
    fn write(&self, fields: &mut ExtFields, key: &'static str);
}

/// A value with a text form in ext fields.
trait HeaderScalar: Sized {
    const EXPECTED: &'static str;
    fn parse(text: &str) -> Option<Self>;
    fn render(&self) -> String;
}

impl HeaderScalar for String {
    const EXPECTED: &'static str = "string";
    fn parse(text: &str) -> Option<Self> {
        Some(text.to_owned())
    }
    fn render(&self) -> String {
        self.clone()
    }
}

impl HeaderScalar for i32 {
    const EXPECTED: &'static str = "32-bit integer";
    fn parse(text: &str) -> Option<Self> {
        text.parse().ok()
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

impl HeaderScalar for i64 {
    const EXPECTED: &'static str = "64-bit integer";
    fn parse(text: &str) -> Option<Self> {
        text.parse().ok()
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

impl HeaderScalar for bool {
    const EXPECTED: &'static str = "boolean (true/false, or 1/0)";
    // Java's Boolean.parseBoolean reads anything but "true" as false. The
    // C++ client (rocketmq-client-cpp, inside PyPI `rocketmq`) sends some
    // flags as `0`/`1` (`unitMode=0`), read here as their integer meaning;
    // other text is reported rather than silently read as false.
    fn parse(text: &str) -> Option<Self> {
        if text.eq_ignore_ascii_case("true") || text == "1" {
            Some(true)
        } else if text.eq_ignore_ascii_case("false") || text == "0" {
            Some(false)
        } else {
            None
        }
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

fn parse_scalar<T: HeaderScalar>(key: &'static str, text: &str) -> Result<T, HeaderError> {
    T::parse(text).ok_or_else(|| HeaderError::Invalid {
        field: key,
        value: text.chars().take(QUOTED_VALUE_CHARS_MAX).collect(),
        expected: T::EXPECTED,
    })
}

macro_rules! header_field_impls {
    ($($ty:ty),*) => {$(
        impl HeaderField for $ty {
            fn read(fields: &ExtFields, key: &'static str) -> Result<Self, HeaderError> {
                let text = fields.get(key).ok_or(HeaderError::Missing { field: key })?;
                parse_scalar(key, text)
            }
            fn write(&self, fields: &mut ExtFields, key: &'static str) {
                fields.insert(key.to_owned(), self.render());
            }
        }

        impl HeaderField for Option<$ty> {
            fn read(fields: &ExtFields, key: &'static str) -> Result<Self, HeaderError> {
                fields.get(key).map(|text| parse_scalar(key, text)).transpose()
            }
            fn write(&self, fields: &mut ExtFields, key: &'static str) {
                if let Some(value) = self {
                    fields.insert(key.to_owned(), value.render());
                }
            }
        }
    )*};
}

header_field_impls!(String, i32, i64, bool);

/// Declares a header struct whose fields map one-to-one onto ext-field keys:
///
/// ```text
/// command_header! {
///     /// doc
///     pub struct ExampleHeader {
///         topic: String = "topic",            // required
///         queue_id: Option<i32> = "queueId",  // optional
///     }
/// }
/// ```
macro_rules! command_header {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $($(#[$field_meta:meta])* $field:ident : $ty:ty = $key:literal,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            $($(#[$field_meta])* pub $field: $ty,)*
        }

        impl $name {
            /// The ext-field keys of this header, in declaration order.
            pub const KEYS: &'static [&'static str] = &[$($key),*];
        }

        impl $crate::header::CommandHeader for $name {
            fn from_ext_fields(
                fields: &$crate::command::ExtFields,
            ) -> Result<Self, $crate::header::HeaderError> {
                Ok($name {
                    $($field: $crate::header::HeaderField::read(fields, $key)?,)*
                })
            }

            fn write_ext_fields(&self, fields: &mut $crate::command::ExtFields) {
                $($crate::header::HeaderField::write(&self.$field, fields, $key);)*
            }
        }
    };
}
pub(crate) use command_header;

#[cfg(test)]
mod tests;
