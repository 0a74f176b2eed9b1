//! The fuzz targets without libFuzzer, for CI and for machines without
//! `cargo fuzz`: replays every seed, every grown corpus input and every
//! saved regression through the same checks, then mutates the seeds
//! blindly (no coverage feedback) for a few seconds per target.
//!
//! ```sh
//! cargo test --manifest-path fuzz/Cargo.toml --no-default-features
//! FUZZ_SMOKE_SECS=60 cargo test --manifest-path fuzz/Cargo.toml --no-default-features --release -- --nocapture
//! ```
//!
//! A failing input is written to `fuzz/artifacts/smoke-TARGET/` so that
//! `cargo fuzz run TARGET FILE` (or this test, after copying it to
//! `tests/regressions/TARGET/`) reproduces it.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use msp_retarget_fuzz::{
    Seeds, file_seeds, instances, journal, journal_seeds, layout, pipeline, product, product_seeds,
    propset, propset_seeds, signature, signature_seeds, transform, transform_seeds,
};

type Check = fn(&[u8]);

const TARGETS: [(&str, Check); 8] = [
    ("propset", propset as Check),
    ("layout", layout as Check),
    ("transform", transform as Check),
    ("signature", signature as Check),
    ("pipeline", pipeline as Check),
    ("journal", journal as Check),
    ("product", product as Check),
    ("instances", instances as Check),
];

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The WiX-built corpus beside the repository (or `$MSP_CORPUS_DIR`).
fn corpus_dirs() -> Vec<PathBuf> {
    let base = std::env::var_os("MSP_CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| fuzz_dir().join("../../shared/corpus"));
    vec![base.join("wix3")]
}

fn seeds_of(target: &str) -> Seeds {
    let files = file_seeds(&corpus_dirs());
    match target {
        "propset" => propset_seeds(&files),
        "transform" => transform_seeds(&files),
        "journal" => journal_seeds(),
        "signature" => signature_seeds(&files),
        "product" | "instances" => product_seeds(&files),
        _ => files,
    }
}

/// Every file directly in `dir`, named.
fn files_in(dir: &Path) -> Seeds {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Seeds::new();
    };
    let mut out: Seeds = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter_map(|p| {
            let bytes = std::fs::read(&p).ok()?;
            Some((p.display().to_string(), bytes))
        })
        .collect();
    out.sort();
    out
}

/// Runs `check` on `data`; on a panic saves the input and fails.
fn run_saving(target: &str, check: Check, data: &[u8]) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(data))) {
        let dir = fuzz_dir().join("artifacts").join(format!("smoke-{target}"));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!("crash-{:016x}", digest(data)));
        let _ = std::fs::write(&path, data);
        eprintln!("{target}: failing input saved as {}", path.display());
        resume_unwind(panic);
    }
}

fn digest(data: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    h.write(data);
    h.finish()
}

#[test]
fn replay_seeds_corpus_and_regressions() {
    for (target, check) in TARGETS {
        let mut inputs = seeds_of(target);
        inputs.extend(files_in(&fuzz_dir().join("corpus").join(target)));
        inputs.extend(files_in(
            &fuzz_dir().join("../tests/regressions").join(target),
        ));
        for (name, data) in &inputs {
            if std::env::var_os("FUZZ_REPLAY_VERBOSE").is_some() {
                eprintln!("{target}: {name}");
            }
            run_saving(target, check, data);
        }
        println!("{target}: replayed {} inputs", inputs.len());
    }
    msp_retarget_fuzz::remove_scratch();
}

/// xorshift64*: deterministic, so a failure reproduces with the same seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const INTERESTING: [u32; 12] = [
    0,
    1,
    2,
    7,
    0x20,
    0x7F,
    0x200,
    0x1000,
    0x7FFF_FFFF,
    0xFFFF_FFFA,
    0xFFFF_FFFE,
    0xFFFF_FFFF,
];

/// One to eight blind mutations: bit flips, interesting 32-bit values at
/// aligned offsets (ids, counts, offsets and lengths are all 32-bit),
/// truncation, chunk copies, insertions and crossover with another seed.
fn mutate(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8]) {
    for _ in 0..1 + rng.below(8) {
        let len = data.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len >= 4 => {
                let at = rng.below(len / 4) * 4;
                let v = INTERESTING[rng.below(INTERESTING.len())];
                data[at..at + 4].copy_from_slice(&v.to_le_bytes());
            }
            2 if len > 0 => data.truncate(rng.below(len)),
            3 if len > 1 => {
                let from = rng.below(len);
                let to = rng.below(len);
                let n = rng.below(64).min(len - from).min(len - to);
                data.copy_within(from..from + n, to);
            }
            4 => {
                let at = rng.below(len + 1);
                let n = rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                data.splice(at..at, bytes);
            }
            5 if !other.is_empty() && len > 0 => {
                let at = rng.below(len);
                let from = rng.below(other.len());
                let n = rng.below(256).min(len - at).min(other.len() - from);
                data[at..at + n].copy_from_slice(&other[from..from + n]);
            }
            _ if len > 0 => {
                let i = rng.below(len);
                data[i] = rng.next() as u8;
            }
            _ => data.push(rng.next() as u8),
        }
    }
}

#[test]
fn blind_mutation_smoke() {
    let secs: u64 = std::env::var("FUZZ_SMOKE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let seed: u64 = std::env::var("FUZZ_SMOKE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x9E37_79B9_7F4A_7C15);
    for (target, check) in TARGETS {
        let seeds = seeds_of(target);
        let mut rng = Rng(seed);
        let started = Instant::now();
        let mut runs = 0u64;
        while started.elapsed() < Duration::from_secs(secs) {
            let (_, base) = &seeds[rng.below(seeds.len())];
            let (_, other) = &seeds[rng.below(seeds.len())];
            let mut data = base.clone();
            mutate(&mut rng, &mut data, other);
            run_saving(target, check, &data);
            runs += 1;
        }
        println!(
            "{target}: {runs} blind mutations in {:.1} s, no failure (seed {seed:#x})",
            started.elapsed().as_secs_f64()
        );
    }
    msp_retarget_fuzz::remove_scratch();
}
