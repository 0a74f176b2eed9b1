//! Signed patches from the command line: `inspect` and `check` tell a
//! valid signature from a stale one and name the signer; a malformed
//! signature is an error naming the stream (`inspect`, exit 2) or a
//! finding (`check`).
//!
//! The fixture signatures of `synth` have the shape of Authenticode
//! signatures without a real signature value (see
//! `msp_retarget::testkit::signature::fixture`); conformance with a real signing
//! tool is in the ignored tests at the end, which need `osslsigncode` and
//! `openssl` (CI installs them).

use crate::util::Run;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command as Process;

use msp_retarget::testkit::synth::{PatchSpec, write_patch_file};

/// Product code and upgrade code of `PatchSpec::single_product()`, and an
/// instance code.
const PRODUCT: &str = "{5F6A1D2E-7C3B-4E8A-9D41-2B7C8E9F0A11}";
const UPGRADE: &str = "{C2E84B19-6A7D-4C3E-B5F1-0D9E8A7B6C33}";
const I1: &str = "{11111111-1111-4111-8111-111111111111}";

fn run(dir: &Path, args: &[&str]) -> Run {
    crate::util::cli(args).dir(dir).run()
}

fn signed_fixture(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    write_patch_file(
        &PatchSpec {
            signed: true,
            ..PatchSpec::single_product()
        },
        &path,
    )
    .unwrap();
    path
}

/// Flips one byte of the largest root stream other than the signature:
/// content changed, signature kept.
fn change_one_stream(path: &Path) {
    let mut cf = cfb::open_rw(path).unwrap();
    let target = cf
        .read_root_storage()
        .filter(|e| e.is_stream() && !e.name().starts_with('\u{5}'))
        .max_by_key(|e| e.len())
        .map(|e| e.path().to_path_buf())
        .unwrap();
    let mut s = cf.open_stream(&target).unwrap();
    let mut b = [0u8; 1];
    s.seek(SeekFrom::Start(100)).unwrap();
    std::io::Read::read_exact(&mut s, &mut b).unwrap();
    s.seek(SeekFrom::Start(100)).unwrap();
    s.write_all(&[b[0] ^ 0xFF]).unwrap();
    drop(s);
    cf.flush().unwrap();
}

fn product_arg() -> String {
    format!("{PRODUCT},1.0.0.0,1033,{UPGRADE}")
}

