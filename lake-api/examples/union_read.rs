//! Union-reads the in-memory demo table (a lake snapshot plus updates, deletes and inserts
//! still in the log) and prints it, once per merge strategy.
//!
//! `cargo run -p lake-api --example union_read`

use arrow::util::pretty::print_batches;
use lake_api::memory::demo_table;
use lake_api::{MergeStrategy, UnionTable};

#[tokio::main]
async fn main() -> lake_api::Result<()> {
    let (log, lake) = demo_table().await?;
    let table = UnionTable::open(log, Some(lake)).await?;
    for strategy in [MergeStrategy::SortMerge, MergeStrategy::KeyFilter] {
        let scan = table
            .scan()
            .project(["id", "customer", "amount"])
            .filter_str("amount > 10")?
            .strategy(strategy)
            .build()
            .await?;
        println!("{strategy}:");
        for split in scan.plan().await? {
            println!("  {split}");
        }
        print_batches(&scan.collect().await?)?;
    }
    Ok(())
}
