//! Tests of the local log: appends, reopening, rolling, torn tails, corruption, tailing.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use futures::{StreamExt, TryStreamExt};
use lake_api::{ChangeType, LogBatch, LogSource, TableBucket, TableInfo, TablePath};

use super::{LocalLog, LocalLogOptions};
use crate::error::ErrorKind;
use crate::error::{Error, Result};
use crate::record::Compression;

fn info(partitioned: bool) -> TableInfo {
    let mut fields = vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Utf8, true),
    ];
    if partitioned {
        fields.push(Field::new("p", DataType::Utf8, false));
    }
    let schema = Arc::new(Schema::new(fields));
    let mut key = vec!["k".to_string()];
    if partitioned {
        key.push("p".into());
    }
    let info = TableInfo::primary_key_table(TablePath::new("db", "t"), schema, key, 2);
    if partitioned {
        info.with_partition_keys(vec!["p".into()])
    } else {
        info
    }
}

fn batch(keys: std::ops::Range<i64>, partition: Option<&str>) -> RecordBatch {
    let n = (keys.end - keys.start) as usize;
    let mut columns: Vec<Arc<dyn arrow_array::Array>> = vec![
        Arc::new(Int64Array::from_iter_values(keys.clone())),
        Arc::new(StringArray::from_iter_values(keys.map(|k| format!("value {k}")))),
    ];
    if let Some(p) = partition {
        columns.push(Arc::new(StringArray::from(vec![p; n])));
    }
    RecordBatch::try_new(info(partition.is_some()).schema, columns).unwrap()
}

fn options(segment_bytes: u64) -> LocalLogOptions {
    LocalLogOptions {
        segment_bytes,
        poll_interval: Duration::from_millis(20),
        ..LocalLogOptions::default()
    }
}

async fn read_all(log: &LocalLog, bucket: &TableBucket, start: i64, stop: i64) -> Vec<LogBatch> {
    log.read(bucket, start, Some(stop))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

fn keys(batches: &[LogBatch]) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| {
            let k = b.batch.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            k.values().to_vec()
        })
        .collect()
}

#[tokio::test]
async fn appends_survive_reopening_and_roll_segments() {
    let dir = tempfile::tempdir().unwrap();
    let b0 = TableBucket::new(0);
    for compression in [Compression::None, Compression::Lz4Frame, Compression::Zstd] {
        let dir = dir.path().join(format!("{compression:?}"));
        let opts = LocalLogOptions {
            compression,
            ..options(600)
        };
        let log = LocalLog::create(&dir, &info(false), opts.clone()).unwrap();
        for i in 0..20 {
            let (base, next) = log
                .append(&b0, batch(i * 5..i * 5 + 5, None), vec![ChangeType::Insert; 5])
                .unwrap();
            assert_eq!((base, next), (i * 5, i * 5 + 5));
        }
        let segments = std::fs::read_dir(log.table_dir().join("log/bucket-0")).unwrap().count();
        assert!(segments > 3, "{segments} segments: rolling by size did not happen");
        let reopened = LocalLog::open_read_only(&dir, &info(false).path, opts).unwrap();
        let all = read_all(&reopened, &b0, 0, 100).await;
        assert_eq!(keys(&all), (0..100).collect::<Vec<_>>());
        // a read from the middle starts at the batch holding the offset
        let mid = read_all(&reopened, &b0, 42, 57).await;
        assert_eq!(mid.first().unwrap().base_offset, 40);
        let ranges = reopened.offset_ranges().await.unwrap();
        assert_eq!((ranges[&b0].earliest, ranges[&b0].end), (0, 100));
    }
}

#[tokio::test]
async fn partitions_get_ids_and_directories() {
    let dir = tempfile::tempdir().unwrap();
    let log = LocalLog::create(dir.path(), &info(true), options(1 << 20)).unwrap();
    let us = TableBucket::partitioned(vec!["us".into()], 1);
    let eu = TableBucket::partitioned(vec!["eu".into()], 0);
    log.append(&us, batch(0..3, Some("us")), vec![ChangeType::Insert; 3])
        .unwrap();
    log.append(&eu, batch(3..4, Some("eu")), vec![ChangeType::Insert])
        .unwrap();
    assert!(log.table_dir().join("log/us-p0/bucket-1").is_dir());
    assert!(log.table_dir().join("log/eu-p1/bucket-0").is_dir());
    let reopened = LocalLog::open_read_only(dir.path(), &info(true).path, options(1 << 20)).unwrap();
    let ids = reopened.partition_ids().unwrap();
    assert_eq!(ids[&0], vec!["us".to_string()]);
    assert_eq!(ids[&1], vec!["eu".to_string()]);
    assert_eq!(keys(&read_all(&reopened, &us, 0, 3).await), vec![0, 1, 2]);
    let e = log
        .append(
            &TableBucket::partitioned(vec!["a$b".into()], 0),
            batch(0..1, Some("x")),
            vec![ChangeType::Insert],
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
}

#[tokio::test]
async fn rows_of_another_partition_are_refused_and_nothing_is_written() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let log = LocalLog::create(dir.path(), &info(true), options(1 << 20))?;
    let us = TableBucket::partitioned(vec!["us".into()], 0);
    log.append(&us, batch(0..2, Some("us")), vec![ChangeType::Insert; 2])?;
    // the second row belongs to partition "eu": appended under "us" it would be read,
    // tiered and pruned as a "us" row
    let mixed =
        arrow_select::concat::concat_batches(&info(true).schema, &[batch(2..3, Some("us")), batch(3..4, Some("eu"))])?;
    let refused = log.append(&us, mixed, vec![ChangeType::Insert; 2]);
    let Err(e) = refused else {
        return Err(Error::invalid(format!(
            "appended rows of another partition: {refused:?}"
        )));
    };
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(e.to_string().contains("row 1") && e.to_string().contains("eu"), "{e}");
    // nothing of the refused batch was written
    assert_eq!(
        log.append(&us, batch(2..3, Some("us")), vec![ChangeType::Insert])?,
        (2, 3)
    );
    assert_eq!(keys(&read_all(&log, &us, 0, 3).await), vec![0, 1, 2]);

    // a partition column the log renders no name for is the caller's word, as before
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new(
            "t",
            DataType::Timestamp(arrow_schema::TimeUnit::Millisecond, None),
            false,
        ),
    ]));
    let timed =
        TableInfo::log_table(TablePath::new("db", "timed"), schema.clone(), 1).with_partition_keys(vec!["t".into()]);
    let dir = tempfile::tempdir()?;
    let log = LocalLog::create(dir.path(), &timed, options(1 << 20))?;
    let rows = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(vec![1])),
            Arc::new(arrow_array::TimestampMillisecondArray::from(vec![0])),
        ],
    )?;
    let bucket = TableBucket::partitioned(vec!["t0".into()], 0);
    assert_eq!(log.append(&bucket, rows, vec![ChangeType::AppendOnly])?, (0, 1));
    Ok(())
}

#[tokio::test]
async fn directories_naming_buckets_or_partitions_the_table_cannot_have_are_corrupt() -> Result<()> {
    // a bucket past the table's two: tiering it would size the offsets JSON by its number
    let dir = tempfile::tempdir()?;
    let log = LocalLog::create(dir.path(), &info(false), options(1 << 20))?;
    std::fs::create_dir_all(log.table_dir().join("log/bucket-4294967295"))?;
    let e = LocalLog::open_read_only(dir.path(), &info(false).path, options(1 << 20))
        .err()
        .ok_or_else(|| Error::corrupt("opened"))?;
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(
        e.message().contains("bucket 4294967295 but the table has 2 buckets"),
        "{e}"
    );

    // partition ids: a negative one is refused, and the last one leaves no next id
    for (name, wanted) in [
        ("x-p-3", "partition id -3"),
        ("x-p9223372036854775807", "no partition id is left"),
        // and names this log does not write: a partition of two values for the one key, a
        // value Fluss refuses, an id written with a leading zero
        ("x$y-p1", "is no partition of a table"),
        ("a.b-p2", "is no partition of a table"),
        ("x-p01", "is no partition of a table"),
    ] {
        let dir = tempfile::tempdir()?;
        let table_dir = LocalLog::create(dir.path(), &info(true), options(1 << 20))?
            .table_dir()
            .to_path_buf();
        std::fs::create_dir_all(table_dir.join("log").join(name))?;
        let e = match LocalLog::open(dir.path(), &info(true).path, options(1 << 20)) {
            Err(e) => e,
            Ok(log) => log
                .append(
                    &TableBucket::partitioned(vec!["y".into()], 0),
                    batch(0..1, Some("y")),
                    vec![ChangeType::Insert],
                )
                .err()
                .ok_or_else(|| Error::corrupt("appended"))?,
        };
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{name}: {e}");
        assert!(e.message().contains(wanted), "{name}: {e}");
    }
    Ok(())
}

