//! The connection loop: one accepted socket on one glommio executor, frames
//! in, replies out.
//!
//! Everything here lives on the shard (executor) that accepted the socket and
//! is reached from other code on that shard through [`Peer`]; nothing is
//! `Send`.
//!
//! A request is handled in two steps. The reader awaits the handler's first
//! step before reading the next frame, so what must happen in arrival order
//! (a send's append to its queue) does; the handler may then hand back a
//! second step ([`Handled::Later`]) that runs as its own task (waiting for a
//! flush, a held long-poll pull), bounded by
//! [`ConnectionLimits::requests_in_flight_max`].
//!
//! Replies leave through the connection's outbox, bounded by
//! [`ConnectionLimits::outbox_replies_max`]; one writer task drains it,
//! coalescing small replies into one socket write. Reply bodies are either
//! bytes or file ranges ([`FileSlice`]) sent by the [`crate::splice`] path
//! without copying through user space.
//!
//! Malformed input (a frame the decoder refuses, a header that does not
//! parse) closes this connection after logging why; no other connection
//! notices.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use bytes::BytesMut;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use glommio::sync::Semaphore;

use crate::code::LanguageCode;
use crate::command::RemotingCommand;
use crate::frame::FrameDecoder;
use crate::splice::{Pipe, Splicer};
use crate::tls::{Admission, ServerTls, TlsMode};

/// Re-exported from [`crate::splice`], which sends these ranges, so that
/// `server::FileSlice` paths keep working.
pub use crate::splice::FileSlice;

/// A future owned by the shard that made it.
pub type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// One frame to send: a reply, or a request the server makes of the client.
pub struct Outgoing {
    /// Header, and the body too unless `files` is non-empty.
    pub command: RemotingCommand,
    /// When non-empty, the body is these ranges in order and
    /// `command.body` is ignored.
    pub files: Vec<FileSlice>,
    /// Bytes from memory that follow `files` in the body (a commit log
    /// written with direct I/O serves its last partial block this way).
    pub trailer: bytes::Bytes,
}

impl Outgoing {
    /// A frame whose body, if any, is `command.body`.
    pub fn command(command: RemotingCommand) -> Outgoing {
        Outgoing {
            command,
            files: Vec::new(),
            trailer: bytes::Bytes::new(),
        }
    }
}

/// What a handler's first step decided.
pub enum Handled {
    /// Reply now (or, with `None`, send nothing: oneway requests).
    Now(Option<Outgoing>),
    /// The rest runs as its own task; its output is the reply.
    Later(LocalFuture<Option<Outgoing>>),
}

/// The broker's side of a connection.
pub trait Handler: 'static {
    /// First step of one request, awaited before the next frame is read.
    fn handle(self: Rc<Self>, request: RemotingCommand, peer: Rc<Peer>) -> LocalFuture<Handled>;
    /// The connection is gone; forget what was registered for `peer`.
    fn closed(&self, peer: &Rc<Peer>);
}

/// Per-connection bounds.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Largest frame accepted, in bytes including the 4-byte length prefix;
    /// a larger one closes the connection.
    pub frame_size_bytes_max: usize,
    /// Handler second steps running at once; the reader stops reading beyond
    /// this, which pushes back on the client through TCP.
    pub requests_in_flight_max: u64,
    /// Replies queued for the writer; producers of replies wait beyond this.
    pub outbox_replies_max: u64,
    /// Bytes the writer gathers into one socket write.
    pub write_batch_bytes_max: usize,
    /// A connection that sends nothing for this long is closed
    /// (RocketMQ's `serverChannelMaxIdleTimeSeconds`, 120 s; clients
    /// heartbeat every 30 s).
    pub idle_timeout: Duration,
    /// A peer whose socket takes no bytes for this long (it stopped
    /// reading its replies) is closed, with everything queued for it.
    pub write_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            frame_size_bytes_max: crate::frame::FRAME_SIZE_BYTES_MAX_DEFAULT,
            requests_in_flight_max: 1024,
            outbox_replies_max: 1024,
            write_batch_bytes_max: 256 * 1024,
            idle_timeout: Duration::from_secs(120),
            write_timeout: Duration::from_secs(30),
        }
    }
}

/// Read buffer growth step: the buffer starts at [`READ_START_BYTES`] (an
/// idle connection holds no more) and grows by this much at a time, as
/// bytes arrive, never by a frame's declared length.
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// A new connection's read buffer.
const READ_START_BYTES: usize = 4 * 1024;

