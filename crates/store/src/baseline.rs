//! Raw sled measured on the same machine, as the baseline the append benchmark compares to.

use std::path::Path;
use std::time::Instant;

use crate::{sled_config, StoreConfig, StoreError};

/// The same workload as the append benchmark, straight into sled: `writers` threads,
/// each writing one value of `value_bytes` bytes per sled batch and then calling
/// `flush()` (sled coalesces concurrent flushes), until `total` values are written.
/// Returns events per second.
pub fn sled_concurrent_insert_flush(
    dir: &Path,
    config: &StoreConfig,
    total: u64,
    writers: usize,
    value_bytes: usize,
) -> Result<f64, StoreError> {
    let db = sled_config(dir, config).open()?;
    let next = std::sync::atomic::AtomicU64::new(0);
    let started = Instant::now();
    std::thread::scope(|scope| -> Result<(), StoreError> {
        let workers: Vec<_> = (0..writers)
            .map(|_| {
                let (db, next) = (&db, &next);
                scope.spawn(move || -> Result<(), StoreError> {
                    let value = vec![0x5au8; value_bytes];
                    loop {
                        let key = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if key >= total {
                            return Ok(());
                        }
                        let mut b = sled::Batch::default();
                        b.insert(&key.to_be_bytes(), value.as_slice());
                        db.apply_batch(b)?;
                        db.flush()?;
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().expect("a baseline writer panicked")?;
        }
        Ok(())
    })?;
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

/// Writes `total` values of `value_bytes` bytes with sequential keys, in sled batches of
/// `batch` inserts, each batch followed by `flush()` (sled's own, `sync_file_range`,
/// barrier), from one thread: what a group-commit writer over sled does at the least.
/// Returns events per second.
pub fn sled_batch_insert_flush(
    dir: &Path,
    config: &StoreConfig,
    total: u64,
    batch: usize,
    value_bytes: usize,
) -> Result<f64, StoreError> {
    let db = sled_config(dir, config).open()?;
    let value = vec![0x5au8; value_bytes];
    let started = Instant::now();
    let mut key = 0u64;
    while key < total {
        let mut b = sled::Batch::default();
        for _ in 0..batch.min((total - key) as usize) {
            b.insert(&key.to_be_bytes(), value.as_slice());
            key += 1;
        }
        db.apply_batch(b)?;
        db.flush()?;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}
