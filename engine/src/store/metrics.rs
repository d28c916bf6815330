//! Counters and histograms for metrics.

use crate::disk::Disk;

use super::ShardStore;

impl<D: Disk> ShardStore<D> {
    /// Bytes of queue reads answered so far from the log's memory (hot
    /// window) and from segment files.
    pub fn read_bytes(&self) -> (u64, u64) {
        (self.read_bytes_memory.get(), self.read_bytes_file.get())
    }

    /// The commit log's flush-latency (seconds) and group-commit-size
    /// (bytes) histograms.
    pub fn durability_histograms(
        &self,
    ) -> (
        crate::histogram::HistogramSnapshot,
        crate::histogram::HistogramSnapshot,
    ) {
        self.log.durability_histograms()
    }

    /// Most commit-log writes that were in flight at once since the store
    /// was opened (direct I/O may have several).
    pub fn writes_in_flight_peak(&self) -> usize {
        self.log.writes_in_flight_peak()
    }
}
