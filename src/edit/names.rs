//! Names for the new transform substorages of an edit.
//!
//! Every copy of a transform pair needs two fresh names at the root of the
//! patch: a main name `N` and its partner `#N`. Both must obey the rule of
//! [`crate::format::names`] (legal compound file names, usable inside the
//! patch's LastSavedBy list) and must not collide with any sibling under
//! the compound file's case-insensitive comparison ([`name_key`]).
//!
//! # Naming scheme ([`NameAllocator::allocate`])
//!
//! The copy of source transform `SRC` for an instance with tag `TAG` is
//! named `SRC_TAG`, for example `RTM.1_Instance1` or `RTM.1_6C1F3A2B`:
//!
//! 1. `TAG` is the instance id reduced to `A-Z a-z 0-9 . _ -`, or, for an
//!    instance without a usable id, the first 8 hex digits of its product
//!    code in upper case ([`InstanceTag`]).
//! 2. `SRC` is the source name without the characters a new name may not
//!    hold (`/ \ : ! ;`, U+0000–U+001F) and without leading `#`s.
//! 3. The main name is at most 30 units so that `#` + name fits in 31. When
//!    too long, `TAG` is cut first, at a character boundary, down to what
//!    the first [`SOURCE_KEPT`] units of `SRC` leave; then `SRC` is cut. The
//!    copy's name thus always starts with its source's (or the first 16
//!    units of it), so the pair stays recognisable however long the id.
//!    When `SRC` is empty, the name is `TAG` alone, without the `_`.
//! 4. The name and `#` + name must both be free under [`name_key`], against
//!    every name given to [`NameAllocator::new`] and every main and partner
//!    name allocated before. Otherwise candidates `~2`, `~3`, ... are
//!    appended (the suffix counts against the 30 units, `TAG` is cut first
//!    again) and the first free one is taken.
//!
//! Nothing random or time-dependent enters: the same existing names and
//! the same sequence of requests always yield the same names. The plan
//! asks for names in the order of the instances' product codes, whatever
//! order they were given in, so which instance gets a `~n` does not depend
//! on the order of the arguments. The scheme is also described for users
//! in `docs/naming.md`.

use std::collections::{HashMap, HashSet};
use std::fmt;

use uuid::Uuid;

use crate::format::names::{
    FORBIDDEN, MAX_MAIN_UNITS, NameError, name_key, units, validate_new_name, validate_partner_name,
};
/// What distinguishes one instance's copies from another's in their names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceTag {
    /// A user-given instance id such as `Instance1`; characters outside
    /// `A-Z a-z 0-9 . _ -` are dropped when the tag is used.
    Id(String),
    /// The instance's product code, for an instance without an id; the tag
    /// is the first 8 hex digits in upper case.
    ProductCode(Uuid),
}

impl InstanceTag {
    /// The tag for an instance: its id when the id keeps at least one
    /// usable character, its product code otherwise.
    pub fn for_instance(id: Option<&str>, code: Uuid) -> InstanceTag {
        match id.map(sanitize_id) {
            Some(id) if !id.is_empty() => InstanceTag::Id(id),
            _ => InstanceTag::ProductCode(code),
        }
    }

    /// The text that goes into names; empty only for an id with no usable
    /// character.
    pub fn text(&self) -> String {
        match self {
            InstanceTag::Id(id) => sanitize_id(id),
            InstanceTag::ProductCode(code) => format!("{:08X}", code.as_fields().0),
        }
    }
}

impl fmt::Display for InstanceTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

fn sanitize_id(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .collect()
}

/// The source name reduced to what a new name may hold; a leading `#`
/// would turn the copy into something that reads as a partner.
fn sanitize_source(source: &str) -> String {
    let kept: String = source
        .chars()
        .filter(|c| !FORBIDDEN.contains(c) && *c > '\u{1f}')
        .collect();
    kept.trim_start_matches('#').to_owned()
}

