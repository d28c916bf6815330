//! How the broker-wide tables (topics, subscription groups) reach their
//! files: a change is made and versioned under the table's write lock; a
//! save then writes the latest version (temp file, fdatasync, rename,
//! directory fsync: [`crate::topics::write_durably`]) on glommio's
//! blocking-thread pool, holding only the file's own lock. So no shard
//! thread makes the fsync, nothing that reads the table waits for it, and
//! two saves never put an older table over a newer one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A table kept in a [`LatestFile`].
pub trait Versioned: Send + Sync + 'static {
    /// Changes since start; grows with each change.
    fn version(&self) -> u64;
    /// The version and the file's bytes for it, taken together.
    fn snapshot(&self) -> (u64, Vec<u8>);
    fn latest_file(&self) -> &LatestFile;
}

/// A table's file and the version last written to it.
pub struct LatestFile {
    path: PathBuf,
    /// Held while writing.
    saved: Mutex<u64>,
}

impl LatestFile {
    /// `version` is what the file holds now (the table as loaded).
    pub fn new(path: PathBuf, version: u64) -> LatestFile {
        LatestFile {
            path,
            saved: Mutex::new(version),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn behind(&self, version: u64) -> bool {
        version > *self.saved.lock().expect("save lock")
    }
}

/// Writes `table` if its file is behind it; blocking.
pub fn persist<T: Versioned>(table: &T) -> std::io::Result<()> {
    let file = table.latest_file();
    let mut saved = file.saved.lock().expect("save lock");
    if table.version() <= *saved {
        return Ok(());
    }
    let (version, bytes) = table.snapshot();
    if version <= *saved {
        return Ok(());
    }
    crate::topics::write_durably(&file.path, &bytes)?;
    *saved = version;
    Ok(())
}

/// [`persist`] on glommio's blocking-thread pool; must run on a glommio
/// executor. Returns at once when the file is up to date.
pub async fn save<T: Versioned>(table: &Arc<T>) -> std::io::Result<()> {
    if !table.latest_file().behind(table.version()) {
        return Ok(());
    }
    let table = table.clone();
    glommio::executor()
        .spawn_blocking(move || persist(&*table))
        .await
}