#[tokio::test]
async fn two_directories_for_one_bucket_or_partition_are_corrupt() -> Result<()> {
    // regression: `bucket-1` and `bucket-01` both read as bucket 1 (and `x-p0` and `x-p5`
    // as partition x), and one of them was silently left unread
    let dir = tempfile::tempdir()?;
    let log = LocalLog::create(dir.path(), &info(false), options(1 << 20))?;
    log.append(&TableBucket::new(1), batch(0..1, None), vec![ChangeType::Insert])?;
    std::fs::create_dir_all(log.table_dir().join("log/bucket-01"))?;
    let e = LocalLog::open_read_only(dir.path(), &info(false).path, options(1 << 20))
        .err()
        .ok_or_else(|| Error::corrupt("opened"))?;
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(e.message().contains("bucket 1"), "{e}");

    let dir = tempfile::tempdir()?;
    let log = LocalLog::create(dir.path(), &info(true), options(1 << 20))?;
    let bucket = TableBucket::partitioned(vec!["x".into()], 0);
    log.append(&bucket, batch(0..1, Some("x")), vec![ChangeType::Insert])?;
    std::fs::create_dir_all(log.table_dir().join("log/x-p5"))?;
    let e = LocalLog::open_read_only(dir.path(), &info(true).path, options(1 << 20))
        .err()
        .ok_or_else(|| Error::corrupt("opened"))?;
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(e.message().contains("partition"), "{e}");
    Ok(())
}

#[tokio::test]
async fn a_bucket_directory_named_otherwise_or_a_partition_id_used_twice_is_corrupt() -> Result<()> {
    // regression: `bucket-01` alone read as bucket 1, whose directory `bucket-1` then was
    // not found (NotFound for the whole table); `x-p5` and `y-p5` both took id 5, so one
    // partition's tiered offsets would have gone to the other
    let dir = tempfile::tempdir()?;
    let log = LocalLog::create(dir.path(), &info(false), options(1 << 20))?;
    std::fs::create_dir_all(log.table_dir().join("log/bucket-01"))?;
    let e = LocalLog::open_read_only(dir.path(), &info(false).path, options(1 << 20))
        .err()
        .ok_or_else(|| Error::corrupt("opened"))?;
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(e.message().contains("bucket-01"), "{e}");

    let dir = tempfile::tempdir()?;
    let log = LocalLog::create(dir.path(), &info(true), options(1 << 20))?;
    let x = TableBucket::partitioned(vec!["x".into()], 0);
    log.append(&x, batch(0..1, Some("x")), vec![ChangeType::Insert])?;
    let x_dir = std::fs::read_dir(log.table_dir().join("log"))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("x-p"))
        .ok_or_else(|| Error::corrupt("no partition directory"))?;
    let id = x_dir.trim_start_matches("x-p");
    std::fs::create_dir_all(log.table_dir().join(format!("log/y-p{id}")))?;
    let e = LocalLog::open_read_only(dir.path(), &info(true).path, options(1 << 20))
        .err()
        .ok_or_else(|| Error::corrupt("opened"))?;
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(e.message().contains(&format!("partition id {id}")), "{e}");
    Ok(())
}

#[test]
fn a_table_name_that_leaves_the_root_is_refused() -> Result<()> {
    // regression: the names were joined to the root as paths, so an absolute or nested
    // name put the table's files outside it
    let root = tempfile::tempdir()?;
    let outside = tempfile::tempdir()?;
    let abs = outside.path().to_string_lossy().into_owned();
    for (database, table) in [
        (abs.as_str(), "t"),
        ("db", abs.as_str()),
        ("db", "../t"),
        ("db", ".."),
        ("db", "a/b"),
        ("..", "t"),
        ("", "t"),
    ] {
        let mut info = info(false);
        info.path = TablePath::new(database, table);
        let e = LocalLog::create(root.path(), &info, options(1 << 20))
            .err()
            .ok_or_else(|| Error::invalid(format!("created {}", info.path)))?;
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    }
    assert_eq!(std::fs::read_dir(outside.path())?.count(), 0);
    assert_eq!(std::fs::read_dir(root.path())?.count(), 0);
    Ok(())
}

#[test]
fn a_primary_key_table_takes_no_append_only_row() -> Result<()> {
    // regression: only an all `+A` batch was refused; one `+A` among inserts was stored
    let dir = tempfile::tempdir()?;
    let log = LocalLog::create(dir.path(), &info(false), options(1 << 20))?;
    let e = log
        .append(
            &TableBucket::new(0),
            batch(0..2, None),
            vec![ChangeType::Insert, ChangeType::AppendOnly],
        )
        .err()
        .ok_or_else(|| Error::invalid("appended"))?;
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_naming_a_partition_created_after_the_log_was_opened_resolve() -> Result<()> {
    // regression: the partition ids were those the log saw when it opened, so a reader
    // opened before the appender created a partition could not read a snapshot's offsets
    let dir = tempfile::tempdir()?;
    let writer = LocalLog::create(dir.path(), &info(true), options(1 << 20))?;
    let reader = LocalLog::open_read_only(dir.path(), &info(true).path, options(1 << 20))?;
    let bucket = TableBucket::partitioned(vec!["x".into()], 0);
    writer.append(&bucket, batch(0..3, Some("x")), vec![ChangeType::Insert; 3])?;
    let lake = Arc::new(lake_api::memory::MemoryLake::new());
    let snapshot = crate::tiering::Tierer::new(writer.clone(), lake)
        .tier(&crate::tiering::TierOptions::default())
        .await?;
    assert_eq!(reader.snapshot_offsets(&snapshot).await?.get(&bucket), Some(&3));
    Ok(())
}

fn last_segment(log: &LocalLog) -> std::path::PathBuf {
    let mut files = bucket_segments(&log.table_dir().join("log/bucket-0")).unwrap();
    files.pop().unwrap()
}

#[tokio::test]
async fn a_torn_tail_is_cut_off_on_open_and_never_returned() {
    let dir = tempfile::tempdir().unwrap();
    let b0 = TableBucket::new(0);
    let log = LocalLog::create(dir.path(), &info(false), options(1 << 20)).unwrap();
    log.append(&b0, batch(0..4, None), vec![ChangeType::Insert; 4]).unwrap();
    log.append(&b0, batch(4..8, None), vec![ChangeType::Insert; 4]).unwrap();
    let segment = last_segment(&log);
    let good_len = std::fs::metadata(&segment).unwrap().len();
    // a crash in the middle of the third append: half a batch
    let third = crate::record::encode_batch(
        &batch(8..12, None),
        Some(&[ChangeType::Insert; 4]),
        8,
        &Default::default(),
    )
    .unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&segment)
        .unwrap()
        .write_all(&third[..third.len() / 2])
        .unwrap();
    crash(log).unwrap();

    // a reader leaves the tail alone and does not see it
    let reader = LocalLog::open_read_only(dir.path(), &info(false).path, options(1 << 20)).unwrap();
    assert_eq!(reader.offset_ranges().await.unwrap()[&b0].end, 8);
    assert!(std::fs::metadata(&segment).unwrap().len() > good_len);

    // the writer cuts it off and carries on from offset 8
    let log = LocalLog::open(dir.path(), &info(false).path, options(1 << 20)).unwrap();
    assert_eq!(std::fs::metadata(&segment).unwrap().len(), good_len);
    assert_eq!(
        log.append(&b0, batch(8..10, None), vec![ChangeType::Insert; 2])
            .unwrap(),
        (8, 10)
    );
    assert_eq!(keys(&read_all(&log, &b0, 0, 10).await), (0..10).collect::<Vec<_>>());
}

