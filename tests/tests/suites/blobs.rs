//! BLOB columns through the union read: references by default (lake rows pointing into the
//! lake, log rows into the scan's memory store), payloads on demand, and the same bytes
//! either way.

use std::collections::{BTreeMap, BTreeSet};

use arrow::array::RecordBatch;
use lake_api::blob::{BlobMode, ResolveOptions, blob_refs, resolve_column};
use lake_api::memory::demo_table;
use lake_api::types::LogicalType;
use lake_api::{ErrorKind, MergeStrategy, ReadMode, UnionScan, UnionSplit, UnionTable};

type Photos = BTreeMap<i64, Option<Vec<u8>>>;

async fn demo() -> UnionTable {
    let (log, lake) = demo_table().await.unwrap();
    UnionTable::open(log, Some(lake)).await.unwrap()
}

/// Every row's photo as payload bytes, from a scan that returns payloads.
fn payloads(batches: &[RecordBatch]) -> Photos {
    lakeunion_tests::fixtures::payloads_by_id(batches, "photo")
}

/// Every row's photo from a scan of `table` in `mode` that asks for payloads.
async fn payload_photos(table: &UnionTable, mode: ReadMode) -> Photos {
    let scan = table.scan().mode(mode).blobs(BlobMode::Payloads).build().await.unwrap();
    payloads(&scan.collect().await.unwrap())
}

/// Every row's photo resolved through `scan`'s resolver, and the URIs of the references.
async fn resolved(scan: &UnionScan, batches: &[RecordBatch]) -> (Photos, BTreeSet<String>) {
    let resolver = scan
        .blob_resolver()
        .expect("a scan that returns references has a resolver");
    let mut out = Photos::new();
    let mut uris = BTreeSet::new();
    for b in batches {
        let refs = blob_refs(b, "photo").unwrap();
        uris.extend(refs.iter().flatten().map(|r| r.uri.clone()));
        let fetched = resolve_column(resolver.as_ref(), &refs, ResolveOptions::default()).await;
        for (id, photo) in lakeunion_tests::fixtures::int_column(std::slice::from_ref(b), "id")
            .into_iter()
            .zip(fetched)
        {
            out.insert(id, photo.map(|p| p.unwrap()));
        }
    }
    (out, uris)
}

#[tokio::test]
async fn blob_references_resolve_to_the_payloads_with_both_strategies() {
    let table = demo().await;
    let expected = payload_photos(&table, ReadMode::Union).await;
    assert!(expected.values().filter(|p| p.is_some()).count() >= 5);
    for strategy in [MergeStrategy::SortMerge, MergeStrategy::KeyFilter] {
        // a one-byte budget spills the log tail and its payloads: references survive both
        for budget in [1, 64 << 20] {
            let scan = table
                .scan()
                .strategy(strategy)
                .memory_budget(budget)
                .build()
                .await
                .unwrap();
            assert_eq!(scan.blob_mode(), BlobMode::References);
            let field = scan.schema().field_with_name("photo").unwrap().clone();
            assert_eq!(LogicalType::of(&field), LogicalType::BlobRef);
            let batches = scan.collect().await.unwrap();
            let (photos, uris) = resolved(&scan, &batches).await;
            assert_eq!(photos, expected, "{strategy}, budget {budget}");
            // lake rows point into the lake's store, log rows into the scan's own
            let stores: BTreeSet<&str> = uris.iter().filter_map(|u| u.rsplit_once('/').map(|(s, _)| s)).collect();
            assert_eq!(stores.len(), 2, "{strategy}: {uris:?}");
        }
    }
}

