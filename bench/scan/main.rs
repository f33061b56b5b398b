//! Scanner benchmark driver (run through `bench/scan/run.sh`).
//!
//! `compare ADDR REF RUNS`  cold scan vs the client's own pull: the same
//!                          `RegistryClient` streaming the blobs and hashing
//!                          each once (as the scanner verifies it), no
//!                          analysis; medians.
//! `rescan ADDR BASE NEXT`  scan BASE, then time NEXT (differs in its top layer).
//! `scan ADDR REF`          one cold scan (for peak-memory measurement).
//! `inflate FILE RUNS`      gunzip FILE in memory with the scanner's
//!                          decompressor into a sink, median: the floor of a
//!                          cold scan of a single-gzip-member layer, which
//!                          must inflate every byte, in order.

use futures::StreamExt as _;
use scangate::registry::{Credentials, ImageRef, RegistryClient, RegistryPolicy};
use scangate::scan::{ImageScanner, Scanner, ScannerConfig};
use scangate::vulndb::{DbHandle, LoadOptions, load_dir};
use sha2::{Digest as _, Sha256};
use std::io::Write as _;
use std::time::{Duration, Instant};

fn config(address: &str) -> ScannerConfig {
    let mut config = ScannerConfig::default();
    config.registries.insecure_registries = vec![address.to_string()];
    config.scan_timeout = scangate::model::ConfigDuration::secs(600);
    config
}

/// A one-record Debian 12 database (matching cost is part of every scan).
fn database() -> anyhow::Result<(tempfile::TempDir, DbHandle)> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("Debian"))?;
    let mut zip = zip::ZipWriter::new(std::fs::File::create(dir.path().join("Debian/all.zip"))?);
    zip.start_file("DSA-BENCH-1.json", zip::write::SimpleFileOptions::default())?;
    zip.write_all(br#"{"id":"DSA-BENCH-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Debian:12","name":"libc6"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"99"}]}]}]}"#)?;
    zip.finish()?;
    let handle = DbHandle::default();
    handle.replace(load_dir(dir.path(), &LoadOptions::default())?);
    Ok((dir, handle))
}

async fn cold_scan(
    address: &str,
    image: &ImageRef,
    db: &DbHandle,
) -> anyhow::Result<(Duration, usize)> {
    let scanner = ImageScanner::new(config(address), db.clone());
    let creds = Credentials::anonymous();
    let start = Instant::now();
    let digest = scanner.resolve(image, &creds).await?;
    let report = scanner.scan(image, &digest, &creds).await?;
    Ok((start.elapsed(), report.inventory.packages.len()))
}

async fn pull_only(address: &str, image: &ImageRef) -> anyhow::Result<(Duration, u64)> {
    let policy = RegistryPolicy {
        insecure_registries: vec![address.to_string()],
        ..Default::default()
    };
    let client = RegistryClient::new(policy, Duration::from_secs(30));
    let creds = Credentials::anonymous();
    let start = Instant::now();
    let digest = client.resolve_digest(image, &creds).await?;
    let (_, manifest) = client
        .image_manifest(image, &digest, &creds, &Default::default())
        .await?;
    let client = &client;
    let creds = &creds;
    let sizes = futures::stream::iter(manifest.layers.iter().map(|layer| async move {
        let mut stream = client.blob(image, &layer.digest, creds).await?;
        let mut hasher = Sha256::new();
        let mut bytes = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            bytes += chunk.len() as u64;
            hasher.update(&chunk);
        }
        anyhow::ensure!(format!("sha256:{}", hex::encode(hasher.finalize())) == layer.digest);
        Ok::<u64, anyhow::Error>(bytes)
    }))
    .buffer_unordered(4)
    .collect::<Vec<_>>()
    .await;
    let mut total = 0;
    for size in sizes {
        total += size?;
    }
    Ok((start.elapsed(), total))
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (_dir, db) = database()?;
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["compare", address, reference, runs] => {
            let image = ImageRef::parse(&format!("{address}/{reference}"))?;
            let runs: usize = runs.parse()?;
            let (mut pulls, mut scans, mut bytes, mut packages) = (Vec::new(), Vec::new(), 0, 0);
            for _ in 0..runs {
                let (pull, size) = pull_only(address, &image).await?;
                let (scan, found) = cold_scan(address, &image, &db).await?;
                pulls.push(pull);
                scans.push(scan);
                bytes = size;
                packages = found;
            }
            let (pull, scan) = (median(pulls), median(scans));
            println!(
                "{{\"image\":\"{reference}\",\"blobBytes\":{bytes},\"packages\":{packages},\"pullMs\":{:.1},\"coldScanMs\":{:.1},\"ratio\":{:.2}}}",
                pull.as_secs_f64() * 1e3,
                scan.as_secs_f64() * 1e3,
                scan.as_secs_f64() / pull.as_secs_f64()
            );
        }
        ["inflate", file, runs] => {
            let compressed = std::fs::read(file)?;
            let mut times = Vec::new();
            let mut out = 0u64;
            for _ in 0..runs.parse::<usize>()? {
                let start = Instant::now();
                let mut decoder = flate2::bufread::MultiGzDecoder::new(&compressed[..]);
                out = std::io::copy(&mut decoder, &mut std::io::sink())?;
                times.push(start.elapsed());
            }
            println!(
                "{{\"file\":\"{file}\",\"compressedBytes\":{},\"tarBytes\":{out},\"inflateMs\":{:.1}}}",
                compressed.len(),
                median(times).as_secs_f64() * 1e3
            );
        }
        ["rescan", address, base, next] => {
            let scanner = ImageScanner::new(config(address), db.clone());
            let creds = Credentials::anonymous();
            let base = ImageRef::parse(&format!("{address}/{base}"))?;
            let next_ref = ImageRef::parse(&format!("{address}/{next}"))?;
            let digest = scanner.resolve(&base, &creds).await?;
            scanner.scan(&base, &digest, &creds).await?;
            let start = Instant::now();
            let digest = scanner.resolve(&next_ref, &creds).await?;
            let report = scanner.scan(&next_ref, &digest, &creds).await?;
            let elapsed = start.elapsed();
            println!(
                "{{\"image\":\"{next}\",\"packages\":{},\"rescanMs\":{:.1},\"cache\":\"{:?}\"}}",
                report.inventory.packages.len(),
                elapsed.as_secs_f64() * 1e3,
                scanner.cache_stats()
            );
        }
        ["scan", address, reference] => {
            let image = ImageRef::parse(&format!("{address}/{reference}"))?;
            let (elapsed, packages) = cold_scan(address, &image, &db).await?;
            println!(
                "{{\"image\":\"{reference}\",\"packages\":{packages},\"scanMs\":{:.1}}}",
                elapsed.as_secs_f64() * 1e3
            );
        }
        _ => anyhow::bail!("usage: compare ADDR REF RUNS | rescan ADDR BASE NEXT | scan ADDR REF"),
    }
    Ok(())
}