#[tokio::test]
async fn corruption_before_the_tail_is_an_error_and_nothing_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let b0 = TableBucket::new(0);
    let log = LocalLog::create(dir.path(), &info(false), options(1 << 20)).unwrap();
    log.append(&b0, batch(0..4, None), vec![ChangeType::Insert; 4]).unwrap();
    log.append(&b0, batch(4..8, None), vec![ChangeType::Insert; 4]).unwrap();
    let segment = last_segment(&log);
    // closed cleanly: every batch is below the recovery point, so damage is corruption
    drop(log);
    let mut bytes = std::fs::read(&segment).unwrap();
    let len = bytes.len();
    bytes[60] ^= 0xff; // inside the first batch's body
    std::fs::write(&segment, &bytes).unwrap();
    // opening indexes headers only; the bad batch is found when it is read
    let log = LocalLog::open(dir.path(), &info(false).path, options(1 << 20)).unwrap();
    let e = log
        .read(&b0, 0, Some(8))
        .await
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), lake_api::ErrorKind::Corrupt, "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("CRC") && msg.contains("byte 0") && msg.contains(&segment.display().to_string()),
        "{msg}"
    );
    // the batch after it is intact and still readable
    assert_eq!(keys(&read_all(&log, &b0, 4, 8).await), vec![4, 5, 6, 7]);
    assert_eq!(
        std::fs::metadata(&segment).unwrap().len() as usize,
        len,
        "nothing was truncated"
    );
}

#[tokio::test]
async fn a_deleted_segment_is_a_typed_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let b0 = TableBucket::new(0);
    let log = LocalLog::create(dir.path(), &info(false), options(1 << 20)).unwrap();
    log.append(&b0, batch(0..4, None), vec![ChangeType::Insert; 4]).unwrap();
    let segment = last_segment(&log);
    std::fs::remove_file(&segment).unwrap();
    let e = log
        .read(&b0, 0, Some(4))
        .await
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), lake_api::ErrorKind::NotFound, "{e}");
    assert!(e.to_string().contains(&segment.display().to_string()), "{e}");
}

#[tokio::test]
async fn tailing_sees_appends_of_this_and_other_instances() {
    let dir = tempfile::tempdir().unwrap();
    let b0 = TableBucket::new(0);
    let writer = LocalLog::create(dir.path(), &info(false), options(300)).unwrap();
    writer
        .append(&b0, batch(0..2, None), vec![ChangeType::Insert; 2])
        .unwrap();
    // another instance, as another process would have
    let reader = LocalLog::open_read_only(dir.path(), &info(false).path, options(300)).unwrap();
    let mut same = writer.read(&b0, 0, None).await.unwrap();
    let mut other = reader.read(&b0, 0, None).await.unwrap();
    assert_eq!(next_batch(&mut same).await.base_offset, 0);
    assert_eq!(next_batch(&mut other).await.base_offset, 0);
    for i in 1..6 {
        writer
            .append(&b0, batch(i * 2..i * 2 + 2, None), vec![ChangeType::UpdateAfter; 2])
            .unwrap();
        assert_eq!(next_batch(&mut same).await.base_offset, i * 2);
        assert_eq!(next_batch(&mut other).await.base_offset, i * 2, "across segments too");
    }
}

#[tokio::test]
async fn bad_appends_and_reads_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = LocalLog::create(dir.path(), &info(false), options(1 << 20)).unwrap();
    let b0 = TableBucket::new(0);
    let e = log
        .append(&TableBucket::new(5), batch(0..1, None), vec![ChangeType::Insert])
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let e = log
        .append(&b0, batch(0..2, Some("x")), vec![ChangeType::Insert; 2])
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SchemaMismatch, "{e}");
    let e = log
        .append(&b0, batch(0..2, None), vec![ChangeType::Insert])
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let e = log
        .append(&b0, batch(0..2, None), vec![ChangeType::AppendOnly; 2])
        .unwrap_err();
    assert!(e.to_string().contains("primary-key table"), "{e}");
    log.append(&b0, batch(0..2, None), vec![ChangeType::Insert; 2]).unwrap();
    let e = log.read(&b0, 7, Some(9)).await.err().unwrap();
    assert_eq!(e.kind(), lake_api::ErrorKind::Offsets);
    // bucket 1 is there, empty, until written to; the table has no bucket 2
    assert!(log.read(&TableBucket::new(2), 0, Some(1)).await.is_err());
    assert!(
        LocalLog::create(dir.path(), &info(false), options(1 << 20)).is_err(),
        "exists already"
    );
    let e = LocalLog::open(dir.path(), &TablePath::new("db", "nope"), options(1)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

async fn next_batch(s: &mut lake_api::LogBatchStream) -> LogBatch {
    tokio::time::timeout(Duration::from_secs(5), s.next())
        .await
        .expect("no batch in 5 s")
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn one_appender_at_a_time_and_readers_cannot_append() {
    let dir = tempfile::tempdir().unwrap();
    let writer = LocalLog::create(dir.path(), &info(false), options(1 << 20)).unwrap();
    let e = LocalLog::open(dir.path(), &info(false).path, options(1 << 20)).unwrap_err();
    assert!(e.to_string().contains("open for appending"), "{e}");
    let reader = LocalLog::open_read_only(dir.path(), &info(false).path, options(1 << 20)).unwrap();
    let e = reader
        .append(&TableBucket::new(0), batch(0..1, None), vec![ChangeType::Insert])
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    drop(writer);
    LocalLog::open(dir.path(), &info(false).path, options(1 << 20)).unwrap();
}

#[tokio::test]
async fn a_zero_filled_tail_is_torn_too() {
    // regression: a crash after the file system extended the file but before the data
    // landed leaves zeros, which read as a batch of length 0 and made the log unopenable
    let dir = tempfile::tempdir().unwrap();
    let b0 = TableBucket::new(0);
    let log = LocalLog::create(dir.path(), &info(false), options(1 << 20)).unwrap();
    log.append(&b0, batch(0..4, None), vec![ChangeType::Insert; 4]).unwrap();
    let segment = last_segment(&log);
    let good_len = std::fs::metadata(&segment).unwrap().len();
    crash(log).unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&segment)
        .unwrap()
        .write_all(&[0u8; 4096])
        .unwrap();
    let log = LocalLog::open(dir.path(), &info(false).path, options(1 << 20)).unwrap();
    assert_eq!(std::fs::metadata(&segment).unwrap().len(), good_len);
    assert_eq!(
        log.append(&b0, batch(4..6, None), vec![ChangeType::Insert; 2]).unwrap(),
        (4, 6)
    );
}

#[tokio::test]
async fn readers_follow_several_new_segments_and_ignore_stray_files() {
    // regression: a refresh picked up one new segment at most, so a reader in another
    // process under-reported the end after two rolls
    let dir = tempfile::tempdir().unwrap();
    let b0 = TableBucket::new(0);
    let writer = LocalLog::create(dir.path(), &info(true), options(200)).unwrap();
    let us = TableBucket::partitioned(vec!["us".into()], 0);
    writer
        .append(&us, batch(0..2, Some("us")), vec![ChangeType::Insert; 2])
        .unwrap();
    std::fs::write(writer.table_dir().join("log/.DS_Store"), b"junk").unwrap();
    let reader = LocalLog::open_read_only(dir.path(), &info(true).path, options(200)).unwrap();
    for i in 1..8 {
        writer
            .append(&us, batch(i * 2..i * 2 + 2, Some("us")), vec![ChangeType::Insert; 2])
            .unwrap();
    }
    let segments = std::fs::read_dir(writer.table_dir().join("log/us-p0/bucket-0"))
        .unwrap()
        .count();
    assert!(segments >= 4, "{segments}");
    assert_eq!(reader.offset_ranges().await.unwrap()[&us].end, 16);
    assert_eq!(keys(&read_all(&reader, &us, 0, 16).await), (0..16).collect::<Vec<_>>());
    let _ = b0;
}

#[test]
fn a_partitioned_key_table_whose_key_lacks_the_partition_is_refused() -> Result<()> {
    // as Fluss refuses it: one key in two partitions is two rows to the union read, one
    // to a lake writer matching rows by the key
    let dir = tempfile::tempdir()?;
    let mut table = info(true);
    table.primary_key = vec!["k".into()];
    let e = LocalLog::create(dir.path(), &table, options(1 << 20))
        .err()
        .ok_or_else(|| Error::invalid("created"))?;
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    Ok(())
}

#[tokio::test]
async fn date_partitions_are_named_as_fluss_names_them() -> Result<()> {
    // regression: dates went through Arrow's display, which signs years past 9999
    // ("+10000-01-01", refused as a partition name) where Fluss and the lakes write
    // "10000-01-01"
    let dir = tempfile::tempdir()?;
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("d", DataType::Date32, false),
    ]));
    let table =
        TableInfo::log_table(TablePath::new("db", "days"), schema.clone(), 1).with_partition_keys(vec!["d".into()]);
    let log = LocalLog::create(dir.path(), &table, options(1 << 20))?;
    let days = [19_723, 2_932_897, -719_529];
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from_iter_values(0..3)),
            Arc::new(arrow_array::Date32Array::from(days.to_vec())),
        ],
    )?;
    let written = log.append_rows(batch, vec![ChangeType::AppendOnly; 3])?;
    let mut names: Vec<String> = written.iter().flat_map(|(b, _, _)| b.partition.clone()).collect();
    names.sort();
    assert_eq!(names, ["-001-12-31", "10000-01-01", "2024-01-01"]);

    // a date past the calendar names no partition: refused, whichever way it is appended
    let far = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(vec![9, 10])),
            Arc::new(arrow_array::Date32Array::from(vec![19_723, i32::MAX])),
        ],
    )?;
    let e = log
        .append_rows(far.clone(), vec![ChangeType::AppendOnly; 2])
        .err()
        .ok_or_else(|| Error::invalid("appended"))?;
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    let bucket = TableBucket::partitioned(vec!["2024-01-01".into()], 0);
    let e = log
        .append(&bucket, far, vec![ChangeType::AppendOnly; 2])
        .err()
        .ok_or_else(|| Error::invalid("appended under 2024-01-01"))?;
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    Ok(())
}

