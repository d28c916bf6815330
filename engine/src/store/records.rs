//! Reading records and raw log bytes: a file range's bytes, the whole
//! record at an offset, a record's store timestamp, written bytes for
//! replication.

use crate::commit_log::FileRange;
use crate::disk::Disk;
use crate::error::{Result, StoreError};
use crate::ids::CommitLogOffset;
use crate::record::{read_head, read_store_timestamp, Head, RecordView, BLANK_SIZE_BYTES};

use super::ShardStore;

/// Record bytes sized for reading a store timestamp (IPv6 born host).
const TIMESTAMP_PREFIX_BYTES: usize = 80;

impl<D: Disk> ShardStore<D> {
    /// Raw commit-log bytes from `pos`: at most `max_len`, never past
    /// `written` or the end of `pos`'s segment (replication to a slave).
    pub async fn read_written(&self, pos: CommitLogOffset, max_len: usize) -> Result<Vec<u8>> {
        let available = self.log.written().get().saturating_sub(pos.get());
        if pos < self.log.min_offset() {
            return Err(StoreError::NoRecordAt {
                offset: pos,
                detail: format!("below the oldest segment held ({})", self.log.min_offset()),
            });
        }
        let len = (max_len as u64).min(available) as usize;
        if len == 0 {
            return Ok(Vec::new());
        }
        self.log.read(pos, len).await
    }

    /// Reads bytes of a [`FileRange`] (for callers without zero-copy, and
    /// tests).
    pub async fn read_range(&self, range: &FileRange<D::File>) -> Result<Vec<u8>> {
        use crate::disk::DiskFile;
        range
            .file
            .read_at(range.file_pos, range.len as usize)
            .await
            .map_err(|e| StoreError::io("read commit log", range.file.path(), e))
    }

    /// The whole record at a commit-log offset (view by id, send-back,
    /// transaction end). Refuses offsets not yet visible or not at a record.
    pub async fn read_record(&self, offset: CommitLogOffset) -> Result<Vec<u8>> {
        let not_at = |detail: String| StoreError::NoRecordAt { offset, detail };
        if offset >= self.confirm_offset() || offset < self.log.min_offset() {
            return Err(not_at("outside the readable log".into()));
        }
        let head = self.log.read(offset, BLANK_SIZE_BYTES).await?;
        let size = match read_head(&head) {
            Ok(Head::Record { size_bytes }) => size_bytes,
            other => return Err(not_at(format!("{other:?}"))),
        };
        let bytes = self.log.read(offset, size).await?;
        let view = RecordView::parse(&bytes).map_err(|e| not_at(e.to_string()))?;
        if view.physical_offset as u64 != offset.get() {
            return Err(not_at("offset is not the start of a record".into()));
        }
        Ok(bytes)
    }

    pub(super) async fn store_timestamp_at(&self, offset: CommitLogOffset) -> Result<i64> {
        let bytes = self.log.read(offset, TIMESTAMP_PREFIX_BYTES).await?;
        read_store_timestamp(&bytes).ok_or_else(|| StoreError::NoRecordAt {
            offset,
            detail: "record too short for a store timestamp".into(),
        })
    }
}
