//! Planning: lake splits and log ranges grouped into union splits (DESIGN.md,
//! "Union-read semantics").

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, ErrorKind, Result};
use crate::lake::LakeSnapshot;
use crate::log::latest_tiered_offsets;
use crate::table::{TableBucket, TableInfo};

use super::options::{MergeStrategy, ReadMode};
use super::scan::ScanContext;
use super::split::{LogRange, SerializedLakeSplit, UnionSplit, UnionSplitKind};

/// What one primary-key split covers: a partition, and a bucket unless the lake is
/// bucket-unaware.
type SplitGroup = (Vec<String>, Option<u32>);

/// A lake split ready for the envelope, with where it belongs.
struct PlannedLakeSplit {
    partition: Vec<String>,
    bucket: Option<u32>,
    serialized: SerializedLakeSplit,
}

/// Where a scan stops the log of each bucket.
#[derive(Clone, Debug)]
pub(crate) struct StopOffsets {
    pub(crate) offsets: BTreeMap<TableBucket, i64>,
    /// Whether `offsets` names every bucket whose log the scan reads: a followed scan's
    /// pinned ends, from which its tails go on (a bucket created after the pin is the
    /// tails' to read, not the bounded read's). Otherwise the buckets it does not name are
    /// read to their current end.
    pub(crate) exhaustive: bool,
}

/// A scan's splits, and where they leave each bucket's log.
pub(crate) struct Plan {
    pub(crate) splits: Vec<UnionSplit>,
    /// The offset up to which the splits read each bucket's log (where the lake leaves it,
    /// for a bucket whose log they do not read): where a tail of it goes on.
    pub(crate) log_stops: BTreeMap<TableBucket, i64>,
}

