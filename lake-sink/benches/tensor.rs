//! Image BLOBs to tensors, end to end (issue 8).
//!
//! `cargo bench -p lake-sink --bench tensor`
//!
//! 2,000 generated 500x375 JPEGs (quality 90) in a primary-key table with a BLOB column:
//! half tiered into the in-memory lake, half left in the log. A union read streams their
//! references, resolved after the merge, into the tensor sink (224x224, CHW, u8), which decodes with rayon across cores. Reported:
//! - the CPU decoder alone on one thread (the per-core figure; target >= 300 images/s);
//! - end to end (union read + decode) on every core of the machine;
//! - with `--features cuda` on a machine with an NVIDIA GPU, the GPU decoder alone (batches
//!   of 128; target >= 5,000 images/s on one H100) and end to end through it. Without a
//!   usable GPU the bench says why and reports the CPU rows only.
//!
//! Settings: `BENCH_IMAGES` (default 2000), `BENCH_ITERS` (default 3); `LAKEUNION_REQUIRE_GPU`
//! makes a GPU decoder that cannot run an error instead of a note (`scripts/gpu-check.sh`).

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{ArrayRef, Int64Array, LargeBinaryArray, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use futures::StreamExt;
use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageEncoder};
use lake_api::memory::{MemoryLake, MemoryLog, tier};
use lake_api::types::blob_field;
use lake_api::{ChangeType, TableBucket, TableInfo, TablePath, UnionTable};
use lake_sink::tensor::{BatchDecoder, CpuDecoder, TensorOptions, TensorSink, decode_batch};
use lake_sink::{ResolveOptions, resolve_blobs};

type BoxResult<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const WIDTH: u32 = 500;
const HEIGHT: u32 = 375;
const TARGET_PER_CORE: f64 = 300.0;

/// A photo-like test card: gradients, a few shapes and noise, so that JPEG sizes are
/// realistic (about 30-60 KB at quality 90).
fn jpeg(seed: u64) -> BoxResult<Vec<u8>> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut noise = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 24) as i32 - 12
    };
    let mut pixels = Vec::with_capacity((WIDTH * HEIGHT * 3) as usize);
    let (cx, cy, r) = (
        (seed % 400) as i32 + 50,
        (seed % 275) as i32 + 50,
        40 + (seed % 60) as i32,
    );
    for y in 0..HEIGHT as i32 {
        for x in 0..WIDTH as i32 {
            let inside = (x - cx).pow(2) + (y - cy).pow(2) < r * r;
            let base = [
                x * 255 / WIDTH as i32,
                y * 255 / HEIGHT as i32,
                if inside {
                    220
                } else {
                    ((x + y) / 4 + seed as i32 * 7) % 256
                },
            ];
            for c in base {
                pixels.push((c + noise()).clamp(0, 255) as u8);
            }
        }
    }
    let mut out = Cursor::new(Vec::new());
    JpegEncoder::new_with_quality(&mut out, 90).write_image(&pixels, WIDTH, HEIGHT, ExtendedColorType::Rgb8)?;
    Ok(out.into_inner())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> BoxResult<()> {
    let n: usize = std::env::var("BENCH_IMAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let iters: usize = std::env::var("BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    eprintln!("encoding {n} {WIDTH}x{HEIGHT} JPEGs ...");
    let images: Vec<Vec<u8>> = (0..n as u64).map(jpeg).collect::<BoxResult<_>>()?;
    let bytes: usize = images.iter().map(Vec::len).sum();
    let options = TensorOptions::new(224, 224);

    // the decoder alone, one thread: the per-core figure
    let single = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let mut decode_secs = Vec::new();
    for _ in 0..iters {
        let refs: Vec<Option<&[u8]>> = images.iter().map(|i| Some(i.as_slice())).collect();
        let t = Instant::now();
        let (tensors, errors) = single.install(|| decode_batch(&refs, &options))?;
        decode_secs.push(t.elapsed().as_secs_f64());
        if !errors.is_empty() || tensors.iter().any(Option::is_none) {
            return Err(format!("{} images failed to decode", errors.len()).into());
        }
    }

    // end to end: a table whose images are half in the lake, half in the log
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        blob_field("image", true),
    ]));
    let info = TableInfo::primary_key_table(TablePath::new("bench", "images"), schema.clone(), vec!["id".into()], 2);
    let log = MemoryLog::new(info.clone())?;
    let lake = MemoryLake::new();
    let append = |range: std::ops::Range<usize>| -> BoxResult<()> {
        let mut by_bucket: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for i in range {
            by_bucket.entry((i % 2) as u32).or_default().push(i);
        }
        for (bucket, rows) in by_bucket {
            for chunk in rows.chunks(64) {
                let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(chunk.iter().map(|&i| i as i64)));
                let blobs: ArrayRef = Arc::new(LargeBinaryArray::from_iter_values(
                    chunk.iter().map(|&i| images[i].as_slice()),
                ));
                let batch = RecordBatch::try_new(schema.clone(), vec![ids, blobs])?;
                log.append(&TableBucket::new(bucket), batch, vec![ChangeType::Insert; chunk.len()])?;
            }
        }
        Ok(())
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    append(0..n / 2)?;
    runtime.block_on(tier(&log, &lake, None))?;
    append(n / 2..n)?;
    let table = UnionTable::new(info, Arc::new(log), Some(Arc::new(lake)))?;
    let e2e_secs = end_to_end(&runtime, &table, options, Arc::new(CpuDecoder), n, iters)?;

    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let mb = bytes as f64 / (1 << 20) as f64;
    let (d, e) = (median(decode_secs), median(e2e_secs));
    let per_core = n as f64 / d;
    println!();
    println!(
        "{n} JPEGs {WIDTH}x{HEIGHT} q90 ({:.1} MiB, {:.0} KiB each) to 224x224 CHW u8 tensors, median of {iters}",
        mb,
        bytes as f64 / n as f64 / 1024.0
    );
    println!();
    println!("| measurement | threads | images/s | MB/s | target | result |");
    println!("|---|---:|---:|---:|---|---|");
    println!(
        "| CPU decoder alone | 1 | {per_core:.0} | {:.1} | >= {TARGET_PER_CORE:.0} images/s per core | {} |",
        mb / d,
        if per_core >= TARGET_PER_CORE { "PASS" } else { "FAIL" }
    );
    println!(
        "| union read + tensor sink, end to end | {cores} | {:.0} | {:.1} | - | - |",
        n as f64 / e,
        mb / e
    );
    gpu_figures(&runtime, &table, &images, options, iters, mb)
}

