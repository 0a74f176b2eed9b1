//! Benchmark: every command on synthetic patches against `cp` of the same file.
//!
//! Run with `cargo bench --bench retarget` (release build). It builds its
//! own patches in a temporary folder, for each compound-file version of
//! `MSP_BENCH_VERSIONS` (default `3,4`: version 3 with 512-byte sectors,
//! what msi.dll and WiX write, then version 4 with 4096-byte sectors) and
//! each cabinet size of `MSP_BENCH_SIZES_MIB` (default `1,100,1024,2048`),
//! and times, in the same run and on the same file: `cp` of the patch,
//! `cp` followed by `sync` of the copy, `inspect`, `check` against the
//! patch's product, `retarget --dry-run`, `retarget -o` and
//! `retarget --in-place` (on a fresh copy each run), to 100 instances.
//! Then, unless `MSP_BENCH_INSTANCES=0`, the time and peak memory for 1,
//! 10, 100 and 1000 instances on a small two-pair patch, both ways. Each
//! figure is the median of `MSP_BENCH_RUNS` runs (default 3). Peak memory
//! (maximum resident set) of each command comes from GNU time
//! (`/usr/bin/time`) when it is installed.
//!
//! Timings are printed, never asserted: performance claims live here, not
//! in the test suite.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use msp_retarget::testkit::synth::{PatchSpec, write_patch_file};

