//! Running a manifest: expand the globs, work out every output, then
//! retarget the files several at once.

use std::collections::HashMap;
use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use crate::commands::bulk::manifest::{Manifest, Output, PatchGroup, Pattern, Pick, RunKeys};
use crate::commands::bulk::sources::{InstanceSources, load_sourced};
use crate::commands::retarget::{RetargetRequest, retarget};
use crate::edit::engine::Destination;
use crate::edit::isolate::ComponentIsolation;
use crate::edit::plan::{InstanceRequest, PlanOptions};
use crate::error::{Error, ErrorKind, Result};
use crate::report::bulk::{BulkReport, FileReport};

/// How to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkOptions {
    /// At most this many files at once (at least 1).
    pub jobs: usize,
    /// Plan every file and write nothing.
    pub dry_run: bool,
}

impl BulkOptions {
    /// One job per available core.
    pub fn default_jobs() -> usize {
        thread::available_parallelism().map_or(1, |n| n.get())
    }
}

/// One file to retarget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The patch.
    pub input: PathBuf,
    /// Where its result goes (the input itself in place).
    pub output: PathBuf,
    /// Whether the input is replaced.
    pub in_place: bool,
    /// The instances it is retargeted to.
    pub instances: Vec<InstanceRequest>,
    /// Which components it isolates (its group's, else the manifest's).
    pub isolation: ComponentIsolation,
    /// The input's size, for progress.
    pub bytes: u64,
}

/// Hears about a run's progress; called from the worker threads.
pub trait Progress: Sync {
    /// The run starts with `files` files of `bytes` bytes in all.
    fn start(&self, _files: usize, _bytes: u64) {}
    /// A worker starts on `input`.
    fn file_started(&self, _input: &Path) {}
    /// A file is finished; `bytes` is its input's size.
    fn file_finished(&self, _file: &FileReport, _bytes: u64) {}
    /// Every file is finished.
    fn finish(&self) {}
}

/// Progress that goes nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// Reads the manifest at `path`, loads its instances, prepares and runs
/// every file. An `Err` means nothing was written; per-file failures are
/// in the report.
pub fn run(
    path: &Path,
    opts: &BulkOptions,
    sources: &dyn InstanceSources,
    progress: &dyn Progress,
) -> Result<BulkReport> {
    let mut manifest = Manifest::load(path)?;
    let mut instances = Vec::new();
    for (request, origin) in load_sourced(&manifest, sources)? {
        manifest.origins.entry(request.instance).or_insert(origin);
        instances.push(request);
    }
    let jobs = prepare(&manifest, &instances)?;
    tracing::info!(
        files = jobs.len(),
        instances = instances.len(),
        jobs = opts.jobs,
        "bulk run prepared"
    );
    execute(&manifest, jobs, instances.len(), opts, progress)
}

/// Expands the manifest's patch groups into jobs, sorted by input path,
/// with their outputs. Fails, before anything is written, when a glob
/// matches nothing, a group selects an unknown instance, a file belongs to
/// two groups, two inputs would write the same output or an output would
/// be its own input.
pub fn prepare(m: &Manifest, instances: &[InstanceRequest]) -> Result<Vec<Job>> {
    let in_place = m.output == Output::InPlace;
    // The canonical path of every input taken, and the group that took it.
    let mut taken: HashMap<PathBuf, usize> = HashMap::new();
    let mut jobs = Vec::new();
    for (g, group) in m.groups.iter().enumerate() {
        let selected = select(m, group, instances)?;
        let isolation = m.options_for(group).isolation;
        for pattern in &group.patterns {
            for input in expand(m, pattern)? {
                let key = fs::canonicalize(&input).unwrap_or_else(|_| input.clone());
                match taken.get(&key) {
                    Some(&first) if first == g => continue,
                    Some(&first) => {
                        return Err(m.error(
                            &pattern.place,
                            format!(
                                "{} is also matched by patches[{first}]; a patch may belong to \
                                 one group only",
                                input.display()
                            ),
                        ));
                    }
                    None => {}
                }
                taken.insert(key, g);
                let bytes = fs::metadata(&input).map_or(0, |md| md.len());
                jobs.push(Job {
                    output: input.clone(),
                    input,
                    in_place,
                    instances: selected.clone(),
                    isolation: isolation.clone(),
                    bytes,
                });
            }
        }
    }
    jobs.sort_by(|a, b| a.input.cmp(&b.input));

    if let Output::Dir(dir) = &m.output {
        // Names are compared without case: the outputs may land on a
        // case-insensitive file system (Windows, macOS).
        let mut by_name: HashMap<String, usize> = HashMap::new();
        for i in 0..jobs.len() {
            let Some(name) = jobs[i].input.file_name() else {
                return Err(m.error(
                    &m.output_place,
                    format!("{} has no file name", jobs[i].input.display()),
                ));
            };
            let output = dir.join(name);
            let key = name.to_string_lossy().to_lowercase();
            if let Some(&first) = by_name.get(&key) {
                return Err(m.error(
                    &m.output_place,
                    format!(
                        "{} and {} would both be written to {}; give them different file names \
                         or put them in separate manifests",
                        jobs[first].input.display(),
                        jobs[i].input.display(),
                        output.display()
                    ),
                ));
            }
            by_name.insert(key, i);
            if same_file(&jobs[i].input, &output) {
                return Err(m.error(
                    &m.output_place,
                    format!(
                        "the output of {} would replace the input itself; use in_place = true \
                         or another output_dir",
                        jobs[i].input.display()
                    ),
                ));
            }
            if let Err(e) = crate::store::commit::check_destination(&output) {
                return Err(m.error(&m.output_place, e.to_string()));
            }
            jobs[i].output = output;
        }
    }
    Ok(jobs)
}

