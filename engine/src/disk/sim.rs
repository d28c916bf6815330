//! A simulated disk for deterministic tests: files in memory, with what a
//! power loss keeps and named failure points.
//!
//! Each file holds the bytes a reader sees now and the bytes that are
//! durable. `sync_data` makes the current bytes durable. [`SimDisk::crash`]
//! models power loss: every file goes back to its durable bytes plus a
//! seeded-random prefix of its unsynced writes, the last of which may be torn
//! (only a prefix of it lands), as page-cache writeback can leave it.
//!
//! Simplifications, stated so tests do not lean on them: creating, removing,
//! truncating and allocating files are durable at once (the real disk syncs
//! the directory after creating a segment), and reads never fail unless a
//! failure is armed.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::{direct_write_len, fill_direct_write, Disk, DiskFile, DiskUsage, Durability};

/// Failures armed by a test; each fires once on the next matching call.
#[derive(Default, Debug, Clone)]
pub struct Faults {
    /// The next write (plain or direct) fails with nothing landed.
    pub fail_next_write: bool,
    /// The next fdatasync, or the sync half of the next durable direct
    /// write, fails: nothing more becomes durable, though a direct write's
    /// bytes have landed.
    pub fail_next_sync: bool,
    /// The next read fails.
    pub fail_next_read: bool,
    /// The next write lands only this many bytes, then reports an error.
    pub tear_next_write_at: Option<usize>,
    /// Not a failure and not once: while set, every write and fdatasync
    /// first yields to the executor, as real I/O does, so a test can drop a
    /// caller in the middle of one.
    pub yield_in_io: bool,
    /// Not a failure and not once: while set, every write and fdatasync
    /// first yields a number of times drawn from this seed (0 to 3), so
    /// writes in flight together complete in any order.
    pub io_delay_seed: Option<u64>,
}

#[derive(Default)]
struct FileData {
    current: Vec<u8>,
    durable: Vec<u8>,
    unsynced: Vec<(u64, Vec<u8>)>,
}

struct State {
    files: BTreeMap<PathBuf, Rc<RefCell<FileData>>>,
    dirs: BTreeMap<PathBuf, ()>,
    faults: Faults,
    capacity_bytes: u64,
    syncs: u64,
    written_bytes: u64,
    /// `advise_willneed` calls: (file, pos, len).
    read_aheads: Vec<(PathBuf, u64, u64)>,
}

impl State {
    fn used_bytes(&self) -> u64 {
        self.files
            .values()
            .map(|f| f.borrow().current.len() as u64)
            .sum()
    }
}

/// An in-memory [`Disk`] of limited capacity; clones share its files.
/// Writes and allocations that would grow the files past it fail with
/// ENOSPC.
#[derive(Clone)]
pub struct SimDisk {
    state: Rc<RefCell<State>>,
}

/// An open file of a [`SimDisk`]: current and durable bytes, and the
/// writes since the last `sync_data` that a crash may partly keep.
pub struct SimFile {
    disk: SimDisk,
    path: PathBuf,
    data: Rc<RefCell<FileData>>,
}

fn enospc() -> io::Error {
    io::Error::from_raw_os_error(28)
}

fn injected(what: &str) -> io::Error {
    io::Error::other(format!("injected {what} failure"))
}

impl SimDisk {
    /// An empty disk holding at most `capacity_bytes` in all files, with no
    /// faults armed.
    pub fn new(capacity_bytes: u64) -> SimDisk {
        SimDisk {
            state: Rc::new(RefCell::new(State {
                files: BTreeMap::new(),
                dirs: BTreeMap::new(),
                faults: Faults::default(),
                capacity_bytes,
                syncs: 0,
                written_bytes: 0,
                read_aheads: Vec::new(),
            })),
        }
    }

