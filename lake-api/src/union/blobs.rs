//! How a union scan carries BLOB columns.
//!
//! By default BLOB payloads never move through the merge: lake rows come as the lake's own
//! references (files it can read ranges of), and log rows, whose payloads travel inline in
//! the log, as references into a [`MemoryBlobStore`] that keeps their buffers for the
//! scan's life. After the merge, [`UnionScan::blob_resolver`](super::UnionScan::blob_resolver)
//! fetches either kind.
//!
//! A lake that cannot point at its payloads ([`LakeStorage::blob_references`] is false)
//! makes the whole table read payloads, so that one table's scans return BLOB columns the
//! same way whether or not a lake snapshot exists yet.

use std::sync::Arc;

use async_trait::async_trait;

use crate::blob::{BlobMode, BlobRef, BlobResolver, MemoryBlobStore};
use crate::error::{Error, Result};
use crate::lake::LakeStorage;
use crate::table::TablePath;
use crate::types::has_blob_column;
use crate::union::ReadMode;

/// The mode a scan that asked for `requested` reads BLOB columns in, given the table's
/// lake and the columns it reads.
///
/// A log-only scan reads no lake, so a lake that cannot answer does not fail it: it reads
/// payloads then.
pub(crate) async fn effective_mode(
    requested: BlobMode,
    lake: Option<&Arc<dyn LakeStorage>>,
    path: &TablePath,
    read_schema: &arrow_schema::Schema,
    mode: ReadMode,
) -> Result<BlobMode> {
    if requested == BlobMode::Payloads || !has_blob_column(read_schema) {
        return Ok(BlobMode::Payloads);
    }
    let lake_can = match lake {
        None => true,
        Some(lake) => match lake.blob_references(path).await {
            Ok(can) => can,
            Err(_) if mode == ReadMode::LogOnly => false,
            Err(e) => return Err(e),
        },
    };
    Ok(if lake_can {
        BlobMode::References
    } else {
        BlobMode::Payloads
    })
}

/// Fetches what a union scan's references point at: log payloads from the scan's memory
/// store, lake payloads through the lake's resolver.
pub(crate) struct UnionBlobResolver {
    pub log: Arc<MemoryBlobStore>,
    pub lake: Option<Arc<dyn BlobResolver>>,
}

#[async_trait]
impl BlobResolver for UnionBlobResolver {
    async fn fetch(&self, blob: &BlobRef) -> Result<Vec<u8>> {
        if self.log.serves(&blob.uri) {
            return self.log.fetch(blob).await;
        }
        match &self.lake {
            Some(lake) => lake.fetch(blob).await,
            None => Err(Error::invalid(format!(
                "blob {blob} belongs neither to this scan's log rows nor to a lake it reads"
            ))),
        }
    }
}
