//! `msp-retarget bulk` through the command line: per-file outcomes,
//! outputs and exit codes, parallel runs equal to sequential ones, the
//! JSON report's shape, manifest errors, and nothing written when the
//! manifest is wrong.

use std::path::{Path, PathBuf};

use msp_retarget::testkit::synth::PatchSpec;
use serde::Deserialize;

use crate::util::{
    self, Dir, I1, I2, PRODUCT_A, PRODUCT_B, Run, Snapshot, inst, many_instances, pid, read,
};

const OTHER: &str = "{99999999-9999-4999-8999-999999999999}";

//===========================================================================//
// The JSON report, mirrored: a field added, renamed or removed fails here.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkDoc {
    schema_version: u32,
    command: String,
    manifest: PathBuf,
    dry_run: bool,
    jobs: usize,
    instances: usize,
    files: Vec<FileDoc>,
    totals: TotalsDoc,
    exit_code: u8,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    input: PathBuf,
    output: PathBuf,
    written: bool,
    outcome: String,
    report: Option<ReportDoc>,
    error: Option<ErrorDoc>,
}

/// The retarget report's top level (its inside is pinned by the retarget
/// tests).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportDoc {
    input: PathBuf,
    output: Option<PathBuf>,
    outcome: String,
    patch_code: String,
    targets_before: Vec<String>,
    plan: serde_json::Value,
    verification: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ErrorDoc {
    kind: String,
    file: Option<PathBuf>,
    part: Option<String>,
    reason: String,
    message: String,
}

#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct TotalsDoc {
    files: usize,
    done: usize,
    already_done: usize,
    planned: usize,
    refused: usize,
    error: usize,
}

/// The error document of a run that failed as a whole.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FailedDoc {
    schema_version: u32,
    command: String,
    outcome: String,
    error: ErrorDoc,
}

//===========================================================================//
// Helpers

/// Runs `bulk` with `args` in `dir`.
fn bulk(dir: &Dir, args: &[&str]) -> Run {
    let mut all = vec!["bulk"];
    all.extend_from_slice(args);
    util::cli(all).dir(dir).run()
}

/// Parses a bulk report and checks what holds for every one: the
/// envelope, and per file either the retarget's report or the error.
fn doc(run: &Run) -> BulkDoc {
    let d: BulkDoc = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("the bulk report does not parse: {e}\n{}", run.stdout));
    assert_eq!((d.schema_version, d.command.as_str()), (3, "bulk"));
    assert_eq!(i32::from(d.exit_code), run.code);
    assert_eq!(d.totals.files, d.files.len());
    for f in &d.files {
        match (&f.report, &f.error) {
            (Some(r), None) => {
                assert_eq!(r.input, f.input);
                assert_eq!(r.outcome, f.outcome);
                assert_eq!(r.output.is_some(), f.written);
                assert!(r.patch_code.starts_with('{') && !r.targets_before.is_empty());
                assert!(r.plan.is_object());
                assert_eq!(r.verification.is_some(), f.outcome == "done");
            }
            (None, Some(e)) => {
                assert!(["refused", "error"].contains(&f.outcome.as_str()));
                assert!(!f.written);
                let part = e
                    .part
                    .as_ref()
                    .map(|p| format!("{p}: "))
                    .unwrap_or_default();
                assert!(e.message.ends_with(&format!("{part}{}", e.reason)), "{e:?}");
            }
            _ => panic!(
                "{}: needs a report or an error, not both",
                f.input.display()
            ),
        }
    }
    d
}