/// Plans the splits of a scan of `history`'s last snapshot (older ones may record its
/// tiered offsets), starting the log at `readable` where the log gave readable offsets.
pub(crate) async fn plan(
    ctx: &ScanContext,
    history: &[LakeSnapshot],
    readable: Option<&BTreeMap<TableBucket, i64>>,
    as_of: Option<&StopOffsets>,
    mode: ReadMode,
) -> Result<Plan> {
    let info = &ctx.info;
    let snapshot = history.last();
    let offsets = ctx.log.offset_ranges().await?;
    // a lake-only read starts no log range, so it needs no offsets
    let tiered = match (snapshot, readable) {
        (Some(_), Some(readable)) if mode == ReadMode::Union => readable.clone(),
        (Some(s), None) if mode == ReadMode::Union => match latest_tiered_offsets(ctx.log.as_ref(), history).await? {
            Some((_, offsets)) => offsets,
            None => {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "no lake snapshot of {} up to {} records tiered offsets (is the lake tiered from this log?)",
                        info.path, s.id
                    ),
                ));
            }
        },
        _ => BTreeMap::new(),
    };

    let mut lake_splits = Vec::new();
    if let (Some(source), Some(snapshot)) = (&ctx.lake, snapshot)
        && mode != ReadMode::LogOnly
    {
        {
            let serializer = source.split_serializer();
            let mut planner = source.create_planner(snapshot.id).await?;
            for split in planner.plan().await? {
                if let Some(b) = split.bucket()
                    && b >= info.bucket_count
                {
                    return Err(Error::corrupt(format!(
                        "lake split {split:?} names bucket {b} but table {} has {} buckets",
                        info.path, info.bucket_count
                    )));
                }
                check_partition(ctx, split.partition())?;
                lake_splits.push(PlannedLakeSplit {
                    partition: split.partition().to_vec(),
                    bucket: split.bucket(),
                    serialized: SerializedLakeSplit {
                        version: serializer.version(),
                        bytes: serializer.serialize(split.as_ref())?,
                    },
                });
            }
        }
    }
    let bucket_aware = lake_splits.iter().all(|s| s.bucket.is_some());

    // every bucket anyone knows of: the log's, the snapshot's, and the lake's
    let mut buckets: BTreeSet<TableBucket> = offsets.keys().cloned().collect();
    buckets.extend(tiered.keys().cloned());
    let lake_buckets: BTreeSet<TableBucket> = lake_splits
        .iter()
        .filter_map(|s| s.bucket.map(|b| TableBucket::partitioned(s.partition.clone(), b)))
        .collect();
    buckets.extend(lake_buckets.iter().cloned());
    // a bucket-unaware lake says which partitions it holds rows of, not which buckets
    let lake_partitions: BTreeSet<&[String]> = lake_splits.iter().map(|s| s.partition.as_slice()).collect();
    let tiered_partitions: BTreeSet<&[String]> = tiered.keys().map(|b| b.partition.as_slice()).collect();
    let lake_holds = |bucket: &TableBucket| {
        if bucket_aware {
            lake_buckets.contains(bucket)
        } else {
            lake_partitions.contains(bucket.partition.as_slice())
                && !tiered_partitions.contains(bucket.partition.as_slice())
        }
    };
    if let Some(as_of) = as_of {
        check_as_of(info, &as_of.offsets, &buckets)?;
    }

    let mut ranges = BTreeMap::new();
    for bucket in buckets {
        let known = offsets.get(&bucket);
        if let Some(o) = known {
            o.check().map_err(|e| e.context(&bucket))?;
        }
        let start = match mode {
            ReadMode::LogOnly => known.map_or(0, |o| o.earliest),
            _ => match tiered.get(&bucket) {
                Some(&t) => t,
                None => known.map_or(0, |o| o.earliest),
            },
        };
        let stop = match mode {
            ReadMode::LakeOnly => start,
            _ => match as_of.map(|a| (a.offsets.get(&bucket), a.exhaustive)) {
                Some((Some(&stop), _)) => stop,
                Some((None, true)) => start,
                _ => known.map_or(start, |o| o.end),
            },
        };
        if stop < start {
            return Err(Error::offsets(format!(
                "{bucket}: the stop offset {stop} is before the offset {start} the lake covers"
            )));
        }
        // the log starts at its earliest offset only where the lake never saw the bucket:
        // elsewhere it would read the lake's rows of it again, or merge them with a later
        // partition of the same name (a bucket the log no longer has, such as an expired
        // partition's, reads nothing from it and is only the lake's). A bucket-unaware
        // lake's partition counts as seen where the offsets name none of its buckets: a
        // bucket they leave out of a partition they name was empty when tiered.
        if mode == ReadMode::Union && stop > start && !tiered.contains_key(&bucket) && lake_holds(&bucket) {
            let (holds, named) = if bucket_aware {
                ("it", "do not name it")
            } else {
                ("its partition", "name none of the partition's buckets")
            };
            return Err(Error::offsets(format!(
                "{bucket}: the lake snapshot holds rows of {holds}, but its tiered offsets {named}"
            )));
        }
        if let Some(o) = known {
            if stop > start && start < o.earliest {
                return Err(Error::offsets(format!(
                    "{bucket}: the lake covers offsets below {start} but the log starts at {}; offsets [{start}, {}) are lost",
                    o.earliest, o.earliest
                )));
            }
            if stop > o.end {
                return Err(Error::offsets(format!(
                    "{bucket}: the stop offset {stop} is beyond the log's end offset {}",
                    o.end
                )));
            }
        }
        ranges.insert(bucket.clone(), LogRange { bucket, start, stop });
    }

    let log_stops = ranges.iter().map(|(b, r)| (b.clone(), r.stop)).collect();
    let snapshot_id = snapshot.map(|s| s.id);
    let mut splits = Vec::new();

    if !info.has_primary_key() {
        for s in lake_splits {
            splits.push(UnionSplit {
                kind: UnionSplitKind::LakeOnly,
                strategy: MergeStrategy::Auto,
                partition: s.partition,
                bucket: s.bucket,
                snapshot_id,
                lake_splits: vec![s.serialized],
                log_ranges: Vec::new(),
            });
        }
        for (bucket, range) in ranges {
            if range.is_empty() {
                continue;
            }
            splits.push(UnionSplit {
                kind: UnionSplitKind::LogOnly,
                strategy: MergeStrategy::Auto,
                partition: bucket.partition.clone(),
                bucket: Some(bucket.bucket),
                snapshot_id,
                lake_splits: Vec::new(),
                log_ranges: vec![range],
            });
        }
        return Ok(Plan { splits, log_stops });
    }

    // primary-key tables: one split per bucket, or per partition when the lake does not
    // know buckets (keys of a partition may then sit in any lake split)
    let group_of = |partition: &[String], bucket: Option<u32>| -> (Vec<String>, Option<u32>) {
        (partition.to_vec(), if bucket_aware { bucket } else { None })
    };
    let mut groups: BTreeMap<SplitGroup, (Vec<SerializedLakeSplit>, Vec<LogRange>)> = BTreeMap::new();
    for s in lake_splits {
        groups
            .entry(group_of(&s.partition, s.bucket))
            .or_default()
            .0
            .push(s.serialized);
    }
    for (bucket, range) in ranges {
        let entry = groups
            .entry(group_of(&bucket.partition, Some(bucket.bucket)))
            .or_default();
        if !range.is_empty() {
            entry.1.push(range);
        }
    }
    for ((partition, bucket), (lake, log_ranges)) in groups {
        if lake.is_empty() && log_ranges.is_empty() {
            continue;
        }
        let mut split = UnionSplit {
            kind: UnionSplitKind::LakeAndLog,
            strategy: ctx.options.strategy,
            partition,
            bucket,
            snapshot_id,
            lake_splits: lake,
            log_ranges,
        };
        split.strategy = ctx.options.resolve(ctx.options.strategy, split.log_len());
        splits.push(split);
    }
    Ok(Plan { splits, log_stops })
}

