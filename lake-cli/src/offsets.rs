//! `--as-of-offsets`: per-bucket stop offsets, `bucket=offset` or
//! `partition/bucket=offset`, comma-separated.

use std::collections::BTreeMap;
use std::fmt;

use lake_api::table::PARTITION_SEPARATOR;
use lake_api::{TableBucket, TableInfo};

/// Stop offsets per bucket, as `--as-of-offsets` gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsOfOffsets(pub BTreeMap<TableBucket, i64>);

/// Parses `0=5,1=3` or `us/0=4,eu/1=2` (a multi-key partition as Fluss names it:
/// `2024$us/0=4`).
pub fn parse_as_of(text: &str) -> Result<AsOfOffsets, String> {
    let mut out = BTreeMap::new();
    for pair in text.split(',') {
        let pair = pair.trim();
        if pair.is_empty() {
            return Err(format!(
                "empty entry in '{text}': expected bucket=offset or partition/bucket=offset, comma-separated"
            ));
        }
        let Some((target, offset)) = pair.split_once('=') else {
            return Err(format!("'{pair}' is not bucket=offset or partition/bucket=offset"));
        };
        let (partition, bucket) = match target.trim().rsplit_once('/') {
            Some((p, b)) => {
                let p = p.trim();
                if p.is_empty() {
                    return Err(format!("'{pair}': the partition before '/' is empty"));
                }
                (p.split(PARTITION_SEPARATOR).map(str::to_string).collect(), b.trim())
            }
            None => (Vec::new(), target.trim()),
        };
        let bucket: u32 = bucket
            .parse()
            .map_err(|_| format!("'{pair}': bucket '{bucket}' is not a bucket number"))?;
        let offset = offset.trim();
        let offset: i64 = offset
            .parse()
            .ok()
            .filter(|o: &i64| *o >= 0)
            .ok_or_else(|| format!("'{pair}': offset '{offset}' is not an offset (an integer >= 0)"))?;
        let key = TableBucket::partitioned(partition, bucket);
        if out.insert(key.clone(), offset).is_some() {
            return Err(format!("{key} is given more than once"));
        }
    }
    Ok(AsOfOffsets(out))
}

impl AsOfOffsets {
    /// Checks every bucket against the table: an existing bucket id with as many partition
    /// values as the table has partition keys.
    pub fn check(&self, info: &TableInfo) -> Result<(), String> {
        for bucket in self.0.keys() {
            if bucket.bucket >= info.bucket_count {
                return Err(format!(
                    "--as-of-offsets names {bucket}, but table {} has {} bucket(s) (0..{})",
                    info.path,
                    info.bucket_count,
                    info.bucket_count.saturating_sub(1)
                ));
            }
            if bucket.partition.len() != info.partition_keys.len() {
                return Err(if info.partition_keys.is_empty() {
                    format!(
                        "--as-of-offsets names {bucket}, but table {} is not partitioned: give bucket=offset",
                        info.path
                    )
                } else {
                    format!(
                        "--as-of-offsets names {bucket}, but table {} is partitioned by {}: give partition/bucket=offset",
                        info.path,
                        info.partition_keys.join(", ")
                    )
                });
            }
        }
        Ok(())
    }
}

impl fmt::Display for AsOfOffsets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(b, o)| format!("{b} before offset {o}")).collect();
        f.write_str(&parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_buckets_and_partitions() {
        let got = parse_as_of("0=5, 1=3").unwrap().0;
        assert_eq!(got[&TableBucket::new(0)], 5);
        assert_eq!(got[&TableBucket::new(1)], 3);
        let got = parse_as_of("us/0=4,2024$eu/1=0").unwrap().0;
        assert_eq!(got[&TableBucket::partitioned(vec!["us".into()], 0)], 4);
        assert_eq!(got[&TableBucket::partitioned(vec!["2024".into(), "eu".into()], 1)], 0);
    }

    #[test]
    fn refuses_bad_syntax() {
        for bad in [
            "", "0", "0=", "x=1", "0=-1", "0=1.5", "/0=1", "0=1,,1=2", "0=1,0=2", "us/x=1",
        ] {
            assert!(parse_as_of(bad).is_err(), "{bad}");
        }
    }
}
