//! Benchmark: every command on synthetic patches against `cp` and
//! `cp` + `sync` of the same file, in the same run.
//!
//! Run with `cargo bench --bench retarget` (the release profile). It builds
//! its own patches in a temporary folder and, for each compound-file
//! version and cabinet size, times on the same warm file: `cp` of the
//! patch, `cp` followed by `sync` of the copy, `inspect`, `check` against
//! the patch's product, `retarget --dry-run`, `retarget -o` and
//! `retarget --in-place` (on a fresh, synced copy each run), to 100
//! instances. Then, unless `MSP_BENCH_INSTANCES=0`, 1, 10, 100 and 1000
//! instances on a small two-pair patch, both ways.
//!
//! Each command runs under GNU `time` (`/usr/bin/time`, required), which
//! reports its peak resident memory (maximum RSS); the benchmark reaps
//! `time` with `wait4` for the wall time (from just before the spawn to
//! the reaping) and the CPU time (user + system of `time` and the command
//! with the children it waited for) in microseconds. What `time` itself
//! adds is measured on `true` and printed. A figure is the median of the
//! runs for the times and the largest of the runs for memory. On a shared
//! machine wall time moves with the load; CPU time, and instruction counts
//! (`MSP_BENCH_INSTRUCTIONS=1`), are the steadier figures.
//!
//! The standard output is a Markdown table to paste as is: per version,
//! size and command the median wall time, CPU time, peak RSS, the ratio to
//! `cp` + `sync` and a PASS or MISS mark against issue 18's targets
//! ([`Target`]). The marks are printed, never asserted: performance claims
//! live here, not in the test suite. Progress goes to the standard error.
//!
//! Knobs (environment variables):
//!
//! * `MSP_BENCH_VERSIONS`: compound-file versions, default `3,4` (version
//!   3 with 512-byte sectors, what msi.dll and WiX write; version 4 with
//!   4096-byte sectors, `cfb`'s default).
//! * `MSP_BENCH_SIZES_MIB`: cabinet sizes in MiB, default `1,100,1024,2048`;
//!   `MSP_BENCH_SIZES_MIB_V3` / `MSP_BENCH_SIZES_MIB_V4` override it for
//!   one version.
//! * `MSP_BENCH_RUNS`: runs per figure, default 3.
//! * `MSP_BENCH_DIR`: where the temporary folder goes, default the current
//!   folder. A size is skipped, with a note, when the file system there
//!   has less free space than twice the cabinet plus 1 GiB (the patch and
//!   its copy or output exist at once; a 2 GiB cabinet needs about 5 GiB).
//! * `MSP_BENCH_INSTANCES`: `0` skips the instance curve.
//! * `MSP_BENCH_INSTRUCTIONS`: `1` adds an instruction count of each of
//!   the tool's commands, one run under `valgrind --tool=callgrind`
//!   (slow: tens of seconds per gigabyte-patch edit).
//!
//! The temporary folder is removed when the benchmark ends, fails, or is
//! interrupted (SIGINT, SIGTERM, SIGHUP: the benchmark stops after the
//! command running then).

#[cfg(unix)]
mod bench {
    use std::fmt::Write as _;
    use std::fs::File;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    use msp_retarget::testkit::synth::{PatchSpec, write_patch_file};

    type Result<T> = std::result::Result<T, String>;

    /// Set by the signal handler; checked after every command.
    static INTERRUPTED: AtomicBool = AtomicBool::new(false);

    extern "C" fn on_signal(_: libc::c_int) {
        INTERRUPTED.store(true, Ordering::SeqCst);
    }

