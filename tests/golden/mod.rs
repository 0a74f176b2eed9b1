//! Golden outputs: the command line run on the shipped sample, on the
//! synthetic presets and (ignored by default) on every corpus file, with
//! the SHA-256 of every output — stdout, stderr, exit code, written files,
//! the folder's listing — compared with an expectation file recorded
//! before a change that must not alter behaviour.
//!
//! Every input is first copied into a fresh folder and the command runs
//! there with relative paths, so no machine-specific path reaches the
//! outputs. `MSP_GOLDEN_UPDATE=1` rewrites the expectation file instead of
//! comparing; only do that for a change whose new outputs were reviewed.
//! The files hold hashes only: no corpus-derived bytes are committed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::util::{Dir, I1, I2, PRODUCT_A};

use crate::util::corpus as shared_corpus;

/// The instance list every retarget uses.
const INSTANCES: [&str; 2] = [I1, I2];

fn sha256(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(64);
    for b in digest {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

/// `bytes` with the test folder's path (an in-place edit names its
/// result by absolute path) replaced by `<DIR>`.
fn without_folder(dir: &Dir, bytes: &[u8]) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return bytes.to_vec();
    };
    let mut text = text.to_owned();
    let canonical = dir.path().canonicalize().expect("canonical test folder");
    for path in [canonical.as_path(), dir.path()] {
        let path = path.to_string_lossy();
        text = text.replace(&*path, "<DIR>");
        // JSON escapes backslashes on Windows.
        text = text.replace(&path.replace('\\', "\\\\"), "<DIR>");
    }
    text.into_bytes()
}

/// The record of a run of cases: one line per observed output.
#[derive(Default)]
struct Record {
    lines: Vec<String>,
    /// The observed text of each line, printed when the line differs.
    shown: Vec<String>,
}

impl Record {
    fn put(&mut self, case: &str, what: &str, bytes: &[u8]) {
        self.lines.push(format!(
            "{case}\t{what}\t{}\t{}",
            bytes.len(),
            sha256(bytes)
        ));
        let text = if bytes.len() <= 4096 && std::str::from_utf8(bytes).is_ok() {
            String::from_utf8_lossy(bytes).into_owned()
        } else {
            format!("<{} bytes>", bytes.len())
        };
        self.shown.push(text);
    }

    /// Runs the binary in `dir` with `args`; records exit code, stdout,
    /// stderr, then every file `outputs` names (or its absence) and the
    /// folder's listing.
    fn run(&mut self, dir: &Dir, case: &str, args: &[&str], outputs: &[&str]) {
        let out = crate::util::cli(args).dir(dir.path()).run();
        let case = format!("{case}: {}", args.join(" "));
        let code = out.exited.then_some(out.code);
        self.lines.push(format!("{case}\texit\t{code:?}"));
        self.shown.push(String::new());
        self.put(&case, "stdout", &without_folder(dir, out.stdout.as_bytes()));
        self.put(&case, "stderr", &without_folder(dir, out.stderr.as_bytes()));
        for name in outputs {
            match std::fs::read(dir.join(name)) {
                Ok(bytes) => self.put(&case, &format!("file {name}"), &bytes),
                Err(_) => self.put(&case, &format!("file {name}"), b"<absent>"),
            }
        }
        self.put(&case, "listing", dir.names().join("\n").as_bytes());
    }

    /// Compares with the expectation file `name` (or rewrites it).
    fn compare(&self, name: &str) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(name);
        let mut actual = self.lines.join("\n");
        actual.push('\n');
        if std::env::var_os("MSP_GOLDEN_UPDATE").is_some() {
            std::fs::write(&path, &actual).expect("writing the expectation file");
            return;
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let expected: Vec<&str> = expected.lines().collect();
        let mut report = String::new();
        for (i, line) in self.lines.iter().enumerate() {
            if expected.get(i) != Some(&line.as_str()) {
                let _ = writeln!(
                    report,
                    "line {}:\n  expected {:?}\n  actual   {line:?}\n  output:\n{}",
                    i + 1,
                    expected.get(i).copied().unwrap_or("<none>"),
                    self.shown[i]
                );
            }
        }
        if expected.len() != self.lines.len() {
            let _ = writeln!(
                report,
                "{} lines expected, {} observed",
                expected.len(),
                self.lines.len()
            );
        }
        assert!(report.is_empty(), "outputs differ from {name}:\n{report}");
    }
}