#[test]
fn inspect_shows_a_valid_signature_and_its_signer() {
    let dir = tempfile::tempdir().unwrap();
    signed_fixture(dir.path(), "fix.msp");
    let r = run(dir.path(), &["inspect", "fix.msp"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for needle in [
        "signed      yes\n",
        "  signature valid: the content is what was signed\n",
        "    digest  SHA-256 ",
        "    issuer  CN=Fixture Signer,O=Example\n",
        "    serial  01234567\n",
        "    signed  2024-01-01 00:00:00 UTC (the signer's clock)\n",
        "    MsiDigitalSignatureEx absent\n",
        "certificate trust is not checked here",
    ] {
        assert!(r.stdout.contains(needle), "{needle:?} in\n{}", r.stdout);
    }
    assert!(!r.stdout.contains("    now     "), "{}", r.stdout);
}

#[test]
fn inspect_and_check_tell_a_stale_signature() {
    let dir = tempfile::tempdir().unwrap();
    let path = signed_fixture(dir.path(), "fix.msp");
    change_one_stream(&path);
    let r = run(dir.path(), &["inspect", "fix.msp"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("  signature STALE: the content changed since it was signed\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("    now     SHA-256 "), "{}", r.stdout);

    // check: a warning, not a change of verdict (the patch still applies).
    let r = run(
        dir.path(),
        &["check", "fix.msp", "--product", &product_arg()],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("warning [signature-stale]"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("--strip-signature"), "{}", r.stdout);
}

#[test]
fn check_reports_a_valid_signature_as_information() {
    let dir = tempfile::tempdir().unwrap();
    signed_fixture(dir.path(), "fix.msp");
    let r = run(
        dir.path(),
        &["check", "fix.msp", "--product", &product_arg()],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("info    [signature-valid]"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("signature-stale"), "{}", r.stdout);
}

#[test]
fn a_malformed_signature_is_exit_2_for_inspect_and_a_finding_for_check() {
    let dir = tempfile::tempdir().unwrap();
    let path = signed_fixture(dir.path(), "fix.msp");
    let mut cf = cfb::open_rw(&path).unwrap();
    cf.create_stream("/\u{5}DigitalSignature")
        .unwrap()
        .write_all(&[0x30, 0x82, 0xFF, 0xFF, 0x06])
        .unwrap();
    cf.flush().unwrap();
    drop(cf);
    let before = std::fs::read(&path).unwrap();

    let r = run(dir.path(), &["inspect", "fix.msp"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr.starts_with(
            "msp-retarget: fix.msp: stream \\005DigitalSignature: is not a readable \
             Authenticode signature: PKCS#7 ContentInfo: "
        ),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty(), "{}", r.stdout);

    let r = run(
        dir.path(),
        &["check", "fix.msp", "--product", &product_arg()],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("warning [signature-unreadable]"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("\\005DigitalSignature"), "{}", r.stdout);
    assert_eq!(std::fs::read(&path).unwrap(), before, "input untouched");
}

#[test]
fn retarget_refuses_a_signed_patch_and_names_the_way_back() {
    let dir = tempfile::tempdir().unwrap();
    signed_fixture(dir.path(), "fix.msp");
    let r = run(
        dir.path(),
        &["retarget", "fix.msp", "-i", I1, "-o", "out.msp"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    for needle in [
        "--strip-signature",
        "osslsigncode sign",
        "signtool sign",
        "docs/signing.md",
    ] {
        assert!(r.stderr.contains(needle), "{needle}: {}", r.stderr);
    }
    assert!(!dir.path().join("out.msp").exists());

    // Stripped: the result is unsigned, and says so.
    let r = run(
        dir.path(),
        &[
            "retarget",
            "fix.msp",
            "-i",
            I1,
            "--strip-signature",
            "-o",
            "out.msp",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(dir.path(), &["inspect", "out.msp"]);
    assert!(r.stdout.contains("signed      no\n"), "{}", r.stdout);
    assert!(!r.stdout.contains("  signature "), "{}", r.stdout);
}

//===========================================================================//
// Conformance with osslsigncode (ignored: needs osslsigncode and openssl)

/// Runs a tool, failing clearly when it is missing.
fn tool(dir: &Path, program: &str, args: &[&str]) -> std::process::Output {
    Process::new(program)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {program} ({e}); this test needs osslsigncode and openssl \
                 (Debian: apt-get install osslsigncode openssl)"
            )
        })
}

fn make_certificate(dir: &Path) {
    let out = tool(
        dir,
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=Conformance Signer/O=Example",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn osslsigncode_sign(dir: &Path, input: &str, output: &str, hash: &str, dse: bool) {
    let _ = std::fs::remove_file(dir.join(output));
    let mut args = vec![
        "sign", "-certs", "cert.pem", "-key", "key.pem", "-h", hash, "-in", input, "-out", output,
    ];
    if dse {
        args.push("-add-msi-dse");
    }
    let out = tool(dir, "osslsigncode", &args);
    assert!(
        out.status.success(),
        "osslsigncode sign: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// osslsigncode's verdict (exit status of `verify`, the certificate
/// trusted through -CAfile) and the digest it calculated.
fn osslsigncode_verify(dir: &Path, file: &str) -> (bool, Option<String>) {
    let out = tool(
        dir,
        "osslsigncode",
        &["verify", "-CAfile", "cert.pem", "-in", file],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let calculated = text
        .lines()
        .find(|l| l.starts_with("Calculated DigitalSignature"))
        .and_then(|l| l.split(':').nth(1))
        .map(|h| {
            h.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_lowercase()
        });
    (out.status.success(), calculated)
}

/// This tool's verdict and computed digest, from `inspect --json`.
fn our_verdict(dir: &Path, file: &str) -> (bool, String, String) {
    let r = run(dir, &["inspect", file, "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let sig = &doc["signature"];
    (
        sig["verdict"] == "valid",
        sig["computed_digest"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        sig["digest_algorithm"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

#[test]
#[ignore = "needs osslsigncode and openssl; CI installs them"]
fn verdicts_equal_osslsigncode_verify() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_certificate(d);
    write_patch_file(&PatchSpec::two_products(), &d.join("base.msp")).unwrap();
    let mut cases = 0;
    for hash in ["sha1", "sha256"] {
        for dse in [false, true] {
            let tag = format!("{hash}{}", if dse { "-dse" } else { "" });
            let signed = format!("signed-{tag}.msp");
            osslsigncode_sign(d, "base.msp", &signed, hash, dse);

            // Signed then left alone; one stream changed; a storage's
            // state bits changed (metadata: only the pre-hash covers it);
            // retargeted with --strip-signature and signed again.
            let changed = format!("changed-{tag}.msp");
            std::fs::copy(d.join(&signed), d.join(&changed)).unwrap();
            change_one_stream(&d.join(&changed));
            let meta = format!("meta-{tag}.msp");
            std::fs::copy(d.join(&signed), d.join(&meta)).unwrap();
            let mut cf = cfb::open_rw(d.join(&meta)).unwrap();
            cf.set_state_bits("/rtmA.1", 0x10).unwrap();
            cf.flush().unwrap();
            drop(cf);
            let stripped = format!("stripped-{tag}.msp");
            let r = run(
                d,
                &[
                    "retarget",
                    &signed,
                    "--instance",
                    &format!("{PRODUCT}={I1}"),
                    "--strip-signature",
                    "-o",
                    &stripped,
                ],
            );
            assert_eq!(r.code, 0, "{}", r.stderr);
            let resigned = format!("resigned-{tag}.msp");
            osslsigncode_sign(d, &stripped, &resigned, hash, dse);

            let expect = [
                (&signed, true),
                (&changed, false),
                (&meta, !dse),
                (&resigned, true),
            ];
            for (file, valid) in expect {
                let (theirs, their_digest) = osslsigncode_verify(d, file);
                let (ours, our_digest, alg) = our_verdict(d, file);
                assert_eq!(ours, theirs, "{file}: this tool vs osslsigncode verify");
                assert_eq!(ours, valid, "{file}: expected valid = {valid}");
                assert_eq!(
                    their_digest.as_deref(),
                    Some(our_digest.as_str()),
                    "{file}: the digest osslsigncode calculated"
                );
                assert_eq!(alg, hash, "{file}");
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 16);
}

#[test]
#[ignore = "needs osslsigncode and openssl; CI installs them"]
fn a_patch_whose_sequencing_rows_were_added_signs_and_verifies() {
    // osslsigncode writes the signed file anew, the patch database's string
    // data first; retargeting adds the instances' MsiPatchSequence rows, so
    // that stream grows over the mini sectors it had (0 among them). The
    // result must sign: before the cfb fork kept sector 0 at chain starts,
    // osslsigncode stopped with "Get corrupted sector location 0x00000000".
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_certificate(d);
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sample.msp"),
        d.join("sample.msp"),
    )
    .unwrap();
    osslsigncode_sign(d, "sample.msp", "signed.msp", "sha256", false);
    let i2 = "{22222222-2222-4222-8222-222222222222}";
    let r = run(
        d,
        &[
            "retarget",
            "signed.msp",
            "-i",
            I1,
            "-i",
            i2,
            "--strip-signature",
            "-o",
            "all.msp",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = msp_retarget::testkit::patch::sequencing::read_tables(&d.join("all.msp"))
        .unwrap()
        .rows;
    for code in [PRODUCT, I1, i2] {
        let code = msp_retarget::Guid::parse_braced(code).unwrap();
        assert_eq!(
            rows.iter().filter(|r| r.product_code == Some(code)).count(),
            1,
            "a row keyed to {code}: {rows:?}"
        );
    }
    for (hash, dse) in [("sha256", true), ("sha256", false), ("sha1", true)] {
        let out = format!("all-{hash}-{dse}.msp");
        osslsigncode_sign(d, "all.msp", &out, hash, dse);
        let (theirs, their_digest) = osslsigncode_verify(d, &out);
        let (ours, our_digest, alg) = our_verdict(d, &out);
        assert!(
            theirs && ours,
            "{out}: osslsigncode {theirs}, this tool {ours}"
        );
        assert_eq!(their_digest.as_deref(), Some(our_digest.as_str()), "{out}");
        assert_eq!(alg, hash);
    }
}

/// The ```sh blocks of docs/signing.md, in order.
fn doc_blocks() -> Vec<String> {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/signing.md"))
            .unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(b), l) => {
                b.push_str(l);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "an unclosed block in docs/signing.md");
    blocks
}

#[test]
fn the_doc_has_the_whole_linux_recipe() {
    // Not ignored: the blocks the ignored test runs are there, in order.
    let all = doc_blocks().join("");
    let steps = [
        "openssl req -x509",
        "msp-retarget inspect fix.msp",
        "--strip-signature -o fix-all.msp",
        "osslsigncode sign",
        "osslsigncode verify",
        "msp-retarget check fix-all-signed.msp",
    ];
    let mut at = 0;
    for step in steps {
        let found = all[at..].find(step).map(|i| i + at);
        at = found.unwrap_or_else(|| panic!("{step:?} missing or out of order"));
    }
}

#[test]
#[ignore = "needs osslsigncode and openssl; CI installs them"]
fn the_docs_osslsigncode_recipe_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("testdata")).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sample.msp"),
        d.join("testdata/sample.msp"),
    )
    .unwrap();
    let bin = crate::util::bin().to_path_buf();
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = format!("set -euo pipefail\n{}", doc_blocks().join(""));
    let out = Process::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(d)
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docs/signing.md failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The signed result is what the recipe says.
    let (valid, _, alg) = our_verdict(d, "fix-all-signed.msp");
    assert!(valid && alg == "sha256");
    // The script's own `osslsigncode verify` passed (set -e); the input
    // it started from is the signed sample, and it is still valid.
    assert!(our_verdict(d, "fix.msp").0);
}

#[test]
#[ignore = "needs osslsigncode and openssl; CI installs them"]
fn signing_and_time_stamp_times_are_those_osslsigncode_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_certificate(d);
    // A time-stamping authority of its own: osslsigncode stamps offline.
    let out = tool(
        d,
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=Conformance TSA",
            "-addext",
            "extendedKeyUsage=critical,timeStamping",
            "-keyout",
            "tsa.key",
            "-out",
            "tsa.pem",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    write_patch_file(&PatchSpec::single_product(), &d.join("base.msp")).unwrap();
    let out = tool(
        d,
        "osslsigncode",
        &[
            "sign",
            "-certs",
            "cert.pem",
            "-key",
            "key.pem",
            "-h",
            "sha256",
            "-time",
            "1700000000",
            "-TSA-certs",
            "tsa.pem",
            "-TSA-key",
            "tsa.key",
            "-TSA-time",
            "1700000100",
            "-in",
            "base.msp",
            "-out",
            "stamped.msp",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let r = run(d, &["inspect", "stamped.msp", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let sig = &doc["signature"];
    assert_eq!(sig["verdict"], "valid");
    assert_eq!(sig["signing_time"], "2023-11-14 22:13:20 UTC");
    assert_eq!(sig["countersignature_time"], "2023-11-14 22:15:00 UTC");
    assert_eq!(sig["signer"]["subject"], "O=Example,CN=Conformance Signer");
    assert_eq!(sig["signer"]["issuer"], "O=Example,CN=Conformance Signer");
    // The serial is the certificate's, as openssl prints it.
    let out = tool(
        d,
        "openssl",
        &["x509", "-in", "cert.pem", "-noout", "-serial"],
    );
    let serial = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        format!("serial={}", sig["signer"]["serial"].as_str().unwrap()),
        serial.trim()
    );
}