/// Seconds per run of a union read of `table` through a tensor sink with `decoder`.
fn end_to_end(
    runtime: &tokio::runtime::Runtime,
    table: &UnionTable,
    options: TensorOptions,
    decoder: Arc<dyn BatchDecoder>,
    n: usize,
    iters: usize,
) -> BoxResult<Vec<f64>> {
    let mut secs = Vec::new();
    for _ in 0..iters {
        let t = Instant::now();
        let decoded = runtime.block_on(async {
            // the union read carries references; their payloads are fetched after the merge
            let scan = table.scan().build().await?;
            let mut stream = scan.to_stream().await?;
            if let Some(resolver) = scan.blob_resolver() {
                stream = resolve_blobs(stream, resolver, &["image"], ResolveOptions::default())?.0;
            }
            let sink = TensorSink::new("image", options)?.with_decoder(decoder.clone());
            let mut outputs = std::pin::pin!(sink.stream(stream));
            let mut decoded = 0usize;
            while let Some(out) = outputs.next().await {
                let out = out?;
                if !out.errors.is_empty() {
                    return Err(format!("{} rows failed", out.errors.len()).into());
                }
                decoded += out.tensors.len();
            }
            Ok::<_, Box<dyn std::error::Error>>(decoded)
        })?;
        secs.push(t.elapsed().as_secs_f64());
        if decoded != n {
            return Err(format!("decoded {decoded} of {n} images").into());
        }
    }
    Ok(secs)
}

/// The GPU decoder's rows: alone (batches of 128) and end to end.
#[cfg(feature = "cuda")]
fn gpu_figures(
    runtime: &tokio::runtime::Runtime,
    table: &UnionTable,
    images: &[Vec<u8>],
    options: TensorOptions,
    iters: usize,
    mb: f64,
) -> BoxResult<()> {
    use lake_sink::tensor::gpu::{GpuDecoder, GpuOptions};
    const GPU_TARGET: f64 = 5000.0;
    println!();
    let gpu = match GpuDecoder::new(GpuOptions::default()) {
        Ok(gpu) => Arc::new(gpu),
        Err(e) if lake_sink::tensor::gpu::gpu_required() => {
            return Err(format!("LAKEUNION_REQUIRE_GPU is set, and the GPU decoder cannot run: {e}").into());
        }
        Err(e) => {
            println!("GPU decoder: built, but it cannot run on this machine: {e}");
            return Ok(());
        }
    };
    let n = images.len();
    let refs: Vec<Option<&[u8]>> = images.iter().map(|i| Some(i.as_slice())).collect();
    // one warm-up pass: kernel compilation and buffer growth are not the steady state
    gpu.decode_batch(&refs, &options, 0)?;
    let mut secs = Vec::new();
    for _ in 0..iters {
        let t = Instant::now();
        let (tensors, errors) = gpu.decode_batch(&refs, &options, 0)?;
        secs.push(t.elapsed().as_secs_f64());
        if !errors.is_empty() || tensors.iter().any(Option::is_none) {
            return Err(format!("{} images failed on the GPU", errors.len()).into());
        }
    }
    let e2e = median(end_to_end(runtime, table, options, gpu.clone(), n, iters)?);
    let alone = median(secs);
    let rate = n as f64 / alone;
    println!(
        "GPU: {} ({} rows decoded on the GPU, {} fell back to the CPU)",
        gpu.name(),
        gpu.gpu_rows(),
        gpu.cpu_fallbacks()
    );
    println!();
    println!("| measurement | batch | images/s | MB/s | target | result |");
    println!("|---|---:|---:|---:|---|---|");
    println!(
        "| GPU decoder alone | 128 | {rate:.0} | {:.1} | >= {GPU_TARGET:.0} images/s | {} |",
        mb / alone,
        if rate >= GPU_TARGET { "PASS" } else { "FAIL" }
    );
    println!(
        "| union read + tensor sink (GPU), end to end | 128 | {:.0} | {:.1} | - | - |",
        n as f64 / e2e,
        mb / e2e
    );
    Ok(())
}

#[cfg(not(feature = "cuda"))]
fn gpu_figures(
    _runtime: &tokio::runtime::Runtime,
    _table: &UnionTable,
    _images: &[Vec<u8>],
    _options: TensorOptions,
    _iters: usize,
    _mb: f64,
) -> BoxResult<()> {
    println!();
    println!(
        "GPU decoder: not built (`cargo bench -p lake-sink --features cuda --bench tensor` on a machine with an NVIDIA GPU)."
    );
    Ok(())
}
