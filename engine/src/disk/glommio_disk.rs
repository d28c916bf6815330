//! The real disk: files driven by glommio's io_uring reactor.
//!
//! Buffered (page-cache) I/O by default: consumers that keep up are served
//! from the page cache by splice, which needs the bytes there. Direct I/O
//! (`write_direct`, for `StoreConfig::direct_io`) opens the same file a
//! second time with O_DIRECT, and a third time with O_DIRECT | O_DSYNC for
//! durable writes. Directory listing, creation and removal go through
//! `std::fs`: they happen at start-up, on segment roll and on retention,
//! never per message.
//!
//! Every handle belongs to the glommio executor (shard) that opened it.

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use glommio::io::{BufferedFile, DmaBuffer, DmaFile, OpenOptions};

use super::{Disk, DiskFile, DiskUsage, Durability};

/// Writes of at least this size go through io_uring instead of `pwrite`
/// (segment pre-writing issues 1 MiB writes; appends are usually at most
/// 256 KiB).
const BULK_WRITE_BYTES_MIN: usize = 1 << 20;

/// The real [`Disk`]: the local file system, through the current glommio
/// executor. Stateless; usable only on a glommio executor thread.
#[derive(Clone, Copy, Debug, Default)]
pub struct GlommioDisk;

thread_local! {
    /// The zeros segment fills write; the last size asked for.
    static ZEROS: RefCell<Option<Rc<DmaBuffer>>> = const { RefCell::new(None) };
}

/// A file opened by [`GlommioDisk`]: a buffered handle, plus O_DIRECT
/// handles opened on first use.
pub struct GlommioFile {
    file: BufferedFile,
    path: PathBuf,
    /// The same file opened with O_DIRECT, on first direct write.
    direct: RefCell<Option<Rc<DmaFile>>>,
    /// The same file opened with O_DIRECT | O_DSYNC, on first durable
    /// direct write. glommio has no per-write RWF_DSYNC, hence a second
    /// descriptor.
    direct_dsync: RefCell<Option<Rc<DmaFile>>>,
}

impl GlommioFile {
    async fn dma_handle(&self, durability: Durability) -> io::Result<Rc<DmaFile>> {
        let slot = match durability {
            Durability::Written => &self.direct,
            Durability::Durable => &self.direct_dsync,
        };
        if let Some(f) = slot.borrow().clone() {
            return Ok(f);
        }
        let mut options = OpenOptions::new();
        options.write(true);
        if durability == Durability::Durable {
            options.custom_flags(libc::O_DSYNC);
        }
        let f = Rc::new(options.dma_open(&self.path).await.map_err(to_io)?);
        *slot.borrow_mut() = Some(f.clone());
        Ok(f)
    }
}

/// A short O_DIRECT write is an error: the buffer went to the kernel, and
/// the caller poisons the log or reports the disk full.
fn whole_direct_write(written: usize, len: usize, pos: u64) -> io::Result<()> {
    if written == len {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::WriteZero,
        format!("short direct write: {written} of {len} bytes at {pos}"),
    ))
}

fn to_io(err: glommio::GlommioError<()>) -> io::Error {
    match err {
        glommio::GlommioError::IoError(e) => e,
        glommio::GlommioError::EnhancedIoError { source, .. } => source,
        other => io::Error::other(other.to_string()),
    }
}

impl Disk for GlommioDisk {
    type File = GlommioFile;