/// The longest prefix of `s` of at most `max` UTF-16 units that does not
/// split a character.
fn take_units(s: &str, max: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        used += c.len_utf16();
        if used > max {
            break;
        }
        out.push(c);
    }
    out
}

/// How many units of the source name a copy's name keeps before the
/// instance tag is cut: enough for the baseline names WiX and PCW give
/// pairs (`RTM.1`, `rtmldr.1`, `PatchAv101.1`).
pub const SOURCE_KEPT: usize = 16;

/// Builds one candidate name: `source_TAG` + suffix, cut to
/// [`MAX_MAIN_UNITS`] by shortening the tag first (down to what the first
/// [`SOURCE_KEPT`] units of the source leave, at least one unit), then the
/// source.
fn compose(source: &str, tag: &str, suffix: &str) -> String {
    let budget = MAX_MAIN_UNITS.saturating_sub(units(suffix));
    let tag_budget = if source.is_empty() {
        budget
    } else {
        budget
            .saturating_sub(units(source).min(SOURCE_KEPT) + 1)
            .max(1)
    };
    let tag = take_units(tag, tag_budget);
    let source = take_units(source, budget.saturating_sub(units(&tag) + 1));
    if source.is_empty() {
        format!("{tag}{suffix}")
    } else {
        format!("{source}_{tag}{suffix}")
    }
}

/// Hands out fresh, collision-free names for transform copies.
///
/// See the [module documentation](crate::edit::names) for the scheme.
#[derive(Debug, Clone, Default)]
pub struct NameAllocator {
    /// Keys ([`name_key`]) of every existing name and of every main and
    /// partner name handed out so far.
    taken: HashSet<String>,
    /// Per source and tag (the key of the name without suffix), the first
    /// `~n` suffix not yet tried. Every candidate below it was taken when
    /// it was tried, and taken names stay taken, so probing resumes there:
    /// a thousand instances whose tags collide (codes sharing their first
    /// eight hex digits) cost a thousand probes, not half a million.
    next_suffix: HashMap<String, usize>,
}