#[tokio::test]
async fn append_rows_routes_rows_to_their_partitions_and_buckets() {
    use crate::bucketing::{BucketAssigner, LakeFormat};
    let dir = tempfile::tempdir().unwrap();
    for (i, format) in [None, Some("paimon"), Some("iceberg")].into_iter().enumerate() {
        // built the usual way: key (k, p), partitioned by p, bucketed as Fluss does by k
        let mut table = info(true);
        table.path = TablePath::new("db", format!("t{i}"));
        if let Some(f) = format {
            table
                .properties
                .insert(super::DATALAKE_FORMAT_PROPERTY.into(), f.into());
        }
        let log = LocalLog::create(dir.path(), &table, options(1 << 20)).unwrap();
        let rows = 40;
        let p: Vec<&str> = (0..rows).map(|k| if k % 3 == 0 { "eu" } else { "us" }).collect();
        let batch = RecordBatch::try_new(
            table.schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values(0..rows as i64)),
                Arc::new(StringArray::from_iter_values((0..rows).map(|k| format!("value {k}")))),
                Arc::new(StringArray::from(p.clone())),
            ],
        )
        .unwrap();
        let written = log.append_rows(batch.clone(), vec![ChangeType::Insert; rows]).unwrap();
        let total: i64 = written.iter().map(|(_, base, next)| next - base).sum();
        assert_eq!(total, rows as i64);
        // each row is where the lake's bucketing puts it
        let lake = LakeFormat::from_property(format).unwrap();
        let expected = BucketAssigner::new(lake, &table.schema, &["k".to_string()], 2)
            .unwrap()
            .assign(&batch)
            .unwrap();
        for (bucket, base, next) in &written {
            let got = read_all(&log, bucket, *base, *next).await;
            for k in keys(&got) {
                assert_eq!(bucket.bucket, expected[k as usize], "{format:?}: key {k}");
                assert_eq!(bucket.partition, vec![p[k as usize].to_string()], "key {k}");
            }
        }
    }
    // a null partition value is refused
    let mut table = info(true);
    table.path = TablePath::new("db", "nulls");
    let log = LocalLog::create(dir.path(), &table, options(1 << 20)).unwrap();
    let schema = table.schema.clone();
    let bad = RecordBatch::try_new(
        Arc::new(arrow_schema::Schema::new(
            schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect::<Vec<_>>(),
        )),
        vec![
            Arc::new(Int64Array::from(vec![1])),
            Arc::new(StringArray::from(vec!["x"])),
            Arc::new(StringArray::from(vec![None::<&str>])),
        ],
    )
    .unwrap();
    assert!(log.append_rows(bad, vec![ChangeType::Insert]).is_err());
}

#[tokio::test]
async fn append_rows_writes_nothing_when_any_row_is_bad() {
    // regression: groups were written one by one and checked as they went, so a bad
    // partition value in a later group left the earlier groups written
    let dir = tempfile::tempdir().unwrap();
    let mut table = info(true);
    table.bucket_key = vec!["k".into()];
    let log = LocalLog::create(dir.path(), &table, options(1 << 20)).unwrap();
    let batch = RecordBatch::try_new(
        table.schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3])),
            Arc::new(StringArray::from(vec!["a", "b", "c"])),
            Arc::new(StringArray::from(vec!["us", "us", "not.valid"])),
        ],
    )
    .unwrap();
    let e = log.append_rows(batch, vec![ChangeType::Insert; 3]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(
        e.to_string().contains("row 2") && e.to_string().contains("not.valid"),
        "{e}"
    );
    assert!(log.offset_ranges().await.unwrap().is_empty(), "nothing was written");
}

#[tokio::test]
async fn a_bad_length_before_valid_batches_is_corruption_not_a_torn_tail() {
    // regression: a corrupted length field claiming bytes past the end looked like a torn
    // tail, and opening cut every valid batch after it (of a log closed cleanly: after a
    // crash, batches past the recovery point are cut at the first bad one on purpose)
    let dir = tempfile::tempdir().unwrap();
    let b0 = TableBucket::new(0);
    let log = LocalLog::create(dir.path(), &info(false), options(1 << 20)).unwrap();
    for i in 0..3 {
        log.append(&b0, batch(i * 4..i * 4 + 4, None), vec![ChangeType::Insert; 4])
            .unwrap();
    }
    let segment = last_segment(&log);
    // closed cleanly (see `corruption_before_the_tail_is_an_error_and_nothing_is_cut`)
    drop(log);
    let mut bytes = std::fs::read(&segment).unwrap();
    let len = bytes.len();
    // the first batch's length (bytes 8..12) now claims far past the end of the file
    bytes[8..12].copy_from_slice(&(len as i32 * 4).to_le_bytes());
    std::fs::write(&segment, &bytes).unwrap();
    let e = LocalLog::open(dir.path(), &info(false).path, options(1 << 20)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert_eq!(
        std::fs::metadata(&segment).unwrap().len() as usize,
        len,
        "nothing was cut"
    );
}

#[tokio::test]
async fn reads_fetch_consecutive_batches_together_and_stop_where_asked() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let b0 = TableBucket::new(0);
    // one large segment, then a small one: a fetch never spans two segments
    let log = LocalLog::create(dir.path(), &info(false), options(u64::MAX))?;
    for i in 0..40 {
        log.append(&b0, batch(i * 5..i * 5 + 5, None), vec![ChangeType::Insert; 5])?;
    }
    {
        let state = log.state()?;
        let bucket = &state.buckets[&b0];
        let all = bucket.entries_after(0, None, u64::MAX);
        assert_eq!(all.len(), 40);
        let one_batch = u64::from(all[0].len);
        // by bytes: at least one, at most what fits
        assert_eq!(bucket.entries_after(0, None, 0).len(), 1);
        assert_eq!(bucket.entries_after(0, None, one_batch * 3).len(), 3);
        // from the batch holding the offset, up to the batch before `stop`
        let some = bucket.entries_after(42, Some(57), u64::MAX);
        assert_eq!(some.iter().map(|e| e.base).collect::<Vec<_>>(), vec![40, 45, 50, 55]);
        assert!(bucket.entries_after(200, None, u64::MAX).is_empty());
    }
    let mid = read_all(&log, &b0, 42, 57).await;
    assert_eq!(mid.first().ok_or_else(|| Error::invalid("no batches"))?.base_offset, 40);
    assert_eq!(mid.last().ok_or_else(|| Error::invalid("no batches"))?.base_offset, 55);
    assert_eq!(keys(&read_all(&log, &b0, 0, 200).await), (0..200).collect::<Vec<_>>());
    Ok(())
}

