//! An async, pipelined request/response client on glommio: the broker uses
//! it to forward requests to the shard that owns their queue, and `mqbench`
//! to drive brokers.
//!
//! Lives on the executor that created it. One connection to one address,
//! opened on first use and reopened after a failure; requests are pipelined
//! and matched to responses by opaque. At most [`REQUESTS_IN_FLIGHT_MAX`]
//! requests wait at once; more wait for room. With a [`ClientTls`] the
//! connection is TLS.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::task::{Poll, Waker};

use bytes::BytesMut;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use glommio::sync::Semaphore;

use crate::command::RemotingCommand;
use crate::frame::FrameDecoder;
use crate::tls::ClientTls;

/// A connection's byte stream: plain TCP or TLS over it.
trait Duplex: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin {}
impl<T: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin> Duplex for T {}
type Stream = Box<dyn Duplex>;

/// Requests one client has waiting for a reply at once; callers beyond this
/// wait for room.
pub const REQUESTS_IN_FLIGHT_MAX: u64 = 1024;

#[derive(Default)]
struct Slot {
    reply: Option<Result<RemotingCommand, String>>,
    waker: Option<Waker>,
}

struct Conn {
    writer: RefCell<futures_lite::io::WriteHalf<Stream>>,
    write_lock: Semaphore,
    pending: RefCell<HashMap<i32, Rc<RefCell<Slot>>>>,
    broken: Cell<bool>,
}

impl Conn {
    fn fail_all(&self, why: &str) {
        self.broken.set(true);
        for (_, slot) in self.pending.borrow_mut().drain() {
            let mut s = slot.borrow_mut();
            s.reply = Some(Err(why.to_string()));
            if let Some(w) = s.waker.take() {
                w.wake();
            }
        }
    }
}

/// An async request/response client for one address, living on the
/// executor that made it (not `Send`); replies are matched to requests by
/// opaque, so many requests share one connection.
pub struct PipelinedClient {
    addr: String,
    tls: Option<ClientTls>,
    conn: RefCell<Option<Rc<Conn>>>,
    next_opaque: Cell<i32>,
    room: Semaphore,
}

impl PipelinedClient {
    /// A plain-TCP client for `addr` (`host:port`); connects on first use.
    pub fn new(addr: String) -> PipelinedClient {
        PipelinedClient::with_tls(addr, None)
    }

    /// A client whose connection is TLS when `tls` is given.
    pub fn with_tls(addr: String, tls: Option<ClientTls>) -> PipelinedClient {
        PipelinedClient {
            addr,
            tls,
            conn: RefCell::new(None),
            next_opaque: Cell::new(1),
            room: Semaphore::new(REQUESTS_IN_FLIGHT_MAX),
        }
    }

    async fn connection(&self) -> Result<Rc<Conn>, String> {
        if let Some(c) = self.conn.borrow().as_ref().filter(|c| !c.broken.get()) {
            return Ok(c.clone());
        }
        let stream = TcpStream::connect(self.addr.as_str())
            .await
            .map_err(|e| format!("connecting to {}: {e}", self.addr))?;
        let _ = stream.set_nodelay(true);
        let stream: Stream = match &self.tls {
            None => Box::new(stream),
            Some(tls) => Box::new(
                tls.connect(&self.addr, stream)
                    .await
                    .map_err(|e| format!("TLS handshake with {}: {e}", self.addr))?,
            ),
        };
        let (reader, writer) = futures_lite::io::split(stream);
        let conn = Rc::new(Conn {
            writer: RefCell::new(writer),
            write_lock: Semaphore::new(1),
            pending: RefCell::new(HashMap::new()),
            broken: Cell::new(false),
        });
        glommio::spawn_local(read_responses(reader, conn.clone())).detach();
        *self.conn.borrow_mut() = Some(conn.clone());
        Ok(conn)
    }

    /// Sends a oneway request; nothing comes back.
    #[allow(clippy::await_holding_refcell_ref)] // the writer, under `write_lock`
    pub async fn send_oneway(&self, mut request: RemotingCommand) -> Result<(), String> {
        let conn = self.connection().await?;
        request.opaque = self.next_opaque.get();
        self.next_opaque.set(request.opaque.wrapping_add(1));
        let frame = request.encode().map_err(|e| e.to_string())?;
        let _lock = conn
            .write_lock
            .acquire_permit(1)
            .await
            .map_err(|e| e.to_string())?;
        // `write_lock` makes this the only user of the writer meanwhile.
        let written = write_frame(&mut conn.writer.borrow_mut(), &frame).await;
        written.map_err(|e| {
            conn.fail_all(&format!("writing to {}: {e}", self.addr));
            e.to_string()
        })
    }

    /// Sends `request` (its opaque replaced) and returns the response with
    /// the caller's opaque restored. Cancelling drops the response when it
    /// comes.
    #[allow(clippy::await_holding_refcell_ref)] // the writer, under `write_lock`
    pub async fn invoke(&self, mut request: RemotingCommand) -> Result<RemotingCommand, String> {
        let _room = self
            .room
            .acquire_permit(1)
            .await
            .map_err(|e| e.to_string())?;
        let conn = self.connection().await?;
        let original = request.opaque;
        let opaque = self.next_opaque.get();
        self.next_opaque.set(opaque.wrapping_add(1));
        request.opaque = opaque;
        let frame = request.encode().map_err(|e| e.to_string())?;
        let slot = Rc::new(RefCell::new(Slot::default()));
        conn.pending.borrow_mut().insert(opaque, slot.clone());
        {
            let _lock = conn
                .write_lock
                .acquire_permit(1)
                .await
                .map_err(|e| e.to_string())?;
            // `write_lock` makes this the only user of the writer meanwhile.
            let written = write_frame(&mut conn.writer.borrow_mut(), &frame).await;
            if let Err(e) = written {
                conn.fail_all(&format!("writing to {}: {e}", self.addr));
            }
        }
        let reply = futures_lite::future::poll_fn(|cx| {
            let mut s = slot.borrow_mut();
            match s.reply.take() {
                Some(r) => Poll::Ready(r),
                None => {
                    s.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await;
        conn.pending.borrow_mut().remove(&opaque);
        let mut response = reply?;
        response.opaque = original;
        Ok(response)
    }
}

/// Writes one frame and flushes it: TLS may hold encrypted bytes back
/// until a flush.
async fn write_frame(
    writer: &mut futures_lite::io::WriteHalf<Stream>,
    frame: &[u8],
) -> std::io::Result<()> {
    writer.write_all(frame).await?;
    writer.flush().await
}

async fn read_responses(mut reader: futures_lite::io::ReadHalf<Stream>, conn: Rc<Conn>) {
    let decoder = FrameDecoder::default();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => match RemotingCommand::decode(frame) {
                    Ok(cmd) if cmd.is_response() => {
                        if let Some(slot) = conn.pending.borrow_mut().remove(&cmd.opaque) {
                            let mut s = slot.borrow_mut();
                            s.reply = Some(Ok(cmd));
                            if let Some(w) = s.waker.take() {
                                w.wake();
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(e) => return conn.fail_all(&format!("bad reply header: {e}")),
                },
                Ok(None) => break,
                Err(e) => return conn.fail_all(&format!("bad reply frame: {e}")),
            }
        }
        match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => return conn.fail_all("forward connection closed"),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}