    /// Stops at the next check instead of dying with the temporary folder
    /// left behind. `signal` on glibc restarts interrupted calls, so the
    /// running command is reaped normally.
    fn catch_signals() {
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: the handler only stores to an atomic, which is
            // async-signal-safe.
            unsafe {
                libc::signal(
                    sig,
                    on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
                );
            }
        }
    }

    fn check_interrupted() -> Result<()> {
        if INTERRUPTED.load(Ordering::SeqCst) {
            Err("interrupted".into())
        } else {
            Ok(())
        }
    }

    fn env_list(name: &str) -> Result<Option<Vec<u64>>> {
        let Ok(v) = std::env::var(name) else {
            return Ok(None);
        };
        // An empty value is an empty list (`MSP_BENCH_SIZES_MIB=` runs the
        // instance curve only).
        v.split(',')
            .filter(|x| !x.trim().is_empty())
            .map(|x| {
                x.trim()
                    .parse()
                    .map_err(|_| format!("{name}={v}: not a comma-separated list of numbers"))
            })
            .collect::<Result<Vec<u64>>>()
            .map(Some)
    }

    fn env_num(name: &str, default: u64) -> Result<u64> {
        Ok(env_list(name)?
            .and_then(|v| v.first().copied())
            .unwrap_or(default))
    }

    fn instance_codes(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("{{{:08X}-0000-4000-8000-{:012X}}}", 0x1000_0000 + i, i))
            .collect()
    }

    /// One run of one command.
    #[derive(Clone, Copy)]
    struct Sample {
        wall: Duration,
        cpu: Duration,
        rss_kib: u64,
    }

    fn timeval(t: libc::timeval) -> Duration {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    }

    /// GNU `time`, for the peak memory.
    const GNU_TIME: &str = "/usr/bin/time";

    /// Runs a command to completion (output discarded, standard error kept
    /// for the message if it fails) and measures it.
    ///
    /// The peak memory comes from GNU `time` wrapped around the command:
    /// Linux records, as a process's maximum RSS, the high-water mark of
    /// the memory it replaces on `exec`, and std spawns with `vfork`
    /// semantics, so a child reaped here directly would report at least
    /// the benchmark's own peak (tens of MiB after building a gigabyte
    /// patch). `time` forks from its own small image. Wall and CPU time
    /// come from `wait4` on `time` (microseconds instead of its
    /// hundredths), so they include `time`'s own start, which
    /// [`overhead`] measures.
    fn run(cmd: &Command, scratch: &Path) -> Result<Sample> {
        let err_path = scratch.join("stderr.txt");
        let rss_path = scratch.join("rss.txt");
        let err = File::create(&err_path).map_err(|e| format!("{}: {e}", err_path.display()))?;
        let mut full = Command::new(GNU_TIME);
        full.arg("-f")
            .arg("%M")
            .arg("-o")
            .arg(&rss_path)
            .arg(cmd.get_program())
            .args(cmd.get_args())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err);
        let start = Instant::now();
        let child = full
            .spawn()
            .map_err(|e| format!("{GNU_TIME} {:?}: {e}", cmd.get_program()))?;
        let mut status = 0;
        // SAFETY: an all-zero rusage is a valid value to be overwritten.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // std's `Child::wait` would not return the child's resource usage;
        // the child is reaped here, and `child` is dropped without waiting.
        let pid = child.id() as libc::pid_t;
        let reaped = loop {
            // SAFETY: `pid` is our unreaped child; both pointers are valid.
            let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
            if r == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
            {
                continue;
            }
            break r;
        };
        let wall = start.elapsed();
        drop(child);
        if reaped != pid {
            return Err(format!(
                "{cmd:?}: wait4: {}",
                std::io::Error::last_os_error()
            ));
        }
        if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
            check_interrupted()?;
            let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
            return Err(format!("{cmd:?} failed (wait status {status}): {stderr}"));
        }
        check_interrupted()?;
        // `time` writes "Command exited with non-zero status" first when
        // the command fails; the figure is the last line.
        let rss_kib = std::fs::read_to_string(&rss_path)
            .ok()
            .and_then(|s| s.lines().last()?.trim().parse().ok())
            .ok_or_else(|| format!("{}: no peak RSS from {GNU_TIME}", rss_path.display()))?;
        Ok(Sample {
            wall,
            cpu: timeval(usage.ru_utime) + timeval(usage.ru_stime),
            rss_kib,
        })
    }

    /// What measuring adds: `true` run as the commands are, median of 9.
    fn overhead(scratch: &Path) -> Result<Series> {
        let mut s = Series::default();
        for _ in 0..9 {
            s.push(run(&Command::new("true"), scratch)?);
        }
        Ok(s)
    }

    /// Runs a command once under callgrind; its instruction count.
    fn instructions(cmd: &Command, scratch: &Path) -> Result<u64> {
        let out = scratch.join("callgrind.out");
        let mut full = Command::new("valgrind");
        full.arg("--tool=callgrind")
            .arg("-q")
            .arg(format!("--callgrind-out-file={}", out.display()))
            .arg(cmd.get_program())
            .args(cmd.get_args());
        run(&full, scratch)?;
        let text = std::fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        let _ = std::fs::remove_file(&out);
        text.lines()
            .find_map(|l| {
                l.strip_prefix("totals:")
                    .or_else(|| l.strip_prefix("summary:"))
            })
            .and_then(|l| l.split_whitespace().next()?.parse().ok())
            .ok_or_else(|| format!("{}: no totals line", out.display()))
    }

    /// Reads a file through once so that it is in the page cache.
    fn warm(path: &Path) -> Result<()> {
        let mut f = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        std::io::copy(&mut f, &mut std::io::sink())
            .map(|_| ())
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// A fresh copy of `from`, synced, so that a timed command that syncs
    /// the copy does not pay for writing back the copy itself.
    fn fresh_copy(from: &Path, to: &Path) -> Result<()> {
        let _ = std::fs::remove_file(to);
        std::fs::copy(from, to).map_err(|e| format!("copy to {}: {e}", to.display()))?;
        File::open(to)
            .and_then(|f| f.sync_all())
            .map_err(|e| format!("{}: {e}", to.display()))?;
        warm(to)
    }

    fn remove(path: &Path) {
        let _ = std::fs::remove_file(path);
    }

    /// The 1-minute load average.
    fn load() -> Option<f64> {
        std::fs::read_to_string("/proc/loadavg")
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    /// Free bytes for an unprivileged user on the file system of `dir`.
    fn free_bytes(dir: &Path) -> Option<u64> {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
        // SAFETY: an all-zero statvfs is a valid value to be overwritten.
        let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `c` is a NUL-terminated path, `s` a valid pointer.
        if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
            return None;
        }
        Some(s.f_bavail as u64 * s.f_frsize as u64)
    }

    /// The type of the file system holding `dir` (the longest mount point
    /// of /proc/self/mounts that contains it).
    fn fs_type(dir: &Path) -> String {
        let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") else {
            return "unknown".into();
        };
        mounts
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                let (_, point, kind) = (f.next()?, f.next()?, f.next()?);
                dir.starts_with(point)
                    .then(|| (point.len(), kind.to_string()))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, kind)| kind)
            .unwrap_or_else(|| "unknown".into())
    }

    fn proc_field(file: &str, key: &str) -> Option<String> {
        std::fs::read_to_string(file)
            .ok()?
            .lines()
            .find(|l| l.starts_with(key))?
            .split_once(':')
            .map(|(_, v)| v.trim().to_string())
    }

    fn command_line(program: &str, args: &[&str]) -> Option<String> {
        let out = Command::new(program)
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stderr(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// What the figures were measured on, as a Markdown list.
    fn machine(dir: &Path, runs: usize) -> String {
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        let model = proc_field("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown".into());
        let ram = proc_field("/proc/meminfo", "MemTotal")
            .and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or("unknown".into(), |k| {
                format!("{:.1} GiB", k as f64 / 1024.0 / 1024.0)
            });
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or("unknown".into(), |s| s.trim().to_string());
        let head = command_line("git", &["rev-parse", "--short", "HEAD"]).unwrap_or_default();
        let dirty = command_line("git", &["status", "--porcelain", "--untracked-files=no"])
            .is_some_and(|s| !s.is_empty());
        let date = command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_default();
        let mut s = String::new();
        let _ = writeln!(
            s,
            "* date: {date}; commit {head}{}",
            if dirty {
                " (with uncommitted changes)"
            } else {
                ""
            }
        );
        let _ = writeln!(s, "* CPU: {cpus} × {model}; RAM {ram}; kernel {kernel}");
        let _ = writeln!(s, "* bench folder on {}", fs_type(dir));
        let _ = writeln!(
            s,
            "* {runs} run(s) per figure: median wall and CPU time (user + system), largest peak RSS"
        );
        s
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

    /// The runs of one command.
    #[derive(Default)]
    struct Series {
        samples: Vec<Sample>,
        instructions: Option<u64>,
    }

    fn median(mut v: Vec<Duration>) -> Duration {
        v.sort();
        v[v.len() / 2]
    }

    impl Series {
        fn push(&mut self, s: Sample) {
            self.samples.push(s);
        }
        fn wall(&self) -> Duration {
            median(self.samples.iter().map(|s| s.wall).collect())
        }
        fn cpu(&self) -> Duration {
            median(self.samples.iter().map(|s| s.cpu).collect())
        }
        fn rss_bytes(&self) -> u64 {
            self.samples.iter().map(|s| s.rss_kib).max().unwrap_or(0) * 1024
        }
    }

    fn secs(d: Duration) -> String {
        format!("{:.3} s", d.as_secs_f64())
    }

    fn mib(bytes: u64) -> String {
        format!("{:.1} MiB", bytes as f64 / 1024.0 / 1024.0)
    }

    fn size_name(mib: u64) -> String {
        if mib >= 1024 && mib.is_multiple_of(1024) {
            format!("{} GiB", mib / 1024)
        } else {
            format!("{mib} MiB")
        }
    }

    /// Issue 18's memory target: 16 MB, taken as 16 × 10⁶ bytes.
    const MEMORY_TARGET: u64 = 16_000_000;

    /// Issue 18's target for a command: a time limit and [`MEMORY_TARGET`].
    #[derive(Clone, Copy)]
    enum Target {
        /// The baselines.
        None,
        /// At most this long.
        Absolute(Duration),
        /// At most this many times `cp` + `sync`.
        Ratio(f64),
    }

    impl Target {
        fn text(self) -> String {
            match self {
                Target::None => String::new(),
                Target::Absolute(d) => format!("≤ {} ms, ≤ 16 MB", d.as_millis()),
                Target::Ratio(r) => format!("≤ {r:.2} × cp+sync, ≤ 16 MB"),
            }
        }

        /// Whether `t` meets the time limit, `base` being `cp` + `sync`'s
        /// figure of the same kind.
        fn time_ok(self, t: Duration, base: Duration) -> bool {
            match self {
                Target::None => true,
                Target::Absolute(d) => t <= d,
                Target::Ratio(r) => t.as_secs_f64() <= r * base.as_secs_f64(),
            }
        }
    }

    /// `--in-place` costs "the same" for two sizes when the larger one's
    /// median CPU time is within 20 % or 10 ms (whichever is more) of the
    /// smaller one's.
    fn same_cost(small: Duration, large: Duration) -> bool {
        let slack = (small.as_secs_f64() * 0.2).max(0.010);
        large.as_secs_f64() <= small.as_secs_f64() + slack
    }

    /// One row of the table.
    struct Row {
        version: u64,
        size_mib: u64,
        command: &'static str,
        series: Series,
        target: Target,
    }

    struct Table {
        rows: Vec<Row>,
        notes: Vec<String>,
        with_instructions: bool,
    }

    impl Table {
        fn header(&self) -> String {
            let mut s = String::from(
                "| version | cabinet | command | wall | CPU | peak RSS | × cp+sync | target | mark |",
            );
            let mut rule = String::from("|---|---|---|---|---|---|---|---|---|");
            if self.with_instructions {
                s.push_str(" instructions |");
                rule.push_str("---|");
            }
            format!("{s}\n{rule}\n")
        }

        fn render(&self) -> String {
            let mut out = self.header();
            for row in &self.rows {
                let base = self
                    .rows
                    .iter()
                    .find(|r| {
                        r.version == row.version
                            && r.size_mib == row.size_mib
                            && r.command == "cp+sync"
                    })
                    .map(|r| &r.series);
                let ratio = match (row.target, base) {
                    (Target::Ratio(_), Some(b)) => format!(
                        "{:.3}",
                        row.series.wall().as_secs_f64() / b.wall().as_secs_f64()
                    ),
                    _ => String::new(),
                };
                let mark = self.mark(row, base);
                let _ = write!(
                    out,
                    "| {} | {} | `{}` | {} | {} | {} | {} | {} | {} |",
                    row.version,
                    size_name(row.size_mib),
                    row.command,
                    secs(row.series.wall()),
                    secs(row.series.cpu()),
                    mib(row.series.rss_bytes()),
                    ratio,
                    row.target.text(),
                    mark,
                );
                if self.with_instructions {
                    let n = row
                        .series
                        .instructions
                        .map(|n| format!("{:.1} M", n as f64 / 1e6))
                        .unwrap_or_default();
                    let _ = write!(out, " {n} |");
                }
                out.push('\n');
            }
            for note in &self.notes {
                let _ = writeln!(out, "\n{note}");
            }
            out
        }

        /// PASS, or MISS with what missed: the time (judged on wall time,
        /// as the targets are stated; "CPU passes" when the same limit
        /// holds for CPU time, a hint that the load made the difference),
        /// the memory, and for `--in-place` above 100 MiB (issue 18 names
        /// 1 GiB; 2 GiB is held to the same), a cost that differs from
        /// 100 MiB's.
        fn mark(&self, row: &Row, base: Option<&Series>) -> String {
            if matches!(row.target, Target::None) {
                return String::new();
            }
            let Some(base) = base else {
                return "no cp+sync".into();
            };
            let mut missed = Vec::new();
            if !row.target.time_ok(row.series.wall(), base.wall()) {
                if row.target.time_ok(row.series.cpu(), base.cpu()) {
                    missed.push("wall (CPU passes)".to_string());
                } else {
                    missed.push("time".to_string());
                }
            }
            if row.series.rss_bytes() > MEMORY_TARGET {
                missed.push("memory".to_string());
            }
            if row.command == "--in-place" && row.size_mib > 100 {
                let small = self.rows.iter().find(|r| {
                    r.version == row.version && r.size_mib == 100 && r.command == "--in-place"
                });
                if let Some(small) = small
                    && !same_cost(small.series.cpu(), row.series.cpu())
                {
                    missed.push("costs more than at 100 MiB".to_string());
                }
            }
            if missed.is_empty() {
                "PASS".into()
            } else {
                format!("MISS: {}", missed.join(", "))
            }
        }
    }

    fn progress(msg: &str) {
        eprintln!("bench: {msg}");
    }

    /// The series of one version and size.
    #[allow(clippy::too_many_arguments)]
    fn size_series(
        bin: &Path,
        dir: &Path,
        version: u64,
        size_mib: u64,
        runs: usize,
        with_instructions: bool,
        table: &mut Table,
        loads: &mut Vec<f64>,
    ) -> Result<()> {
        let mut spec = PatchSpec::single_product();
        spec.cabinet_len = size_mib * 1024 * 1024;
        spec.version = if version == 3 {
            cfb::Version::V3
        } else {
            cfb::Version::V4
        };
        let need = 2 * spec.cabinet_len + (1 << 30);
        if let Some(free) = free_bytes(dir)
            && free < need
        {
            let note = format!(
                "Version {version}, {}: skipped, {:.1} GiB free in {}, {:.1} GiB needed (twice the cabinet and 1 GiB).",
                size_name(size_mib),
                free as f64 / (1u64 << 30) as f64,
                dir.parent().unwrap_or(dir).display(),
                need as f64 / (1u64 << 30) as f64
            );
            progress(&note);
            table.notes.push(note);
            return Ok(());
        }
        // Every fact the pair checks, so that `check` decides (exit 0).
        let pair = &spec.pairs[0];
        let language = pair.language.rsplit(';').next().unwrap_or_default();
        let product = format!(
            "{},{},{language},{}",
            pair.from_code, pair.from_version, pair.upgrade_code
        );
        let input = dir.join(format!("v{version}-{size_mib}.msp"));
        let copy = dir.join("copy.msp");
        let out = dir.join("out.msp");
        progress(&format!(
            "version {version}, {}: building the patch",
            size_name(size_mib)
        ));
        write_patch_file(&spec, &input).map_err(|e| format!("{}: {e}", input.display()))?;
        // Synced by the builder; warm so that every contender reads from memory.
        warm(&input)?;
        let hundred = instance_codes(100);
        let cp = {
            let mut c = Command::new("cp");
            c.arg(&input).arg(&copy);
            c
        };
        // The tool syncs its output before renaming it into place (a crash
        // must not leave a torn file under the output name); `cp` does not,
        // so the fair baseline for `-o` is `cp` followed by a sync of the copy.
        let cp_sync = {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg("cp \"$0\" \"$1\" && sync \"$1\"")
                .arg(&input)
                .arg(&copy);
            c
        };
        let inspect = {
            let mut c = Command::new(bin);
            c.arg("-q").arg("inspect").arg(&input);
            c
        };
        let check = {
            let mut c = Command::new(bin);
            c.arg("-q")
                .arg("check")
                .arg("--product")
                .arg(&product)
                .arg(&input);
            c
        };
        let dry = retarget_cmd(bin, &input, &hundred, Dest::DryRun);
        let to_out = retarget_cmd(bin, &input, &hundred, Dest::Output(&out));
        let in_place = retarget_cmd(bin, &copy, &hundred, Dest::InPlace);

        let fifty = Target::Absolute(Duration::from_millis(50));
        let mut series: Vec<(&'static str, Target, Series)> = vec![
            ("cp", Target::None, Series::default()),
            ("cp+sync", Target::None, Series::default()),
            ("inspect", fifty, Series::default()),
            ("check", fifty, Series::default()),
            ("--dry-run", fifty, Series::default()),
            ("-o", Target::Ratio(1.10), Series::default()),
            ("--in-place", Target::Ratio(0.05), Series::default()),
        ];
        let result = (|| -> Result<()> {
            for i in 0..runs {
                progress(&format!(
                    "version {version}, {}: run {}/{runs}",
                    size_name(size_mib),
                    i + 1
                ));
                for (name, _, s) in series.iter_mut() {
                    if let Some(l) = load() {
                        loads.push(l);
                    }
                    match *name {
                        "cp" => {
                            remove(&copy);
                            s.push(run(&cp, dir)?);
                            remove(&copy);
                        }
                        "cp+sync" => {
                            s.push(run(&cp_sync, dir)?);
                            remove(&copy);
                        }
                        "inspect" => s.push(run(&inspect, dir)?),
                        "check" => s.push(run(&check, dir)?),
                        "--dry-run" => s.push(run(&dry, dir)?),
                        "-o" => {
                            s.push(run(&to_out, dir)?);
                            remove(&out);
                        }
                        _ => {
                            fresh_copy(&input, &copy)?;
                            s.push(run(&in_place, dir)?);
                            remove(&copy);
                        }
                    }
                }
            }
            if with_instructions {
                progress(&format!(
                    "version {version}, {}: instruction counts (valgrind)",
                    size_name(size_mib)
                ));
                for (name, _, s) in series.iter_mut() {
                    s.instructions = Some(match *name {
                        "cp" | "cp+sync" => continue,
                        "inspect" => instructions(&inspect, dir)?,
                        "check" => instructions(&check, dir)?,
                        "--dry-run" => instructions(&dry, dir)?,
                        "-o" => {
                            let n = instructions(&to_out, dir)?;
                            remove(&out);
                            n
                        }
                        _ => {
                            fresh_copy(&input, &copy)?;
                            let n = instructions(&in_place, dir)?;
                            remove(&copy);
                            n
                        }
                    });
                }
            }
            Ok(())
        })();
        for f in [&input, &copy, &out] {
            remove(f);
        }
        result?;
        for (command, target, series) in series {
            table.rows.push(Row {
                version,
                size_mib,
                command,
                series,
                target,
            });
        }
        Ok(())
    }

    /// The instance curve on the two-pair patch, as a Markdown table.
    fn instance_curve(bin: &Path, dir: &Path, runs: usize) -> Result<String> {
        let mut spec = PatchSpec::two_baselines();
        spec.cabinet_len = 1024 * 1024;
        let input = dir.join("small.msp");
        write_patch_file(&spec, &input).map_err(|e| format!("{}: {e}", input.display()))?;
        let base = spec.targets[0].clone();
        let out = dir.join("many.msp");
        let work = dir.join("many-in-place.msp");
        let mut table = String::from(
            "| instances (two-pair patch, 1 MiB cabinet) | `-o` wall | CPU | peak RSS | `--in-place` wall | CPU | peak RSS |\n\
             |---|---|---|---|---|---|---|\n",
        );
        for n in [1usize, 10, 100, 1000] {
            progress(&format!("instance curve: {n} instances"));
            let codes: Vec<String> = instance_codes(n)
                .into_iter()
                .map(|c| format!("{base}={c}"))
                .collect();
            let (mut o, mut ip) = (Series::default(), Series::default());
            for _ in 0..runs {
                remove(&out);
                o.push(run(
                    &retarget_cmd(bin, &input, &codes, Dest::Output(&out)),
                    dir,
                )?);
                fresh_copy(&input, &work)?;
                ip.push(run(&retarget_cmd(bin, &work, &codes, Dest::InPlace), dir)?);
            }
            let _ = writeln!(
                table,
                "| {n} | {} | {} | {} | {} | {} | {} |",
                secs(o.wall()),
                secs(o.cpu()),
                mib(o.rss_bytes()),
                secs(ip.wall()),
                secs(ip.cpu()),
                mib(ip.rss_bytes())
            );
        }
        for f in [&input, &out, &work] {
            remove(f);
        }
        Ok(table)
    }

    pub fn main() -> Result<()> {
        catch_signals();
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_msp-retarget"));
        let runs = env_num("MSP_BENCH_RUNS", 3)?.max(1) as usize;
        let sizes = env_list("MSP_BENCH_SIZES_MIB")?.unwrap_or_else(|| vec![1, 100, 1024, 2048]);
        let versions = env_list("MSP_BENCH_VERSIONS")?.unwrap_or_else(|| vec![3, 4]);
        if let Some(v) = versions.iter().find(|v| !matches!(v, 3 | 4)) {
            return Err(format!(
                "MSP_BENCH_VERSIONS: {v} is not a compound-file version (3 or 4)"
            ));
        }
        if !Path::new(GNU_TIME).exists() {
            return Err(format!(
                "{GNU_TIME} (GNU time) is needed for the peak memory"
            ));
        }
        let with_instructions = env_num("MSP_BENCH_INSTRUCTIONS", 0)? != 0;
        if with_instructions && Command::new("valgrind").arg("--version").output().is_err() {
            return Err("MSP_BENCH_INSTRUCTIONS=1 needs valgrind".into());
        }
        let parent = PathBuf::from(std::env::var_os("MSP_BENCH_DIR").unwrap_or_else(|| ".".into()));
        let parent = parent
            .canonicalize()
            .map_err(|e| format!("MSP_BENCH_DIR {}: {e}", parent.display()))?;
        // Removed when dropped: on success, on an error, and on a signal
        // (which turns into an error at the next check).
        let tmp = tempfile::Builder::new()
            .prefix("msp-bench-")
            .tempdir_in(&parent)
            .map_err(|e| format!("temporary folder in {}: {e}", parent.display()))?;
        let dir = tmp.path();

        let mut table = Table {
            rows: Vec::new(),
            notes: Vec::new(),
            with_instructions,
        };
        let mut loads = Vec::new();
        let overhead = overhead(dir)?;
        for &version in &versions {
            let sizes = env_list(&format!("MSP_BENCH_SIZES_MIB_V{version}"))?
                .unwrap_or_else(|| sizes.clone());
            for &size in &sizes {
                size_series(
                    &bin,
                    dir,
                    version,
                    size,
                    runs,
                    with_instructions,
                    &mut table,
                    &mut loads,
                )?;
            }
        }
        let curve = if env_num("MSP_BENCH_INSTANCES", 1)? == 0 {
            None
        } else {
            Some(instance_curve(&bin, dir, runs)?)
        };

        print!("{}", machine(&parent, runs));
        println!(
            "* measuring adds (`true` under GNU time, median of 9): {} wall, {} CPU, {} peak RSS",
            secs(overhead.wall()),
            secs(overhead.cpu()),
            mib(overhead.rss_bytes())
        );
        if let (Some(lo), Some(hi)) = (
            loads.iter().copied().reduce(f64::min),
            loads.iter().copied().reduce(f64::max),
        ) {
            println!("* load average (1 min) before each command: {lo:.2}–{hi:.2}\n");
        }
        if !table.rows.is_empty() || !table.notes.is_empty() {
            println!("{}", table.render());
            println!(
                "Marks: time judged on wall time as the targets are stated (\"CPU passes\": the \
                 same limit holds for CPU time); memory on peak RSS against 16 × 10⁶ bytes; \
                 `--in-place` above 100 MiB must also cost, in CPU time, within 20 % or 10 ms of \
                 its cost at 100 MiB."
            );
        }
        if let Some(curve) = curve {
            println!("\n{curve}");
        }
        Ok(())
    }
}

fn main() {
    #[cfg(unix)]
    if let Err(e) = bench::main() {
        eprintln!("bench: {e}; temporary files removed");
        std::process::exit(1);
    }
    #[cfg(not(unix))]
    eprintln!("bench: this benchmark runs on Unix only (cp, sync, wait4)");
}