/// The replies waiting for the writer task.
struct Outbox {
    queue: RefCell<VecDeque<Outgoing>>,
    writer: Cell<Option<Waker>>,
    space: Semaphore,
    closed: Cell<bool>,
}

/// One connected client, as handlers see it: who it is, and how to send it
/// something. Lives on the shard that accepted the connection.
pub struct Peer {
    /// Unique among the connections of the shard that accepted it.
    pub id: u64,
    /// The client's address, as the socket reports it.
    pub addr: SocketAddr,
    outbox: Outbox,
    next_opaque: Cell<i32>,
    /// The client's language and version, from its last heartbeat (admin
    /// views show them: `consumerConnection`, `producerConnection`).
    client_version: Cell<(LanguageCode, i32)>,
    /// No permits ever: closed with the connection, which wakes every
    /// [`Peer::wait_closed`].
    closing: Semaphore,
}

impl Peer {
    /// Queues a frame; waits while the outbox is full. Returns false if the
    /// connection has closed (the frame is dropped).
    pub async fn send(&self, outgoing: Outgoing) -> bool {
        if self.outbox.closed.get() {
            return false;
        }
        if self.outbox.space.acquire(1).await.is_err() {
            return false;
        }
        self.push(outgoing);
        true
    }

    /// Queues a frame if there is room now; false if full or closed.
    pub fn try_send(&self, outgoing: Outgoing) -> bool {
        if self.outbox.closed.get() || !matches!(self.outbox.space.try_acquire(1), Ok(true)) {
            return false;
        }
        self.push(outgoing);
        true
    }

    fn push(&self, outgoing: Outgoing) {
        self.outbox.queue.borrow_mut().push_back(outgoing);
        if let Some(waker) = self.outbox.writer.take() {
            waker.wake();
        }
    }

    /// Sends a oneway request to the client (NOTIFY_CONSUMER_IDS_CHANGED,
    /// CHECK_TRANSACTION_STATE). Dropped if the outbox is full: these
    /// notifications are hints the client also gets by polling.
    pub fn notify_oneway(&self, request: RemotingCommand) -> bool {
        let opaque = self.next_opaque.get();
        self.next_opaque.set(opaque.wrapping_add(1));
        self.try_send(Outgoing::command(request.with_opaque(opaque).mark_oneway()))
    }

    /// Records the language and version the client's requests carry.
    pub fn set_client_version(&self, language: LanguageCode, version: i32) {
        self.client_version.set((language, version));
    }

    /// The language and version from [`Peer::set_client_version`].
    pub fn client_version(&self) -> (LanguageCode, i32) {
        self.client_version.get()
    }

    /// Whether the connection has closed; frames sent now are dropped.
    pub fn is_closed(&self) -> bool {
        self.outbox.closed.get()
    }

    /// Returns once the connection has closed (a held request waits on it
    /// beside its own wake-ups, so it ends with its connection).
    pub async fn wait_closed(&self) {
        let _ = self.closing.acquire(1).await;
    }

    fn close(&self) {
        self.outbox.closed.set(true);
        self.outbox.space.close();
        self.closing.close();
        if let Some(waker) = self.outbox.writer.take() {
            waker.wake();
        }
    }

    /// Waits for the next batch of queued frames; empty once closed and
    /// drained.
    async fn next_batch(&self) -> Vec<Outgoing> {
        futures_lite::future::poll_fn(|cx| {
            let mut queue = self.outbox.queue.borrow_mut();
            if !queue.is_empty() {
                let batch: Vec<Outgoing> = queue.drain(..).collect();
                return Poll::Ready(batch);
            }
            if self.outbox.closed.get() {
                return Poll::Ready(Vec::new());
            }
            self.outbox.writer.set(Some(cx.waker().clone()));
            Poll::Pending
        })
        .await
    }
}

