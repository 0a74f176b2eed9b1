//! Crashes and full disks (Linux): a retarget killed at any moment, or
//! whose writes start failing part-way, never damages a file.
//!
//! * **SIGKILL**: the command runs on a large synthetic patch (a 96 MiB
//!   cabinet, so that copying, editing, verifying and syncing each take a
//!   while) and is killed after a random delay spread over its whole run,
//!   many times, with `-o` and with `--in-place`. Afterwards the input is
//!   byte for byte as before and the output name holds either nothing or
//!   the finished result. A killed process may leave its hidden temporary
//!   file (nothing can delete it); it is counted and removed between runs.
//!   In place, the patch is edited through a journal: after a kill it may
//!   be half-written, but then a complete journal lies beside it, and after
//!   `msp-retarget recover` (what the next run does first) it is either
//!   as before or exactly the finished result, never anything in between.
//! * **Each commit point**: a test failpoint stops an in-place edit after
//!   the journal is written, half-way through the writes and before the
//!   journal is deleted; readers then refuse the patch and the next run
//!   completes the edit, byte for byte the `-o` result.
//! * **File size limit**: the command runs under RLIMIT_FSIZE (`prlimit`,
//!   with SIGXFSZ ignored so that a write fails with EFBIG instead of
//!   killing the process) at limits from below the input's size to just
//!   below the result's. Every run must exit 2 naming the output file,
//!   leave the input unchanged and leave no output, no temporary file and
//!   no journal (in place, a failed write is rolled back from the journal).
//!
//! `CRASH_KILLS` sets the number of kills per mode (default 40),
//! `CRASH_SEED` the random seed (printed, so a failure can be replayed),
//! `CRASH_CABINET_MIB` the cabinet size.

#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::util::{Cli, cli};
use std::time::Duration;

use msp_retarget::testkit::synth::{PatchSpec, write_patch_file};

const I1: &str = "{11111111-1111-4111-8111-111111111111}";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// xorshift64*, seeded from the clock unless `CRASH_SEED` is set.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        let seed = env_or("CRASH_SEED", clock) | 1;
        println!("CRASH_SEED={seed}");
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A duration uniformly in `[0, max)`.
    fn delay(&mut self, max: Duration) -> Duration {
        let micros = max.as_micros().max(1) as u64;
        Duration::from_micros(self.next() % micros)
    }
}