fn outcomes(doc: &BulkDoc) -> Vec<(String, String)> {
    doc.files
        .iter()
        .map(|f| {
            let name = f.input.file_name().unwrap().to_string_lossy().into_owned();
            (name, f.outcome.clone())
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn mkdir(dir: &Dir, name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(&p).unwrap();
    p
}

const INSTANCES: &str = "[[instances]]\ncode = \"{11111111-1111-4111-8111-111111111111}\"\nid = \"Customer1\"\n\n[[instances]]\ncode = \"{22222222-2222-4222-8222-222222222222}\"\n";

/// patches/ with one file of each kind, and bulk.toml retargeting them to
/// I1 and I2 into out/. `with` picks the kinds.
fn mixed(dir: &Dir, with: &[&str]) {
    mkdir(dir, "patches");
    for kind in with {
        let name = format!("patches/{kind}.msp");
        match *kind {
            "good" => {
                dir.patch(&name, &PatchSpec::single_product());
            }
            "already" => {
                let src = dir.patch("already-src.msp", &PatchSpec::single_product());
                util::retarget_to(&src, &dir.join(&name), &[inst(I1), inst(I2)]);
                std::fs::remove_file(src).unwrap();
            }
            "signed" => {
                let spec = PatchSpec {
                    signed: true,
                    ..PatchSpec::single_product()
                };
                dir.patch(&name, &spec);
            }
            "major" => {
                let mut spec = PatchSpec::single_product();
                spec.pairs[0].to_code = OTHER.into();
                dir.patch(&name, &spec);
            }
            "broken" => {
                dir.write(&name, b"this is not a compound file\n");
            }
            other => panic!("no kind {other}"),
        }
    }
    dir.write(
        "bulk.toml",
        format!("output_dir = \"out\"\n\n{INSTANCES}\n[[patches]]\npaths = [\"patches/*.msp\"]\n")
            .as_bytes(),
    );
}

//===========================================================================//
// Outcomes, outputs, exit codes

#[test]
fn each_file_gets_its_outcome_and_the_worst_sets_the_exit_code() {
    let dir = Dir::new();
    mixed(&dir, &["good", "already", "signed", "major", "broken"]);
    let already_in = read(&dir.join("patches/already.msp"));
    let run = bulk(&dir, &["bulk.toml", "--json"]);
    run.code(2);
    let d = doc(&run);
    assert_eq!(
        outcomes(&d),
        pairs(&[
            ("already.msp", "already_done"),
            ("broken.msp", "error"),
            ("good.msp", "done"),
            ("major.msp", "refused"),
            ("signed.msp", "refused"),
        ])
    );
    assert_eq!(
        d.totals,
        TotalsDoc {
            files: 5,
            done: 1,
            already_done: 1,
            planned: 0,
            refused: 2,
            error: 1
        }
    );
    assert_eq!((d.exit_code, d.instances, d.dry_run), (2, 2, false));

    // Outputs: the good one retargeted, the done one copied unchanged, none
    // for the others; inputs untouched.
    let mut written: Vec<String> = std::fs::read_dir(dir.join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(written, ["already.msp", "good.msp"]);
    assert_eq!(read(&dir.join("out/already.msp")), already_in);
    let template = Snapshot::of(&dir.join("out/good.msp")).text("", pid::TEMPLATE);
    assert_eq!(template, format!("{PRODUCT_A};{I1};{I2}"));
    assert_eq!(
        read(&dir.join("patches/good.msp")),
        read(&dir.patch("fresh.msp", &PatchSpec::single_product()))
    );

    // Each failure says why.
    let by_name = |n: &str| d.files.iter().find(|f| f.input.ends_with(n)).unwrap();
    let signed = by_name("signed.msp").error.as_ref().unwrap();
    assert_eq!(signed.kind, "refused");
    assert!(signed.reason.contains("signed"), "{}", signed.reason);
    // The remedy in the manifest's words, not an option of retarget's.
    assert!(
        signed
            .reason
            .contains("Use `strip_signature = true` to remove it"),
        "{}",
        signed.reason
    );
    let major = by_name("major.msp").error.as_ref().unwrap();
    assert!(major.reason.contains("major-upgrade"), "{}", major.reason);
    let broken = by_name("broken.msp");
    let e = broken.error.as_ref().unwrap();
    assert_eq!(e.kind, "format");
    assert_eq!(e.file.as_deref(), Some(Path::new("patches/broken.msp")));
    assert!(!broken.written && broken.report.is_none());
    let good = by_name("good.msp");
    assert!(good.written && good.error.is_none());
    assert_eq!(good.output, Path::new("out/good.msp"));

    // On stderr: one line per failed file, nothing else (no bar: stderr is
    // not a terminal here).
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stderr);
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("msp-retarget: patches/"))
    );
}

#[test]
fn the_summary_table_lists_every_file() {
    let dir = Dir::new();
    mixed(&dir, &["good", "already", "signed", "broken"]);
    let run = bulk(&dir, &["bulk.toml"]);
    run.code(2);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{}", run.stdout);
    assert!(lines[0].starts_with("FILE") && lines[0].ends_with("DETAIL"));
    assert!(lines[1].starts_with("patches/already.msp  already done  -> out/already.msp"));
    assert!(lines[2].starts_with("patches/broken.msp   error"));
    assert!(lines[3].starts_with(
        "patches/good.msp     done          -> out/good.msp: 2 transform pairs copied"
    ));
    assert!(lines[4].starts_with("patches/signed.msp   refused       the patch is signed"));
    assert_eq!(
        lines[5],
        "4 files: 1 done, 1 already done, 1 refused, 1 error; exit code 2"
    );
}

#[test]
fn refusals_without_errors_exit_one_and_clean_runs_zero() {
    let dir = Dir::new();
    mixed(&dir, &["good", "already", "signed"]);
    bulk(&dir, &["bulk.toml"]).code(1);

    let dir = Dir::new();
    mixed(&dir, &["good", "already"]);
    let run = bulk(&dir, &["bulk.toml"]);
    run.code(0);
    assert_eq!(run.stderr, "");
    // A second run finds everything done (the outputs are rewritten as
    // copies of their inputs, and equal to the first run's).
    let first = read(&dir.join("out/good.msp"));
    let d = doc(bulk(&dir, &["bulk.toml", "--json"]).code(0));
    assert_eq!(
        outcomes(&d),
        pairs(&[("already.msp", "already_done"), ("good.msp", "done")])
    );
    assert_eq!(read(&dir.join("out/good.msp")), first);
}

#[test]
fn in_place_replaces_the_inputs_and_a_rerun_changes_nothing() {
    let dir = Dir::new();
    mixed(&dir, &["good"]);
    dir.write(
        "bulk.toml",
        format!("in_place = true\n{INSTANCES}\n[[patches]]\npaths = [\"patches/good.msp\"]\n")
            .as_bytes(),
    );
    let d = doc(bulk(&dir, &["bulk.toml", "--json"]).code(0));
    assert_eq!(outcomes(&d), pairs(&[("good.msp", "done")]));
    assert_eq!(d.files[0].output, d.files[0].input);
    let after = read(&dir.join("patches/good.msp"));
    let template = Snapshot::of(&dir.join("patches/good.msp")).text("", pid::TEMPLATE);
    assert!(template.ends_with(I2), "{template}");

    let d = doc(bulk(&dir, &["bulk.toml", "--json"]).code(0));
    assert_eq!(outcomes(&d), pairs(&[("good.msp", "already_done")]));
    assert!(!d.files[0].written);
    assert_eq!(read(&dir.join("patches/good.msp")), after);
    assert!(!dir.join("out").exists());
}

#[test]
fn a_dry_run_plans_every_file_and_writes_nothing() {
    let dir = Dir::new();
    mixed(&dir, &["good", "already", "signed"]);
    let before = dir.listing();
    let run = bulk(&dir, &["bulk.toml", "--dry-run", "--json"]);
    run.code(1);
    let d = doc(&run);
    assert!(d.dry_run);
    assert_eq!(
        outcomes(&d),
        pairs(&[
            ("already.msp", "already_done"),
            ("good.msp", "planned"),
            ("signed.msp", "refused")
        ])
    );
    assert!(d.files.iter().all(|f| !f.written));
    assert_eq!(dir.listing(), before, "a dry run wrote something");
}

//===========================================================================//
// Parallel runs

#[test]
fn a_parallel_run_writes_what_a_sequential_run_writes() {
    let dir = Dir::new();
    mkdir(&dir, "p");
    let specs = [
        PatchSpec::single_product(),
        PatchSpec::two_baselines(),
        PatchSpec {
            patch_code: "{3B0E9C51-8D2A-4F7B-A6C4-1E5D9F2B7A10}".into(),
            cabinet_len: 300 * 1024,
            ..PatchSpec::single_product()
        },
        PatchSpec {
            patch_code: "{3B0E9C51-8D2A-4F7B-A6C4-1E5D9F2B7A11}".into(),
            ..PatchSpec::two_baselines()
        },
        PatchSpec {
            signed: true,
            ..PatchSpec::single_product()
        },
        PatchSpec::single_product(),
    ];
    for (i, spec) in specs.iter().enumerate() {
        dir.patch(&format!("p/fix{i}.msp"), spec);
    }
    let instances: String = many_instances(6)
        .iter()
        .map(|c| format!("[[instances]]\ncode = \"{c}\"\n"))
        .collect();
    for (manifest, out) in [("seq.toml", "seq"), ("par.toml", "par")] {
        dir.write(
            manifest,
            format!(
                "output_dir = \"{out}\"\nstrip_signature = true\n{instances}\n\
                 [[patches]]\npaths = [\"p/*.msp\"]\n"
            )
            .as_bytes(),
        );
    }
    let seq = doc(bulk(&dir, &["seq.toml", "--jobs", "1", "--json"]).code(0));
    let par = doc(bulk(&dir, &["par.toml", "--jobs", "4", "--json"]).code(0));
    assert_eq!((seq.jobs, par.jobs), (1, 4));
    assert_eq!(outcomes(&seq), outcomes(&par));
    assert_eq!(seq.totals.done, 6);
    for i in 0..specs.len() {
        let name = format!("fix{i}.msp");
        assert_eq!(
            read(&dir.join("seq").join(&name)),
            read(&dir.join("par").join(&name)),
            "{name} differs between --jobs 1 and --jobs 4"
        );
    }
}

//===========================================================================//
// Manifest errors: exit 2, the manifest named, nothing written

fn refused_manifest(text: &str, expect: &str) {
    let dir = Dir::new();
    mixed(&dir, &["good"]);
    dir.write("bulk.toml", text.as_bytes());
    let before = dir.listing();
    let run = bulk(&dir, &["bulk.toml"]);
    run.code(2);
    assert!(
        run.stderr
            .starts_with(&format!("msp-retarget: bulk.toml: {expect}")),
        "expected {expect:?}, got:\n{}",
        run.stderr
    );
    assert_eq!(run.stdout, "");
    assert_eq!(dir.listing(), before, "a refused manifest wrote something");

    // --json gets the same error as a JSON document.
    let run = bulk(&dir, &["bulk.toml", "--json"]);
    run.code(2);
    let failed: FailedDoc = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        (failed.schema_version, failed.command.as_str()),
        (3, "bulk")
    );
    assert_eq!(failed.outcome, "error");
    assert_eq!(failed.error.file.as_deref(), Some(Path::new("bulk.toml")));
}

