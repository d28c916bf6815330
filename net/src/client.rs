//! A small blocking client: one connection, one request at a time. Used
//! off the data path, where a thread may block: the broker's registration
//! with name servers, admin tools and tests. TLS when connected with a
//! [`ClientTls`].

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::command::{CommandDecodeError, CommandEncodeError, RemotingCommand};
use crate::frame::{FrameDecoder, FrameError};
use crate::tls::ClientTls;

/// A connection: plain TCP, or TLS over it.
enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// Why a [`BlockingClient`] call failed; `addr` is always the address as given
/// to `connect`.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The address did not resolve, the TCP connect failed or timed out, or
    /// the TLS session could not be set up.
    #[error("connecting to {addr}: {source}")]
    Connect {
        /// The address as given to `connect`.
        addr: String,
        /// The underlying error.
        source: io::Error,
    },
    /// Reading or writing the connection failed.
    #[error("i/o with {addr}: {source}")]
    Io {
        /// The address as given to `connect`.
        addr: String,
        /// The underlying error.
        source: io::Error,
    },
    /// No response arrived before the request's timeout.
    #[error("no reply from {addr} within {timeout_ms} ms")]
    Timeout {
        /// The address as given to `connect`.
        addr: String,
        /// The request's timeout, in milliseconds.
        timeout_ms: u64,
    },
    /// The peer closed the connection before the response arrived.
    #[error("{addr} closed the connection")]
    Closed {
        /// The address as given to `connect`.
        addr: String,
    },
    /// The peer sent bytes that are not a valid frame.
    #[error("bad frame from {addr}: {source}")]
    Frame {
        /// The address as given to `connect`.
        addr: String,
        /// What was wrong with the frame.
        source: FrameError,
    },
    /// The peer sent a frame whose command header does not parse.
    #[error("bad header from {addr}: {source}")]
    Decode {
        /// The address as given to `connect`.
        addr: String,
        /// What was wrong with the header.
        source: CommandDecodeError,
    },
    /// The request could not be encoded; nothing was sent.
    #[error(transparent)]
    Encode(#[from] CommandEncodeError),
}

/// A blocking connection to one broker or name server that sends one request
/// at a time and assigns each its `opaque`, counting up from 1.
pub struct BlockingClient {
    stream: Stream,
    addr: String,
    decoder: FrameDecoder,
    buf: BytesMut,
    next_opaque: i32,
}

impl BlockingClient {
    /// Connects over plain TCP to `addr` (`host:port`, first resolved address),
    /// waiting at most `timeout`.
    pub fn connect(addr: &str, timeout: Duration) -> Result<BlockingClient, ClientError> {
        BlockingClient::connect_with(addr, timeout, None)
    }

    /// [`BlockingClient::connect`], over TLS when `tls` is given (the
    /// handshake runs with the first request, within its timeout).
    pub fn connect_with(
        addr: &str,
        timeout: Duration,
        tls: Option<&ClientTls>,
    ) -> Result<BlockingClient, ClientError> {
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
        let stream = match tls {
            None => Stream::Plain(stream),
            Some(tls) => {
                let session = tls.session(addr).map_err(connect_err)?;
                Stream::Tls(Box::new(rustls::StreamOwned::new(session, stream)))
            }
        };
        Ok(BlockingClient {
            stream,
            addr: addr.to_string(),
            decoder: FrameDecoder::default(),
            buf: BytesMut::with_capacity(64 * 1024),
            next_opaque: 1,
        })
    }

    /// The address as given to `connect`.
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
        let deadline = Instant::now() + timeout;
        self.write_within(&frame, deadline)?;
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
        self.write_raw(&frame)
    }

    /// Writes raw bytes (tests of malformed input).
    pub fn write_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.stream.write_all(bytes).map_err(|e| self.io_err(e))?;
        self.stream.flush().map_err(|e| self.io_err(e))
    }

    /// Writes a frame, giving up at `deadline` (a TLS handshake reads
    /// from the server while it writes).
    fn write_within(&mut self, frame: &[u8], deadline: Instant) -> Result<(), ClientError> {
        let left = deadline.saturating_duration_since(Instant::now());
        let tcp = self.stream.tcp();
        tcp.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .and_then(|()| tcp.set_write_timeout(Some(left.max(Duration::from_millis(1)))))
            .map_err(|e| self.io_err(e))?;
        self.write_raw(frame)
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
                .tcp()
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
