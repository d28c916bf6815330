//! The storage seam: everything the engine does to a disk goes through
//! [`Disk`] and [`DiskFile`], so tests can inject faults and a simulated disk
//! ([`sim::SimDisk`]) can stand in for the real one ([`glommio_disk::GlommioDisk`]).
//!
//! All I/O takes ownership of its buffers (io_uring holds them while the
//! kernel works). The traits are not `Send`: a disk handle lives on the shard
//! that opened it.

#![allow(async_fn_in_trait)] // single-threaded executors; futures need not be Send

pub mod glommio_disk;
pub mod sim;

use std::io;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Space on the file system holding the store: `total_bytes` is what is
/// used plus what this process may still take (df's view).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskUsage {
    /// Bytes in use on the file system, by every user.
    pub used_bytes: u64,
    /// `used_bytes` plus the bytes this process may still take; 0 when
    /// unknown.
    pub total_bytes: u64,
}

impl DiskUsage {
    /// From `statvfs` counts (blocks of `block_bytes`): used over what is
    /// used plus what this process may still take, as df's Use%. Blocks
    /// reserved for root or withheld by a quota count as neither: counting
    /// them as used declared a disk with 27 GB free of 270 GB "90 % full"
    /// on a VM that withholds 173 GB, and refused every write.
    pub fn from_statvfs(blocks: u64, free: u64, available: u64, block_bytes: u64) -> DiskUsage {
        let used_bytes = blocks.saturating_sub(free).saturating_mul(block_bytes);
        DiskUsage {
            used_bytes,
            total_bytes: used_bytes.saturating_add(available.saturating_mul(block_bytes)),
        }
    }

    /// `used_bytes` as a whole percentage of `total_bytes`, rounded down;
    /// 0 when `total_bytes` is 0.
    pub fn used_percent(&self) -> u64 {
        if self.total_bytes == 0 {
            return 0;
        }
        self.used_bytes.saturating_mul(100) / self.total_bytes
    }
}

/// A file system the engine stores on: opens files and manages
/// directories. Cloning gives another handle to the same disk.
pub trait Disk: Clone + 'static {
    /// The handle [`Disk::open`] returns.
    type File: DiskFile;

    /// Opens a file for reading and writing, creating it when `create`.
    async fn open(&self, path: &Path, create: bool) -> io::Result<Rc<Self::File>>;
    /// Creates a directory and its missing parents; not durable until
    /// [`Disk::sync_dir`] of the parent.
    async fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries (file creation, removal) durable.
    async fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// Names of the entries of a directory; empty when it does not exist.
    async fn list_dir(&self, path: &Path) -> io::Result<Vec<String>>;
    /// Removes one file; an error (`NotFound`) when it does not exist.
    async fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Removes a directory and everything under it; `Ok` when it does not
    /// exist.
    async fn remove_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Space on the file system holding `path` (synchronous: a `statvfs`).
    fn usage(&self, path: &Path) -> io::Result<DiskUsage>;
}

/// Whether a write must be durable when it completes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Handed to the disk; durable at the next [`DiskFile::sync_data`].
    Written,
    /// Durable on completion (O_DSYNC).
    Durable,
}

/// Alignment of O_DIRECT writes: position and length are multiples of it.
pub const DIRECT_IO_ALIGN_BYTES: u64 = 4096;