/// Serves one accepted connection until the client closes it, sends
/// something malformed, or a write fails. Runs on the accepting shard.
pub async fn serve<H: Handler>(
    stream: TcpStream,
    peer_id: u64,
    handler: Rc<H>,
    limits: ConnectionLimits,
    splicer: Rc<Splicer>,
    tls: Rc<ServerTls>,
) {
    let Ok(addr) = stream.peer_addr() else {
        return;
    };
    let _ = stream.set_nodelay(true);
    // Both fail only for a zero duration, which the config refuses.
    let _ = stream.set_read_timeout(Some(limits.idle_timeout));
    let _ = stream.set_write_timeout(Some(limits.write_timeout));
    let socket_fd = stream.as_raw_fd();
    // Zero-copy sends block in a kernel worker; this bounds them.
    if let Err(error) = crate::splice::set_send_timeout(socket_fd, limits.write_timeout) {
        tracing::warn!(%error, "no send timeout on a client socket; closing it");
        return;
    }
    let admission = if tls.mode == TlsMode::Disabled {
        Admission::Plain
    } else {
        // TLS or plain, from the first byte (within the idle timeout).
        let mut first = [0u8; 1];
        match stream.peek(&mut first).await {
            Ok(1) => tls.decide(first[0]),
            _ => return,
        }
    };
    let peer = Rc::new(Peer::new(peer_id, addr, limits.outbox_replies_max));
    match admission {
        Admission::Plain => {
            run_connection(stream, peer, handler, limits, Some((socket_fd, splicer))).await;
        }
        Admission::Tls(config) => {
            let acceptor = futures_rustls::TlsAcceptor::from(config);
            let handshake = async { acceptor.accept(stream).await.ok() };
            let deadline = async {
                glommio::timer::sleep(limits.idle_timeout).await;
                None
            };
            match futures_lite::future::or(handshake, deadline).await {
                Some(tls_stream) => run_connection(tls_stream, peer, handler, limits, None).await,
                None => tracing::info!(peer = %addr, "TLS handshake failed or timed out; closing"),
            }
        }
        Admission::Refuse => {
            tracing::warn!(peer = %addr, "plain connection refused: tlsMode=enforcing");
        }
    }
}

/// Serves one admitted connection: requests from its read half, replies
/// through its write half. `zero_copy`: the socket and splicer when file
/// ranges may be spliced (plain TCP); None copies them (TLS).
async fn run_connection<S, H>(
    stream: S,
    peer: Rc<Peer>,
    handler: Rc<H>,
    limits: ConnectionLimits,
    zero_copy: Option<(RawFd, Rc<Splicer>)>,
) where
    S: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin + 'static,
    H: Handler,
{
    let (reader, writer) = futures_lite::io::split(stream);
    let writer_task =
        glommio::spawn_local(write_loop(writer, peer.clone(), limits, zero_copy)).detach();
    let reason = read_loop(reader, &peer, &handler, limits).await;
    tracing::debug!(peer = %peer.addr, reason, "connection closed");
    handler.closed(&peer);
    // Let queued replies (an error response, say) go out before closing.
    peer.close();
    let _ = writer_task.await;
}

/// Reads frames and hands them to `handler` until the connection ends;
/// returns why it ended, for the log.
async fn read_loop<R: futures_lite::AsyncRead + Unpin, H: Handler>(
    mut reader: R,
    peer: &Rc<Peer>,
    handler: &Rc<H>,
    limits: ConnectionLimits,
) -> &'static str {
    let decoder = FrameDecoder::new(limits.frame_size_bytes_max);
    let in_flight = Rc::new(Semaphore::new(limits.requests_in_flight_max));
    let mut buf = BytesMut::with_capacity(READ_START_BYTES);
    // Whether the last read filled all the room it was given: a peer
    // sending fast gets all the buffer's room next time.
    let mut filled = false;
    loop {
        if let Err(reason) = dispatch_frames(&mut buf, &decoder, &in_flight, peer, handler).await {
            return reason;
        }
        if let Err(reason) = read_more(&mut reader, &mut buf, &mut filled, peer, limits).await {
            return reason;
        }
    }
}

/// Decodes every whole frame in `buf` and dispatches each request in
/// arrival order; `Err` (why) when the connection must close.
async fn dispatch_frames<H: Handler>(
    buf: &mut BytesMut,
    decoder: &FrameDecoder,
    in_flight: &Rc<Semaphore>,
    peer: &Rc<Peer>,
    handler: &Rc<H>,
) -> Result<(), &'static str> {
    loop {
        let frame = match decoder.decode(buf) {
            Ok(Some(frame)) => frame,
            Ok(None) => return Ok(()),
            Err(error) => {
                tracing::warn!(peer = %peer.addr, %error, "refused frame; closing connection");
                return Err("bad frame");
            }
        };
        let request = match RemotingCommand::decode(frame) {
            Ok(command) => command,
            Err(error) => {
                tracing::warn!(peer = %peer.addr, %error, "undecodable header; closing connection");
                return Err("bad header");
            }
        };
        if request.is_response() {
            // Replies to our oneway notifications are not expected; a
            // client may still answer. Nothing waits for them.
            continue;
        }
        dispatch(request, in_flight, peer, handler).await?;
    }
}

