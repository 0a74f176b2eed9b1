//! The text after each command's options (notes, exit status, examples),
//! kept as data so that `--help` and the man pages say the same thing:
//! `--help` gets it laid out for 80 columns ([`text`]), the man pages as
//! roff that the reader's width reflows ([`roff`]). Written here rather
//! than with a templating crate: the layout is four kinds of block.

use clap_mangen::roff::{Roff, bold, roman};

/// The width `--help` is laid out for (the command's `max_term_width`).
pub const WIDTH: usize = 80;

/// The longest line an example command may have: a man page indents it by
/// 7 + 2 columns and must stay within 80.
#[cfg(test)]
pub const EXAMPLE_WIDTH: usize = 71;

/// One block of the text after the options.
#[derive(Debug, Clone, Copy)]
pub enum Section {
    /// Paragraphs of prose, under a heading, or with none (then, in a man
    /// page, they belong to the description).
    Prose(Option<&'static str>, &'static [&'static str]),
    /// A heading and rows of a term and what it means (exit codes).
    Terms(&'static str, &'static [(&'static str, &'static str)]),
    /// Example commands, each with what it does ("" when the command says
    /// it). A command longer than a line continues on the next lines of
    /// the string, after ` \` as a shell would read it.
    Examples(&'static [(&'static str, &'static str)]),
    /// A sentence, then lines kept exactly as written (a manifest).
    Verbatim(&'static str, &'static [&'static str]),
}

/// The examples' heading.
const EXAMPLES: &str = "EXAMPLES";

/// Words of `text` in lines of at most `width` columns.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// The lines of an example command: the first as written, the others
/// indented two more columns.
pub fn command_lines(command: &str) -> Vec<String> {
    command
        .lines()
        .enumerate()
        .map(|(k, l)| match k {
            0 => l.to_string(),
            _ => format!("  {}", l.trim_start()),
        })
        .collect()
}

/// `sections` laid out for `--help` (clap prints it after the options).
pub fn text(sections: &[Section]) -> String {
    let mut blocks = Vec::new();
    for section in sections {
        let mut out = Vec::new();
        match *section {
            Section::Prose(None, paragraphs) => {
                let texts: Vec<String> = paragraphs
                    .iter()
                    .map(|p| wrap(p, WIDTH).join("\n"))
                    .collect();
                out.push(texts.join("\n\n"));
            }
            Section::Prose(Some(heading), paragraphs) => {
                out.push(format!("{heading}:"));
                for (k, p) in paragraphs.iter().enumerate() {
                    if k > 0 {
                        out.push(String::new());
                    }
                    out.extend(wrap(p, WIDTH - 2).into_iter().map(|l| format!("  {l}")));
                }
            }
            Section::Terms(heading, rows) => {
                out.push(format!("{heading}:"));
                let term = rows
                    .iter()
                    .map(|(t, _)| t.chars().count())
                    .max()
                    .unwrap_or(0);
                let indent = 2 + term + 2;
                for (t, meaning) in rows {
                    for (k, l) in wrap(meaning, WIDTH - indent).into_iter().enumerate() {
                        match k {
                            0 => out.push(format!("  {t:<term$}  {l}")),
                            _ => out.push(format!("{:indent$}{l}", "")),
                        }
                    }
                }
            }
            Section::Examples(examples) => {
                out.push(format!("{EXAMPLES}:"));
                let described = examples.iter().any(|(what, _)| !what.is_empty());
                for (what, command) in examples {
                    let indent = if described { "    " } else { "  " };
                    if !what.is_empty() {
                        out.extend(wrap(what, WIDTH - 2).into_iter().map(|l| format!("  {l}")));
                    }
                    out.extend(
                        command_lines(command)
                            .into_iter()
                            .map(|l| format!("{indent}{l}")),
                    );
                }
            }
            Section::Verbatim(intro, lines) => {
                out.extend(wrap(intro, WIDTH));
                out.extend(lines.iter().map(|l| format!("  {l}")));
            }
        }
        blocks.push(out.join("\n"));
    }
    blocks.join("\n\n")
}

/// The prose paragraphs without a heading: a man page's description.
pub fn description(sections: &[Section]) -> Vec<&'static str> {
    sections
        .iter()
        .filter_map(|s| match s {
            Section::Prose(None, p) => Some(p.iter().copied()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// `sections` with a heading as man page sections (the description's
/// paragraphs are left to [`description`]).
pub fn roff(sections: &[Section], out: &mut Roff) {
    for section in sections {
        match *section {
            Section::Prose(None, _) => {}
            Section::Prose(Some(heading), paragraphs) => {
                out.control("SH", [heading.to_uppercase().as_str()]);
                for (k, p) in paragraphs.iter().enumerate() {
                    if k > 0 {
                        out.control("PP", []);
                    }
                    out.text([roman(*p)]);
                }
            }
            Section::Terms(heading, rows) => {
                out.control("SH", [heading.to_uppercase().as_str()]);
                for (term, meaning) in rows {
                    out.control("TP", []);
                    out.text([bold(*term)]);
                    out.text([roman(*meaning)]);
                }
            }
            Section::Examples(examples) => {
                out.control("SH", [EXAMPLES]);
                for (k, (what, command)) in examples.iter().enumerate() {
                    if !what.is_empty() {
                        out.control("PP", []);
                        out.text([roman(*what)]);
                    } else if k == 0 {
                        out.control("PP", []);
                    }
                    verbatim(out, &command_lines(command));
                }
            }
            Section::Verbatim(intro, lines) => {
                out.control("PP", []);
                out.text([roman(intro)]);
                let lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
                verbatim(out, &lines);
            }
        }
    }
}

/// Lines kept as they are, indented two columns: no filling, no
/// hyphenation.
fn verbatim(out: &mut Roff, lines: &[String]) {
    out.control("RS", ["2"]);
    out.control("nf", []);
    for l in lines {
        out.text([roman(l.as_str())]);
    }
    out.control("fi", []);
    out.control("RE", []);
}

/// Every example command of `sections`, its lines joined as a shell
/// reads them.
#[cfg(test)]
pub fn example_commands(sections: &[Section]) -> Vec<&'static str> {
    sections
        .iter()
        .filter_map(|s| match s {
            Section::Examples(e) => Some(e.iter().map(|(_, c)| *c)),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The exit status of the commands that edit (the top-level page's).
pub const EXIT_STATUS: Section = Section::Terms(
    "EXIT STATUS",
    &[
        (
            "0",
            "Done, or already done: nothing needed to change. For check: the patch applies to every \
             product given. For bulk: every file was done or already done.",
        ),
        (
            "1",
            "Refused on purpose: a major-upgrade patch, a signed patch (without \
             --strip-signature), an ambiguous base, a result that would not apply as planned \
             (it is checked as check does before it is written), a patch with an edit journal \
             beside it to recover first. For check: the patch does not apply (or cannot be shown to \
             apply) to at least one product. For bulk: a file was refused and none failed.",
        ),
        (
            "2",
            "Error: bad input, bad usage or manifest, I/O, failed verification. Nothing is \
             written for a file that fails. For bulk: at least one file failed.",
        ),
    ],
);

/// The top level.
pub const MAIN: &[Section] = &[
    Section::Prose(
        None,
        &[
            "A patch built for a product does not install on the product's instances, the \
           copies installed side by side through instance transforms, each with its own \
           ProductCode: retarget makes it apply to them, check tells whether it will, bulk \
           retargets many patches at once. Each command has --help and a man page, \
           msp-retarget-COMMAND(1).",
        ],
    ),
    EXIT_STATUS,
    Section::Examples(&[
        (
            "Retarget a patch to two instances, given by their product codes:",
            "msp-retarget retarget fix.msp -i {I1} -i {I2} -o fix-all.msp",
        ),
        (
            "To every instance the product's own instance transforms define:",
            "msp-retarget retarget fix.msp --instances-from multi.msi -o fix-all.msp",
        ),
        (
            "In CI: exit 1 unless the result applies to the product and each instance:",
            "msp-retarget check fix-all.msp --package product.msi \\\n--instances-from multi.msi",
        ),
        (
            "Every patch a manifest names, four at a time:",
            "msp-retarget bulk bulk.toml --jobs 4",
        ),
    ]),
];

/// `retarget`.
pub const RETARGET: &[Section] = &[
    Section::Prose(
        None,
        &[
            "Copies each transform pair of the patch that checks the product code once per \
         instance, with the instance's product code (and its UpgradeCode, when it has its \
         own), lists the copies in LastSavedBy and adds the instances to Template. The \
         result is read again and checked before it is written: every instance must get the \
         pair its base product gets. Everything else stays byte for byte as it was, and a \
         second run on the result changes nothing.",
            "Quote GUIDs in the shell ('{...}'): some shells expand braces. Braces are optional.",
        ],
    ),
    Section::Examples(&[
        (
            "",
            "msp-retarget retarget fix.msp -i {I1} -i {I2} -o fix-all.msp",
        ),
        (
            "",
            "msp-retarget retarget fix.msp --instances-from multi.msi --in-place",
        ),
        (
            "",
            "msp-retarget retarget fix.msp --instances-file instances.txt --in-place",
        ),
        (
            "",
            "msp-retarget retarget ab.msp -i {A}={I1} -i {B}={I2} --in-place",
        ),
        ("", "msp-retarget retarget fix.msp -i {I1} --dry-run --json"),
    ]),
];

/// `untarget`.
pub const UNTARGET: &[Section] = &[
    Section::Prose(
        None,
        &[
            "Removes the transform copies made for the given instances and their Template \
         entries, verified and written as retarget writes. The products the patch was built \
         for stay unless --force. An instance the patch does not target is refused (exit 1) \
         and nothing is written.",
        ],
    ),
    Section::Examples(&[
        ("", "msp-retarget untarget fix-all.msp -i {I2} -o fix.msp"),
        (
            "",
            "msp-retarget untarget fix-all.msp -i {I1} -i {I2} --in-place",
        ),
    ]),
];

/// `inspect`.
pub const INSPECT: &[Section] = &[
    Section::Prose(
        None,
        &[
            "A patch: its code, targets, transform pairs (RevisionNumber decoded, CharCount \
         validation flags by name), MsiPatchMetadata and MsiPatchSequence rows, streams and \
         signature. A product (.msi): ProductCode, ProductVersion, UpgradeCode, \
         ProductLanguage and ProductName, its embedded transforms and the instances they \
         define. A transform (.mst): its summary. Nothing is written.",
        ],
    ),
    Section::Examples(&[
        ("", "msp-retarget inspect fix.msp"),
        ("", "msp-retarget inspect product.msi --json"),
        ("", "msp-retarget inspect product.msi --tables"),
        ("", "msp-retarget inspect fix.msp --package product.msi"),
    ]),
];

/// `check`.
pub const CHECK: &[Section] = &[
    Section::Prose(
        None,
        &[
            "Decides with Windows Installer's documented rules whether the patch applies to \
         each product: Template must list the product's ProductCode, and a transform pair \
         listed in LastSavedBy must pass all its validation checks (language, product code, \
         version, upgrade code). Also lints the patch (orphan-partner, ambiguous-pairs, \
         signature-stale...). One line per product by default, with the pairs of the \
         products it does not apply to; --details shows every pair.",
        ],
    ),
    Section::Prose(
        Some("PRODUCTS"),
        &[
            "--package PRODUCT.msi reads ProductCode, ProductVersion, ProductLanguage and \
           UpgradeCode from the database's Property table. --product \
           CODE[,VERSION[,LANGUAGE[,UPGRADECODE]]] gives them by hand; facts left out are \
           unknown, and a check that needs one cannot decide.",
        ],
    ),
    Section::Terms(
        "EXIT STATUS",
        &[
            ("0", "the patch applies to every product given"),
            (
                "1",
                "it does not apply (or cannot be shown to apply) to at least one",
            ),
            ("2", "error (unreadable patch or package, bad arguments)"),
        ],
    ),
    Section::Examples(&[
        ("", "msp-retarget check fix.msp --package product.msi"),
        (
            "",
            "msp-retarget check fix-all.msp --package product.msi \\\n--instances-from multi.msi",
        ),
        (
            "",
            "msp-retarget check fix-all.msp --json \\\n--product {I1},1.0.0.0,1033,{UPGRADE-CODE}",
        ),
    ]),
];

/// `sequence`.
pub const SEQUENCE: &[Section] = &[
    Section::Prose(
        None,
        &[
            "Windows Installer's documented patch sequencing (MSI 3.0 and later): patches \
           without MsiPatchSequence data first (installed ones in the order applied, then the \
           new ones in the order given), obsolete ones eliminated, minor upgrades ordered by \
           the version they produce, small updates after the highest minor upgrade they \
           target, superseded patches eliminated; every patch judged against the product as \
           the patches before it leave it.",
        ],
    ),
    Section::Terms(
        "EXIT STATUS",
        &[
            ("0", "every patch given applies to at least one product"),
            ("1", "some patch applies to no product given"),
            (
                "2",
                "error (unreadable patch or package, bad arguments, more than 127 patches for \
                 a product, sequencing data that orders patches in a circle)",
            ),
        ],
    ),
    Section::Examples(&[
        (
            "",
            "msp-retarget sequence sp1.msp qfe2.msp qfe1.msp --package product.msi",
        ),
        (
            "",
            "msp-retarget sequence qfe2.msp --installed sp1.msp \\\n--package product.msi --json",
        ),
    ]),
];

/// `recover`.
pub const RECOVER: &[Section] = &[
    Section::Prose(
        None,
        &[
            "An --in-place edit writes .NAME.msp-retarget.journal beside the patch before it \
           changes the patch. If the process is killed or the machine stops before the edit \
           ends, the journal stays: a complete journal is replayed (the edit is completed), an \
           incomplete one is deleted (the patch was not touched yet). retarget and untarget \
           --in-place do this by themselves; inspect, check and -o runs never write the patch: \
           they refuse it while a complete journal lies beside it and say to run this. A \
           journal that does not fit the patch (its before-image is not the patch's bytes, or \
           its lengths are not what its records write) is refused and kept, never replayed.",
        ],
    ),
    Section::Examples(&[
        ("", "msp-retarget recover fix.msp"),
        ("", "msp-retarget recover *.msp --json"),
    ]),
];

/// `bulk`.
pub const BULK: &[Section] = &[
    Section::Prose(
        None,
        &[
            "Reads a TOML manifest (patches, instances, an output folder or in place), \
         retargets each patch as retarget does, several at once, and ends with a table (or \
         a --json report) of each file's outcome. One file's failure does not stop the \
         others.",
        ],
    ),
    Section::Examples(&[
        ("", "msp-retarget bulk bulk.toml"),
        (
            "",
            "msp-retarget bulk bulk.toml --jobs 4 --json > bulk-report.json",
        ),
        ("", "msp-retarget bulk bulk.toml --dry-run"),
    ]),
    Section::Verbatim(
        "A manifest (paths relative to its folder; see docs/bulk.md):",
        &[
            "output_dir = \"out\"            # or: in_place = true",
            "[[instances]]",
            "code = \"{11111111-1111-4111-8111-111111111111}\"",
            "id = \"Customer1\"",
            "[[patches]]",
            "paths = [\"patches/*.msp\"]",
        ],
    ),
    Section::Terms(
        "EXIT STATUS",
        &[
            ("0", "every file was done or already done"),
            ("1", "a file was refused and none failed"),
            ("2", "a file failed"),
        ],
    ),
];

/// `instances`.
pub const INSTANCES: &[Section] = &[
    Section::Prose(
        None,
        &[
            "Makes a single-instance product (.msi) multi-instance by embedding instance \
         transforms, as WiX's InstanceTransforms would, or takes them out again.",
        ],
    ),
    Section::Examples(&[
        (
            "",
            "msp-retarget instances add product.msi --count 3 -o multi.msi",
        ),
        (
            "",
            "msp-retarget instances remove multi.msi Instance3 --in-place",
        ),
    ]),
];

/// `instances add`.
pub const INSTANCES_ADD: &[Section] = &[
    Section::Prose(
        None,
        &[
            "Each transform sets ProductCode (given, or derived from the base ProductCode and \
             the id: the same on every run), ProductName (default \"{name} ({id})\"), \
             UpgradeCode when given, the --property NAME to the id, and ComponentId of the \
             isolated components.",
            "Install an instance with: msiexec /i PRODUCT.msi MSINEWINSTANCE=1 TRANSFORMS=:ID",
        ],
    ),
    Section::Examples(&[
        (
            "",
            "msp-retarget instances add product.msi --count 3 -o multi.msi",
        ),
        (
            "",
            "msp-retarget instances add product.msi -i Blue -i Green={I2} --in-place",
        ),
        (
            "",
            "msp-retarget instances add product.msi --count 2 \\\n--property INSTANCEID --isolate-components all -o multi.msi",
        ),
        (
            "",
            "msp-retarget instances add product.msi --count 2 --mst-dir . \\\n--dry-run --json",
        ),
    ]),
];

/// `instances remove`.
pub const INSTANCES_REMOVE: &[Section] = &[Section::Examples(&[
    (
        "",
        "msp-retarget instances remove multi.msi Instance3 -o two.msi",
    ),
    (
        "",
        "msp-retarget instances remove multi.msi Instance1 Instance2 --in-place",
    ),
])];

/// `completions`.
pub const COMPLETIONS: &[Section] = &[
    Section::Prose(
        None,
        &[
            "Writes the script on standard output. It completes the subcommands, their \
         options, the values an option knows and file names where an option takes a file.",
        ],
    ),
    Section::Examples(&[
        (
            "",
            "msp-retarget completions bash \\\n> ~/.local/share/bash-completion/completions/msp-retarget",
        ),
        ("", "msp-retarget completions zsh > ~/.zfunc/_msp-retarget"),
        (
            "",
            "msp-retarget completions fish \\\n> ~/.config/fish/completions/msp-retarget.fish",
        ),
        ("", "msp-retarget completions powershell >> $PROFILE"),
    ]),
];

/// `man`.
pub const MAN: &[Section] = &[
    Section::Prose(
        None,
        &[
            "Without --dir, prints one page (msp-retarget(1) unless PAGE names another) on \
           standard output. With --dir, writes every page, msp-retarget.1 and one \
           msp-retarget-COMMAND.1 per command, into that folder (made if missing) and lists \
           what it wrote.",
        ],
    ),
    Section::Examples(&[
        ("", "msp-retarget man --dir ~/.local/share/man/man1"),
        ("", "msp-retarget man retarget > msp-retarget-retarget.1"),
        (
            "",
            "msp-retarget man instances-add | gzip > msp-retarget-instances-add.1.gz",
        ),
    ]),
];