/// Every run a patch gets: dry run, `-o`, in place on a copy, untarget
/// of the result, inspect and check of input and result, each in human
/// and JSON form.
fn patch_runs(rec: &mut Record, label: &str, bytes: &[u8], packages: &[(&str, &[u8])]) {
    let dir = Dir::new();
    dir.write("in.msp", bytes);
    for (name, bytes) in packages {
        dir.write(name, bytes);
    }
    let mut instances = Vec::new();
    for i in INSTANCES {
        instances.extend(["--instance", i]);
    }
    let with = |head: &[&'static str], tail: &[&'static str]| -> Vec<&'static str> {
        let mut v = head.to_vec();
        v.extend(instances.iter().copied());
        v.extend(tail);
        v
    };
    rec.run(&dir, label, &["inspect", "in.msp"], &[]);
    rec.run(&dir, label, &["inspect", "in.msp", "--json"], &[]);
    rec.run(
        &dir,
        label,
        &with(&["retarget", "in.msp"], &["--dry-run"]),
        &[],
    );
    rec.run(
        &dir,
        label,
        &with(&["retarget", "in.msp"], &["--dry-run", "--json"]),
        &[],
    );
    rec.run(
        &dir,
        label,
        &with(&["retarget", "in.msp"], &["-o", "out.msp"]),
        &["out.msp"],
    );
    rec.run(
        &dir,
        label,
        &with(&["retarget", "in.msp"], &["-o", "out-json.msp", "--json"]),
        &["out-json.msp"],
    );
    // Idempotence: the result retargeted again.
    rec.run(
        &dir,
        label,
        &with(&["retarget", "out.msp"], &["-o", "again.msp"]),
        &["again.msp"],
    );
    dir.write("copy.msp", bytes);
    rec.run(
        &dir,
        label,
        &with(&["retarget", "copy.msp"], &["--in-place"]),
        &["copy.msp"],
    );
    dir.write("copy.msp", bytes);
    rec.run(
        &dir,
        label,
        &with(&["retarget", "copy.msp"], &["--in-place", "--json"]),
        &["copy.msp"],
    );
    rec.run(&dir, label, &["inspect", "out.msp"], &[]);
    rec.run(&dir, label, &["inspect", "out.msp", "--json"], &[]);
    rec.run(
        &dir,
        label,
        &["untarget", "out.msp", "--instance", I2, "-o", "un.msp"],
        &["un.msp"],
    );
    rec.run(
        &dir,
        label,
        &[
            "untarget",
            "out.msp",
            "--instance",
            I1,
            "--instance",
            I2,
            "-o",
            "un2.msp",
            "--json",
        ],
        &["un2.msp"],
    );
    rec.run(
        &dir,
        label,
        &[
            "untarget",
            "out.msp",
            "--instance",
            I1,
            "--dry-run",
            "--json",
        ],
        &[],
    );
    // The result when there is one (a refused retarget writes none).
    let source = std::fs::read(dir.join("out.msp")).unwrap_or_else(|_| bytes.to_vec());
    dir.write("uncopy.msp", &source);
    rec.run(
        &dir,
        label,
        &["untarget", "uncopy.msp", "--instance", I1, "--in-place"],
        &["uncopy.msp"],
    );
    rec.run(
        &dir,
        label,
        &["untarget", "in.msp", "--instance", PRODUCT_A, "--dry-run"],
        &[],
    );
    rec.run(
        &dir,
        label,
        &["check", "in.msp", "--product", PRODUCT_A],
        &[],
    );
    rec.run(
        &dir,
        label,
        &[
            "check",
            "out.msp",
            "--product",
            I1,
            "--product",
            I2,
            "--json",
        ],
        &[],
    );
    for (name, _) in packages {
        rec.run(&dir, label, &["check", "in.msp", "--package", name], &[]);
        rec.run(
            &dir,
            label,
            &["check", "in.msp", "--package", name, "--json"],
            &[],
        );
        rec.run(
            &dir,
            label,
            &["check", "out.msp", "--instances-from", name, "--json"],
            &[],
        );
        rec.run(
            &dir,
            label,
            &[
                "retarget",
                "in.msp",
                "--instances-from",
                name,
                "--dry-run",
                "--json",
            ],
            &[],
        );
        let out = format!("from-{name}.msp");
        let args = ["retarget", "in.msp", "--instances-from", name, "-o", &out];
        rec.run(&dir, label, &args, &[&out]);
    }
}