    async fn open(&self, path: &Path, create: bool) -> io::Result<Rc<GlommioFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .buffered_open(path)
            .await
            .map_err(to_io)?;
        Ok(Rc::new(GlommioFile {
            file,
            path: path.to_path_buf(),
            direct: RefCell::new(None),
            direct_dsync: RefCell::new(None),
        }))
    }

    async fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    async fn sync_dir(&self, path: &Path) -> io::Result<()> {
        // glommio's Directory::sync answered EBADF for relative paths here,
        // so the fsync runs on glommio's blocking-thread pool: a directory
        // fsync is a journal commit, which waits for ordered data writeback
        // and took hundreds of ms under load, far too long to block a shard.
        let path = path.to_path_buf();
        glommio::executor()
            .spawn_blocking(move || std::fs::File::open(&path)?.sync_all())
            .await
    }

    async fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let entries = match std::fs::read_dir(path) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut names = Vec::new();
        for entry in entries {
            if let Some(name) = entry?.file_name().to_str() {
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    async fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    async fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        match std::fs::remove_dir_all(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    fn usage(&self, path: &Path) -> io::Result<DiskUsage> {
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path has a NUL byte"))?;
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: c_path is a valid NUL-terminated string and st a writable
        // statvfs; statvfs writes only into it.
        let rc = unsafe { libc::statvfs(c_path.as_ptr(), &raw mut st) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(DiskUsage::from_statvfs(
            st.f_blocks as u64,
            st.f_bfree as u64,
            st.f_bavail as u64,
            st.f_frsize as u64,
        ))
    }
}

impl DiskFile for GlommioFile {
    async fn write_all_at(&self, buf: Vec<u8>, pos: u64) -> io::Result<()> {
        if buf.len() >= BULK_WRITE_BYTES_MIN {
            // Bulk writes (pre-writing a new segment with zeros) go through
            // the ring: a 1 GiB fill by pwrite would stall the shard for
            // seconds.
            let len = buf.len();
            let written = self.file.write_at(buf, pos).await.map_err(to_io)?;
            if written == len {
                return Ok(());
            }
            // The buffer went to the kernel, so the rest cannot be retried
            // without a copy. A short write to a preallocated buffered file
            // means the device refused more; the caller poisons or reports
            // disk full.
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("short write: {written} of {len} bytes at {pos}"),
            ));
        }
        // Appends: a plain pwrite into the page cache, on the shard's
        // thread. It is a memory copy, far faster than a buffered write
        // through glommio's ring (benches/examples/raw_write.rs; figures:
        // docs/perf-log.md, 2026-12-04). The bytes reach the disk by the
        // fdatasync, which stays asynchronous on io_uring. RocketMQ writes
        // its commit log the same way (a copy into mapped pages).
        use std::os::unix::fs::FileExt;
        // SAFETY: the fd stays open for the borrow: `self.file` owns it and
        // outlives this call; ManuallyDrop keeps the temporary File from
        // closing it.
        let file = std::mem::ManuallyDrop::new(unsafe {
            <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(self.file.as_raw_fd())
        });
        file.write_all_at(&buf, pos)
    }

    async fn write_direct(
        &self,
        pos: u64,
        parts: &[&[u8]],
        durability: Durability,
    ) -> io::Result<()> {
        let dma = self.dma_handle(durability).await?;
        let aligned = super::direct_write_len(parts);
        let mut buf = dma.alloc_dma_buffer(aligned);
        super::fill_direct_write(pos, parts, buf.as_bytes_mut());
        let written = dma.write_at(buf, pos).await.map_err(to_io)?;
        whole_direct_write(written, aligned, pos)
    }

    async fn write_zeros_direct(&self, pos: u64, len: usize) -> io::Result<()> {
        // One zeroed DMA buffer per shard, shared by every fill write: no
        // heap buffer to fault in and copy per write (that was a tenth of
        // the shard's CPU while a segment was filled).
        let dma = self.dma_handle(Durability::Written).await?;
        let zeros = ZEROS.with(|z| {
            let mut z = z.borrow_mut();
            match &*z {
                Some(buf) if buf.len() == len => buf.clone(),
                _ => {
                    let mut buf = dma.alloc_dma_buffer(len);
                    buf.as_bytes_mut().fill(0);
                    let buf = Rc::new(buf);
                    *z = Some(buf.clone());
                    buf
                }
            }
        });
        let written = dma.write_rc_at(zeros, pos).await.map_err(to_io)?;
        whole_direct_write(written, len, pos)
    }

    fn advise_random(&self) {
        // SAFETY: posix_fadvise on a descriptor `self.file` owns; it only
        // changes the kernel's readahead for this open file.
        unsafe {
            libc::posix_fadvise(self.file.as_raw_fd(), 0, 0, libc::POSIX_FADV_RANDOM);
        }
    }

    fn advise_willneed(&self, pos: u64, len: u64) {
        // SAFETY: as in `advise_random`; WILLNEED starts reads of the
        // range into the page cache and returns without waiting for them.
        unsafe {
            libc::posix_fadvise(
                self.file.as_raw_fd(),
                pos as libc::off_t,
                len as libc::off_t,
                libc::POSIX_FADV_WILLNEED,
            );
        }
    }

    async fn read_at(&self, pos: u64, len: usize) -> io::Result<Vec<u8>> {
        let r = self.file.read_at(pos, len).await.map_err(to_io)?;
        Ok(r.to_vec())
    }

    async fn sync_data(&self) -> io::Result<()> {
        self.file.fdatasync().await.map_err(to_io)
    }

    async fn allocate(&self, len: u64) -> io::Result<()> {
        self.file.pre_allocate(len, false).await.map_err(to_io)
    }

    async fn truncate(&self, len: u64) -> io::Result<()> {
        self.file.truncate(len).await.map_err(to_io)
    }

    async fn len(&self) -> io::Result<u64> {
        self.file.file_size().await.map_err(to_io)
    }

    fn raw_fd(&self) -> Option<RawFd> {
        Some(self.file.as_raw_fd())
    }

    fn path(&self) -> PathBuf {
        self.path.clone()
    }
}