fn env_list(name: &str, default: &[u64]) -> Vec<u64> {
    std::env::var(name)
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

fn instance_codes(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{{{:08X}-0000-4000-8000-{:012X}}}", 0x1000_0000 + i, i))
        .collect()
}

/// Runs a command, returns (wall time, peak RSS in KiB when measurable).
fn run(cmd: &mut Command) -> (Duration, Option<u64>) {
    let time_out = tempfile::NamedTempFile::new().expect("temp file");
    let use_time = Path::new("/usr/bin/time").exists();
    let mut full = if use_time {
        let mut c = Command::new("/usr/bin/time");
        c.arg("-f").arg("%M").arg("-o").arg(time_out.path());
        c.arg(cmd.get_program());
        c.args(cmd.get_args());
        c
    } else {
        let mut c = Command::new(cmd.get_program());
        c.args(cmd.get_args());
        c
    };
    let start = Instant::now();
    let out = full.output().expect("spawn");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    let rss = std::fs::read_to_string(time_out.path())
        .ok()
        .and_then(|s| s.lines().last().and_then(|l| l.trim().parse().ok()));
    (took, rss)
}

/// Reads a file through once so that it is in the page cache.
fn warm(path: &Path) {
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = std::io::copy(&mut f, &mut std::io::sink());
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// Where a benchmarked `retarget` writes.
#[derive(Clone, Copy)]
enum Dest<'a> {
    DryRun,
    Output(&'a Path),
    InPlace,
}

fn retarget_cmd(bin: &Path, input: &Path, codes: &[String], dest: Dest<'_>) -> Command {
    let mut c = Command::new(bin);
    // 1000 instances go past the documented transform limit on purpose.
    c.arg("-q")
        .arg("retarget")
        .arg(input)
        .arg("--beyond-transform-limit");
    for code in codes {
        c.arg("-i").arg(code);
    }
    match dest {
        Dest::DryRun => c.arg("--dry-run"),
        Dest::Output(out) => c.arg("-o").arg(out),
        Dest::InPlace => c.arg("--in-place"),
    };
    c
}

/// Median time and largest peak RSS of a series of runs.
#[derive(Default)]
struct Series {
    times: Vec<Duration>,
    rss: Option<u64>,
}

impl Series {
    fn push(&mut self, (t, rss): (Duration, Option<u64>)) {
        self.times.push(t);
        self.rss = self.rss.max(rss);
    }

    fn time(&self) -> Duration {
        median(self.times.clone())
    }

    fn cell(&self) -> String {
        format!("{} {}", secs(self.time()), mib(self.rss))
    }
}

fn mib(rss: Option<u64>) -> String {
    rss.map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
        .unwrap_or_else(|| "n/a".into())
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is expected.
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_msp-retarget"));
    let runs = env_list("MSP_BENCH_RUNS", &[3])[0].max(1) as usize;
    let sizes = env_list("MSP_BENCH_SIZES_MIB", &[1, 100, 1024, 2048]);
    let versions = env_list("MSP_BENCH_VERSIONS", &[3, 4]);
    let dir = tempfile::tempdir_in(std::env::var_os("MSP_BENCH_DIR").unwrap_or_else(|| ".".into()))
        .expect("temp dir");
    let hundred = instance_codes(100);
    println!("msp-retarget benchmark: {runs} runs per figure, median time and peak RSS shown");
    // The tool syncs its output before renaming it into place (a crash
    // must not leave a torn file under the output name); `cp` does not, so
    // the fair baseline for `-o` is `cp` followed by a sync of the copy.
    for version in versions {
        let (cfb_version, sector) = match version {
            3 => (cfb::Version::V3, 512),
            _ => (cfb::Version::V4, 4096),
        };
        println!("\ncompound file version {version} ({sector}-byte sectors), 100 instances:");
        println!(
            "{:>9} {:>9} {:>9} | {:>18} {:>18} {:>18} | {:>18} {:>7} | {:>18} {:>7}",
            "cabinet",
            "cp",
            "cp+sync",
            "inspect",
            "check",
            "--dry-run",
            "-o",
            "/cp+sync",
            "--in-place",
            "/cp+sync"
        );
        for &size in &sizes {
            let mut spec = PatchSpec::single_product();
            spec.cabinet_len = size * 1024 * 1024;
            spec.version = cfb_version;
            // Every fact the pair checks, so that `check` decides (exit 0).
            let pair = &spec.pairs[0];
            let language = pair.language.rsplit(';').next().unwrap_or_default();
            let product = format!(
                "{},{},{language},{}",
                pair.from_code, pair.from_version, pair.upgrade_code
            );
            let input = dir.path().join(format!("p{size}.msp"));
            write_patch_file(&spec, &input).expect("build patch");
            let copy = dir.path().join("copy.msp");
            let out = dir.path().join("out.msp");
            // Warm the page cache so every contender reads from memory.
            warm(&input);
            let (mut cp, mut cps) = (Series::default(), Series::default());
            let (mut inspect, mut check, mut dry) =
                (Series::default(), Series::default(), Series::default());
            let (mut rt, mut ip) = (Series::default(), Series::default());
            for _ in 0..runs {
                let _ = std::fs::remove_file(&copy);
                cp.push(run(Command::new("cp").arg(&input).arg(&copy)));
                let _ = std::fs::remove_file(&copy);
                cps.push(run(Command::new("sh")
                    .arg("-c")
                    .arg("cp \"$0\" \"$1\" && sync \"$1\"")
                    .arg(&input)
                    .arg(&copy)));
                inspect.push(run(Command::new(&bin).arg("-q").arg("inspect").arg(&input)));
                check.push(run(Command::new(&bin)
                    .arg("-q")
                    .arg("check")
                    .arg("--product")
                    .arg(&product)
                    .arg(&input)));
                dry.push(run(&mut retarget_cmd(&bin, &input, &hundred, Dest::DryRun)));
                let _ = std::fs::remove_file(&out);
                rt.push(run(&mut retarget_cmd(
                    &bin,
                    &input,
                    &hundred,
                    Dest::Output(&out),
                )));
                let _ = std::fs::remove_file(&copy);
                std::fs::copy(&input, &copy).expect("copy");
                warm(&copy);
                ip.push(run(&mut retarget_cmd(&bin, &copy, &hundred, Dest::InPlace)));
            }
            let ratio = |s: &Series| s.time().as_secs_f64() / cps.time().as_secs_f64();
            println!(
                "{:>5} MiB {:>9} {:>9} | {:>18} {:>18} {:>18} | {:>18} {:>7.2} | {:>18} {:>7.3}",
                size,
                secs(cp.time()),
                secs(cps.time()),
                inspect.cell(),
                check.cell(),
                dry.cell(),
                rt.cell(),
                ratio(&rt),
                ip.cell(),
                ratio(&ip),
            );
            for f in [&input, &copy, &out] {
                let _ = std::fs::remove_file(f);
            }
        }
    }
    if env_list("MSP_BENCH_INSTANCES", &[1])[0] == 0 {
        return;
    }

    println!("\ninstances on a two-pair patch (1 MiB cabinet):");
    println!(
        "{:>9} {:>12} {:>10} {:>12} {:>10}",
        "instances", "retarget -o", "peak RSS", "--in-place", "peak RSS"
    );
    let mut spec = PatchSpec::two_baselines();
    spec.cabinet_len = 1024 * 1024;
    let input = dir.path().join("small.msp");
    write_patch_file(&spec, &input).expect("build patch");
    let base = spec.targets[0].clone();
    for n in [1usize, 10, 100, 1000] {
        let codes: Vec<String> = instance_codes(n)
            .into_iter()
            .map(|c| format!("{base}={c}"))
            .collect();
        let out = dir.path().join("many.msp");
        let work = dir.path().join("many-in-place.msp");
        let (mut times, mut in_place) = (Vec::new(), Vec::new());
        let (mut rss, mut rss_in_place) = (None, None);
        for _ in 0..runs {
            let _ = std::fs::remove_file(&out);
            let (t, m) = run(&mut retarget_cmd(&bin, &input, &codes, Dest::Output(&out)));
            times.push(t);
            rss = rss.max(m);
            std::fs::copy(&input, &work).expect("copy");
            let (t, m) = run(&mut retarget_cmd(&bin, &work, &codes, Dest::InPlace));
            in_place.push(t);
            rss_in_place = rss_in_place.max(m);
        }
        println!(
            "{:>9} {:>12} {:>10} {:>12} {:>10}",
            n,
            secs(median(times)),
            mib(rss),
            secs(median(in_place)),
            mib(rss_in_place)
        );
    }
}