/// Runs a request's first step; queues its reply, or spawns its second
/// step once a request slot is free. `Err` (why) when the connection closed.
async fn dispatch<H: Handler>(
    request: RemotingCommand,
    in_flight: &Rc<Semaphore>,
    peer: &Rc<Peer>,
    handler: &Rc<H>,
) -> Result<(), &'static str> {
    match handler.clone().handle(request, peer.clone()).await {
        Handled::Now(Some(out)) => {
            if !peer.send(out).await {
                return Err("closed while replying");
            }
        }
        Handled::Now(None) => {}
        Handled::Later(rest) => {
            let Ok(permit) = in_flight.clone().acquire_static_permit(1).await else {
                return Err("closed");
            };
            let peer = peer.clone();
            glommio::spawn_local(async move {
                if let Some(out) = rest.await {
                    peer.send(out).await;
                }
                drop(permit);
            })
            .detach();
        }
    }
    Ok(())
}

/// Sizes `buf` for the next read and appends what one read returns;
/// `Err` (why) when the peer closed, went idle or the read failed.
async fn read_more<R: futures_lite::AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut BytesMut,
    filled: &mut bool,
    peer: &Peer,
    limits: ConnectionLimits,
) -> Result<(), &'static str> {
    if buf.is_empty() && buf.capacity() > READ_CHUNK_BYTES {
        // Between requests: give back what a large frame grew.
        *buf = BytesMut::with_capacity(READ_START_BYTES);
    } else if buf.capacity() - buf.len() < READ_START_BYTES {
        buf.reserve(READ_CHUNK_BYTES);
    }
    let start = buf.len();
    // Only the part of the buffer a read may fill is zeroed, and so
    // touched: for a peer that trickles (a slow-loris frame), about
    // what it sent (at least 4 KiB), not the 64 KiB the decoder
    // reserved ahead of the frame's missing bytes.
    let capacity_room = buf.capacity() - start;
    let room = if *filled {
        capacity_room
    } else {
        capacity_room.min(start.max(READ_START_BYTES))
    };
    buf.resize(start + room, 0);
    let n = match reader.read(&mut buf[start..]).await {
        Ok(0) => {
            buf.truncate(start);
            return Err(if start == 0 {
                "peer closed"
            } else {
                "peer closed mid-frame"
            });
        }
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            buf.truncate(start);
            tracing::info!(peer = %peer.addr, idle = ?limits.idle_timeout, "idle connection; closing");
            return Err("idle");
        }
        Err(_) => {
            buf.truncate(start);
            return Err("read error");
        }
    };
    *filled = n == room;
    buf.truncate(start + n);
    Ok(())
}

async fn write_loop<W: futures_lite::AsyncWrite + Unpin>(
    mut writer: W,
    peer: Rc<Peer>,
    limits: ConnectionLimits,
    zero_copy: Option<(RawFd, Rc<Splicer>)>,
) {
    // Grows to what the replies need (about a batch) on first use: an
    // idle connection holds none of it.
    let mut buf = BytesMut::new();
    let mut pipe = None;
    loop {
        let batch = peer.next_batch().await;
        if batch.is_empty() {
            break;
        }
        let count = batch.len() as u64;
        let zero_copy = zero_copy.as_ref().map(|(fd, splicer)| (*fd, &**splicer));
        let ok = write_batch(&mut writer, zero_copy, &mut buf, batch, limits, &mut pipe).await;
        peer.outbox.space.signal(count);
        if !ok {
            break;
        }
    }
    peer.close();
    let _ = writer.close().await;
}

/// Writes frames in order, gathering headers and byte bodies into one buffer
/// and flushing it before each file-range body.
async fn write_batch<W: futures_lite::AsyncWrite + Unpin>(
    writer: &mut W,
    zero_copy: Option<(RawFd, &Splicer)>,
    buf: &mut BytesMut,
    batch: Vec<Outgoing>,
    limits: ConnectionLimits,
    pipe: &mut Option<Pipe>,
) -> bool {
    buf.clear();
    for out in batch {
        if out.command.code != 0 || !out.command.is_response() {
            tracing::debug!(code = out.command.code, remark = ?out.command.remark, response = out.command.is_response(), "non-success reply or request to the client");
        }
        let from_files = !out.files.is_empty() || !out.trailer.is_empty();
        let body_len: usize = if from_files {
            out.files.iter().map(|f| f.len as usize).sum::<usize>() + out.trailer.len()
        } else {
            out.command.body.len()
        };
        if let Err(error) = out.command.encode_header_to(body_len, buf) {
            tracing::error!(%error, code = out.command.code, "reply not encodable; dropped");
            continue;
        }
        if !from_files {
            if buf.len() + out.command.body.len() > limits.write_batch_bytes_max {
                if !flush(writer, buf).await || !write_logged(writer, &out.command.body).await {
                    return false;
                }
            } else {
                buf.extend_from_slice(&out.command.body);
            }
        } else if !write_file_body(writer, zero_copy, buf, &out, limits, pipe).await {
            return false;
        }
        if buf.len() >= limits.write_batch_bytes_max && !flush(writer, buf).await {
            return false;
        }
    }
    flush(writer, buf).await
}

