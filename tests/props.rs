//! Property tests: random instance lists on the single-product preset
//! always give a result that passes the checker, the same bytes twice, and
//! nothing to do the second time.

use proptest::prelude::*;
use proptest::sample::Index;

use msp_retarget::Outcome;
use msp_retarget::testkit::synth::PatchSpec;

use crate::util::check::{Expect, check_retarget};
use crate::util::{Dir, PRODUCT_A, Snapshot, guid, inst, read, retarget_to};

/// 1 to 20 random product codes, then up to 3 of them again, each written
/// in upper or lower case.
fn instance_lists() -> impl Strategy<Value = Vec<String>> {
    (
        prop::collection::vec((any::<u128>(), any::<bool>()), 1..=20),
        prop::collection::vec(any::<Index>(), 0..=3),
    )
        .prop_map(|(codes, again)| {
            let text = |(code, lower): (u128, bool)| {
                let g = guid(&uuid::Uuid::from_u128(code).to_string()).braced();
                if lower { g.to_lowercase() } else { g }
            };
            let mut list: Vec<String> = codes.iter().copied().map(text).collect();
            for i in again {
                let (code, lower) = *i.get(&codes);
                list.push(text((code, !lower)));
            }
            list
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 16,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_instance_lists_verify_and_are_deterministic_and_idempotent(
        codes in instance_lists()
    ) {
        prop_assume!(codes.iter().all(|c| guid(c) != guid(PRODUCT_A)));
        let dir = Dir::new();
        let input = dir.patch("in.msp", &PatchSpec::single_product());
        let reqs: Vec<_> = codes.iter().map(|c| inst(c)).collect();

        let (a, b) = (dir.join("a.msp"), dir.join("b.msp"));
        let r = retarget_to(&input, &a, &reqs);
        prop_assert_eq!(r.outcome, Outcome::Done);
        let pairs: Vec<(&str, &str)> = codes.iter().map(|c| (PRODUCT_A, c.as_str())).collect();
        let found = check_retarget(&Snapshot::of(&input), &Snapshot::of(&a), &Expect::new(&pairs));
        let unique: std::collections::BTreeSet<_> = codes.iter().map(|c| guid(c)).collect();
        prop_assert_eq!(found.len(), unique.len());

        retarget_to(&input, &b, &reqs);
        prop_assert!(read(&a) == read(&b), "two runs differ");

        let again = dir.join("again.msp");
        let r = retarget_to(&a, &again, &reqs);
        prop_assert_eq!(r.outcome, Outcome::AlreadyDone);
        prop_assert!(read(&again) == read(&a), "a re-run changed the bytes");
    }
}