#[tokio::test]
async fn sync_makes_appends_durable_once_and_sync_option_does_it_per_append() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let b0 = TableBucket::new(0);
    let p = |b| TableBucket::partitioned(vec!["x".to_string()], b);
    let log = LocalLog::create(dir.path(), &info(true), options(300))?;
    for i in 0..5 {
        log.append(&p(0), batch(i * 5..i * 5 + 5, Some("x")), vec![ChangeType::Insert; 5])?;
    }
    log.append(&p(1), batch(0..3, Some("x")), vec![ChangeType::Insert; 3])?;
    let before = log.durable_offsets()?;
    assert_eq!((before[&p(0)], before[&p(1)]), ((0, 25), (0, 3)));
    log.sync()?;
    let after = log.durable_offsets()?;
    assert_eq!((after[&p(0)], after[&p(1)]), ((25, 25), (3, 3)));
    drop(log);

    // a reopened log knows what an earlier process synced from its recovery point, and
    // nothing past it
    let log = LocalLog::open(dir.path(), &info(true).path, options(300))?;
    assert_eq!(log.durable_offsets()?[&p(0)], (25, 25));
    log.append(&p(0), batch(25..30, Some("x")), vec![ChangeType::Insert; 5])?;
    crash(log)?;
    let log = LocalLog::open(dir.path(), &info(true).path, options(300))?;
    assert_eq!(log.durable_offsets()?[&p(0)], (25, 30));
    log.sync()?;
    assert_eq!(log.durable_offsets()?[&p(0)], (30, 30));

    // a clean close (the last clone dropped) syncs what came since
    log.append(&p(0), batch(30..35, Some("x")), vec![ChangeType::Insert; 5])?;
    drop(log.clone());
    assert_eq!(log.durable_offsets()?[&p(0)], (30, 35), "a clone is no close");
    drop(log);
    let log = LocalLog::open(dir.path(), &info(true).path, options(300))?;
    assert_eq!(log.durable_offsets()?[&p(0)], (35, 35));
    assert_eq!(log.durable_offsets()?[&p(1)], (3, 3));

    let synced = LocalLogOptions {
        sync: true,
        ..options(300)
    };
    let log = LocalLog::create(&dir.path().join("synced"), &info(false), synced)?;
    for i in 0..3 {
        log.append(&b0, batch(i * 5..i * 5 + 5, None), vec![ChangeType::Insert; 5])?;
        assert_eq!(log.durable_offsets()?[&b0], (i * 5 + 5, i * 5 + 5));
    }
    Ok(())
}

#[tokio::test]
async fn a_synced_append_vouches_only_for_its_own_segment() -> Result<()> {
    // regression: a synced append synced its own segment only, yet took every offset below
    // it for durable; the sync after it then left the earlier segments, which a crashed
    // unsynced writer had left in the page cache, unsynced under its recovery point
    let dir = tempfile::tempdir()?;
    let b0 = TableBucket::new(0);
    let log = LocalLog::create(dir.path(), &info(false), options(300))?;
    for i in 0..3 {
        log.append(&b0, batch(i * 5..i * 5 + 5, None), vec![ChangeType::Insert; 5])?;
    }
    crash(log)?;
    let synced = LocalLogOptions {
        sync: true,
        ..options(300)
    };
    let log = LocalLog::open(dir.path(), &info(false).path, synced)?;
    assert_eq!(log.durable_offsets()?[&b0], (0, 15));
    log.append(&b0, batch(15..20, None), vec![ChangeType::Insert; 5])?;
    let segments = files_with_suffix(&log.table_dir().join("log"), ".log")?;
    assert!(segments > 2, "{segments} segments");
    assert_eq!(log.durable_offsets()?[&b0], (0, 20));
    log.sync()?;
    assert_eq!(log.durable_offsets()?[&b0], (20, 20));
    // once all before it is durable, a synced append is again durable by itself
    log.append(&b0, batch(20..25, None), vec![ChangeType::Insert; 5])?;
    assert_eq!(log.durable_offsets()?[&b0], (25, 25));
    Ok(())
}

/// How many files under `dir` (at any depth) end in `suffix`.
fn files_with_suffix(dir: &std::path::Path, suffix: &str) -> Result<usize> {
    let mut n = 0;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            n += files_with_suffix(&path, suffix)?;
        } else if path.to_string_lossy().ends_with(suffix) {
            n += 1;
        }
    }
    Ok(n)
}

/// The recovery point files under `dir`, with what they hold.
fn recovery_points(dir: &std::path::Path) -> Result<Vec<(std::path::PathBuf, Vec<u8>)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            found.extend(recovery_points(&path)?);
        } else if path.file_name().is_some_and(|n| n == "recovery-point") {
            let bytes = std::fs::read(&path)?;
            found.push((path, bytes));
        }
    }
    Ok(found)
}

/// Drops the log as a crash would: without the clean close that syncs it. (The close runs,
/// then the recovery points are put back as they were.)
fn crash(log: LocalLog) -> Result<()> {
    let dir = log.table_dir().join("log");
    let before = recovery_points(&dir)?;
    drop(log);
    for (path, _) in recovery_points(&dir)? {
        std::fs::remove_file(path)?;
    }
    for (path, bytes) in before {
        std::fs::write(path, bytes)?;
    }
    Ok(())
}

/// A log of bucket 0 holding offsets 0..8 in two batches, and its last segment. With
/// `sync` it was synced; without, it was never synced and its writer crashed.
fn two_batches(dir: &std::path::Path, sync: bool) -> Result<std::path::PathBuf> {
    let log = LocalLog::create(dir, &info(false), options(1 << 20))?;
    let b0 = TableBucket::new(0);
    log.append(&b0, batch(0..4, None), vec![ChangeType::Insert; 4])?;
    log.append(&b0, batch(4..8, None), vec![ChangeType::Insert; 4])?;
    let segment = last_segment(&log);
    if sync {
        log.sync()?;
    } else {
        crash(log)?;
    }
    Ok(segment)
}

#[tokio::test]
async fn a_damaged_last_batch_that_was_synced_is_corruption_and_is_not_cut() -> Result<()> {
    for sync in [false, true] {
        let dir = tempfile::tempdir()?;
        let segment = two_batches(dir.path(), sync)?;
        let mut bytes = std::fs::read(&segment)?;
        let len = bytes.len();
        // inside the second (last) batch's body: its CRC fails
        bytes[len - 10] ^= 0xff;
        std::fs::write(&segment, &bytes)?;
        let opened = LocalLog::open(dir.path(), &info(false).path, options(1 << 20));
        if sync {
            let e = opened
                .err()
                .ok_or_else(|| Error::invalid("opened over damaged synced data"))?;
            assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
            assert!(e.to_string().contains("synced up to offset 8"), "{e}");
            assert_eq!(std::fs::read(&segment)?.len(), len, "nothing was cut");
            // readers refuse it too
            let reader = LocalLog::open_read_only(dir.path(), &info(false).path, options(1 << 20));
            assert!(reader.is_err());
        } else {
            // never synced: a torn append, cut as ever
            let log = opened?;
            assert_eq!(log.offset_ranges().await?[&TableBucket::new(0)].end, 4);
            assert!(std::fs::read(&segment)?.len() < len);
        }
    }
    Ok(())
}

/// The error opening the table of [`two_batches`] for appending fails with; `what` says
/// what opening would have done wrong.
fn open_err(dir: &std::path::Path, what: &str) -> Result<Error> {
    LocalLog::open(dir, &info(false).path, options(1 << 20))
        .err()
        .ok_or_else(|| Error::invalid(what))
}

#[tokio::test]
async fn a_log_that_ends_before_its_recovery_point_is_corrupt() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let segment = two_batches(dir.path(), true)?;
    // cut at the batch boundary: every batch left is whole, but offsets 4..8 are gone
    let bytes = std::fs::read(&segment)?;
    let log = LocalLog::open_read_only(dir.path(), &info(false).path, options(1 << 20))?;
    let (entries, path) = log.next_entries(&TableBucket::new(0), 4, None)?;
    assert_eq!(path, segment);
    let second = entries[0].pos as usize;
    drop(log);
    std::fs::write(&segment, &bytes[..second])?;
    let e = open_err(dir.path(), "opened a log shorter than its recovery point")?;
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(
        e.to_string().contains("ends at offset 4 but was synced up to offset 8"),
        "{e}"
    );

    // a malformed recovery point is named
    std::fs::write(&segment, &bytes)?;
    std::fs::write(segment.with_file_name("recovery-point"), "eight")?;
    let e = open_err(dir.path(), "opened with a malformed recovery point")?;
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(e.to_string().contains("recovery-point"), "{e}");
    Ok(())
}

