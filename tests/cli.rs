//! The command line: exit codes, what goes to stdout and stderr, and what
//! each destination does to the folder. Every test runs the binary in a
//! fresh folder with relative paths, so messages can be pinned exactly.

use msp_retarget::testkit::synth::PatchSpec;

use crate::msptest;
use crate::util::check::{Expect, check_retarget};
use crate::util::{Dir, I1, I2, PRODUCT_A, PRODUCT_B, Snapshot, pid, read};

const OTHER: &str = "{99999999-9999-4999-8999-999999999999}";

fn signed() -> PatchSpec {
    PatchSpec {
        signed: true,
        ..PatchSpec::single_product()
    }
}

fn major_upgrade() -> PatchSpec {
    let mut spec = PatchSpec::single_product();
    spec.pairs[0].to_code = OTHER.into();
    spec
}

//===========================================================================//
// Success

msptest!(retarget_exits_zero_and_says_what_it_did, |dir, run| {
    let input = dir.patch("in.msp", &PatchSpec::single_product());
    let r = run(&["retarget", "in.msp", "--instance", I1, "-o", "out.msp"]);
    r.code(0);
    assert_eq!(r.stderr, "");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "retargeted in.msp -> out.msp");
    assert_eq!(lines[1], "patch {3B0E9C51-8D2A-4F7B-A6C4-1E5D9F2B7A01}");
    assert!(
        r.stdout
            .contains("copy rtmA.1 -> rtmA.1_11111111, #rtmA.1 -> #rtmA.1_11111111"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains(&format!("Template:    {PRODUCT_A};{I1}\n"))
    );
    check_retarget(
        &Snapshot::of(&input),
        &Snapshot::of(&dir.join("out.msp")),
        &Expect::new(&[(PRODUCT_A, I1)]),
    );
    assert_eq!(dir.names(), ["in.msp", "out.msp"]);
});

msptest!(several_instances_with_their_bases, |dir, run| {
    let input = dir.patch("ab.msp", &PatchSpec::two_products());
    let a = format!("{PRODUCT_A}={I1}");
    // Lower case and without braces: what people type.
    let b = format!(
        "{}={}",
        PRODUCT_B.to_lowercase(),
        I2.trim_matches(['{', '}'])
    );
    run(&["retarget", "ab.msp", "-i", &a, "-i", &b, "-o", "out.msp"]).code(0);
    check_retarget(
        &Snapshot::of(&input),
        &Snapshot::of(&dir.join("out.msp")),
        &Expect::new(&[(PRODUCT_A, I1), (PRODUCT_B, I2)]),
    );
});

msptest!(already_done_exits_zero_and_copies_unchanged, |dir, run| {
    dir.patch("in.msp", &PatchSpec::single_product());
    run(&["retarget", "in.msp", "-i", I1, "-o", "out.msp"]).code(0);
    let r = run(&["retarget", "out.msp", "-i", I1, "-o", "again.msp"]);
    r.code(0);
    assert_eq!(r.stderr, "");
    assert!(
        r.stdout
            .starts_with("out.msp is already retargeted; copied unchanged to again.msp\n"),
        "{}",
        r.stdout
    );
    assert!(read(&dir.join("again.msp")) == read(&dir.join("out.msp")));

    let before = dir.listing();
    let r = run(&["retarget", "out.msp", "-i", I1, "--in-place"]);
    r.code(0);
    assert!(
        r.stdout
            .starts_with("out.msp: already retargeted, nothing to do\n"),
        "{}",
        r.stdout
    );
    assert!(dir.listing() == before);
});

