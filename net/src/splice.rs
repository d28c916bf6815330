//! Zero-copy file → socket sends for pull replies.
//!
//! glommio has no SPLICE, so each shard keeps a second, small io_uring (the
//! io-uring crate) for it. The ring signals completions on an eventfd that
//! a reaper task on the same shard reads through glommio, so waiting for a
//! splice never blocks the executor. A send moves each range file → pipe →
//! socket: the bytes go from the page cache to the socket buffer without
//! passing through user space.
//!
//! Lives on one shard: [`Splicer`] is created by the shard's executor and used
//! only there. Each connection owns its own [`Pipe`], so concurrent sends on
//! one shard never interleave bytes.
//!
//! Cancellation: dropping a send's future leaves any submitted operation to
//! finish in the kernel, which holds its own references to the files; the
//! bytes it moves are then lost to a connection that is being torn down
//! anyway.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::rc::{Rc, Weak};
use std::task::{Poll, Waker};
use std::time::Duration;

use io_uring::{opcode, types, IoUring};

/// Submission-queue entries of the splice ring: two per connection sending
/// at once is plenty; submissions beyond it wait for room.
pub const SPLICE_RING_ENTRIES: u32 = 256;
/// Pipe capacity requested per connection (`F_SETPIPE_SZ`); the kernel may
/// grant less, which only makes chunks smaller.
pub const PIPE_CAPACITY_BYTES: usize = 1 << 20;

/// Bytes of a commit-log file to send as (part of) a reply body. `owner`
/// keeps the file open until the bytes have left.
#[derive(Clone)]
pub struct FileSlice {
    /// The open file; valid while `owner` lives.
    pub fd: RawFd,
    /// Byte position in the file of the range's first byte.
    pub offset: u64,
    /// Bytes in the range; the file must hold all of them, or the send fails.
    pub len: u32,
    /// Whatever keeps `fd` open (the broker's segment handle).
    pub owner: Rc<dyn Any>,
}

/// A pipe owned by one connection's writer.
pub struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    capacity_bytes: usize,
}

impl Pipe {
    /// A close-on-exec pipe sized to [`PIPE_CAPACITY_BYTES`] if the kernel
    /// allows (64 KiB otherwise); fails when the process is out of
    /// descriptors.
    pub fn new() -> io::Result<Pipe> {
        let mut fds = [0; 2];
        // SAFETY: `fds` is a valid two-element array for pipe2 to fill.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded, so both are fresh descriptors we own.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: fcntl on a descriptor we own; failure leaves the default size.
        let granted = unsafe {
            libc::fcntl(
                write.as_raw_fd(),
                libc::F_SETPIPE_SZ,
                PIPE_CAPACITY_BYTES as libc::c_int,
            )
        };
        let capacity_bytes = if granted > 0 {
            granted as usize
        } else {
            64 * 1024
        };
        Ok(Pipe {
            read,
            write,
            capacity_bytes,
        })
    }
}

/// One shard's splice ring.
pub struct Splicer {
    ring: RefCell<IoUring>,
    next_id: Cell<u64>,
    results: RefCell<HashMap<u64, i32>>,
    wakers: RefCell<HashMap<u64, Waker>>,
}

impl Splicer {
    /// Creates the ring and starts its reaper on the current executor.
    pub fn new() -> io::Result<Rc<Splicer>> {
        let ring = IoUring::new(SPLICE_RING_ENTRIES)?;
        // SAFETY: plain syscall; the result is checked.
        let event_fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if event_fd < 0 {
            return Err(io::Error::last_os_error());
        }
        ring.submitter().register_eventfd(event_fd)?;
        // SAFETY: `event_fd` is a fresh descriptor; the BufferedFile owns and
        // closes it.
        let event_file = unsafe { <glommio::io::BufferedFile as FromRawFd>::from_raw_fd(event_fd) };
        let splicer = Rc::new(Splicer {
            ring: RefCell::new(ring),
            next_id: Cell::new(1),
            results: RefCell::new(HashMap::new()),
            wakers: RefCell::new(HashMap::new()),
        });
        glommio::spawn_local(reap(Rc::downgrade(&splicer), event_file)).detach();
        Ok(splicer)
    }