/// A product database for the sample's product A.
fn product_a() -> Vec<u8> {
    msp_retarget::testkit::synth::product_database(&[
        ("ProductCode", PRODUCT_A),
        ("ProductVersion", "1.0.0.0"),
        ("ProductLanguage", "1033"),
    ])
    .expect("building a product database")
}

#[test]
fn outputs_on_the_sample_and_the_presets_are_unchanged() {
    use msp_retarget::testkit::synth::{PatchSpec, write_patch};
    let mut rec = Record::default();
    let sample = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sample.msp"))
        .expect("reading testdata/sample.msp");
    let product = product_a();
    let packages: &[(&str, &[u8])] = &[("product.msi", &product)];
    patch_runs(&mut rec, "sample", &sample, packages);
    let signed = PatchSpec {
        signed: true,
        ..PatchSpec::single_product()
    };
    for (label, spec) in [
        ("two_products", PatchSpec::two_products()),
        ("two_baselines", PatchSpec::two_baselines()),
        ("signed", signed),
    ] {
        let bytes = write_patch(&spec, std::io::Cursor::new(Vec::new()))
            .expect("building a patch")
            .into_inner();
        patch_runs(&mut rec, label, &bytes, packages);
    }
    // The signed patch stripped.
    let dir = Dir::new();
    let bytes = write_patch(
        &PatchSpec {
            signed: true,
            ..PatchSpec::single_product()
        },
        std::io::Cursor::new(Vec::new()),
    )
    .expect("building a patch")
    .into_inner();
    dir.write("in.msp", &bytes);
    rec.run(
        &dir,
        "signed",
        &[
            "retarget",
            "in.msp",
            "-i",
            I1,
            "--strip-signature",
            "-o",
            "s.msp",
        ],
        &["s.msp"],
    );
    rec.compare("default.txt");
}

/// Every corpus file, sorted by path relative to the corpus folder.
fn corpus_files(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("listing the corpus") {
            let path = entry.expect("listing the corpus").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| ["msp", "msi", "mst"].contains(&e.to_ascii_lowercase().as_str()))
            {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(root, &mut files);
    files.sort();
    files
}

#[test]
#[ignore = "corpus suite: run with --ignored; reads ../shared/corpus or $MSP_CORPUS_DIR"]
fn outputs_on_every_corpus_file_are_unchanged() {
    let root = shared_corpus::corpus_dir();
    let files = corpus_files(&root);
    assert!(!files.is_empty(), "no file in the corpus");
    let read = |p: &Path| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let label = |p: &Path| {
        p.strip_prefix(&root)
            .expect("under the corpus")
            .to_string_lossy()
            .replace('\\', "/")
    };
    // Every product and instance source, named by extension so that the
    // command sees what kind of file it is.
    let products: Vec<(String, Vec<u8>)> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e != "msp"))
        .enumerate()
        .map(|(i, p)| {
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("msi");
            (format!("p{i}.{ext}"), read(p))
        })
        .collect();
    let packages: Vec<(&str, &[u8])> = products
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let mut rec = Record::default();
    for file in &files {
        let bytes = read(file);
        if file.extension().is_some_and(|e| e == "msp") {
            patch_runs(&mut rec, &label(file), &bytes, &packages);
        } else {
            let dir = Dir::new();
            let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("msi");
            let name = format!("in.{ext}");
            dir.write(&name, &bytes);
            rec.run(&dir, &label(file), &["inspect", &name], &[]);
            rec.run(&dir, &label(file), &["inspect", &name, "--json"], &[]);
        }
    }
    rec.compare("corpus.txt");
}
