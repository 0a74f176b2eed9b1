//! The library speaks of its API, never of the command line's options: no
//! string of the library's code (its errors, reports and logs) names an
//! option (`--in-place`) or the program (`msp-retarget recover`). A remedy
//! is a `Setting` the command line words (`src/cli/words.rs`).
//!
//! The check reads the sources: every string literal outside comments and
//! test code of `src/`, except the command line's own files (`src/cli/`,
//! `src/main.rs`) and the test kit.

use std::path::Path;

/// Texts of the library that may speak of the command line, each with
/// where it is (none today). An error never belongs here: its remedy is a
/// `Setting`, and a report's text names one by its API words.
const KNOWN: &[(&str, &str)] = &[];

#[test]
fn no_library_text_names_an_option_of_the_command_line() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    crate::util::rust_sources(&root, &mut files);
    assert!(files.len() > 50, "read only {} files", files.len());
    let mut found = Vec::new();
    for file in &files {
        let rel = file
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if rel.starts_with("cli/")
            || rel == "main.rs"
            || rel.starts_with("testkit/")
            || rel.ends_with("tests.rs")
        {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        for s in literals(&text) {
            if speaks_of_the_command_line(&s)
                && !KNOWN.iter().any(|(f, t)| *f == rel && s.contains(t))
            {
                found.push(format!("{rel}: {s:?}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "library texts that name the command line:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_finds_an_option_in_a_string_and_not_in_comments_or_tests() {
    let code = r##"
        // use --in-place
        /// `--force`
        /* --dry-run */
        fn f() -> char { let _ = 'x'; let _ = '"'; g::<'_>("use --in-place to replace it"); '\'' }
        fn h() { i(r#"run `msp-retarget recover`"#); j("x -- y"); }
        #[cfg(test)]
        mod tests { fn t() { k("--force"); } }
    "##;
    let hits: Vec<String> = literals(code)
        .into_iter()
        .filter(|s| speaks_of_the_command_line(s))
        .collect();
    assert_eq!(
        hits,
        ["use --in-place to replace it", "run `msp-retarget recover`"]
    );
}

#[test]
fn a_report_text_names_the_api_and_a_front_end_rewords_it() {
    struct Flags;
    impl msp_retarget::Wording for Flags {
        fn word(&self, setting: &msp_retarget::Setting) -> Option<String> {
            (*setting == msp_retarget::Setting::ProductSpec).then(|| "--product".into())
        }
    }
    let spec = "{11111111-1111-4111-8111-111111111111},1.0.0.0,1033";
    let facts = msp_retarget::ProductFacts::parse_spec(spec).unwrap();
    assert_eq!(facts.source, format!("`ProductFacts::parse_spec` {spec}"));
    assert_eq!(
        msp_retarget::reword(&facts.source, &Flags),
        format!("--product {spec}")
    );
    // Text without API words is left as it is.
    assert_eq!(msp_retarget::reword("a -- b", &Flags), "a -- b");
}

fn speaks_of_the_command_line(s: &str) -> bool {
    let option = s
        .as_bytes()
        .windows(3)
        .any(|w| w[0] == b'-' && w[1] == b'-' && w[2].is_ascii_lowercase());
    option || s.contains("msp-retarget ")
}

/// The string literals of Rust source `text` (their contents as written,
/// escapes kept), without comments and without the items marked
/// `#[cfg(test)]`.
fn literals(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut out = Vec::new();
    let mut i = 0;
    let mut depth = 0usize;
    // The brace depth at which a `#[cfg(test)]` item started.
    let mut skipping: Option<usize> = None;
    let mut pending_test = false;
    while i < b.len() {
        let rest = &b[i..];
        let raw = rest[0] == b'r' && (i == 0 || !ident(b[i - 1])) && {
            let hashes = rest[1..].iter().take_while(|&&c| c == b'#').count();
            rest.get(1 + hashes) == Some(&b'"')
        };
        if rest.starts_with(b"//") {
            i += rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
        } else if rest.starts_with(b"/*") {
            i += rest
                .windows(2)
                .position(|w| w == b"*/")
                .map_or(rest.len(), |e| e + 2);
        } else if rest.starts_with(b"#[cfg(test)]") {
            pending_test = true;
            i += b"#[cfg(test)]".len();
        } else if rest[0] == b'"' || raw {
            let (content, len) = string_at(rest);
            if skipping.is_none() && !pending_test {
                out.push(String::from_utf8_lossy(content).into_owned());
            }
            i += len;
        } else if rest[0] == b'\'' {
            // A char literal ('x', '\'', '"', 'é'), or a lifetime.
            if rest.starts_with(b"'\\") {
                i += 2 + rest[2..]
                    .iter()
                    .position(|&c| c == b'\'')
                    .map_or(rest.len() - 2, |e| e + 1);
            } else if let Some(c) = std::str::from_utf8(&rest[1..rest.len().min(5)])
                .ok()
                .or_else(|| std::str::from_utf8(&rest[1..rest.len().min(2)]).ok())
                .and_then(|t| t.chars().next())
                .filter(|c| rest.get(1 + c.len_utf8()) == Some(&b'\''))
            {
                i += 2 + c.len_utf8();
            } else {
                i += 1;
            }
        } else {
            match rest[0] {
                b'{' => {
                    if pending_test && skipping.is_none() {
                        skipping = Some(depth);
                        pending_test = false;
                    }
                    depth += 1;
                }
                b'}' => {
                    depth = depth.saturating_sub(1);
                    if skipping == Some(depth) {
                        skipping = None;
                    }
                }
                b';' if pending_test && skipping.is_none() => pending_test = false,
                _ => {}
            }
            i += 1;
        }
    }
    out
}

/// The content and length of the string literal that starts `s` (`"…"`
/// with escapes, or `r#"…"#`).
fn string_at(s: &[u8]) -> (&[u8], usize) {
    if s[0] == b'r' {
        let hashes = s[1..].iter().take_while(|&&c| c == b'#').count();
        let open = 1 + hashes + 1;
        let mut close = vec![b'"'];
        close.extend(std::iter::repeat_n(b'#', hashes));
        let end = s[open..]
            .windows(close.len())
            .position(|w| w == close.as_slice())
            .map_or(s.len(), |e| open + e);
        return (&s[open..end], (end + close.len()).min(s.len()));
    }
    let mut i = 1;
    while i < s.len() && s[i] != b'"' {
        i += if s[i] == b'\\' { 2 } else { 1 };
    }
    (&s[1..i.min(s.len())], (i + 1).min(s.len()))
}
