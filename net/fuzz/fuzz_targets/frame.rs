//! Frame splitter plus command decoding over an arbitrary byte stream, fed in
//! chunks whose size comes from the first input byte, with a small frame limit
//! so the size check is exercised too.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use ringmq_net::frame::FrameDecoder;
use ringmq_net::RemotingCommand;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let decoder = FrameDecoder::new(4096);
    let mut buffer = BytesMut::new();
    for piece in stream.chunks(usize::from(chunk).max(1)) {
        buffer.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buffer) {
                Ok(Some(frame)) => {
                    let header_length = frame.header.len();
                    let body_length = frame.body.len();
                    assert!(header_length + body_length + 8 <= 4096);
                    if let Ok(command) = RemotingCommand::decode(frame) {
                        // Whatever decodes must encode again.
                        let _ = command.encode();
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
