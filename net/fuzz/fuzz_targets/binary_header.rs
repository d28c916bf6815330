//! ROCKETMQ binary header decoder; a header that decodes must re-encode and
//! decode to the same command (code and version fit 16 bits by construction).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use ringmq_net::frame::{FrameDecoder, SerializeType};
use ringmq_net::RemotingCommand;

fuzz_target!(|data: &[u8]| {
    let Ok(command) = RemotingCommand::decode_header(SerializeType::RocketMq, data, Bytes::new())
    else {
        return;
    };
    let wire = command
        .encode()
        .expect("a decoded binary header re-encodes");
    let frame = FrameDecoder::default()
        .decode(&mut bytes::BytesMut::from(&wire[..]))
        .expect("valid frame")
        .expect("whole frame");
    assert_eq!(RemotingCommand::decode(frame).expect("re-decodes"), command);
});
