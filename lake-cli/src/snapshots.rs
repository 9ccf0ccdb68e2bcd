//! `lakescan snapshots`: a table's lake snapshots, oldest first, with the log offsets each
//! tiered up to. Written over `LakeStorage` and `LogSource`, so that a lake backend only
//! needs wiring into `table::open`.

use std::fmt::Write as _;

use lake_api::{ErrorKind, LakeStorage, LogSource, TablePath};

use crate::failure::{CliResult, Failure};
use crate::table::{self, TableArgs};

/// `YYYY-MM-DD HH:MM:SS.mmm UTC` of a time in ms since the epoch.
fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rest = secs.rem_euclid(86_400);
    // civil from days (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{millis:03} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The snapshots of `path` in `lake`, each with the offsets `log` says it tiered up to,
/// and how far each bucket's log has gone past the newest of them.
pub async fn render(lake: &dyn LakeStorage, log: &dyn LogSource, path: &TablePath) -> lake_api::Result<String> {
    let mut out = String::new();
    let snapshots = lake.list_snapshots(path).await?;
    let ranges = log.offset_ranges().await?;
    let _ = writeln!(out, "table {path}: {} lake snapshot(s), oldest first", snapshots.len());
    // the offsets of the newest snapshot that says: `None` inside when it says they are
    // unknown (a Lance restore of rounds whose offsets are gone), as reads then refuse
    let mut latest = None;
    for s in &snapshots {
        let _ = write!(out, "snapshot {}  committed {}", s.id, utc(s.timestamp_ms));
        if let Some(why) = s.offsets_unknown() {
            let _ = writeln!(
                out,
                "\n  tiered offsets unknown ({why}): union reads of it and later snapshots fail until a round is tiered"
            );
            latest = Some(None);
            continue;
        }
        match log.tiered_offsets(s).await {
            Ok(offsets) => {
                let _ = writeln!(out);
                for (bucket, offset) in &offsets {
                    let _ = writeln!(out, "  {bucket}: tiered up to offset {offset}");
                }
                if offsets.is_empty() {
                    let _ = writeln!(out, "  (no buckets)");
                }
                latest = Some(Some(offsets));
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let _ = writeln!(
                    out,
                    "  no tiered offsets (lake maintenance: holds what the one before tiered)"
                );
            }
            Err(e) => return Err(e),
        }
    }
    if !ranges.is_empty() {
        let _ = writeln!(out, "log after the newest tiered offsets:");
        for (bucket, range) in &ranges {
            // a bucket the lake never saw starts at the log's earliest offset, not at 0
            let tiered = match &latest {
                Some(Some(newest)) => newest.get(bucket).copied().unwrap_or(range.earliest),
                Some(None) => {
                    let _ = writeln!(out, "  {bucket}: end offset {}, offsets not tiered unknown", range.end);
                    continue;
                }
                None => range.earliest,
            };
            let _ = writeln!(
                out,
                "  {bucket}: end offset {}, {} offset(s) not tiered",
                range.end,
                range.end.saturating_sub(tiered).max(0)
            );
        }
    }
    Ok(out)
}

/// `snapshots`.
pub async fn run(args: &TableArgs) -> CliResult<()> {
    let opened = table::open(args).await?;
    let info = opened.table.info();
    let Some(lake) = opened.table.lake() else {
        return Err(Failure::msg(format!(
            "no lake given for table {}: name it with --lake iceberg --warehouse DIR (or --catalog-uri URI), \
             so that its snapshots can be listed",
            info.path
        )));
    };
    let text = render(lake.as_ref(), opened.table.log().as_ref(), &info.path).await?;
    Ok(crate::stdout::print(&text)?)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use lake_api::OFFSETS_UNKNOWN_PROPERTY;
    use lake_api::TableBucket;
    use lake_api::memory::{MemoryLake, demo_info, demo_memory_table, tier};

    #[test]
    fn utc_times() {
        assert_eq!(utc(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(utc(1_700_000_000_123), "2023-11-14 22:13:20.123 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00.000 UTC");
        assert_eq!(utc(-1), "1969-12-31 23:59:59.999 UTC");
    }

    #[tokio::test]
    async fn lists_snapshots_with_their_tiered_offsets() -> lake_api::Result<()> {
        let info = demo_info();
        let (log, lake) = demo_memory_table().await?;
        tier(&log, &lake, None).await?;
        // a maintenance snapshot records no offsets
        let files = lake.files(&info.path, 2)?;
        lake.commit_files(&info.path, files.as_ref().clone(), BTreeMap::new())?;
        let text = render(&lake, &log, &info.path).await?;
        assert!(
            text.starts_with("table demo.orders: 3 lake snapshot(s), oldest first\n"),
            "{text}"
        );
        assert!(
            text.contains("snapshot 1  committed 1970-01-01 00:00:00.001 UTC\n"),
            "{text}"
        );
        assert!(text.contains("snapshot 3  committed"), "{text}");
        assert!(text.contains("  no tiered offsets (lake maintenance"), "{text}");
        let offsets = log.tiered_offsets(&lake.list_snapshots(&info.path).await?[1]).await?;
        let us0 = TableBucket::partitioned(vec!["us".into()], 0);
        let line = format!("  {us0}: tiered up to offset {}\n", offsets[&us0]);
        assert!(text.contains(&line), "{line} in {text}");
        assert!(text.contains("log after the newest tiered offsets:"), "{text}");
        assert!(
            text.contains(&format!(
                "  {us0}: end offset {}, 0 offset(s) not tiered",
                offsets[&us0]
            )),
            "{text}"
        );

        // a lake without the table
        let empty = MemoryLake::new();
        assert!(render(&empty, &log, &info.path).await.is_err());
        Ok(())
    }

    #[tokio::test]
    async fn a_snapshot_whose_offsets_are_unknown_says_so_and_counts_no_tail() -> lake_api::Result<()> {
        // regression: such a snapshot (a Lance restore of rounds whose offsets are gone)
        // was shown as maintenance holding the offsets before it, and the tail counted
        // from those, which describe other rows
        let info = demo_info();
        let (log, lake) = demo_memory_table().await?;
        let files = lake.files(&info.path, 1)?;
        let marked = [(OFFSETS_UNKNOWN_PROPERTY.to_string(), "restored version 0".to_string())];
        lake.commit_files(&info.path, files.as_ref().clone(), marked.into_iter().collect())?;
        let text = render(&lake, &log, &info.path).await?;
        assert!(text.contains("  tiered offsets unknown (restored version 0)"), "{text}");
        assert!(!text.contains("lake maintenance"), "{text}");
        assert!(text.contains("offsets not tiered unknown"), "{text}");
        assert!(!text.contains("offset(s) not tiered"), "{text}");
        Ok(())
    }
}