    /// Arms failure points.
    pub fn faults(&self) -> std::cell::RefMut<'_, Faults> {
        std::cell::RefMut::map(self.state.borrow_mut(), |s| &mut s.faults)
    }

    async fn yield_if_asked(&self) {
        let yields = {
            let mut state = self.state.borrow_mut();
            let seeded = state.faults.io_delay_seed.as_mut().map_or(0, |seed| {
                *seed = xorshift(*seed);
                *seed % 4
            });
            seeded + u64::from(state.faults.yield_in_io)
        };
        for _ in 0..yields {
            futures_lite::future::yield_now().await;
        }
    }

    /// Changes the capacity; files already past it keep their bytes, and
    /// only growth fails with ENOSPC.
    pub fn set_capacity(&self, capacity_bytes: u64) {
        self.state.borrow_mut().capacity_bytes = capacity_bytes;
    }

    /// Bytes held by all files.
    pub fn usage_bytes(&self) -> u64 {
        self.state.borrow().used_bytes()
    }

    /// Bytes landed by all writes so far.
    pub fn written_bytes(&self) -> u64 {
        self.state.borrow().written_bytes
    }

    /// The read-ahead asked for so far: (file, pos, len).
    pub fn read_aheads(&self) -> Vec<(PathBuf, u64, u64)> {
        self.state.borrow().read_aheads.clone()
    }

    /// Number of `sync_data` calls that succeeded.
    pub fn syncs(&self) -> u64 {
        self.state.borrow().syncs
    }

    /// Power loss. `seed` picks how much unsynced data survives.
    pub fn crash(&self, seed: u64) {
        let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move |bound: u64| {
            rng = xorshift(rng);
            if bound == 0 {
                0
            } else {
                rng % bound
            }
        };
        let state = self.state.borrow();
        for file in state.files.values() {
            let mut f = file.borrow_mut();
            let mut image = f.durable.clone();
            let writes = std::mem::take(&mut f.unsynced);
            let keep = next(writes.len() as u64 + 1) as usize;
            for (i, (pos, bytes)) in writes.iter().take(keep).enumerate() {
                let len = if i + 1 == keep {
                    next(bytes.len() as u64 + 1) as usize
                } else {
                    bytes.len()
                };
                write_into(&mut image, *pos, &bytes[..len]);
            }
            f.current.clone_from(&image);
            f.durable = image;
        }
        drop(state);
        self.state.borrow_mut().faults = Faults::default();
    }

    /// A process kill: the page cache survives, so nothing is lost.
    pub fn kill(&self) {
        self.state.borrow_mut().faults = Faults::default();
    }

    /// A new disk holding what this one would hold after a power loss
    /// now ([`SimDisk::crash`] with `seed`), or after a process kill when
    /// `seed` is `None`; this disk and the stores on it go on untouched,
    /// so a test can look at every moment of one run.
    pub fn copy_after(&self, seed: Option<u64>) -> SimDisk {
        let state = self.state.borrow();
        let copy = SimDisk::new(state.capacity_bytes);
        {
            let mut c = copy.state.borrow_mut();
            c.dirs = state.dirs.clone();
            for (path, file) in &state.files {
                let f = file.borrow();
                let data = FileData {
                    current: f.current.clone(),
                    durable: f.durable.clone(),
                    unsynced: f.unsynced.clone(),
                };
                c.files.insert(path.clone(), Rc::new(RefCell::new(data)));
            }
        }
        drop(state);
        match seed {
            Some(seed) => copy.crash(seed),
            None => copy.kill(),
        }
        copy
    }

    /// Bit rot: flips every bit of one byte of a file, on disk and in the
    /// page cache.
    pub fn flip_byte(&self, path: &Path, pos: usize) {
        let state = self.state.borrow();
        let mut f = state.files.get(path).expect("file exists").borrow_mut();
        f.current[pos] ^= 0xFF;
        if pos < f.durable.len() {
            f.durable[pos] ^= 0xFF;
        }
    }

    /// Current bytes of a file, for assertions.
    pub fn file_bytes(&self, path: &Path) -> Option<Vec<u8>> {
        let state = self.state.borrow();
        state.files.get(path).map(|f| f.borrow().current.clone())
    }
}

/// One step of xorshift64 (`x` not zero).
fn xorshift(mut x: u64) -> u64 {
    x |= 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

fn write_into(image: &mut Vec<u8>, pos: u64, bytes: &[u8]) {
    let pos = pos as usize;
    let end = pos + bytes.len();
    if image.len() < end {
        image.resize(end, 0);
    }
    image[pos..end].copy_from_slice(bytes);
}

impl Disk for SimDisk {
    type File = SimFile;

    async fn open(&self, path: &Path, create: bool) -> io::Result<Rc<SimFile>> {
        let mut state = self.state.borrow_mut();
        let data = match state.files.get(path) {
            Some(data) => data.clone(),
            None if create => {
                let data = Rc::new(RefCell::new(FileData::default()));
                state.files.insert(path.to_path_buf(), data.clone());
                data
            }
            None => return Err(io::Error::from(io::ErrorKind::NotFound)),
        };
        Ok(Rc::new(SimFile {
            disk: self.clone(),
            path: path.to_path_buf(),
            data,
        }))
    }

    async fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.state.borrow_mut().dirs.insert(path.to_path_buf(), ());
        Ok(())
    }

    async fn sync_dir(&self, _path: &Path) -> io::Result<()> {
        Ok(())
    }

    async fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let state = self.state.borrow();
        let mut names: Vec<String> = state
            .files
            .keys()
            .chain(state.dirs.keys())
            .filter_map(|p| {
                let rest = p.strip_prefix(path).ok()?;
                let first = rest.components().next()?;
                Some(first.as_os_str().to_str()?.to_string())
            })
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    async fn remove_file(&self, path: &Path) -> io::Result<()> {
        match self.state.borrow_mut().files.remove(path) {
            Some(_) => Ok(()),
            None => Err(io::Error::from(io::ErrorKind::NotFound)),
        }
    }

    async fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut state = self.state.borrow_mut();
        state.files.retain(|p, _| !p.starts_with(path));
        state.dirs.retain(|p, ()| !p.starts_with(path));
        Ok(())
    }

    fn usage(&self, _path: &Path) -> io::Result<DiskUsage> {
        let state = self.state.borrow();
        Ok(DiskUsage {
            used_bytes: state.used_bytes(),
            total_bytes: state.capacity_bytes,
        })
    }
}