#[tokio::test]
async fn a_worker_resolves_the_references_of_the_splits_it_reads() {
    let table = demo().await;
    let planner = table.scan().build().await.unwrap();
    let expected = payload_photos(&table, ReadMode::Union).await;
    let worker = table.scan().build().await.unwrap();
    let mut batches = Vec::new();
    for split in planner.plan().await.unwrap() {
        let split = UnionSplit::from_bytes(&split.to_bytes()).unwrap();
        let stream = worker.read(&split).await.unwrap();
        batches.extend(futures::TryStreamExt::try_collect::<Vec<_>>(stream).await.unwrap());
    }
    assert_eq!(resolved(&worker, &batches).await.0, expected);
    // each scan keeps what it read: the planner's resolver serves none of the worker's
    // references, and refuses them rather than serve other bytes
    let planner_resolver = planner.blob_resolver().unwrap();
    let refs: Vec<_> = batches
        .iter()
        .flat_map(|b| blob_refs(b, "photo").unwrap())
        .flatten()
        .collect();
    assert!(refs.len() >= 5);
    for r in &refs {
        let e = planner_resolver.fetch(r).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    }
}

#[tokio::test]
async fn log_payloads_past_the_memory_budget_spill_and_resolve() {
    let table = demo().await;
    let expected = payload_photos(&table, ReadMode::Union).await;
    let spill = tempfile::tempdir().unwrap();
    for mode in [ReadMode::Union, ReadMode::LogOnly] {
        let scan = table
            .scan()
            .mode(mode)
            .memory_budget(1)
            .spill_dir(spill.path())
            .build()
            .await
            .unwrap();
        let (photos, _) = resolved(&scan, &scan.collect().await.unwrap()).await;
        if mode == ReadMode::Union {
            assert_eq!(photos, expected);
        } else {
            assert!(!photos.is_empty());
        }
    }
}

#[tokio::test]
async fn modes_filters_projections_and_follow_under_references() {
    let table = demo().await;
    // payloads on demand
    let scan = table.scan().blobs(BlobMode::Payloads).build().await.unwrap();
    assert_eq!(scan.blob_mode(), BlobMode::Payloads);
    assert!(scan.blob_resolver().is_none());
    assert_eq!(
        LogicalType::of(scan.schema().field_with_name("photo").unwrap()),
        LogicalType::Blob
    );
    // a scan that reads no BLOB column has nothing to resolve
    let scan = table.scan().project(["id", "customer"]).build().await.unwrap();
    assert_eq!(scan.blob_mode(), BlobMode::Payloads);
    // null tests see through references; the lake alone and the log alone read them too
    let all = payload_photos(&table, ReadMode::Union).await;
    let scan = table
        .scan()
        .filter_str("photo IS NOT NULL")
        .unwrap()
        .build()
        .await
        .unwrap();
    let (photos, _) = resolved(&scan, &scan.collect().await.unwrap()).await;
    let with_photo: Photos = all
        .iter()
        .filter(|(_, p)| p.is_some())
        .map(|(k, v)| (*k, v.clone()))
        .collect();
    assert_eq!(photos, with_photo);
    for mode in [ReadMode::LakeOnly, ReadMode::LogOnly] {
        let refs = table.scan().mode(mode).build().await.unwrap();
        let want = payload_photos(&table, mode).await;
        assert_eq!(
            resolved(&refs, &refs.collect().await.unwrap()).await.0,
            want,
            "{mode:?}"
        );
    }
    // a reference is no payload: comparing it with bytes is refused at build, not wrong
    let bytes = lake_api::predicate::col("photo").eq(vec![0x89u8, b'P']);
    let e = table.scan().filter(bytes.clone()).build().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(e.to_string().contains("references"), "{e}");
    assert!(
        table
            .scan()
            .filter(bytes)
            .blobs(BlobMode::Payloads)
            .build()
            .await
            .is_ok()
    );
    // a followed scan never ends: it cannot hold its log payloads for references
    let e = table.scan().build().await.unwrap().follow().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.to_string().contains("BlobMode::Payloads"), "{e}");
    let follow = table
        .scan()
        .blobs(BlobMode::Payloads)
        .build()
        .await
        .unwrap()
        .follow()
        .await;
    assert!(follow.is_ok());
}