#[tokio::test]
async fn a_descriptor_that_describes_no_table_is_corrupt() -> Result<()> {
    // regression: a descriptor that parsed but described no table (0 buckets, a key
    // column that is not there) was an InvalidArgument, as if the caller had asked
    // wrongly; one that did not parse was Corrupt
    let dir = tempfile::tempdir()?;
    let file = LocalLog::create(dir.path(), &info(true), options(1 << 20))?
        .table_dir()
        .join(super::descriptor::DESCRIPTOR_FILE);
    let json = |e: serde_json::Error| Error::invalid(e.to_string());
    let good: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file)?).map_err(json)?;
    for (field, value) in [
        ("bucket_count", serde_json::json!(0)),
        ("primary_key", serde_json::json!(["missing"])),
    ] {
        let mut bad = good.clone();
        bad[field] = value;
        std::fs::write(&file, serde_json::to_string(&bad).map_err(json)?)?;
        let e = open_err(dir.path(), "opened with a descriptor of no table")?;
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{field}: {e}");
        assert!(e.to_string().contains("table.json"), "{e}");
    }
    Ok(())
}

#[tokio::test]
async fn a_torn_tail_over_a_stale_copy_of_an_earlier_batch_is_still_torn() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let segment = two_batches(dir.path(), false)?;
    let bytes = std::fs::read(&segment)?;
    let second = bytes.len() / 2..bytes.len();
    assert_eq!(crate::record::read_header(&bytes[second.clone()])?.base_offset, 4);
    // a crash in the third append (offsets 8..40): its header, then what the disk held
    // before, here a whole copy of the second batch (offsets 4..8). That copy is no later
    // batch of this log (its offsets are below the torn one's), so it proves no damage in
    // place: the tail is torn and cut
    let third = crate::record::encode_batch(
        &batch(8..40, None),
        Some(&[ChangeType::Insert; 32]),
        8,
        &Default::default(),
    )?;
    let mut torn = bytes.clone();
    torn.extend_from_slice(&third[..60]);
    torn.extend_from_slice(&bytes[second]);
    assert!(
        torn.len() < bytes.len() + third.len(),
        "the third batch reaches past the end"
    );
    std::fs::write(&segment, &torn)?;
    // a reader judges the tail (the appender cuts past the recovery point whatever follows)
    let reader = LocalLog::open_read_only(dir.path(), &info(false).path, options(1 << 20))?;
    assert_eq!(reader.offset_ranges().await?[&TableBucket::new(0)].end, 8);
    assert_eq!(std::fs::read(&segment)?, torn, "a reader cuts nothing");
    let log = LocalLog::open(dir.path(), &info(false).path, options(1 << 20))?;
    assert_eq!(log.offset_ranges().await?[&TableBucket::new(0)].end, 8);
    assert_eq!(std::fs::read(&segment)?, bytes);
    Ok(())
}

#[tokio::test]
async fn a_torn_tail_past_the_recovery_point_is_cut_back_to_it() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let segment = two_batches(dir.path(), true)?;
    assert_eq!(std::fs::read_to_string(segment.with_file_name("recovery-point"))?, "8");
    let synced = std::fs::read(&segment)?;
    let log = LocalLog::open(dir.path(), &info(false).path, options(1 << 20))?;
    log.append(&TableBucket::new(0), batch(8..12, None), vec![ChangeType::Insert; 4])?;
    crash(log)?;
    // the crash came in the middle of writing the unsynced third batch
    let whole = std::fs::read(&segment)?;
    std::fs::write(&segment, &whole[..synced.len() + (whole.len() - synced.len()) / 2])?;
    let log = LocalLog::open(dir.path(), &info(false).path, options(1 << 20))?;
    assert_eq!(log.offset_ranges().await?[&TableBucket::new(0)].end, 8);
    assert_eq!(std::fs::read(&segment)?, synced);
    Ok(())
}