/// Refuses as-of offsets for a bucket the table cannot have, or (past offset 0) one the
/// log, the lake and its offsets all lack: the scan reads neither, so it would stop
/// nothing and say nothing.
fn check_as_of(info: &TableInfo, as_of: &BTreeMap<TableBucket, i64>, buckets: &BTreeSet<TableBucket>) -> Result<()> {
    for (bucket, &stop) in as_of {
        if let Some(why) = misshapen(info, bucket) {
            return Err(Error::invalid(format!("as-of offsets name {bucket}, but {why}")));
        }
        if stop != 0 && !buckets.contains(bucket) {
            return Err(Error::offsets(format!(
                "as-of offsets stop {bucket} at {stop}, a bucket this scan knows nothing of"
            )));
        }
    }
    Ok(())
}

/// Why the table cannot have `bucket` (a bucket number past its count, partition values
/// unlike its partition keys in number), or `None`.
pub(crate) fn misshapen(info: &TableInfo, bucket: &TableBucket) -> Option<String> {
    if bucket.bucket >= info.bucket_count {
        return Some(format!("table {} has {} buckets", info.path, info.bucket_count));
    }
    if bucket.partition.len() != info.partition_keys.len() {
        return Some(match info.partition_keys.len() {
            0 => format!("table {} is not partitioned", info.path),
            n => format!("table {} has {n} partition key(s)", info.path),
        });
    }
    None
}

/// Partition values must match the table's partition keys in number.
pub(crate) fn check_partition(ctx: &ScanContext, partition: &[String]) -> Result<()> {
    if partition.len() != ctx.info.partition_keys.len() {
        return Err(Error::corrupt(format!(
            "a split names {} partition value(s) but table {} has {} partition key(s)",
            partition.len(),
            ctx.info.path,
            ctx.info.partition_keys.len()
        )));
    }
    Ok(())
}
