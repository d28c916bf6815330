//! JSON header decoder; a header that decodes must re-encode and decode to the
//! same command.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use ringmq_net::frame::{FrameDecoder, SerializeType};
use ringmq_net::{CommandEncodeError, RemotingCommand};

fuzz_target!(|data: &[u8]| {
    let Ok(command) = RemotingCommand::decode_header(SerializeType::Json, data, Bytes::new())
    else {
        return;
    };
    // Escaping can grow a header past the 24-bit length field (six bytes per
    // control character); that is the only way re-encoding may fail.
    let wire = match command.encode() {
        Ok(wire) => wire,
        Err(CommandEncodeError::Frame(_)) => return,
        Err(error) => panic!("a decoded JSON header must re-encode: {error}"),
    };
    let frame = FrameDecoder::default()
        .decode(&mut bytes::BytesMut::from(&wire[..]))
        .expect("valid frame")
        .expect("whole frame");
    assert_eq!(RemotingCommand::decode(frame).expect("re-decodes"), command);
});
