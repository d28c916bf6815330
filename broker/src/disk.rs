//! The disk a shard's store runs on: the real one, or the engine's
//! simulated disk, chosen when the shard opens its store.
//!
//! One [`Shard`](crate::shard::Shard) type serves both, so every handler,
//! delivery and replication path runs unchanged over the simulated disk in
//! tests (crashes, power loss, full disk, faults) without being generic
//! itself. Each disk call pays one `match`, which is nothing next to the
//! I/O it starts.

#![allow(async_fn_in_trait)] // as the engine's Disk: single-threaded executors

use std::io;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use ringmq_engine::disk::glommio_disk::{GlommioDisk, GlommioFile};
use ringmq_engine::disk::sim::{SimDisk, SimFile};
use ringmq_engine::disk::{Disk, DiskFile, DiskUsage, Durability};

/// The disk under a shard's store.
#[derive(Clone)]
pub enum ShardDisk {
    /// The machine's disk, through glommio and io_uring.
    Real(GlommioDisk),
    /// The engine's in-memory disk, for tests.
    Sim(SimDisk),
}

/// A file of a [`ShardDisk`].
pub enum ShardFile {
    Real(Rc<GlommioFile>),
    Sim(Rc<SimFile>),
}

/// Calls `$call` on whichever disk or file (`$kind`: `ShardDisk` or
/// `ShardFile`) `$on` holds.
macro_rules! either {
    ($kind:ident, $on:expr, $inner:ident => $call:expr) => {
        match $on {
            $kind::Real($inner) => $call,
            $kind::Sim($inner) => $call,
        }
    };
}

impl Disk for ShardDisk {
    type File = ShardFile;

    async fn open(&self, path: &Path, create: bool) -> io::Result<Rc<ShardFile>> {
        Ok(Rc::new(match self {
            ShardDisk::Real(d) => ShardFile::Real(d.open(path, create).await?),
            ShardDisk::Sim(d) => ShardFile::Sim(d.open(path, create).await?),
        }))
    }

    async fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        either!(ShardDisk, self, d => d.create_dir_all(path).await)
    }

    async fn sync_dir(&self, path: &Path) -> io::Result<()> {
        either!(ShardDisk, self, d => d.sync_dir(path).await)
    }

    async fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        either!(ShardDisk, self, d => d.list_dir(path).await)
    }

    async fn remove_file(&self, path: &Path) -> io::Result<()> {
        either!(ShardDisk, self, d => d.remove_file(path).await)
    }

    async fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        either!(ShardDisk, self, d => d.remove_dir_all(path).await)
    }

    fn usage(&self, path: &Path) -> io::Result<DiskUsage> {
        either!(ShardDisk, self, d => d.usage(path))
    }
}

impl DiskFile for ShardFile {
    async fn write_all_at(&self, buf: Vec<u8>, pos: u64) -> io::Result<()> {
        either!(ShardFile, self, f => f.write_all_at(buf, pos).await)
    }

    async fn write_direct(
        &self,
        pos: u64,
        parts: &[&[u8]],
        durability: Durability,
    ) -> io::Result<()> {
        either!(ShardFile, self, f => f.write_direct(pos, parts, durability).await)
    }

    async fn write_zeros_direct(&self, pos: u64, len: usize) -> io::Result<()> {
        either!(ShardFile, self, f => f.write_zeros_direct(pos, len).await)
    }

    fn advise_random(&self) {
        either!(ShardFile, self, f => f.advise_random());
    }

    fn advise_willneed(&self, pos: u64, len: u64) {
        either!(ShardFile, self, f => f.advise_willneed(pos, len));
    }

    async fn read_at(&self, pos: u64, len: usize) -> io::Result<Vec<u8>> {
        either!(ShardFile, self, f => f.read_at(pos, len).await)
    }

    async fn sync_data(&self) -> io::Result<()> {
        either!(ShardFile, self, f => f.sync_data().await)
    }

    async fn allocate(&self, len: u64) -> io::Result<()> {
        either!(ShardFile, self, f => f.allocate(len).await)
    }

    async fn truncate(&self, len: u64) -> io::Result<()> {
        either!(ShardFile, self, f => f.truncate(len).await)
    }

    async fn len(&self) -> io::Result<u64> {
        either!(ShardFile, self, f => f.len().await)
    }

    fn raw_fd(&self) -> Option<RawFd> {
        either!(ShardFile, self, f => f.raw_fd())
    }

    fn path(&self) -> PathBuf {
        either!(ShardFile, self, f => f.path())
    }
}
