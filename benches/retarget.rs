//! Benchmark: retarget synthetic patches against `cp` of the same file.
//!
//! Run with `cargo bench --bench retarget` (release build). It builds its
//! own patches in a temporary folder (cabinet sizes from
//! `MSP_BENCH_SIZES_MIB`, default `1,100,1024`), then for each size times,
//! in the same run and on the same file, `cp` of the patch and
//! `msp-retarget retarget` to 100 instances (`-o` and `--in-place`, the
//! latter on a fresh copy each run: it writes only the changed blocks,
//! through a journal), and for a small patch the time and peak memory for
//! 1, 10, 100 and 1000 instances, both ways. Each figure is
//! the median of `MSP_BENCH_RUNS` runs (default 3). Peak memory (maximum
//! resident set) of the tool comes from GNU time (`/usr/bin/time`) when it
//! is installed.
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

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn retarget_cmd(bin: &Path, input: &Path, codes: &[String], dest: Option<&Path>) -> Command {
    let mut c = Command::new(bin);
    c.arg("-q").arg("retarget").arg(input);
    for code in codes {
        c.arg("-i").arg(code);
    }
    match dest {
        Some(out) => c.arg("-o").arg(out),
        None => c.arg("--in-place"),
    };
    c
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is expected.
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_msp-retarget"));
    let runs = env_list("MSP_BENCH_RUNS", &[3])[0].max(1) as usize;
    let sizes = env_list("MSP_BENCH_SIZES_MIB", &[1, 100, 1024]);
    let dir = tempfile::tempdir_in(std::env::var_os("MSP_BENCH_DIR").unwrap_or_else(|| ".".into()))
        .expect("temp dir");
    let hundred = instance_codes(100);
    println!("msp-retarget benchmark: {runs} runs per figure, median shown");
    // The tool syncs its output before renaming it into place (a crash
    // must not leave a torn file under the output name); `cp` does not, so
    // the fair baseline is `cp` followed by a sync of the copy. Both ratios
    // are printed.
    println!(
        "{:>9} {:>9} {:>9} {:>12} {:>7} {:>7} {:>12} {:>7} {:>10}",
        "cabinet",
        "cp",
        "cp+sync",
        "retarget -o",
        "/cp",
        "/cp+sync",
        "--in-place",
        "/cp",
        "peak RSS"
    );
    // peak RSS: the larger of -o and --in-place.
    for mib in sizes {
        let mut spec = PatchSpec::single_product();
        spec.cabinet_len = mib * 1024 * 1024;
        let input = dir.path().join(format!("p{mib}.msp"));
        write_patch_file(&spec, &input).expect("build patch");
        let copy = dir.path().join("copy.msp");
        let out = dir.path().join("out.msp");
        // Warm the page cache so both contenders read from memory.
        let _ = std::fs::read(&input).map(|_| ()).ok();
        let mut cp = Vec::new();
        let mut cps = Vec::new();
        let mut rt = Vec::new();
        let mut ip = Vec::new();
        let mut rss = None;
        for _ in 0..runs {
            let _ = std::fs::remove_file(&copy);
            cp.push(run(Command::new("cp").arg(&input).arg(&copy)).0);
            let _ = std::fs::remove_file(&copy);
            cps.push(
                run(Command::new("sh")
                    .arg("-c")
                    .arg("cp \"$0\" \"$1\" && sync \"$1\"")
                    .arg(&input)
                    .arg(&copy))
                .0,
            );
            let _ = std::fs::remove_file(&out);
            let (t, m) = run(&mut retarget_cmd(&bin, &input, &hundred, Some(&out)));
            rt.push(t);
            rss = rss.max(m);
            std::fs::copy(&input, &copy).expect("copy");
            let (t, m) = run(&mut retarget_cmd(&bin, &copy, &hundred, None));
            ip.push(t);
            rss = rss.max(m);
        }
        let (cp, cps, rt, ip) = (median(cp), median(cps), median(rt), median(ip));
        println!(
            "{:>5} MiB {:>9} {:>9} {:>12} {:>7.2} {:>7.2} {:>12} {:>7.2} {:>10}",
            mib,
            secs(cp),
            secs(cps),
            secs(rt),
            rt.as_secs_f64() / cp.as_secs_f64(),
            rt.as_secs_f64() / cps.as_secs_f64(),
            secs(ip),
            ip.as_secs_f64() / cp.as_secs_f64(),
            rss.map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
                .unwrap_or_else(|| "n/a".into())
        );
        let _ = std::fs::remove_file(&input);
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
    let mib = |rss: Option<u64>| {
        rss.map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
            .unwrap_or_else(|| "n/a".into())
    };
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
            let (t, m) = run(&mut retarget_cmd(&bin, &input, &codes, Some(&out)));
            times.push(t);
            rss = rss.max(m);
            std::fs::copy(&input, &work).expect("copy");
            let (t, m) = run(&mut retarget_cmd(&bin, &work, &codes, None));
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
