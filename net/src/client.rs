//! A small blocking client: one connection, one request at a time. Used
//! off the data path, where a thread may block: the broker's registration
//! with name servers, admin tools and tests.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::command::{CommandDecodeError, CommandEncodeError, RemotingCommand};
use crate::frame::{FrameDecoder, FrameError};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connecting to {addr}: {source}")]
    Connect { addr: String, source: io::Error },
    #[error("i/o with {addr}: {source}")]
    Io { addr: String, source: io::Error },
    #[error("no reply from {addr} within {timeout_ms} ms")]
    Timeout { addr: String, timeout_ms: u64 },
    #[error("{addr} closed the connection")]
    Closed { addr: String },
    #[error("bad frame from {addr}: {source}")]
    Frame { addr: String, source: FrameError },
    #[error("bad header from {addr}: {source}")]
    Decode {
        addr: String,
        source: CommandDecodeError,
    },
    #[error(transparent)]
    Encode(#[from] CommandEncodeError),
}

pub struct BlockingClient {
    stream: TcpStream,
    addr: String,
    decoder: FrameDecoder,
    buf: BytesMut,
    next_opaque: i32,
}

impl BlockingClient {
    pub fn connect(addr: &str, timeout: Duration) -> Result<BlockingClient, ClientError> {
        let connect_err = |source| ClientError::Connect {
            addr: addr.to_string(),
            source,
        };
        let sock: SocketAddr = addr
            .to_socket_addrs()
            .map_err(connect_err)?
            .next()
            .ok_or_else(|| connect_err(io::ErrorKind::NotFound.into()))?;
        let stream = TcpStream::connect_timeout(&sock, timeout).map_err(connect_err)?;
        let _ = stream.set_nodelay(true);
        Ok(BlockingClient {
            stream,
            addr: addr.to_string(),
            decoder: FrameDecoder::default(),
            buf: BytesMut::with_capacity(64 * 1024),
            next_opaque: 1,
        })
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    fn io_err(&self, source: io::Error) -> ClientError {
        ClientError::Io {
            addr: self.addr.clone(),
            source,
        }
    }

    /// Sends a request and waits for the response with its opaque; frames
    /// with other opaques (server-initiated requests) are skipped.
    pub fn invoke(
        &mut self,
        request: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, ClientError> {
        let opaque = self.next_opaque;
        self.next_opaque = self.next_opaque.wrapping_add(1);
        let frame = request.with_opaque(opaque).encode()?;
        self.stream.write_all(&frame).map_err(|e| self.io_err(e))?;
        let deadline = Instant::now() + timeout;
        loop {
            let response = self.read_command(deadline, timeout)?;
            if response.is_response() && response.opaque == opaque {
                return Ok(response);
            }
        }
    }

    /// Sends a request marked oneway; nothing comes back.
    pub fn send_oneway(&mut self, request: RemotingCommand) -> Result<(), ClientError> {
        let opaque = self.next_opaque;
        self.next_opaque = self.next_opaque.wrapping_add(1);
        let frame = request.with_opaque(opaque).mark_oneway().encode()?;
        self.stream.write_all(&frame).map_err(|e| self.io_err(e))
    }

    /// Writes raw bytes (tests of malformed input).
    pub fn write_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.stream.write_all(bytes).map_err(|e| self.io_err(e))
    }

    /// Reads the next command, whatever it is.
    pub fn read_command(
        &mut self,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<RemotingCommand, ClientError> {
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(frame)) => {
                    return RemotingCommand::decode(frame).map_err(|source| ClientError::Decode {
                        addr: self.addr.clone(),
                        source,
                    })
                }
                Ok(None) => {}
                Err(source) => {
                    return Err(ClientError::Frame {
                        addr: self.addr.clone(),
                        source,
                    })
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ClientError::Timeout {
                    addr: self.addr.clone(),
                    timeout_ms: timeout.as_millis() as u64,
                });
            }
            self.stream
                .set_read_timeout(Some(deadline - now))
                .map_err(|e| self.io_err(e))?;
            let mut chunk = [0u8; 16 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(ClientError::Closed {
                        addr: self.addr.clone(),
                    })
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut => {}
                Err(e) => return Err(self.io_err(e)),
            }
        }
    }
}