msptest!(dry_run_leaves_the_folder_unchanged, |dir, run| {
    dir.patch("in.msp", &PatchSpec::two_baselines());
    let before = dir.listing();
    let r = run(&["retarget", "in.msp", "-i", I1, "-i", I2, "--dry-run"]);
    r.code(0);
    assert!(
        r.stdout
            .starts_with("dry run for in.msp (nothing written)\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("copy ldr.1 -> ldr.1_22222222"));
    assert!(dir.listing() == before, "a dry run changed the folder");
});

msptest!(in_place_gives_the_same_result_as_output, |dir, run| {
    let spec = PatchSpec::two_baselines();
    let original = read(&dir.patch("in.msp", &spec));
    dir.write("copy.msp", &original);
    run(&["retarget", "in.msp", "-i", I1, "-i", I2, "-o", "out.msp"]).code(0);
    let r = run(&["retarget", "copy.msp", "-i", I1, "-i", I2, "--in-place"]);
    r.code(0);
    assert!(
        r.stdout.starts_with("retargeted copy.msp -> "),
        "{}",
        r.stdout
    );
    assert!(read(&dir.join("copy.msp")) == read(&dir.join("out.msp")));
    assert!(read(&dir.join("in.msp")) == original);
    assert_eq!(dir.names(), ["copy.msp", "in.msp", "out.msp"]);
});

#[cfg(unix)]
msptest!(
    in_place_through_a_link_replaces_the_file_it_points_to,
    |dir, run| {
        use std::os::unix::fs::PermissionsExt;
        let target = dir.patch("real.msp", &PatchSpec::single_product());
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::symlink("real.msp", dir.join("link.msp")).unwrap();
        run(&["retarget", "link.msp", "-i", I1, "--in-place"]).code(0);
        let link = std::fs::symlink_metadata(dir.join("link.msp")).unwrap();
        assert!(link.file_type().is_symlink(), "the link was replaced");
        assert_eq!(
            Snapshot::of(&target).text("", pid::TEMPLATE),
            format!("{PRODUCT_A};{I1}")
        );
        let mode = std::fs::metadata(&target).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640, "permissions of the replaced file");
        assert_eq!(dir.names(), ["link.msp", "real.msp"]);
    }
);

msptest!(strip_signature_and_copy_all, |dir, run| {
    dir.patch("in.msp", &signed());
    let r = run(&[
        "retarget",
        "in.msp",
        "-i",
        I1,
        "--strip-signature",
        "-o",
        "out.msp",
    ]);
    r.code(0);
    assert!(
        r.stdout.contains(
            "removed signature stream \\005DigitalSignature: sign the patch again before \
             shipping it (see docs/signing.md)"
        ),
        "{}",
        r.stdout
    );
    let out = Snapshot::of(&dir.join("out.msp"));
    assert!(!out.entries.contains_key("/\u{5}DigitalSignature"));

    let mut spec = PatchSpec::single_product();
    spec.pairs[0].char_count = 0x0920_001F;
    let input = dir.patch("nc.msp", &spec);
    run(&["retarget", "nc.msp", "-i", I1, "-o", "default.msp"]).code(0);
    assert_eq!(
        Snapshot::of(&dir.join("default.msp")).text("", pid::LAST_SAVED_BY),
        ":rtmA.1;:#rtmA.1"
    );
    run(&[
        "retarget",
        "nc.msp",
        "-i",
        I1,
        "--copy-all",
        "-o",
        "all.msp",
    ])
    .code(0);
    let mut expect = Expect::new(&[(PRODUCT_A, I1)]);
    expect.copy_all = true;
    let found = check_retarget(
        &Snapshot::of(&input),
        &Snapshot::of(&dir.join("all.msp")),
        &expect,
    );
    assert_eq!(found.len(), 1);
});

//===========================================================================//
// Refusals: exit 1

/// Runs a retarget of in.msp that must fail with `code`; checks that the
/// folder did not change and that stdout is empty; returns stderr.
fn failing(dir: &Dir, args: &[&str], code: i32) -> String {
    let before = dir.listing();
    let r = crate::util::cli(args).dir(dir).run();
    r.code(code);
    assert_eq!(r.stdout, "", "stdout of a failure");
    assert!(dir.listing() == before, "a failure changed the folder");
    assert!(r.stderr.starts_with("msp-retarget: "), "{}", r.stderr);
    assert!(r.stderr.ends_with('\n') && r.stderr.lines().count() == 1);
    r.stderr
}

msptest!(a_signed_patch_is_refused, |dir, run| {
    dir.patch("in.msp", &signed());
    let err = failing(&dir, &["retarget", "in.msp", "-i", I1, "-o", "out.msp"], 1);
    assert_eq!(
        err,
        format!(
            "msp-retarget: in.msp: the patch is signed (\\005DigitalSignature); retargeting \
             changes its content and breaks the signature. Use --strip-signature to remove it, \
             then {}\n",
            msp_retarget::testkit::signature::RESIGN
        )
    );
    // The way back is spelled out: both signing tools and the recipe.
    for needle in ["osslsigncode sign", "signtool sign", "docs/signing.md"] {
        assert!(err.contains(needle), "{needle}: {err}");
    }
});

msptest!(a_major_upgrade_is_refused, |dir, run| {
    dir.patch("in.msp", &major_upgrade());
    let err = failing(&dir, &["retarget", "in.msp", "-i", I1, "--dry-run"], 1);
    assert_eq!(
        err,
        format!(
            "msp-retarget: in.msp: transform rtmA.1 changes the product code ({PRODUCT_A} -> \
             {OTHER}): a major-upgrade patch would give every instance the same new product \
             code\n"
        )
    );
});

msptest!(more_than_255_transforms_are_refused_up_front, |dir, run| {
    dir.patch("in.msp", &PatchSpec::single_product());
    // The patch lists 2 transforms; each instance adds a pair.
    let args = |n: usize| {
        let mut args = vec!["retarget".to_string(), "in.msp".into()];
        for code in crate::util::many_instances(n) {
            args.push("-i".into());
            args.push(code);
        }
        args
    };
    fn as_str(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    let mut over = args(127); // 2 + 254 = 256
    over.extend(["-o".into(), "out.msp".into()]);
    let err = failing(&dir, &as_str(&over), 1);
    assert!(
        err.starts_with(
            "msp-retarget: in.msp: the result would list 256 transforms in LastSavedBy \
             (the patch has 2, the 127 instances add 254); Windows Installer documents that \
             a package applies no more than 255 transforms"
        ),
        "{err}"
    );
    let mut under = args(126); // 2 + 252 = 254
    under.push("--dry-run".into());
    run(&as_str(&under)).code(0);
    over.push("--beyond-transform-limit".into());
    run(&as_str(&over)).code(0);
    assert!(dir.join("out.msp").exists());
});

msptest!(an_ambiguous_base_is_refused, |dir, run| {
    dir.patch("ab.msp", &PatchSpec::two_products());
    let err = failing(&dir, &["retarget", "ab.msp", "-i", I1, "--in-place"], 1);
    assert!(err.starts_with("msp-retarget: ab.msp: "), "{err}");
    assert!(err.contains(PRODUCT_A) && err.contains(PRODUCT_B), "{err}");
});

//===========================================================================//
// Errors: exit 2

msptest!(a_missing_file, |dir, run| {
    let err = failing(
        &dir,
        &["retarget", "missing.msp", "-i", I1, "-o", "o.msp"],
        2,
    );
    assert!(
        err.starts_with("msp-retarget: missing.msp: cannot read: "),
        "{err}"
    );
    let err = failing(&dir, &["inspect", "missing.msp"], 2);
    assert!(
        err.starts_with("msp-retarget: missing.msp: cannot read: "),
        "{err}"
    );
});

msptest!(not_a_compound_file, |dir, run| {
    dir.write("notes.msp", b"hello");
    let why = "not an OLE compound file (so not a patch, database or transform): it does not \
               start with the compound-file signature D0 CF 11 E0 A1 B1 1A E1";
    let err = failing(&dir, &["retarget", "notes.msp", "-i", I1, "-o", "o.msp"], 2);
    assert_eq!(err, format!("msp-retarget: notes.msp: {why}\n"));
    let err = failing(&dir, &["inspect", "notes.msp"], 2);
    assert_eq!(err, format!("msp-retarget: notes.msp: {why}\n"));
});

msptest!(a_bad_product_code, |dir, run| {
    dir.patch("in.msp", &PatchSpec::single_product());
    let err = failing(
        &dir,
        &["retarget", "in.msp", "-i", "{1234}", "-o", "o.msp"],
        2,
    );
    assert_eq!(
        err,
        "msp-retarget: --instance: \"{1234}\" is not a product code: its groups have 4 characters \
         instead of 8-4-4-4-12; expected a GUID such as \
         {XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX} (X a hex digit)\n"
    );
    let bad_base = format!("nope={I1}");
    let err = failing(
        &dir,
        &["retarget", "in.msp", "-i", &bad_base, "--dry-run"],
        2,
    );
    assert!(
        err.starts_with("msp-retarget: --instance: \"nope\" is not a product code"),
        "{err}"
    );
    let err = failing(&dir, &["untarget", "in.msp", "-i", "abc", "--dry-run"], 2);
    assert!(
        err.starts_with("msp-retarget: --instance: \"abc\" is not a product code"),
        "{err}"
    );
    for command in ["check", "sequence"] {
        let err = failing(&dir, &[command, "in.msp", "--product", "{x},1.0"], 2);
        assert!(
            err.starts_with("msp-retarget: --product: \"{x}\" is not a product code"),
            "{command}: {err}"
        );
    }
});

msptest!(the_output_may_not_be_the_input, |dir, run| {
    dir.patch("in.msp", &PatchSpec::single_product());
    let err = failing(&dir, &["retarget", "in.msp", "-i", I1, "-o", "in.msp"], 2);
    assert_eq!(
        err,
        "msp-retarget: in.msp: the output is the input file; use --in-place to replace it\n"
    );
    let err = failing(&dir, &["retarget", "in.msp", "-i", I1, "-o", "./in.msp"], 2);
    assert!(err.contains("use --in-place"), "{err}");
});

msptest!(usage_errors, |dir, run| {
    dir.patch("in.msp", &PatchSpec::single_product());
    for args in [
        &["retarget", "in.msp", "-i", I1][..],
        &["retarget", "in.msp", "-i", I1, "-o", "o.msp", "--in-place"],
        &["retarget", "in.msp", "-i", I1, "--dry-run", "--in-place"],
        &["retarget", "in.msp", "-o", "o.msp"],
        &["retarget", "-i", I1, "-o", "o.msp"],
        &["inspect"],
        &["frobnicate", "in.msp"],
    ] {
        let before = dir.listing();
        let r = run(args);
        r.code(2);
        assert_eq!(r.stdout, "", "{args:?}");
        // One error style: clap's refusals read like the tool's own.
        assert!(
            r.stderr.starts_with("msp-retarget: "),
            "{args:?}: {}",
            r.stderr
        );
        assert!(!r.stderr.contains("error:"), "{args:?}: {}", r.stderr);
        assert!(dir.listing() == before, "{args:?} changed the folder");
    }
    let r = run(&["retarget", "in.msp", "-i", I1]);
    assert!(
        r.stderr.contains("<--output <OUT>|--in-place|--dry-run>"),
        "{}",
        r.stderr
    );
});

msptest!(a_usage_error_with_json_is_a_json_document, |dir, run| {
    dir.patch("in.msp", &PatchSpec::single_product());
    for (args, command, reason) in [
        (
            &["retarget", "in.msp", "-i", I1, "--json"][..],
            "retarget",
            "the following required arguments were not provided:",
        ),
        (
            &["inspect", "in.msp", "--frob", "--json"],
            "inspect",
            "unexpected argument '--frob' found",
        ),
        (
            &["frobnicate", "--json"],
            "msp-retarget",
            "unrecognized subcommand 'frobnicate'",
        ),
        (
            &["check", "in.msp", "--product", "{x}", "--json"],
            "check",
            "\"{x}\" is not a product code",
        ),
    ] {
        let r = run(args);
        r.code(2);
        let doc: serde_json::Value = serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {:?}", r.stdout));
        assert_eq!(doc["schema_version"], 3, "{args:?}");
        assert_eq!(doc["command"], command, "{args:?}");
        assert_eq!(doc["outcome"], "error", "{args:?}");
        assert_eq!(doc["error"]["kind"], "usage", "{args:?}");
        let got = doc["error"]["reason"].as_str().unwrap();
        assert!(got.starts_with(reason), "{args:?}: {got}");
        if command == "retarget" {
            // What is missing, not only that something is.
            assert!(got.contains("--output <OUT>|--in-place|--dry-run"), "{got}");
        }
        assert!(r.stderr.starts_with("msp-retarget: "), "{}", r.stderr);
    }
});

msptest!(colour_follows_the_option_and_no_color, |dir, run| {
    dir.patch("in.msp", &PatchSpec::single_product());
    let esc = '\u{1b}';
    // Logs: -v logs a commit at info level.
    let logs = |extra: &[&str], no_color: Option<&str>| {
        let mut args = vec!["-v", "retarget", "in.msp", "-i", I1, "-o", "out.msp"];
        args.extend_from_slice(extra);
        let mut cli = crate::util::cli(args).dir(&dir).env_remove("NO_COLOR");
        if let Some(v) = no_color {
            cli = cli.env("NO_COLOR", v);
        }
        let r = cli.run();
        r.code(0);
        let _ = std::fs::remove_file(dir.join("out.msp"));
        assert!(r.stderr.contains("committed"), "{}", r.stderr);
        r.stderr.contains(esc)
    };
    assert!(!logs(&[], None), "auto, not a terminal");
    assert!(!logs(&["--color", "never"], None));
    assert!(!logs(&["--color=auto"], Some("1")));
    assert!(logs(&["--color", "always"], None));
    assert!(logs(&["--color=always"], Some("1")), "the option wins");
    // Errors: the program's name in colour, the message as it is.
    let r = run(&["--color", "always", "inspect", "missing.msp"]);
    r.code(2);
    assert!(
        r.stderr
            .starts_with("\u{1b}[1;31mmsp-retarget:\u{1b}[0m missing.msp: "),
        "{:?}",
        r.stderr
    );
    let r = run(&["--color", "never", "inspect", "missing.msp"]);
    assert!(!r.stderr.contains(esc), "{:?}", r.stderr);
    // A value that is none of the three is a usage error.
    let r = run(&["--color", "purple", "inspect", "in.msp"]);
    r.code(2);
    assert!(r.stderr.contains("purple"), "{}", r.stderr);
});

msptest!(a_usage_error_from_the_library, |dir, run| {
    dir.patch("in.msp", &PatchSpec::single_product());
    let arg = format!("{OTHER}={I1}");
    let err = failing(&dir, &["retarget", "in.msp", "-i", &arg, "-o", "o.msp"], 2);
    assert_eq!(
        err,
        format!(
            "msp-retarget: in.msp: {OTHER}={I1}: the patch does not target {OTHER}; its \
             targets are {PRODUCT_A}\n"
        )
    );
});

//===========================================================================//
// inspect

msptest!(inspect_shows_code_targets_and_pairs, |dir, run| {
    dir.patch("ab.msp", &PatchSpec::two_products());
    let r = run(&["inspect", "ab.msp"]);
    r.code(0);
    assert_eq!(r.stderr, "");
    let out = &r.stdout;
    assert!(out.starts_with("ab.msp: a patch (.msp)\n"), "{out}");
    assert!(out.contains("patch code  {3B0E9C51-8D2A-4F7B-A6C4-1E5D9F2B7A02}\n"));
    assert!(out.contains(&format!("targets (2):\n  {PRODUCT_A}\n  {PRODUCT_B}\n")));
    assert!(out.contains("signed      no\n"));
    assert!(out.contains("transform pairs (2):\n"));
    for name in ["  rtmA.1\n", "    #rtmA.1\n", "  rtmB.1\n", "    #rtmB.1\n"] {
        assert!(out.contains(name), "{name:?} in\n{out}");
    }
    assert!(out.contains("checks   product_code, update_version"));

    // After a retarget it shows the copies and the new target.
    run(&[
        "retarget",
        "ab.msp",
        "-i",
        &format!("{PRODUCT_B}={I1}"),
        "-o",
        "out.msp",
    ])
    .code(0);
    let r = run(&["inspect", "out.msp"]);
    r.code(0);
    assert!(r.stdout.contains(&format!(
        "targets (3):\n  {PRODUCT_A}\n  {PRODUCT_B}\n  {I1}\n"
    )));
    assert!(r.stdout.contains("  rtmB.1_11111111\n"));
    assert!(r.stdout.contains("    #rtmB.1_11111111\n"));
    assert!(r.stdout.contains(&format!("    from     {I1} 1.0.0.0\n")));
});

msptest!(inspect_of_a_hundred_targets_wraps_them, |dir, run| {
    dir.patch("in.msp", &PatchSpec::single_product());
    let instances = crate::util::many_instances(101);
    dir.write("instances.txt", instances.join("\n").as_bytes());
    run(&[
        "retarget",
        "in.msp",
        "--instances-file",
        "instances.txt",
        "-o",
        "out.msp",
    ])
    .code(0);
    let r = run(&["inspect", "out.msp"]);
    r.code(0);
    let out = &r.stdout;
    // One code per line, counted, so that grep finds each on its own line.
    assert!(
        out.contains(&format!(
            "targets (102):\n  {PRODUCT_A}\n  {}\n",
            instances[0]
        )),
        "{out}"
    );
    for code in &instances {
        assert!(out.contains(&format!("\n  {code}\n")), "{code} in\n{out}");
    }
    // Template and LastSavedBy are wrapped at their separators to 80
    // columns; their lines, the indent taken off, join back into the values.
    let stored = Snapshot::of(&dir.join("out.msp"));
    let summary = &out[out.find("summary information:\n").unwrap()..];
    let lines: Vec<&str> = summary.lines().collect();
    let indent = " ".repeat(25);
    for (id, name) in [
        (pid::TEMPLATE, "Template"),
        (pid::LAST_SAVED_BY, "LastSavedBy"),
    ] {
        let head = format!("  {id:>2} {name:<19} ");
        let at = lines
            .iter()
            .position(|l| l.starts_with(&head))
            .unwrap_or_else(|| panic!("{name} in\n{summary}"));
        let more = lines[at + 1..]
            .iter()
            .take_while(|l| l.starts_with(&indent))
            .count();
        assert!(more > 10, "{name} wrapped in {} lines", more + 1);
        let wrapped = &lines[at..=at + more];
        for line in wrapped {
            assert!(line.len() <= 80, "{} columns: {line}", line.len());
        }
        let value: String = wrapped.iter().map(|l| &l[25..]).collect();
        assert_eq!(value, stored.text("", id), "{name}");
    }
    // The metadata tables are headed by their column names.
    assert!(
        out.contains("MsiPatchSequence (102 rows):\n  PatchFamily "),
        "{out}"
    );
    let metadata = &out[out.find("MsiPatchMetadata (").unwrap()..];
    let header = metadata.lines().nth(1).unwrap();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["Company", "Property", "Value"]
    );
    // JSON keeps the list and the columns as they were.
    let json: serde_json::Value =
        serde_json::from_str(&run(&["inspect", "out.msp", "--json"]).stdout).unwrap();
    assert_eq!(json["patch"]["targets"].as_array().unwrap().len(), 102);
});

msptest!(inspect_a_signed_patch_and_other_kinds, |dir, run| {
    dir.patch("in.msp", &signed());
    let r = run(&["inspect", "in.msp"]);
    r.code(0);
    assert!(r.stdout.contains("signed      yes\n"), "{}", r.stdout);

    let msi = msi::Package::create(
        msi::PackageType::Installer,
        std::io::Cursor::new(Vec::new()),
    )
    .and_then(|p| p.into_inner())
    .unwrap()
    .into_inner();
    dir.write("product.msi", &msi);
    let r = run(&["inspect", "product.msi"]);
    r.code(0);
    assert!(
        r.stdout
            .starts_with("product.msi: an installer database (.msi)\n"),
        "{}",
        r.stdout
    );
});

msptest!(inspect_a_product_shows_its_facts, |dir, run| {
    let upgrade = "{C2E84B19-6A7D-4C3E-B5F1-0D9E8A7B6C33}";
    let msi = msp_retarget::testkit::synth::product_database(&[
        ("ProductCode", PRODUCT_A),
        ("ProductVersion", "2.5.0.1"),
        ("ProductLanguage", "1031"),
        ("UpgradeCode", upgrade),
        ("ProductName", "Sample Product"),
    ])
    .unwrap();
    dir.write("product.msi", &msi);
    let r = run(&["inspect", "product.msi"]);
    r.code(0);
    let expected = format!(
        "product.msi: an installer database (.msi)\n\
         ProductCode      {PRODUCT_A}\n\
         ProductVersion   2.5.0.1\n\
         UpgradeCode      {upgrade}\n\
         ProductLanguage  1031\n\
         ProductName      Sample Product\n\
         as --product     {PRODUCT_A},2.5.0.1,1031,{upgrade}\n\
         instances (0): no embedded instance transform\n"
    );
    assert!(r.stdout.starts_with(&expected), "{}", r.stdout);
    assert!(!r.stdout.contains("problem:"), "{}", r.stdout);

    // Without ProductVersion: shown as absent, no --product line, a problem.
    let msi = msp_retarget::testkit::synth::product_database(&[
        ("ProductCode", PRODUCT_A),
        ("ProductLanguage", "1033"),
    ])
    .unwrap();
    dir.write("partial.msi", &msi);
    let r = run(&["inspect", "partial.msi"]);
    r.code(0);
    assert!(
        r.stdout.contains("\nProductVersion   (absent)\n"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("as --product"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("problem: the Property table has no ProductVersion\n"),
        "{}",
        r.stdout
    );
});

#[cfg(unix)]
msptest!(the_output_gets_the_input_permissions, |dir, run| {
    use std::os::unix::fs::PermissionsExt;
    let input = dir.patch("in.msp", &PatchSpec::single_product());
    std::fs::set_permissions(&input, std::fs::Permissions::from_mode(0o604)).unwrap();
    run(&["retarget", "in.msp", "-i", I1, "-o", "out.msp"]).code(0);
    let mode = std::fs::metadata(dir.join("out.msp"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o604);
});

msptest!(
    retarget_gives_the_same_bytes_whatever_the_order_of_instance,
    |dir, run| {
        dir.patch("in.msp", &PatchSpec::single_product());
        let (x, y) = (
            "{AAAAAAAA-0000-4000-8000-000000000001}",
            "{AAAAAAAA-0000-4000-8000-000000000002}",
        );
        run(&["retarget", "in.msp", "-i", x, "-i", y, "-o", "xy.msp"]).code(0);
        run(&["retarget", "in.msp", "-i", y, "-i", x, "-o", "yx.msp"]).code(0);
        assert!(read(&dir.join("xy.msp")) == read(&dir.join("yx.msp")));
        let r = run(&["inspect", "yx.msp"]);
        assert!(
            r.stdout.contains(
                "\n  rtmA.1_AAAAAAAA\n    from     {AAAAAAAA-0000-4000-8000-000000000001} "
            ),
            "{}",
            r.stdout
        );
        assert!(
            r.stdout.contains(
                "\n  rtmA.1_AAAAAAAA~2\n    from     {AAAAAAAA-0000-4000-8000-000000000002} "
            ),
            "{}",
            r.stdout
        );
    }
);