/// The names in `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("listing a folder")
        .map(|e| {
            e.expect("listing")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    v.sort();
    v
}

fn is_temp(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".msp-retarget.tmp")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// A work folder on the disk (not a RAM disk: syncing must cost
/// something), with a large patch `in.msp`.
struct Bench {
    dir: tempfile::TempDir,
    input: PathBuf,
    original: Vec<u8>,
}

impl Bench {
    fn new(cabinet_len: u64) -> Bench {
        let dir = tempfile::Builder::new()
            .prefix("msp-retarget-crash.")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("a temporary folder");
        let input = dir.path().join("in.msp");
        let spec = PatchSpec {
            cabinet_len,
            ..PatchSpec::single_product()
        };
        write_patch_file(&spec, &input).expect("building the patch");
        let original = read(&input);
        Bench {
            dir,
            input,
            original,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn retarget_cmd(input: &Path, dest: Option<&Path>) -> Cli {
    retarget_many(input, dest, 1)
}

/// A retarget to `n` instances ({11111111-…-111111111111} first).
fn retarget_many(input: &Path, dest: Option<&Path>, n: u32) -> Cli {
    let mut cli = cli(["retarget"]).args([input]).args(["--instance", I1]);
    for k in 2..=n {
        cli = cli.args([
            "--instance".to_string(),
            format!("{{{k:08X}-0000-4000-8000-000000000000}}"),
        ]);
    }
    match dest {
        Some(out) => cli.args(["-o".as_ref(), out.as_os_str()]),
        None => cli.args(["--in-place"]),
    }
}

/// Starts `cli`, to be killed.
fn spawn(cli: &Cli) -> Child {
    cli.command()
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning")
}

/// Runs to completion; returns how long it took.
fn run_ok(cli: Cli) -> Duration {
    let ran = cli.run();
    ran.code(0);
    ran.elapsed
}

//===========================================================================//
// SIGKILL at random moments

#[test]
fn killed_at_random_moments_output_is_all_or_nothing() {
    let kills: usize = env_or("CRASH_KILLS", 40);
    let bench = Bench::new(env_or("CRASH_CABINET_MIB", 96u64) << 20);
    let out_dir = bench.path("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("out.msp");

    // The finished result, and how long a run takes.
    let took = run_ok(retarget_cmd(&bench.input, Some(&out)));
    let expected = read(&out);
    assert_ne!(expected, bench.original);
    std::fs::remove_file(&out).unwrap();

    let mut rng = Rng::new();
    let (mut none, mut whole, mut temps) = (0, 0, 0);
    for k in 0..kills {
        let delay = rng.delay(took.mul_f64(1.2));
        let mut child = spawn(&retarget_cmd(&bench.input, Some(&out)));
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        assert!(
            read(&bench.input) == bench.original,
            "kill {k} after {delay:?}: the input changed"
        );
        let mut finished = false;
        for name in names_in(&out_dir) {
            if name == "out.msp" {
                assert!(
                    read(&out) == expected,
                    "kill {k} after {delay:?}: out.msp is a partial or different file"
                );
                finished = true;
                std::fs::remove_file(&out).unwrap();
            } else {
                assert!(is_temp(&name), "kill {k}: unexpected file {name}");
                temps += 1;
                std::fs::remove_file(out_dir.join(&name)).unwrap();
            }
        }
        if finished {
            whole += 1;
        } else {
            none += 1;
        }
    }
    println!(
        "-o: {kills} kills over {took:?} runs: {whole} finished results, {none} with no output, \
         {temps} temporary files left by the killed process"
    );
}

fn is_journal(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".msp-retarget.journal")
}

/// Runs `msp-retarget recover FILE`; returns its output line.
fn recover(file: &Path) -> String {
    let out = cli(["recover"]).args([file]).run();
    out.code(0);
    out.stdout
}

#[test]
fn killed_at_random_moments_in_place_is_before_or_after() {
    let kills: usize = env_or("CRASH_KILLS", 40);
    let bench = Bench::new(env_or("CRASH_CABINET_MIB", 96u64) << 20);
    let work = bench.path("work.msp");
    std::fs::copy(&bench.input, &work).unwrap();

    let took = run_ok(retarget_cmd(&work, None));
    let expected = read(&work);
    assert_ne!(expected, bench.original);
    std::fs::copy(&bench.input, &work).unwrap();

    let mut rng = Rng::new();
    let (mut before, mut after, mut torn, mut journals) = (0, 0, 0, 0);
    for k in 0..kills {
        let delay = rng.delay(took.mul_f64(1.2));
        let mut child = spawn(&retarget_cmd(&work, None));
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        // Between a kill and the next run the file may be half-written,
        // but only while a complete journal lies beside it.
        let names = names_in(bench.dir.path());
        let journal = names.iter().any(|n| is_journal(n));
        for name in &names {
            assert!(
                ["in.msp", "work.msp"].contains(&name.as_str()) || is_journal(name),
                "kill {k}: unexpected file {name}"
            );
        }
        let now = read(&work);
        if now != bench.original && now != expected {
            assert!(
                journal,
                "kill {k} after {delay:?}: work.msp is torn and has no journal"
            );
            torn += 1;
        }
        if journal {
            journals += 1;
            recover(&work);
        }
        let now = read(&work);
        if now == bench.original {
            before += 1;
        } else if now == expected {
            after += 1;
            std::fs::copy(&bench.input, &work).unwrap();
        } else {
            panic!(
                "kill {k} after {delay:?}: work.msp is torn after recovery ({} bytes)",
                now.len()
            );
        }
        assert_eq!(
            names_in(bench.dir.path()),
            ["in.msp", "work.msp"],
            "kill {k}: recovery left files"
        );
    }
    println!(
        "--in-place: {kills} kills over {took:?} runs: {before} left the original, {after} the \
         finished result ({journals} through a journal, {torn} of them half-written before \
         recovery)"
    );
}

/// A crash at each point of the in-place commit (a test failpoint aborts
/// the process there): afterwards readers refuse the patch, and the next
/// run of the same retarget completes the edit, giving exactly the result
/// of `-o`.
#[test]
fn a_crash_at_each_commit_point_is_completed_by_the_next_run() {
    let bench = Bench::new(4 << 20);
    let out = bench.path("out.msp");
    run_ok(retarget_many(&bench.input, Some(&out), 5));
    let expected = read(&out);
    std::fs::remove_file(&out).unwrap();
    let work = bench.path("work.msp");
    for point in ["journal-written", "half-written", "written"] {
        std::fs::copy(&bench.input, &work).unwrap();
        let ran = retarget_many(&work, None, 5)
            .env("MSP_RETARGET_FAILPOINT", point)
            .run();
        assert!(ran.code != 0, "{point}: did not stop");
        let now = read(&work);
        match point {
            "journal-written" => assert!(now == bench.original, "{point}: the patch was touched"),
            "half-written" => assert!(
                now != bench.original && now != expected,
                "{point}: expected a half-written file"
            ),
            _ => assert!(now == expected, "{point}: the patch is not the result"),
        }
        assert!(
            names_in(bench.dir.path()).iter().any(|n| is_journal(n)),
            "{point}: no journal"
        );
        // A reader refuses, and says what to do.
        let inspect = cli(["inspect"]).args([&work]).run();
        assert_eq!(inspect.code, 1, "{point}");
        assert!(
            inspect.stderr.contains("msp-retarget recover"),
            "{point}: {}",
            inspect.stderr
        );
        // The next run completes the interrupted edit, then finds nothing
        // left to do.
        let next = retarget_many(&work, None, 5).run();
        assert!(next.code == 0, "{point}: {}", next.stderr);
        assert!(
            next.stderr.contains("completing an interrupted"),
            "{point}: {}",
            next.stderr
        );
        assert!(
            read(&work) == expected,
            "{point}: the result differs from -o"
        );
        assert_eq!(
            names_in(bench.dir.path()),
            ["in.msp", "work.msp"],
            "{point}"
        );
    }
    // With `recover` instead of a next run.
    std::fs::copy(&bench.input, &work).unwrap();
    let _ = retarget_many(&work, None, 5)
        .env("MSP_RETARGET_FAILPOINT", "half-written")
        .run();
    assert!(recover(&work).contains("completed an interrupted in-place edit"));
    assert!(read(&work) == expected);
    assert!(recover(&work).contains("nothing to recover"));
}

//===========================================================================//
// Writes failing part-way (RLIMIT_FSIZE)

/// `cmd` under a file-size limit of `bytes`, with SIGXFSZ ignored so that
/// the write fails with EFBIG instead of killing the process.
fn limited(cmd: &Command, bytes: u64) -> Command {
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg(r#"trap "" XFSZ; exec prlimit --fsize="$0" "$@""#)
        .arg(bytes.to_string())
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    sh
}

fn have_prlimit() -> bool {
    Command::new("prlimit")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn a_write_failing_part_way_leaves_nothing() {
    assert!(
        have_prlimit(),
        "prlimit (util-linux) is needed for this test: apt-get install util-linux"
    );
    // Sixty instances: the copies need new sectors, so the result is
    // larger than the input and a limit between the two sizes fails the
    // edit itself, after the copy.
    let bench = Bench::new(1 << 20);
    let out_dir = bench.path("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("out.msp");
    let instances = 60;
    run_ok(retarget_many(&bench.input, Some(&out), instances));
    let result_len = std::fs::metadata(&out).unwrap().len();
    std::fs::remove_file(&out).unwrap();
    let input_len = bench.original.len() as u64;
    assert!(result_len > input_len, "{result_len} <= {input_len}");
    println!("input {input_len} bytes, result {result_len} bytes");

    // Below the input (the copy fails), at it, and between the input's
    // size and the result's (the edit's new sectors fail).
    let mut limits = vec![4096, input_len / 2, input_len - 1, input_len];
    let step = (result_len - input_len) / 4;
    limits.extend((1..4).map(|k| input_len + k * step));
    limits.push(result_len - 1);

    for &limit in &limits {
        for in_place in [false, true] {
            let (cmd, named) = if in_place {
                let work = bench.path("work.msp");
                std::fs::copy(&bench.input, &work).unwrap();
                (retarget_many(&work, None, instances), work)
            } else {
                (
                    retarget_many(&bench.input, Some(&out), instances),
                    out.clone(),
                )
            };
            let ran = limited(&cmd.command(), limit)
                .output()
                .expect("running the binary");
            let stderr = String::from_utf8_lossy(&ran.stderr);
            let what = format!("limit {limit} (in place: {in_place})");
            assert_eq!(ran.status.code(), Some(2), "{what}: {stderr}");
            assert!(
                stderr.starts_with(&format!("msp-retarget: {}: ", named.display())),
                "{what}: the message does not name {}: {stderr}",
                named.display()
            );
            assert!(stderr.contains("File too large"), "{what}: {stderr}");
            assert!(!stderr.contains("panicked"), "{what}: {stderr}");
            assert!(
                read(&bench.input) == bench.original,
                "{what}: input changed"
            );
            if in_place {
                assert!(read(&named) == bench.original, "{what}: the file changed");
                std::fs::remove_file(&named).unwrap();
            }
            let left: Vec<String> = names_in(bench.dir.path())
                .into_iter()
                .chain(names_in(&out_dir))
                .filter(|n| n != "in.msp" && n != "out")
                .collect();
            assert!(left.is_empty(), "{what}: files left: {left:?}");
            println!("{what}: {}", stderr.trim());
        }
    }
}