    /// Sends `slice` to `socket` through `pipe`; returns once every byte has
    /// been handed to the socket.
    /// `socket` is a blocking socket with a send timeout
    /// ([`set_send_timeout`]): a socket that takes nothing for that long
    /// (a peer that stopped reading) fails the send with `TimedOut`.
    pub async fn send_file(&self, slice: &FileSlice, socket: RawFd, pipe: &Pipe) -> io::Result<()> {
        let mut offset = slice.offset;
        let mut left = slice.len as usize;
        while left > 0 {
            let chunk = left.min(pipe.capacity_bytes) as u32;
            let filled = self
                .run(
                    opcode::Splice::new(
                        types::Fd(slice.fd),
                        offset as i64,
                        types::Fd(pipe.write.as_raw_fd()),
                        -1,
                        chunk,
                    )
                    .build(),
                )
                .await?;
            if filled == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("file ended at {offset} with {left} bytes of the range unsent"),
                ));
            }
            let mut in_pipe = filled;
            while in_pipe > 0 {
                // The ring runs splices in a kernel worker, which blocks
                // until the socket takes bytes or its SO_SNDTIMEO passes.
                let sent = self
                    .run(
                        opcode::Splice::new(
                            types::Fd(pipe.read.as_raw_fd()),
                            -1,
                            types::Fd(socket),
                            -1,
                            in_pipe as u32,
                        )
                        .build(),
                    )
                    .await;
                match sent {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => in_pipe -= n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "the socket took no bytes within the write timeout (its SO_SNDTIMEO)",
                        ));
                    }
                    Err(e) => return Err(e),
                }
            }
            offset += filled as u64;
            left -= filled;
        }
        Ok(())
    }

    /// Submits one operation and waits for its completion.
    async fn run(&self, entry: io_uring::squeue::Entry) -> io::Result<usize> {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let entry = entry.user_data(id);
        {
            let mut ring = self.ring.borrow_mut();
            loop {
                // SAFETY: the operation references only descriptors (no
                // buffers); the kernel takes its own file references at
                // submission, so nothing it uses can be freed under it.
                let pushed = unsafe { ring.submission().push(&entry) };
                if pushed.is_ok() {
                    break;
                }
                ring.submit()?;
            }
            ring.submit()?;
        }
        self.completion(id).await
    }

    /// Waits for the completion of the operation submitted as `id`.
    async fn completion(&self, id: u64) -> io::Result<usize> {
        let result = futures_lite::future::poll_fn(|cx| {
            if let Some(result) = self.results.borrow_mut().remove(&id) {
                return Poll::Ready(result);
            }
            self.wakers.borrow_mut().insert(id, cx.waker().clone());
            Poll::Pending
        })
        .await;
        if result < 0 {
            Err(io::Error::from_raw_os_error(-result))
        } else {
            Ok(result as usize)
        }
    }

    fn drain_completions(&self) {
        let mut ring = self.ring.borrow_mut();
        let mut results = self.results.borrow_mut();
        let mut wakers = self.wakers.borrow_mut();
        for cqe in ring.completion() {
            let id = cqe.user_data();
            results.insert(id, cqe.result());
            if let Some(waker) = wakers.remove(&id) {
                waker.wake();
            }
        }
    }
}

/// Waits on the ring's eventfd and hands completions to their waiters; ends
/// when the splicer is dropped and the next event arrives.
async fn reap(splicer: Weak<Splicer>, event_file: glommio::io::BufferedFile) {
    loop {
        if let Some(s) = splicer.upgrade() {
            s.drain_completions();
        } else {
            return;
        }
        if event_file.read_at(0, 8).await.is_err() {
            tracing::error!("splice ring eventfd read failed; zero-copy sends stop");
            return;
        }
    }
}

/// Bounds how long a blocking send on `socket` waits for room (SO_SNDTIMEO),
/// which is what ends a splice to a peer that stopped reading.
pub fn set_send_timeout(socket: RawFd, timeout: Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: libc::suseconds_t::from(timeout.subsec_micros()),
    };
    // SAFETY: `tv` is a valid timeval for the length given.
    let r = unsafe {
        libc::setsockopt(
            socket,
            libc::SOL_SOCKET,
            libc::SO_SNDTIMEO,
            (&raw const tv).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