impl SimFile {
    fn grow_allowed(&self, new_len: u64) -> io::Result<()> {
        let state = self.disk.state.borrow();
        let current = self.data.borrow().current.len() as u64;
        if new_len > current && state.used_bytes() + (new_len - current) > state.capacity_bytes {
            return Err(enospc());
        }
        Ok(())
    }
}

impl DiskFile for SimFile {
    fn advise_willneed(&self, pos: u64, len: u64) {
        self.disk
            .state
            .borrow_mut()
            .read_aheads
            .push((self.path.clone(), pos, len));
    }

    async fn write_all_at(&self, buf: Vec<u8>, pos: u64) -> io::Result<()> {
        self.disk.yield_if_asked().await;
        let (fail, tear) = {
            let mut state = self.disk.state.borrow_mut();
            let fail = std::mem::take(&mut state.faults.fail_next_write);
            (fail, state.faults.tear_next_write_at.take())
        };
        if fail {
            return Err(injected("write"));
        }
        self.grow_allowed(pos + buf.len() as u64)?;
        let mut f = self.data.borrow_mut();
        let landed = tear.map_or(buf.len(), |t| t.min(buf.len()));
        self.disk.state.borrow_mut().written_bytes += landed as u64;
        write_into(&mut f.current, pos, &buf[..landed]);
        f.unsynced.push((pos, buf[..landed].to_vec()));
        if landed < buf.len() {
            return Err(injected("torn write"));
        }
        Ok(())
    }

    /// A durable write makes its own bytes durable and nothing else (an
    /// O_DSYNC write says nothing of other writes still unsynced or in
    /// flight), so a test sees what a crash keeps when writes in flight
    /// together complete out of order.
    async fn write_direct(
        &self,
        pos: u64,
        parts: &[&[u8]],
        durability: Durability,
    ) -> io::Result<()> {
        let mut buf = vec![0; direct_write_len(parts)];
        fill_direct_write(pos, parts, &mut buf);
        self.write_all_at(buf, pos).await?;
        if durability == Durability::Durable {
            if std::mem::take(&mut self.disk.state.borrow_mut().faults.fail_next_sync) {
                // Landed, but not known durable.
                return Err(injected("fdatasync"));
            }
            let mut f = self.data.borrow_mut();
            // write_all_at pushed this write last, with no await after it.
            let (at, bytes) = f.unsynced.pop().expect("the write just made");
            assert_eq!(at, pos);
            write_into(&mut f.durable, at, &bytes);
            self.disk.state.borrow_mut().syncs += 1;
        }
        Ok(())
    }

    async fn read_at(&self, pos: u64, len: usize) -> io::Result<Vec<u8>> {
        if std::mem::take(&mut self.disk.state.borrow_mut().faults.fail_next_read) {
            return Err(injected("read"));
        }
        let f = self.data.borrow();
        let start = (pos as usize).min(f.current.len());
        let end = start.saturating_add(len).min(f.current.len());
        Ok(f.current[start..end].to_vec())
    }

    async fn sync_data(&self) -> io::Result<()> {
        self.disk.yield_if_asked().await;
        {
            let mut state = self.disk.state.borrow_mut();
            if std::mem::take(&mut state.faults.fail_next_sync) {
                return Err(injected("fdatasync"));
            }
            state.syncs += 1;
        }
        let f = &mut *self.data.borrow_mut();
        f.durable.clone_from(&f.current);
        f.unsynced.clear();
        Ok(())
    }

    async fn allocate(&self, len: u64) -> io::Result<()> {
        self.grow_allowed(len)?;
        let mut f = self.data.borrow_mut();
        if (f.current.len() as u64) < len {
            f.current.resize(len as usize, 0);
        }
        if (f.durable.len() as u64) < len {
            f.durable.resize(len as usize, 0);
        }
        Ok(())
    }

    async fn truncate(&self, len: u64) -> io::Result<()> {
        let mut f = self.data.borrow_mut();
        f.current.resize(len as usize, 0);
        f.durable.resize(len as usize, 0);
        f.unsynced.retain(|(pos, _)| *pos < len);
        Ok(())
    }

    async fn len(&self) -> io::Result<u64> {
        Ok(self.data.borrow().current.len() as u64)
    }

    fn raw_fd(&self) -> Option<RawFd> {
        None
    }

    fn path(&self) -> PathBuf {
        self.path.clone()
    }
}