/// Sends `out`'s file ranges, then its trailer, after the bytes gathered
/// in `buf`: a range of at least [`SPLICE_BYTES_MIN`] is spliced (plain
/// TCP), a smaller one, or any on TLS, is copied into `buf`. False when
/// the connection must close.
async fn write_file_body<W: futures_lite::AsyncWrite + Unpin>(
    writer: &mut W,
    zero_copy: Option<(RawFd, &Splicer)>,
    buf: &mut BytesMut,
    out: &Outgoing,
    limits: ConnectionLimits,
    pipe: &mut Option<Pipe>,
) -> bool {
    for slice in &out.files {
        let splice_to = zero_copy.filter(|_| slice.len as usize >= SPLICE_BYTES_MIN);
        let Some((socket_fd, splicer)) = splice_to else {
            // Small ranges (one message of a queue whose records are
            // interleaved with others') are copied: one splice costs
            // two ring round trips, far more than copying a few KiB
            // from the page cache. A TLS connection copies every
            // range: its bytes are encrypted.
            if let Err(error) = slice.copy_into(buf).await {
                tracing::warn!(%error, "reading a file range failed; closing connection");
                return false;
            }
            // Copied ranges of a TLS reply may add up: bounded like
            // byte bodies.
            if buf.len() >= limits.write_batch_bytes_max && !flush(writer, buf).await {
                return false;
            }
            continue;
        };
        if !flush(writer, buf).await {
            return false;
        }
        if pipe.is_none() {
            match Pipe::new() {
                Ok(p) => *pipe = Some(p),
                Err(error) => {
                    tracing::error!(%error, "no pipe for zero-copy sends; closing connection");
                    return false;
                }
            }
        }
        let pipe = pipe.as_ref().expect("created above");
        if let Err(error) = splicer.send_file(slice, socket_fd, pipe).await {
            tracing::warn!(%error, "sending a file range failed; closing connection");
            return false;
        }
    }
    buf.extend_from_slice(&out.trailer);
    true
}

/// File ranges shorter than this are copied into the reply buffer instead
/// of spliced.
pub const SPLICE_BYTES_MIN: usize = 64 * 1024;

async fn flush<W: futures_lite::AsyncWrite + Unpin>(writer: &mut W, buf: &mut BytesMut) -> bool {
    if buf.is_empty() {
        return true;
    }
    let ok = write_logged(writer, buf).await;
    buf.clear();
    ok
}

/// Writes all of `bytes`; false (and a log line for a stalled peer) when
/// the connection cannot take them.
async fn write_logged<W: futures_lite::AsyncWrite + Unpin>(writer: &mut W, bytes: &[u8]) -> bool {
    match writer.write_all(bytes).await {
        Ok(()) => true,
        Err(e) => {
            if e.kind() == std::io::ErrorKind::TimedOut {
                tracing::warn!("a client took no reply bytes within the write timeout; closing it");
            }
            false
        }
    }
}

impl Peer {
    /// A peer whose outbox holds at most `outbox_replies_max` frames.
    /// [`serve`] gives each connection one and runs its writer; a test that
    /// drives a [`Handler`] in process uses one with no connection behind
    /// it, whose outbox is never written.
    pub fn new(id: u64, addr: SocketAddr, outbox_replies_max: u64) -> Peer {
        Peer {
            id,
            addr,
            outbox: Outbox {
                queue: RefCell::new(VecDeque::new()),
                writer: Cell::new(None),
                space: Semaphore::new(outbox_replies_max),
                closed: Cell::new(false),
            },
            next_opaque: Cell::new(1),
            client_version: Cell::new((LanguageCode::Other, 0)),
            closing: Semaphore::new(0),
        }
    }
}