/// The instances of a group, in the manifest's order.
fn select(
    m: &Manifest,
    group: &PatchGroup,
    instances: &[InstanceRequest],
) -> Result<Vec<InstanceRequest>> {
    let Some(selectors) = &group.select else {
        return Ok(instances.to_vec());
    };
    let picks = |pick: &Pick, i: &InstanceRequest| match pick {
        Pick::Code(code) => i.instance == *code,
        Pick::Id(id) => i.id.as_deref() == Some(id.as_str()),
    };
    for s in selectors {
        if !instances.iter().any(|i| picks(&s.pick, i)) {
            return Err(m.error(
                &s.place,
                format!("no instance has the id or product code {:?}", s.text),
            ));
        }
    }
    Ok(instances
        .iter()
        .filter(|i| selectors.iter().any(|s| picks(&s.pick, i)))
        .cloned()
        .collect())
}

fn is_glob(text: &str) -> bool {
    text.contains(['*', '?', '['])
}

/// The files a path or glob names, sorted.
fn expand(m: &Manifest, pattern: &Pattern) -> Result<Vec<PathBuf>> {
    let full = m.resolve(Path::new(&pattern.text));
    if !is_glob(&pattern.text) {
        return if full.is_file() {
            Ok(vec![full])
        } else if full.is_dir() {
            Err(m.error(
                &pattern.place,
                format!(
                    "{} is a folder; name its patches, e.g. \"{}/*.msp\"",
                    full.display(),
                    pattern.text.trim_end_matches(['/', '\\'])
                ),
            ))
        } else {
            Err(m.error(&pattern.place, format!("{}: no such file", full.display())))
        };
    }
    let text = if Path::new(&pattern.text).is_absolute() || m.folder.as_os_str().is_empty() {
        pattern.text.clone()
    } else {
        let folder = m.folder.to_str().ok_or_else(|| {
            m.error(
                &pattern.place,
                format!(
                    "the manifest's folder {} is not valid Unicode, which globs need",
                    m.folder.display()
                ),
            )
        })?;
        format!("{}/{}", glob::Pattern::escape(folder), pattern.text)
    };
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    let paths = glob::glob_with(&text, options)
        .map_err(|e| m.error(&pattern.place, format!("bad glob {:?}: {e}", pattern.text)))?;
    let mut files = Vec::new();
    for entry in paths {
        let path = entry.map_err(|e| {
            let folder = e.path().to_path_buf();
            Error::io("cannot read the folder", e.into()).in_file(folder)
        })?;
        if path.is_file() {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(m.error(
            &pattern.place,
            format!("{:?} matches no file", pattern.text),
        ));
    }
    files.sort();
    Ok(files)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Runs the jobs, at most `opts.jobs` at once, and reports them in the
/// order given. Fails only if the output folder cannot be created (before
/// any file is processed).
pub fn execute(
    m: &Manifest,
    jobs: Vec<Job>,
    instances: usize,
    opts: &BulkOptions,
    progress: &dyn Progress,
) -> Result<BulkReport> {
    if let (Output::Dir(dir), false) = (&m.output, opts.dry_run) {
        fs::create_dir_all(dir)
            .map_err(|e| Error::io("cannot create the output folder", e).in_file(dir))?;
    }
    let workers = opts.jobs.max(1).min(jobs.len().max(1));
    progress.start(jobs.len(), jobs.iter().map(|j| j.bytes).sum());
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<FileReport>>> = jobs.iter().map(|_| Mutex::new(None)).collect();
    thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    progress.file_started(&job.input);
                    let entry = run_one(m, job, opts.dry_run);
                    progress.file_finished(&entry, job.bytes);
                    *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(entry);
                }
            });
        }
    });
    progress.finish();
    let files = results
        .into_iter()
        .zip(&jobs)
        .map(|(slot, job)| {
            slot.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(|| {
                    let e = Error::new(ErrorKind::Io, "the file was not processed");
                    FileReport::new(&job.input, &job.output, Err(e.in_file(&job.input)))
                })
        })
        .collect();
    Ok(BulkReport::new(
        &m.path,
        opts.dry_run,
        workers,
        instances,
        files,
    ))
}

/// Retargets one file; never panics, never fails: the outcome is in the
/// entry.
fn run_one(m: &Manifest, job: &Job, dry_run: bool) -> FileReport {
    let _span = tracing::info_span!("bulk", file = %job.input.display()).entered();
    let destination = if dry_run {
        Destination::DryRun
    } else if job.in_place {
        Destination::InPlace
    } else {
        Destination::Output(job.output.clone())
    };
    let req = RetargetRequest {
        input: job.input.clone(),
        destination,
        instances: job.instances.clone(),
        options: PlanOptions {
            isolation: job.isolation.clone(),
            ..m.options.clone()
        },
    };
    let result = panic::catch_unwind(AssertUnwindSafe(|| retarget(&req)))
        .unwrap_or_else(|payload| {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(Error::format(format!(
                "internal error while processing this file (please report it): {what}"
            )))
        })
        .map_err(|e| e.in_file(&job.input).worded(&RunKeys(m)));
    let entry = FileReport::new(&job.input, &job.output, result);
    tracing::info!(outcome = entry.outcome.words(), "finished");
    entry
}