#[test]
fn an_unknown_key_is_refused_with_its_line() {
    refused_manifest(
        &format!(
            "output_dir = \"out\"\n{INSTANCES}\n[[patches]]\npaths = [\"patches/*.msp\"]\nparallel = 4\n"
        ),
        "line 11, parallel: unknown field `parallel`",
    );
}

#[test]
fn a_manifest_without_patches_is_refused() {
    refused_manifest(
        &format!("output_dir = \"out\"\n{INSTANCES}"),
        "no [[patches]] group",
    );
}

#[test]
fn a_bad_guid_is_refused_with_its_key() {
    refused_manifest(
        "output_dir = \"out\"\n[[instances]]\ncode = \"{1111-2222}\"\n[[patches]]\npaths = [\"patches/*.msp\"]\n",
        "line 3, instances[0].code: \"{1111-2222}\" is not a product code",
    );
}

#[test]
fn a_glob_matching_nothing_is_refused() {
    refused_manifest(
        &format!(
            "output_dir = \"out\"\n{INSTANCES}\n[[patches]]\npaths = [\"patches/*.msp\", \"old/*.msp\"]\n"
        ),
        "line 10, patches[0].paths[1]: \"old/*.msp\" matches no file",
    );
}

#[test]
fn an_instance_list_file_feeds_the_run() {
    let dir = Dir::new();
    mkdir(&dir, "patches");
    dir.patch("patches/fix.msp", &PatchSpec::single_product());
    dir.write(
        "instances.txt",
        b"# instances\nFirst {11111111-1111-4111-8111-111111111111}\n",
    );
    dir.write(
        "bulk.toml",
        b"output_dir = \"out\"\n[[instance_files]]\npath = \"instances.txt\"\n[[patches]]\npaths = [\"patches/*.msp\"]\n",
    );
    let run = bulk(&dir, &["bulk.toml"]);
    run.code(0);
    let p = msp_retarget::testkit::patch::Patch::open(&dir.join("out/fix.msp")).unwrap();
    assert!(p.pairs.iter().any(|x| x.main.name.ends_with("_First")));
}