impl NameAllocator {
    /// An allocator that avoids `existing`, the names already present at
    /// the root of the compound file.
    pub fn new<'a>(existing: impl IntoIterator<Item = &'a str>) -> Self {
        NameAllocator {
            taken: existing.into_iter().map(name_key).collect(),
            next_suffix: HashMap::new(),
        }
    }

    /// Whether `name` collides with an existing or allocated name.
    #[cfg(test)]
    pub fn is_taken(&self, name: &str) -> bool {
        self.taken.contains(&name_key(name))
    }

    /// Allocates the main name for the copy of transform `source` for the
    /// instance tagged `tag`, and reserves both it and its `#` partner.
    ///
    /// Fails only for an [`InstanceTag::Id`] with no usable character.
    pub fn allocate(&mut self, source: &str, tag: &InstanceTag) -> Result<String, NameError> {
        let tag_text = tag.text();
        if tag_text.is_empty() {
            let id = match tag {
                InstanceTag::Id(id) => id.clone(),
                InstanceTag::ProductCode(code) => code.to_string(),
            };
            return Err(NameError::EmptyTag { id });
        }
        let source_part = sanitize_source(source);
        // Every taken key rules out at most two candidates (as main name
        // and as partner), and candidates differ in their `~n` suffix, so
        // this many attempts always reach a free one.
        let attempts = self.taken.len().saturating_mul(2).saturating_add(1);
        let base_key = name_key(&compose(&source_part, &tag_text, ""));
        let first = self.next_suffix.get(&base_key).copied().unwrap_or(1);
        for n in first..=attempts {
            let suffix = if n == 1 {
                String::new()
            } else {
                format!("~{n}")
            };
            if units(&suffix) >= MAX_MAIN_UNITS {
                break;
            }
            let main = compose(&source_part, &tag_text, &suffix);
            let partner = format!("#{main}");
            let (main_key, partner_key) = (name_key(&main), name_key(&partner));
            if self.taken.contains(&main_key) || self.taken.contains(&partner_key) {
                continue;
            }
            validate_new_name(&main)?;
            validate_partner_name(&partner)?;
            self.taken.insert(main_key);
            self.taken.insert(partner_key);
            self.next_suffix.insert(base_key, n + 1);
            return Ok(main);
        }
        Err(NameError::Exhausted {
            source_name: source.to_owned(),
            tag: tag_text,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::names::MAX_NAME_UNITS;
    use proptest::prelude::*;

    fn code(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn length_limit_counts_utf16_units() {
        assert!(validate_new_name(&"a".repeat(29)).is_ok());
        assert!(validate_new_name(&"a".repeat(30)).is_ok());
        assert!(validate_new_name(&"a".repeat(31)).is_ok());
        let err = validate_new_name(&"a".repeat(32)).unwrap_err();
        assert_eq!(
            err,
            NameError::TooLong {
                name: "a".repeat(32),
                units: 32,
                limit: 31,
                partner: false
            }
        );
        // '𝄞' is outside the BMP: two units, so 29 + 2 = 31 fits and
        // 30 + 2 = 32 does not.
        assert!(validate_new_name(&format!("{}𝄞", "a".repeat(29))).is_ok());
        assert!(validate_new_name(&format!("{}𝄞", "a".repeat(30))).is_err());
        assert!(validate_new_name(&"𝄞".repeat(15)).is_ok());
        assert!(validate_new_name(&"𝄞".repeat(16)).is_err());
    }

    #[test]
    fn partner_limit_includes_the_hash() {
        assert!(validate_partner_name(&format!("#{}", "a".repeat(29))).is_ok());
        assert!(validate_partner_name(&format!("#{}", "a".repeat(30))).is_ok());
        let long = format!("#{}", "a".repeat(32));
        let err = validate_partner_name(&long).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "name \"{long}\" is 33 UTF-16 units long; the limit is 31 \
                 including the '#' of the partner"
            )
        );
        assert!(validate_partner_name(&format!("#{}𝄞", "a".repeat(29))).is_err());
    }

    #[test]
    fn partner_rules() {
        assert!(matches!(
            validate_partner_name("RTM.1"),
            Err(NameError::NotPartner { .. })
        ));
        assert_eq!(validate_partner_name("#"), Err(NameError::Empty));
        assert!(matches!(
            validate_partner_name("##x"),
            Err(NameError::LeadingHash { .. })
        ));
        assert!(matches!(
            validate_partner_name("#\u{5}x"),
            Err(NameError::ReservedFirst { .. })
        ));
    }

    #[test]
    fn forbidden_and_reserved_characters() {
        assert_eq!(validate_new_name(""), Err(NameError::Empty));
        for ch in ['/', '\\', ':', '!', ';', '\0'] {
            let name = format!("a{ch}b");
            assert_eq!(
                validate_new_name(&name),
                Err(NameError::Forbidden { name, ch })
            );
        }
        let err = validate_new_name("a;b").unwrap_err().to_string();
        assert!(err.contains("LastSavedBy"), "{err}");
        for first in ['\u{0}', '\u{5}', '\u{1f}'] {
            let name = format!("{first}x");
            assert!(validate_new_name(&name).is_err(), "{name:?}");
        }
        let err = validate_new_name("\u{5}x").unwrap_err();
        assert!(err.to_string().contains("U+0005"), "{err}");
        assert!(validate_new_name(" x").is_ok());
        assert!(validate_new_name("x\u{5}").is_ok());
        assert!(matches!(
            validate_new_name("#x"),
            Err(NameError::LeadingHash { .. })
        ));
        assert!(validate_new_name("x#").is_ok());
    }

    #[test]
    fn keys_ignore_case() {
        assert_eq!(name_key("rtmA.1_1111aaaa"), name_key("RTMA.1_1111AAAA"));
        assert_eq!(name_key("straße"), "STRASE");
        assert_ne!(name_key("a"), name_key("b"));
    }

    /// Every pair of names that cfb itself treats as the same entry must get
    /// equal keys; the sample holds the characters where a simple-uppercase
    /// comparison is easy to get wrong.
    #[test]
    fn keys_never_miss_a_cfb_collision() {
        let sample = [
            "a", "A", "z", "Z", "ß", "ẞ", "S", "SS", "ﬁ", "F", "FI", "ᾀ", "ᾈ", "Ἀ", "ἀ", "ǅ", "Ǆ",
            "ǆ", "ſ", "\u{212A}", "k", "K", "ı", "i", "I", "İ", "Σ", "σ", "ς", "𐐨", "𐐀", "ÿ", "Ÿ",
            "µ", "Μ", "ƛ",
        ];
        let mut file = cfb::CompoundFile::create(std::io::Cursor::new(Vec::new())).unwrap();
        file.create_storage("/xa").unwrap();
        assert!(
            file.exists("/xA"),
            "the probe must see case-insensitive matches"
        );
        for a in sample {
            let mut file = cfb::CompoundFile::create(std::io::Cursor::new(Vec::new())).unwrap();
            file.create_storage(format!("/x{a}")).unwrap();
            for b in sample {
                if file.exists(format!("/x{b}")) {
                    assert_eq!(name_key(a), name_key(b), "{a:?} vs {b:?}");
                }
            }
        }
    }

    #[test]
    fn tags() {
        let c = Uuid::parse_str("6c1f3a2b-1111-2222-3333-444455556666").unwrap();
        assert_eq!(InstanceTag::ProductCode(c).text(), "6C1F3A2B");
        assert_eq!(
            InstanceTag::for_instance(Some("Inst 1/ä"), c),
            InstanceTag::Id("Inst1".into())
        );
        assert_eq!(
            InstanceTag::for_instance(Some("äö"), c),
            InstanceTag::ProductCode(c)
        );
        assert_eq!(
            InstanceTag::for_instance(None, c),
            InstanceTag::ProductCode(c)
        );
        let mut alloc = NameAllocator::new([]);
        assert_eq!(
            alloc.allocate("RTM.1", &InstanceTag::Id("ä".into())),
            Err(NameError::EmptyTag { id: "ä".into() })
        );
    }

    #[test]
    fn scheme_examples() {
        let mut alloc = NameAllocator::new(["RTM.1", "#RTM.1"]);
        assert_eq!(
            alloc.allocate("RTM.1", &InstanceTag::Id("Instance1".into())),
            Ok("RTM.1_Instance1".into())
        );
        let c = Uuid::parse_str("{6C1F3A2B-1111-2222-3333-444455556666}").unwrap();
        assert_eq!(
            alloc.allocate("RTM.1", &InstanceTag::ProductCode(c)),
            Ok("RTM.1_6C1F3A2B".into())
        );
        assert!(alloc.is_taken("rtm.1_instance1"));
        assert!(alloc.is_taken("#rtm.1_6c1f3a2b"));
        assert!(!alloc.is_taken("RTM.2"));
    }

    #[test]
    fn source_is_cut_before_the_tag() {
        let mut alloc = NameAllocator::new([]);
        let tag = InstanceTag::Id("Instance1".into());
        let source = "VeryLongBaselineIdentifier.1";
        let name = alloc.allocate(source, &tag).unwrap();
        assert_eq!(name, "VeryLongBaselineIden_Instance1");
        assert_eq!(units(&name), 30);
        // A non-BMP character that would straddle the limit is dropped whole.
        let name = alloc
            .allocate(&format!("{}𝄞x", "b".repeat(19)), &tag)
            .unwrap();
        assert_eq!(name, format!("{}_Instance1", "b".repeat(19)));
        let name = alloc
            .allocate(&format!("{}𝄞x", "c".repeat(18)), &tag)
            .unwrap();
        assert_eq!(name, format!("{}𝄞_Instance1", "c".repeat(18)));
        assert_eq!(units(&name), 30);
    }

    #[test]
    fn long_tags_are_cut_before_the_source() {
        let mut alloc = NameAllocator::new([]);
        let tag29 = InstanceTag::Id("t".repeat(29));
        assert_eq!(
            alloc.allocate("RTM.1", &tag29),
            Ok(format!("RTM.1_{}", "t".repeat(24)))
        );
        let tag40 = InstanceTag::Id("v".repeat(40));
        assert_eq!(
            alloc.allocate("RTM.1", &tag40),
            Ok(format!("RTM.1_{}", "v".repeat(24)))
        );
        assert_eq!(
            alloc.allocate("RTM.1", &tag40),
            Ok(format!("RTM.1_{}~2", "v".repeat(22)))
        );
        // Two long ids that differ only past the cut keep the source name
        // and differ by their suffix (not `AVeryLongCustomerIdentifierN~2`).
        let id = |n| InstanceTag::Id(format!("AVeryLongCustomerIdentifierNumber{n}"));
        assert_eq!(
            alloc.allocate("rtmA.1", &id(1)),
            Ok("rtmA.1_AVeryLongCustomerIdenti".into())
        );
        assert_eq!(
            alloc.allocate("rtmA.1", &id(2)),
            Ok("rtmA.1_AVeryLongCustomerIden~2".into())
        );
        // A long source keeps its first 16 units when the tag is long too.
        let long = "ALongBaselineName.Number.1";
        assert_eq!(
            alloc.allocate(long, &tag40),
            Ok(format!("ALongBaselineNam_{}", "v".repeat(13)))
        );
        // A tag of one unit is never cut to nothing.
        let mut alloc = NameAllocator::new([]);
        assert_eq!(
            alloc.allocate(&"s".repeat(40), &InstanceTag::Id("x".into())),
            Ok(format!("{}_x", "s".repeat(28)))
        );
    }

    #[test]
    fn source_is_sanitized() {
        let mut alloc = NameAllocator::new([]);
        let tag = InstanceTag::Id("I1".into());
        assert_eq!(alloc.allocate("##a/b;c\u{5}", &tag), Ok("abc_I1".into()));
        assert_eq!(alloc.allocate("#;", &tag), Ok("I1".into()));
    }

    #[test]
    fn collisions_differing_only_in_case() {
        let c = Uuid::parse_str("1111aaaa-0000-0000-0000-000000000000").unwrap();
        let tag = InstanceTag::ProductCode(c);
        let mut alloc = NameAllocator::new(["RTMA.1_1111AAAA"]);
        assert_eq!(
            alloc.allocate("rtmA.1", &tag),
            Ok("rtmA.1_1111AAAA~2".into())
        );
        // The partner blocks too.
        let mut alloc = NameAllocator::new(["#RTMA.1_1111AAAA"]);
        assert_eq!(
            alloc.allocate("rtmA.1", &tag),
            Ok("rtmA.1_1111AAAA~2".into())
        );
        // An earlier allocation in the same run blocks as well.
        assert_eq!(
            alloc.allocate("RTMA.1", &tag),
            Ok("RTMA.1_1111AAAA~3".into())
        );
    }

    #[test]
    fn suffix_shortens_the_source() {
        let tag = InstanceTag::Id("Instance1".into());
        let source = "s".repeat(25);
        let mut alloc = NameAllocator::new([]);
        let first = alloc.allocate(&source, &tag).unwrap();
        assert_eq!(first, format!("{}_Instance1", "s".repeat(20)));
        let second = alloc.allocate(&source, &tag).unwrap();
        assert_eq!(second, format!("{}_Instance1~2", "s".repeat(18)));
        for _ in 0..8 {
            alloc.allocate(&source, &tag).unwrap();
        }
        let eleventh = alloc.allocate(&source, &tag).unwrap();
        assert_eq!(eleventh, format!("{}_Instance1~11", "s".repeat(17)));
    }

    #[test]
    fn two_hundred_instances_get_distinct_valid_names() {
        let existing = ["RTM.1", "#RTM.1", "RTM.2", "#RTM.2"];
        let mut alloc = NameAllocator::new(existing);
        let mut keys: HashSet<String> = existing.iter().map(|n| name_key(n)).collect();
        for i in 0..200u128 {
            // Codes that share their first 8 hex digits exercise the
            // collision path as well.
            let c = code(0x0123_4567_0000_0000_0000_0000_0000_0000 + (i % 3) * (1 << 96) + i);
            for source in ["RTM.1", "RTM.2"] {
                let name = alloc
                    .allocate(source, &InstanceTag::ProductCode(c))
                    .unwrap();
                validate_new_name(&name).unwrap();
                validate_partner_name(&format!("#{name}")).unwrap();
                assert!(keys.insert(name_key(&name)), "{name}");
                assert!(keys.insert(name_key(&format!("#{name}"))), "{name}");
            }
        }
    }

    /// Resuming the `~n` probe where the last allocation of the same source
    /// and tag stopped must give the names a fresh probe from `~1` gives.
    #[test]
    fn colliding_tags_resume_probing_with_the_same_names() {
        let existing = ["RTM.1", "#RTM.1", "RTM.1_01234567~5", "#rtm.1_01234567~7"];
        let mut alloc = NameAllocator::new(existing);
        let mut names = Vec::new();
        for i in 0..12u128 {
            let c = code(0x0123_4567_0000_0000_0000_0000_0000_0000 + i);
            names.push(
                alloc
                    .allocate("RTM.1", &InstanceTag::ProductCode(c))
                    .unwrap(),
            );
        }
        let mut want = vec!["RTM.1_01234567".to_string()];
        want.extend([2, 3, 4, 6, 8, 9, 10, 11, 12, 13, 14].map(|n| format!("RTM.1_01234567~{n}")));
        assert_eq!(names, want);
    }

    #[test]
    fn allocation_is_deterministic() {
        let run = || {
            let mut alloc = NameAllocator::new(["RTM.1", "#RTM.1", "rtm.1_I1"]);
            (0..50u32)
                .map(|i| {
                    let tag = InstanceTag::for_instance(
                        (i % 2 == 0).then_some("I1"),
                        code(u128::from(i) << 96),
                    );
                    alloc.allocate("RTM.1", &tag).unwrap()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }

    fn tag_strategy() -> impl Strategy<Value = InstanceTag> {
        prop_oneof![
            "[A-Za-z0-9._-]{1,40}".prop_map(InstanceTag::Id),
            any::<u128>().prop_map(|n| InstanceTag::ProductCode(Uuid::from_u128(n))),
        ]
    }

    proptest! {
        #[test]
        fn allocated_names_are_valid_and_unique(
            existing in prop::collection::vec("\\PC{0,31}", 0..20),
            requests in prop::collection::vec(("\\PC{0,40}|[#;:!/\\\\a-zA-Z\\x00\\x05]{0,10}", tag_strategy()), 1..30),
        ) {
            let mut alloc = NameAllocator::new(existing.iter().map(String::as_str));
            let mut keys: HashSet<String> = existing.iter().map(|n| name_key(n)).collect();
            let mut names = Vec::new();
            for (source, tag) in &requests {
                let name = alloc.allocate(source, tag).unwrap();
                let partner = format!("#{name}");
                prop_assert!(validate_new_name(&name).is_ok(), "{:?}", name);
                prop_assert!(validate_partner_name(&partner).is_ok(), "{:?}", partner);
                prop_assert!(units(&partner) <= MAX_NAME_UNITS);
                prop_assert!(keys.insert(name_key(&name)), "{:?}", name);
                prop_assert!(keys.insert(name_key(&partner)), "{:?}", partner);
                // The source stays recognisable: its first units lead.
                let kept = take_units(&sanitize_source(source), SOURCE_KEPT);
                prop_assert!(name.starts_with(&kept), "{:?} from {:?}", name, source);
                names.push(name);
            }
            let mut again = NameAllocator::new(existing.iter().map(String::as_str));
            for ((source, tag), name) in requests.iter().zip(&names) {
                prop_assert_eq!(&again.allocate(source, tag).unwrap(), name);
            }
        }
    }
}