// A file's `len` is an I/O call, not a container size: no `is_empty`.
#[allow(clippy::len_without_is_empty)]
/// An open file of a [`Disk`], shared by `Rc` among its users on one shard.
pub trait DiskFile: 'static {
    /// Writes all of `buf` at `pos`; a short write is an error.
    async fn write_all_at(&self, buf: Vec<u8>, pos: u64) -> io::Result<()>;
    /// Writes `parts`, concatenated and zero-padded to a multiple of
    /// [`DIRECT_IO_ALIGN_BYTES`], at `pos` (aligned), bypassing the page
    /// cache where the disk can (O_DIRECT). With [`Durability::Durable`]
    /// the bytes are durable when it returns (O_DSYNC: the write and the
    /// device cache flush are one request); otherwise not until
    /// [`DiskFile::sync_data`].
    async fn write_direct(
        &self,
        pos: u64,
        parts: &[&[u8]],
        durability: Durability,
    ) -> io::Result<()>;
    /// Writes `len` zero bytes at `pos` (both aligned) with O_DIRECT, as
    /// [`DiskFile::write_direct`] with [`Durability::Written`] does.
    async fn write_zeros_direct(&self, pos: u64, len: usize) -> io::Result<()> {
        self.write_direct(pos, &[&vec![0u8; len]], Durability::Written)
            .await
    }
    /// Reads of this file will not be sequential enough for readahead to
    /// help (and must not pull in pages past what was asked).
    fn advise_random(&self) {}
    /// Asks the kernel to read `[pos, pos + len)` into the page cache in
    /// the background (readahead the caller chose, for files where the
    /// kernel's own is off).
    fn advise_willneed(&self, _pos: u64, _len: u64) {}
    /// Reads up to `len` bytes at `pos`; fewer at end of file.
    async fn read_at(&self, pos: u64, len: usize) -> io::Result<Vec<u8>>;
    /// Makes every completed write to the file durable (fdatasync). After a
    /// failure nothing is known of what is durable.
    async fn sync_data(&self) -> io::Result<()>;
    /// Reserves `len` bytes of space and sets the file length to at least it.
    async fn allocate(&self, len: u64) -> io::Result<()>;
    /// Sets the file length to `len`, dropping bytes past it or extending
    /// with zeros.
    async fn truncate(&self, len: u64) -> io::Result<()>;
    /// Current length of the file, bytes.
    async fn len(&self) -> io::Result<u64>;
    /// The descriptor for zero-copy sends, when the file is a real one.
    fn raw_fd(&self) -> Option<RawFd>;
    /// The path the file was opened at.
    fn path(&self) -> PathBuf;
}

/// `n` rounded up to a multiple of [`DIRECT_IO_ALIGN_BYTES`].
pub fn align_up(n: u64) -> u64 {
    n.div_ceil(DIRECT_IO_ALIGN_BYTES) * DIRECT_IO_ALIGN_BYTES
}

/// `n` rounded down to a multiple of [`DIRECT_IO_ALIGN_BYTES`].
pub fn align_down(n: u64) -> u64 {
    n - n % DIRECT_IO_ALIGN_BYTES
}

/// Bytes a [`DiskFile::write_direct`] of `parts` writes: their length
/// rounded up to whole blocks.
pub fn direct_write_len(parts: &[&[u8]]) -> usize {
    align_up(parts.iter().map(|p| p.len() as u64).sum()) as usize
}

/// Fills `out` (of [`direct_write_len`] bytes) for a direct write at `pos`:
/// `parts` one after the other, then zeros. Panics on an unaligned `pos`.
pub fn fill_direct_write(pos: u64, parts: &[&[u8]], out: &mut [u8]) {
    assert_eq!(pos % DIRECT_IO_ALIGN_BYTES, 0, "unaligned direct write");
    assert_eq!(out.len(), direct_write_len(parts));
    let mut at = 0;
    for p in parts {
        out[at..at + p.len()].copy_from_slice(p);
        at += p.len();
    }
    out[at..].fill(0);
}

/// ENOSPC and EDQUOT are the disk being full, an operating condition; other
/// errors are faults.
pub fn is_disk_full(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc_enospc) if libc_enospc == 28 || libc_enospc == 122)
        || err.kind() == io::ErrorKind::StorageFull
}

#[cfg(test)]
mod tests {
    use super::DiskUsage;

    #[test]
    fn withheld_blocks_are_not_used_space() {
        // 270 GB, 200 GB free of which 27 GB may be taken by this process.
        let gb = 1_000_000_000 / 4096;
        let u = DiskUsage::from_statvfs(270 * gb, 200 * gb, 27 * gb, 4096);
        assert_eq!(u.used_percent(), 72);
        // A plain disk: 10 % reserved for root, 95 % of the rest used.
        let u = DiskUsage::from_statvfs(1000, 55, 5, 4096);
        assert_eq!(u.used_percent(), 99);
        assert_eq!(DiskUsage::from_statvfs(0, 0, 0, 4096).used_percent(), 0);
    }
}