#[test]
fn a_missing_instance_source_stops_the_run_before_writing() {
    let dir = Dir::new();
    mkdir(&dir, "patches");
    dir.patch("patches/fix.msp", &PatchSpec::single_product());
    dir.write(
        "bulk.toml",
        b"output_dir = \"out\"\n[[instances_from]]\npath = \"product.msi\"\n[[patches]]\npaths = [\"patches/*.msp\"]\n",
    );
    let run = bulk(&dir, &["bulk.toml"]);
    run.code(2);
    assert!(run.stderr.contains("product.msi"), "{}", run.stderr);
    assert!(!dir.join("out/fix.msp").exists());
}

#[test]
fn a_missing_manifest_is_an_error() {
    let dir = Dir::new();
    let run = bulk(&dir, &["nowhere.toml"]);
    run.code(2);
    assert!(
        run.stderr
            .starts_with("msp-retarget: nowhere.toml: cannot read the manifest")
    );
}

#[test]
fn two_inputs_with_one_output_name_are_refused_before_writing() {
    let dir = Dir::new();
    mkdir(&dir, "a");
    mkdir(&dir, "b");
    dir.patch("a/fix.msp", &PatchSpec::single_product());
    dir.patch("b/FIX.msp", &PatchSpec::two_baselines());
    dir.patch("a/other.msp", &PatchSpec::single_product());
    dir.write(
        "bulk.toml",
        format!(
            "output_dir = \"out\"\n{INSTANCES}\n[[patches]]\npaths = [\"a/*.msp\", \"b/*.msp\"]\n"
        )
        .as_bytes(),
    );
    let before = dir.listing();
    let run = bulk(&dir, &["bulk.toml"]);
    run.code(2);
    assert!(
        run.stderr.starts_with(
            "msp-retarget: bulk.toml: line 1, output_dir: a/fix.msp and b/FIX.msp would both be \
             written to out/FIX.msp"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(dir.listing(), before);
    assert!(!dir.join("out").exists());
}

#[test]
fn an_output_folder_that_is_the_input_folder_is_refused() {
    let dir = Dir::new();
    mixed(&dir, &["good"]);
    dir.write(
        "bulk.toml",
        format!(
            "output_dir = \"patches\"\n{INSTANCES}\n[[patches]]\npaths = [\"patches/*.msp\"]\n"
        )
        .as_bytes(),
    );
    let run = bulk(&dir, &["bulk.toml"]);
    run.code(2);
    assert!(
        run.stderr.contains("would replace the input itself"),
        "{}",
        run.stderr
    );
}

//===========================================================================//
// Groups and paths

#[test]
fn groups_pick_their_instances_and_paths_are_relative_to_the_manifest() {
    let dir = Dir::new();
    mkdir(&dir, "ci/patches");
    dir.patch("ci/patches/a.msp", &PatchSpec::single_product());
    dir.patch("ci/patches/ab.msp", &PatchSpec::two_products());
    dir.write(
        "ci/bulk.toml",
        format!(
            "output_dir = \"out\"\n\
             [[instances]]\ncode = \"{I1}\"\nbase = \"{PRODUCT_A}\"\nid = \"a1\"\n\
             [[instances]]\ncode = \"{I2}\"\nbase = \"{PRODUCT_B}\"\nid = \"b1\"\n\
             [[patches]]\npaths = [\"patches/a.msp\"]\ninstances = [\"a1\"]\n\
             [[patches]]\npaths = [\"patches/ab.msp\"]\n"
        )
        .as_bytes(),
    );
    let d = doc(bulk(&dir, &["ci/bulk.toml", "--json"]).code(0));
    assert_eq!(d.manifest, Path::new("ci/bulk.toml"));
    assert_eq!(d.files[0].input, Path::new("ci/patches/a.msp"));
    assert_eq!(d.files[0].output, Path::new("ci/out/a.msp"));
    let template =
        |name: &str| Snapshot::of(&dir.join("ci/out").join(name)).text("", pid::TEMPLATE);
    assert_eq!(template("a.msp"), format!("{PRODUCT_A};{I1}"));
    assert_eq!(
        template("ab.msp"),
        format!("{PRODUCT_A};{PRODUCT_B};{I1};{I2}")
    );
    let plan = &d.files[1].report.as_ref().unwrap().plan;
    assert_eq!(plan["instances"].as_array().unwrap().len(), 2);

    // A selection naming no instance is a manifest error.
    let text = std::fs::read_to_string(dir.join("ci/bulk.toml")).unwrap();
    dir.write(
        "ci/bulk.toml",
        text.replace("[\"a1\"]", "[\"a2\"]").as_bytes(),
    );
    let run = bulk(&dir, &["ci/bulk.toml"]);
    run.code(2);
    assert!(
        run.stderr.starts_with(
            "msp-retarget: ci/bulk.toml: line 12, patches[0].instances[0]: no instance has the id \
             or product code \"a2\""
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn a_file_in_two_groups_is_refused_and_repeats_in_one_group_are_one_file() {
    let dir = Dir::new();
    mixed(&dir, &["good"]);
    dir.write(
        "bulk.toml",
        format!(
            "output_dir = \"out\"\n{INSTANCES}\n[[patches]]\n\
             paths = [\"patches/*.msp\", \"patches/good.msp\"]\n"
        )
        .as_bytes(),
    );
    let d = doc(bulk(&dir, &["bulk.toml", "--json"]).code(0));
    assert_eq!(d.totals.files, 1);

    dir.write(
        "bulk.toml",
        format!(
            "output_dir = \"out\"\n{INSTANCES}\n[[patches]]\npaths = [\"patches/*.msp\"]\n\
             [[patches]]\npaths = [\"patches/good.msp\"]\n"
        )
        .as_bytes(),
    );
    let run = bulk(&dir, &["bulk.toml"]);
    run.code(2);
    assert!(
        run.stderr.contains("is also matched by patches[0]"),
        "{}",
        run.stderr
    );
}

#[test]
fn verbose_runs_log_each_file() {
    let dir = Dir::new();
    mixed(&dir, &["good"]);
    let run = bulk(&dir, &["bulk.toml", "-v"]);
    run.code(0);
    assert!(run.stderr.contains("bulk run prepared"), "{}", run.stderr);
    assert!(run.stderr.contains("patches/good.msp"), "{}", run.stderr);
}

#[test]
fn isolate_components_is_set_for_the_run_and_per_group() {
    use msp_retarget::testkit::components::{
        new_component_patch, new_component_product, write_product,
    };
    let dir = Dir::new();
    dir.write(
        "product.msi",
        &write_product(&new_component_product()).unwrap(),
    );
    for name in ["a/one.msp", "b/two.msp", "c/three.msp"] {
        mkdir(&dir, name.split('/').next().unwrap());
        dir.patch(name, &new_component_patch());
    }
    dir.patch("alone.msp", &new_component_patch());
    dir.write(
        "bulk.toml",
        b"output_dir = \"out\"\n\
          isolate_components = \"none\"\n\n\
          [[instances_from]]\npath = \"product.msi\"\n\n\
          [[patches]]\npaths = [\"a/*.msp\"]\nisolate_components = \"auto\"\n\n\
          [[patches]]\npaths = [\"b/*.msp\"]\n\n\
          [[patches]]\npaths = [\"c/*.msp\"]\nisolate_components = \"NewCmop\"\n",
    );
    let run = bulk(&dir, &["bulk.toml", "--json"]);
    run.code(2);
    let d = doc(&run);
    assert_eq!(
        outcomes(&d),
        pairs(&[
            ("one.msp", "done"),
            ("two.msp", "done"),
            ("three.msp", "error")
        ])
    );
    let actions = |f: &FileDoc| -> Vec<String> {
        f.report.as_ref().unwrap().plan["instances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["components"][0]["action"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(actions(&d.files[0]), ["isolated", "isolated"]);
    assert_eq!(actions(&d.files[1]), ["shared", "shared"]);
    let reason = &d.files[2].error.as_ref().unwrap().reason;
    assert!(reason.contains("NewCmop"), "{reason}");
    assert!(!dir.join("out/three.msp").exists());

    // Each written file is what `retarget` with the same choice writes.
    for (out, isolation) in [("out/one.msp", "auto"), ("out/two.msp", "none")] {
        util::cli([
            "retarget",
            "alone.msp",
            "--instances-from",
            "product.msi",
            "--isolate-components",
            isolation,
            "-o",
            "alone-out.msp",
        ])
        .dir(&dir)
        .run()
        .code(0);
        assert_eq!(
            read(&dir.join(out)),
            read(&dir.join("alone-out.msp")),
            "{out}"
        );
        std::fs::remove_file(dir.join("alone-out.msp")).unwrap();
    }
}

#[test]
fn a_bad_isolate_components_value_is_refused_with_its_key() {
    refused_manifest(
        "output_dir = \"out\"\n[[instances]]\ncode = \"{11111111-1111-4111-8111-111111111111}\"\n\
         [[patches]]\npaths = [\"p.msp\"]\nisolate_components = \"A,,B\"\n",
        "line 6, patches[0].isolate_components: \"A,,B\" is not auto, all, none",
    );
}

#[test]
fn an_ambiguous_base_is_refused_with_the_manifest_base_key() {
    let dir = Dir::new();
    mkdir(&dir, "patches");
    dir.patch("patches/ab.msp", &PatchSpec::two_products());
    dir.write(
        "bulk.toml",
        format!("output_dir = \"out\"\n{INSTANCES}\n[[patches]]\npaths = [\"patches/ab.msp\"]\n")
            .as_bytes(),
    );
    let d = doc(bulk(&dir, &["bulk.toml", "--json"]).code(1));
    let e = d.files[0].error.as_ref().unwrap();
    assert_eq!(e.kind, "refused");
    // The remedy is the manifest's `base` key, not retarget's option.
    assert!(
        e.reason.ends_with(&format!(
            "name the base of instance {I1} as `base = \"{{BASE}}\"` in its `[[instances]]` \
             entry (bulk.toml: line 2, instances[0])"
        )),
        "{}",
        e.reason
    );
    assert!(!e.reason.contains("--"), "{}", e.reason);
}

#[test]
fn an_ambiguous_base_names_the_manifest_entry_or_the_list_file_to_change() {
    let dir = Dir::new();
    dir.patch("ab.msp", &PatchSpec::two_products());
    dir.write("list.txt", format!("# instances\nI1 {I1}\n").as_bytes());
    let manifests = [
        (
            format!("output_dir = \"out\"\n\n[[instances]]\ncode = \"{I2}\"\n\n[[patches]]\npaths = [\"ab.msp\"]\n"),
            "name the base of instance {22222222-2222-4222-8222-222222222222} as `base = \"{BASE}\"` \
             in its `[[instances]]` entry (bulk.toml: line 3, instances[0])",
        ),
        (
            "output_dir = \"out\"\n[[instance_files]]\npath = \"list.txt\"\n[[patches]]\npaths = [\"ab.msp\"]\n"
                .to_string(),
            "name the base of instance {11111111-1111-4111-8111-111111111111} as \
             `{BASE}={11111111-1111-4111-8111-111111111111}` on its line of list.txt",
        ),
    ];
    for (text, hint) in manifests {
        dir.write("bulk.toml", text.as_bytes());
        let run = bulk(&dir, &["bulk.toml", "--json"]);
        run.code(1);
        let d = doc(&run);
        assert_eq!(outcomes(&d), pairs(&[("ab.msp", "refused")]));
        let reason = &d.files[0].error.as_ref().unwrap().reason;
        assert!(reason.ends_with(hint), "{reason}");
        assert!(!reason.contains("--instance"), "{reason}");
        let run = bulk(&dir, &["bulk.toml"]);
        run.code(1);
        assert!(run.stderr.contains(hint), "{}", run.stderr);
    }
}
