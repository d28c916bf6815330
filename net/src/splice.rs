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

impl FileSlice {
    /// Appends the range's bytes to `buf` without blocking the shard on
    /// the disk. A `preadv2` with `RWF_NOWAIT` takes what the page cache
    /// holds (a consumer keeping up: a memory copy); the rest, a cold
    /// read, is read on glommio's blocking thread pool while the shard
    /// serves its other connections. On error `buf` is as it was.
    pub async fn copy_into(&self, buf: &mut bytes::BytesMut) -> io::Result<()> {
        let start = buf.len();
        let len = self.len as usize;
        buf.resize(start + len, 0);
        let cached = match read_cached(self.fd, &mut buf[start..], self.offset) {
            Ok(n) => n,
            Err(e) => {
                buf.truncate(start);
                return Err(e);
            }
        };
        if cached == len {
            return Ok(());
        }
        // SAFETY: `self.owner` keeps `self.fd` open for this call; the
        // duplicate is owned by the closure and closed when it ends.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(self.fd) }.try_clone_to_owned();
        let offset = self.offset + cached as u64;
        let rest = len - cached;
        let read = match fd {
            Ok(fd) => {
                glommio::executor()
                    .spawn_blocking(move || {
                        use std::os::unix::fs::FileExt;
                        let file = std::fs::File::from(fd);
                        let mut bytes = vec![0u8; rest];
                        file.read_exact_at(&mut bytes, offset).map(|()| bytes)
                    })
                    .await
            }
            Err(e) => Err(e),
        };
        match read {
            Ok(bytes) => {
                buf[start + cached..].copy_from_slice(&bytes);
                Ok(())
            }
            Err(e) => {
                buf.truncate(start);
                Err(e)
            }
        }
    }
}

/// Reads into `out` from `offset` what the page cache holds, without
/// waiting for the disk (`RWF_NOWAIT`): the bytes read, fewer than
/// `out.len()` where the cache stops. An error only for a failed read or
/// a file that ends first.
fn read_cached(fd: RawFd, out: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < out.len() {
        let rest = &mut out[done..];
        let iov = libc::iovec {
            iov_base: rest.as_mut_ptr().cast(),
            iov_len: rest.len(),
        };
        let at = libc::off_t::try_from(offset + done as u64)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "offset past off_t"))?;
        // SAFETY: `iov` points into `rest`, which lives for the call; `fd`
        // is open (the caller's contract).
        let n = unsafe { libc::preadv2(fd, &raw const iov, 1, at, libc::RWF_NOWAIT) };
        if n > 0 {
            done += n as usize;
            continue;
        }
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file ends before the range",
            ));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => {}
            // Not cached (or the file system cannot tell without waiting).
            Some(libc::EAGAIN | libc::EOPNOTSUPP) => break,
            _ => return Err(e),
        }
    }
    Ok(done)
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

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::rc::Rc;

    use super::FileSlice;

    /// Cached or not, a range comes back whole after what `buf` held; a
    /// range past the file's end fails and leaves `buf` as it was.
    #[test]
    fn copies_cached_and_cold_ranges_and_refuses_past_the_end() {
        glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .spawn(|| async {
                let mut file = tempfile::tempfile().expect("temp file");
                let content: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
                file.write_all(&content).expect("write");
                file.sync_all().expect("sync");
                let fd = file.as_raw_fd();
                let owner: Rc<dyn std::any::Any> = Rc::new(file);
                let slice = |offset: u64, len: u32| FileSlice {
                    fd,
                    offset,
                    len,
                    owner: owner.clone(),
                };
                for cold in [false, true] {
                    if cold {
                        // Drop the file's pages: RWF_NOWAIT finds none (on
                        // ext4 here, checked by hand: 0 of 300,000 bytes),
                        // and the read goes to the blocking pool.
                        // SAFETY: a valid descriptor; advice only.
                        let r = unsafe { libc::posix_fadvise(fd, 0, 0, libc::POSIX_FADV_DONTNEED) };
                        assert_eq!(r, 0);
                    }
                    let mut buf = bytes::BytesMut::from(&b"head"[..]);
                    slice(4096 + 17, 300_000)
                        .copy_into(&mut buf)
                        .await
                        .expect("copy");
                    assert_eq!(&buf[..4], b"head");
                    assert_eq!(&buf[4..], &content[4096 + 17..4096 + 17 + 300_000]);
                }
                let mut buf = bytes::BytesMut::from(&b"head"[..]);
                let past = slice(999_000, 2_000).copy_into(&mut buf).await;
                assert!(past.is_err());
                assert_eq!(&buf[..], b"head");
            })
            .expect("executor starts")
            .join()
            .expect("test runs");
    }
}