/// The segment files of bucket 0 of the table under `dir`, in offset order.
fn segment_files(dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>> {
    bucket_segments(&dir.join("db/t/log/bucket-0"))
}

/// The segment files of a bucket directory, in offset order.
fn bucket_segments(bucket_dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(bucket_dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|x| x == "log") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// A log of bucket 0 with one batch of four offsets per segment (0, 4, 8, 12, 16), synced up
/// to offset 8, whose writer then crashed. Returns its segment files.
fn rolled_then_crashed(dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>> {
    let log = LocalLog::create(dir, &info(false), options(1))?;
    let b0 = TableBucket::new(0);
    for i in 0..5 {
        log.append(&b0, batch(i * 4..i * 4 + 4, None), vec![ChangeType::Insert; 4])?;
        if i == 1 {
            log.sync()?;
        }
    }
    crash(log)?;
    let files = segment_files(dir)?;
    assert_eq!(files.len(), 5);
    Ok(files)
}

/// Opens the table of [`rolled_then_crashed`] for appending and checks that it holds
/// offsets 0..8 and appends go on from 8.
async fn recovered_to_offset_8(dir: &std::path::Path) -> Result<()> {
    let log = LocalLog::open(dir, &info(false).path, options(1))?;
    let b0 = TableBucket::new(0);
    assert_eq!(log.offset_ranges().await?[&b0].end, 8);
    assert_eq!(
        log.append(&b0, batch(8..10, None), vec![ChangeType::Insert; 2])?,
        (8, 10)
    );
    assert_eq!(keys(&read_all(&log, &b0, 0, 10).await), (0..10).collect::<Vec<_>>());
    Ok(())
}

#[tokio::test]
async fn a_crash_that_tears_a_segment_behind_a_roll_cuts_it_and_drops_the_later_ones() -> Result<()> {
    // regression: pages reach the disk in no set order, so a crash can tear a segment while
    // the ones rolled after it are whole; opening failed on the torn segment instead of
    // recovering the log up to it
    let dir = tempfile::tempdir()?;
    let files = rolled_then_crashed(dir.path())?;
    let torn = std::fs::read(&files[2])?;
    std::fs::write(&files[2], &torn[..torn.len() / 2])?;
    recovered_to_offset_8(dir.path()).await?;
    // the segment holding offset 8 was cut to nothing, and the new batch went into it; the
    // segments after it are gone
    let left = segment_files(dir.path())?;
    assert_eq!(left[..3], files[..3]);
    assert!(!left.contains(&files[3]) && !left.contains(&files[4]), "{left:?}");
    Ok(())
}

#[tokio::test]
async fn a_crash_that_loses_a_whole_segment_cuts_the_log_where_it_was() -> Result<()> {
    // a crash can lose a new segment's name while a later one's survives
    let dir = tempfile::tempdir()?;
    let files = rolled_then_crashed(dir.path())?;
    std::fs::remove_file(&files[2])?;
    recovered_to_offset_8(dir.path()).await?;
    assert!(!files[3].exists() && !files[4].exists());
    Ok(())
}

#[tokio::test]
async fn a_stray_file_named_like_a_segment_is_no_gap_to_cut_at() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let files = rolled_then_crashed(dir.path())?;
    // `8.log` parses as offset 8, beside the real segment at 8
    std::fs::write(files[0].with_file_name("8.log"), b"not a segment")?;
    // and a negative offset's name round-trips through its format, and sorted first it
    // was a gap at offset -1, where the recovery cut every segment
    let negative = files[0].with_file_name(format!("{:020}.log", -1));
    std::fs::write(&negative, b"not a segment either")?;
    let log = LocalLog::open(dir.path(), &info(false).path, options(1))?;
    assert_eq!(log.offset_ranges().await?[&TableBucket::new(0)].end, 20);
    assert!(files.iter().all(|f| f.exists()));
    assert!(negative.exists());
    Ok(())
}

/// The log of [`two_batches`], synced, then offsets 8..12 and 12..16 appended unsynced
/// and its writer crashed, leaving the third batch's body zeros (its header, 56 bytes at
/// most, and the fourth batch intact). Returns the segment, its bytes as synced, and its
/// bytes before the damage.
fn zeroed_unsynced_batch(dir: &std::path::Path) -> Result<(std::path::PathBuf, Vec<u8>, Vec<u8>)> {
    let segment = two_batches(dir, true)?;
    let synced = std::fs::read(&segment)?;
    let log = LocalLog::open(dir, &info(false).path, options(1 << 20))?;
    let b0 = TableBucket::new(0);
    log.append(&b0, batch(8..12, None), vec![ChangeType::Insert; 4])?;
    let third_end = std::fs::metadata(&segment)?.len() as usize;
    log.append(&b0, batch(12..16, None), vec![ChangeType::Insert; 4])?;
    crash(log)?;
    let whole = std::fs::read(&segment)?;
    let mut bytes = whole.clone();
    bytes[synced.len() + 56..third_end].fill(0);
    std::fs::write(&segment, &bytes)?;
    Ok((segment, synced, whole))
}

#[tokio::test]
async fn a_crash_that_zeroes_an_unsynced_batch_before_whole_ones_cuts_the_log_there() -> Result<()> {
    // regression: only a segment's last batch was checked in full on open, so a batch past
    // the recovery point whose body never reached the disk (its header did) opened fine and
    // failed every read of it later
    let dir = tempfile::tempdir()?;
    let (segment, synced, _) = zeroed_unsynced_batch(dir.path())?;
    let b0 = TableBucket::new(0);
    let log = LocalLog::open(dir.path(), &info(false).path, options(1 << 20))?;
    assert_eq!(log.offset_ranges().await?[&b0].end, 8);
    assert_eq!(std::fs::read(&segment)?, synced);
    assert_eq!(keys(&read_all(&log, &b0, 0, 8).await), (0..8).collect::<Vec<_>>());
    Ok(())
}

#[tokio::test]
async fn a_read_only_sync_records_no_batch_it_has_not_checked() -> Result<()> {
    // regression: a reader indexes the batches past the recovery point from their headers,
    // and its sync recorded them all as durable; after a crash that zeroed one's body (its
    // header intact), the appender's open then took it for synced data, kept it, and every
    // read of it failed
    let dir = tempfile::tempdir()?;
    let (segment, synced, whole) = zeroed_unsynced_batch(dir.path())?;
    let b0 = TableBucket::new(0);
    let recovery_point = segment.with_file_name("recovery-point");
    let reader = LocalLog::open_read_only(dir.path(), &info(false).path, options(1 << 20))?;
    assert_eq!(reader.offset_ranges().await?[&b0].end, 16);
    let e = reader
        .sync()
        .err()
        .ok_or_else(|| Error::invalid("a read-only sync recorded a damaged batch"))?;
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(e.to_string().contains("offset 8"), "{e}");
    assert_eq!(std::fs::read_to_string(&recovery_point)?, "8");
    drop(reader);
    // so the appender still cuts the log at the damaged batch
    let log = LocalLog::open(dir.path(), &info(false).path, options(1 << 20))?;
    assert_eq!(log.offset_ranges().await?[&b0].end, 8);
    assert_eq!(std::fs::read(&segment)?, synced);
    drop(log);

    // whole batches a reader syncs are recorded
    std::fs::write(&segment, &whole)?;
    let reader = LocalLog::open_read_only(dir.path(), &info(false).path, options(1 << 20))?;
    reader.sync()?;
    assert_eq!(std::fs::read_to_string(&recovery_point)?, "16");
    assert_eq!(keys(&read_all(&reader, &b0, 0, 16).await), (0..16).collect::<Vec<_>>());
    Ok(())
}

#[tokio::test]
async fn a_lost_first_segment_is_missing_offsets_not_a_later_start() -> Result<()> {
    // the log keeps every offset from 0 (it has no retention), so a first segment past 0
    // means the ones before it are gone
    let dir = tempfile::tempdir()?;
    let files = rolled_then_crashed(dir.path())?;
    std::fs::remove_file(&files[0])?;
    let path = info(false).path;
    for e in [
        LocalLog::open_read_only(dir.path(), &path, options(1)).err(),
        LocalLog::open(dir.path(), &path, options(1)).err(),
    ] {
        let e = e.ok_or_else(|| Error::corrupt("opened"))?;
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
        assert!(
            e.to_string()
                .contains("starts at offset 4 but the log begins at offset 0"),
            "{e}"
        );
    }
    assert_eq!(segment_files(dir.path())?.len(), 4, "nothing synced is cut");

    // never synced: the gap is past the recovery point, where the appender cuts the log
    let dir = tempfile::tempdir()?;
    let log = LocalLog::create(dir.path(), &info(false), options(1))?;
    let b0 = TableBucket::new(0);
    for i in 0..3 {
        log.append(&b0, batch(i * 4..i * 4 + 4, None), vec![ChangeType::Insert; 4])?;
    }
    crash(log)?;
    let files = segment_files(dir.path())?;
    std::fs::remove_file(&files[0])?;
    let log = LocalLog::open(dir.path(), &path, options(1))?;
    let range = log.offset_ranges().await?[&b0];
    assert_eq!((range.earliest, range.end), (0, 0));
    assert!(segment_files(dir.path())?.is_empty());
    Ok(())
}

/// Fluss buckets a primary-key table by a subset of its key without the partition columns
/// (the same for every row of a partition): a table bucketed otherwise would put rows
/// where no Fluss writer or lake bucketing does.
#[test]
fn a_bucket_key_fluss_would_not_accept_is_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut with_partition = info(true);
    with_partition.bucket_key = vec!["k".into(), "p".into()];
    let mut outside_key = info(false);
    outside_key.bucket_key = vec!["v".into()];
    let mut only_partitions = info(true);
    only_partitions.primary_key = vec!["p".into()];
    only_partitions.bucket_key = Vec::new();
    for (name, mut table) in [
        ("with_partition", with_partition),
        ("outside_key", outside_key),
        ("only_partitions", only_partitions),
    ] {
        table.path = TablePath::new("db", name);
        let Err(e) = LocalLog::create(dir.path(), &table, options(1 << 20)) else {
            return Err(Error::invalid(format!("{name}: created")));
        };
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{name}: {e}");
        assert!(e.to_string().contains("bucket"), "{name}: {e}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_read_past_what_a_reader_has_seen_looks_again() -> Result<()> {
    // regression: a read-only log judged a bounded read by the index it last loaded: a
    // split planned elsewhere, after another process appended, was refused (its start past
    // the end seen) or ended short (its stop past it), without a look at the files
    let dir = tempfile::tempdir()?;
    let b0 = TableBucket::new(0);
    let writer = LocalLog::create(dir.path(), &info(false), options(1 << 20))?;
    writer.append(&b0, batch(0..3, None), vec![ChangeType::Insert; 3])?;
    let open = || LocalLog::open_read_only(dir.path(), &info(false).path, options(1 << 20));
    let (reader, other) = (open()?, open()?);
    writer.append(&b0, batch(3..5, None), vec![ChangeType::Insert; 2])?;
    writer.append(&b0, batch(5..8, None), vec![ChangeType::Insert; 3])?;
    let offsets = |batches: Vec<LogBatch>| -> Vec<i64> {
        batches
            .iter()
            .flat_map(|b| b.base_offset..b.base_offset + b.num_rows() as i64)
            .collect()
    };
    // whole batches: the one holding offset 5 reaches past the stop
    let read = reader.read(&b0, 0, Some(6)).await?.try_collect::<Vec<_>>().await?;
    assert_eq!(offsets(read), (0..8).collect::<Vec<_>>());
    let read = other.read(&b0, 5, Some(8)).await?.try_collect::<Vec<_>>().await?;
    assert_eq!(offsets(read), (5..8).collect::<Vec<_>>());
    // past what is there even now: still the error it was
    let e = reader
        .read(&b0, 9, Some(10))
        .await
        .err()
        .ok_or_else(|| Error::invalid("read past the end"))?;
    assert_eq!(e.kind(), lake_api::ErrorKind::Offsets, "{e}");
    Ok(())
}

#[test]
fn a_table_being_created_elsewhere_is_not_written_over() -> Result<()> {
    // regression: `create` wrote its descriptor before it took the writer lock, so of two
    // processes creating a table at once, the one that lost the lock had replaced the
    // winner's descriptor (and table id) on disk
    let dir = tempfile::tempdir()?;
    let table = super::table_dir(dir.path(), &info(false).path)?;
    std::fs::create_dir_all(table.join("log"))?;
    // the other creator: holds the lock, its descriptor not written yet
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(table.join("LOCK"))?;
    lock.try_lock().map_err(|e| Error::invalid(e.to_string()))?;
    let e = LocalLog::create(dir.path(), &info(false), options(1 << 20))
        .err()
        .ok_or_else(|| Error::invalid("created under another's lock"))?;
    assert!(e.to_string().contains("open for appending by another"), "{e}");
    assert!(
        !table.join(super::descriptor::DESCRIPTOR_FILE).exists(),
        "a descriptor was written"
    );
    Ok(())
}

#[tokio::test]
async fn a_batch_rewritten_under_a_readers_index_is_corrupt_not_read() -> Result<()> {
    // regression: the read path decoded whatever bytes its index pointed at; after an
    // appender cut the log and wrote other batches there, a reader with the old index
    // handed on batches at offsets it never asked for
    let dir = tempfile::tempdir()?;
    let b0 = TableBucket::new(0);
    let writer = LocalLog::create(dir.path(), &info(false), options(1 << 20))?;
    writer.append(&b0, batch(0..4, None), vec![ChangeType::Insert; 4])?;
    writer.append(&b0, batch(4..8, None), vec![ChangeType::Insert; 4])?;
    let reader = LocalLog::open_read_only(dir.path(), &info(false).path, options(1 << 20))?;
    // the second batch's bytes replaced by a batch of the same size at another offset
    let segment = last_segment(&writer);
    let bytes = std::fs::read(&segment)?;
    let other = crate::record::encode_batch(
        &batch(4..8, None),
        Some(&[ChangeType::Insert; 4]),
        100,
        &Default::default(),
    )?;
    let at = bytes.len() - other.len();
    let mut rewritten = bytes[..at].to_vec();
    rewritten.extend_from_slice(&other);
    std::fs::write(&segment, rewritten)?;
    let mut read = reader.read(&b0, 0, Some(8)).await?;
    assert_eq!(read.next().await.transpose()?.map(|b| b.base_offset), Some(0));
    let e = match read.next().await {
        Some(Err(e)) => e,
        other => {
            return Err(Error::corrupt(format!(
                "read on: {:?}",
                other.map(|b| b.map(|b| b.base_offset))
            )));
        }
    };
    assert_eq!(e.kind(), lake_api::ErrorKind::Corrupt, "{e}");
    assert!(e.to_string().contains("reopen"), "{e}");
    Ok(())
}

#[tokio::test]
async fn a_read_of_a_partition_created_since_a_reader_looked_finds_it() -> Result<()> {
    // regression: a read-only log knew the buckets it had seen: a split planned elsewhere
    // for a partition created since was NotFound
    let dir = tempfile::tempdir()?;
    let writer = LocalLog::create(dir.path(), &info(true), options(1 << 20))?;
    let reader = LocalLog::open_read_only(dir.path(), &info(true).path, options(1 << 20))?;
    let y = TableBucket::partitioned(vec!["y".into()], 0);
    writer.append(&y, batch(0..2, Some("y")), vec![ChangeType::Insert; 2])?;
    let read = reader.read(&y, 0, Some(2)).await?.try_collect::<Vec<_>>().await?;
    assert_eq!(read.iter().map(LogBatch::num_rows).sum::<usize>(), 2);
    Ok(())
}

/// Regression: a bounded read never waited (its file reads are synchronous), so a task
/// reading a long tail held its runtime thread to the end and could not be aborted: other
/// tasks ran only once it was done.
#[tokio::test(flavor = "current_thread")]
async fn a_long_bounded_read_lets_other_tasks_run() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let log = LocalLog::create(dir.path(), &info(false), options(1 << 20))?;
    let b0 = TableBucket::new(0);
    for i in 0..600 {
        log.append(&b0, batch(i..i + 1, None), vec![ChangeType::Insert])?;
    }
    let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = ran.clone();
    let _other = tokio::spawn(async move { flag.store(true, std::sync::atomic::Ordering::SeqCst) });
    let mut batches = log.read(&b0, 0, Some(600)).await?;
    let mut read = 0;
    while let Some(b) = batches.try_next().await? {
        read += b.batch.num_rows();
        if ran.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
    }
    assert!(read < 600, "no other task ran during the read");
    Ok(())
}

#[test]
fn a_segment_that_will_not_open_is_gone_only_when_it_is() {
    let path = std::path::Path::new("/t/log/bucket-0/00000000000000000000.log");
    let b0 = TableBucket::new(0);
    let gone = super::segment_open_error(path, 7, &b0, std::io::ErrorKind::NotFound.into());
    assert_eq!(gone.kind(), ErrorKind::NotFound, "{gone}");
    // regression: too many open files (or a permission) read as a segment that was gone
    let failed = super::segment_open_error(path, 7, &b0, std::io::Error::from_raw_os_error(24));
    assert_eq!(failed.kind(), ErrorKind::Io, "{failed}");
    assert!(failed.to_string().contains("cannot be opened"), "{failed}");
}

/// The first batch of a tailing read within 10 s.
async fn tailed(batches: &mut lake_api::LogBatchStream) -> Result<LogBatch> {
    match tokio::time::timeout(Duration::from_secs(10), batches.try_next()).await {
        Ok(batch) => batch?.ok_or_else(|| Error::invalid("the tailing read ended")),
        Err(_) => Err(Error::invalid("no batch came in 10 s")),
    }
}

#[tokio::test]
async fn a_bucket_nobody_wrote_to_is_listed_empty_and_can_be_tailed() -> Result<()> {
    // regression: a bucket was listed once written to, and reading it before was NotFound,
    // so a followed scan never tailed it and missed every change to its keys
    let dir = tempfile::tempdir()?;
    let log = LocalLog::create(dir.path(), &info(false), options(1 << 20))?;
    let reader = LocalLog::open_read_only(dir.path(), &info(false).path, options(1 << 20))?;
    let (b0, b1) = (TableBucket::new(0), TableBucket::new(1));
    log.append(&b0, batch(0..2, None), vec![ChangeType::Insert; 2])?;
    for log in [&log, &reader] {
        let ranges = log.offset_ranges().await?;
        assert_eq!(ranges.keys().collect::<Vec<_>>(), vec![&b0, &b1]);
        assert_eq!((ranges[&b1].earliest, ranges[&b1].end), (0, 0));
        assert_eq!(log.read(&b1, 0, Some(0)).await?.try_collect::<Vec<_>>().await?.len(), 0);
        let e = log
            .read(&b1, 1, Some(2))
            .await
            .err()
            .ok_or_else(|| Error::invalid("read past an empty bucket's end"))?;
        assert_eq!(e.kind(), lake_api::ErrorKind::Offsets, "{e}");
        let e = log
            .read(&TableBucket::new(2), 0, None)
            .await
            .err()
            .ok_or_else(|| Error::invalid("read a bucket the table does not have"))?;
        assert_eq!(e.kind(), lake_api::ErrorKind::NotFound, "{e}");
    }
    // tailed in this process and in another (which finds the bucket's files by looking)
    let mut here = log.read(&b1, 0, None).await?;
    let mut there = reader.read(&b1, 0, None).await?;
    log.append(&b1, batch(5..6, None), vec![ChangeType::Insert])?;
    assert_eq!(keys(&[tailed(&mut here).await?]), vec![5]);
    assert_eq!(keys(&[tailed(&mut there).await?]), vec![5]);

    // a partition's buckets come with it
    let dir = tempfile::tempdir()?;
    let log = LocalLog::create(dir.path(), &info(true), options(1 << 20))?;
    assert!(log.offset_ranges().await?.is_empty(), "no partition yet");
    let us = |b: u32| TableBucket::partitioned(vec!["us".to_string()], b);
    log.append(&us(1), batch(0..1, Some("us")), vec![ChangeType::Insert])?;
    let ranges = log.offset_ranges().await?;
    assert_eq!(ranges.keys().collect::<Vec<_>>(), vec![&us(0), &us(1)]);
    assert_eq!(ranges[&us(0)].end, 0);
    Ok(())
}
