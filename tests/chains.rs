//! No chain of a file this tool writes links to sector 0 or mini sector 0.
//!
//! [MS-CFB] allows it, but `osslsigncode` refuses to sign such a file ("Get
//! corrupted sector location 0x00000000"), and `cfb` reused freed sectors
//! last freed first, so a table stream rewritten over the mini sectors it
//! had, 0 among them, came out as the chain 10 → 9 → … → 1 → 0 → 171. The
//! `cfb` fork now hands sector 0 out only as the first sector of a chain
//! (`vendor/cfb/FORK.md`); these tests check the invariant on the raw
//! bytes, without osslsigncode. `tests/signing.rs` signs such outputs with
//! it.

use std::io::{Cursor, Read, Seek, SeekFrom, Write};
use std::path::Path;

use proptest::prelude::*;

use msp_retarget::testkit::streamname;
use msp_retarget::testkit::synth::PatchSpec;

use crate::util::{Dir, I1, I2, Snapshot, cli, links_to_sector_zero, read};

fn sample() -> Vec<u8> {
    read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sample.msp"))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// The sample with the stream that starts at mini sector 0 (chain 0 → 1 →
/// …) stored as 1 → 0 → …: the same bytes in every stream, one link to
/// mini sector 0. The sample keeps its directory, FAT and MiniFAT in one
/// sector each, which this relies on (and asserts).
fn with_a_link_to_mini_sector_zero(mut b: Vec<u8>) -> Vec<u8> {
    let ss = 1usize << b[0x1E];
    let at = |sector: u32| (sector as usize + 1) * ss;
    assert_eq!(u32_at(&b, 0x2C), 1, "one FAT sector");
    let fat = at(u32_at(&b, 0x4C));
    let fat_next = |b: &[u8], s: u32| u32_at(b, fat + 4 * s as usize);
    let (dir, minifat) = (u32_at(&b, 0x30), u32_at(&b, 0x3C));
    assert!(fat_next(&b, dir) >= 0xFFFF_FFFA && fat_next(&b, minifat) >= 0xFFFF_FFFA);
    let (dir, minifat) = (at(dir), at(minifat));
    let mut mini_stream = vec![u32_at(&b, dir + 0x74)];
    while fat_next(&b, *mini_stream.last().unwrap()) < 0xFFFF_FFFA {
        mini_stream.push(fat_next(&b, *mini_stream.last().unwrap()));
    }
    let mini_at = |m: usize| at(mini_stream[m * 64 / ss]) + (m * 64) % ss;
    let entry = (1..ss / 128)
        .map(|i| dir + 128 * i)
        .find(|&e| b[e + 0x42] == 2 && u32_at(&b, e + 0x74) == 0 && u32_at(&b, e + 0x78) < 4096)
        .expect("a small stream starting at mini sector 0");
    assert_eq!(u32_at(&b, minifat), 1, "its chain goes on to mini sector 1");
    let after_1 = u32_at(&b, minifat + 4);
    let (m0, m1) = (mini_at(0), mini_at(1));
    let first: Vec<u8> = b[m0..m0 + 64].to_vec();
    b.copy_within(m1..m1 + 64, m0);
    b[m1..m1 + 64].copy_from_slice(&first);
    put_u32(&mut b, minifat + 4, 0);
    put_u32(&mut b, minifat, after_1);
    put_u32(&mut b, entry + 0x74, 1);
    b
}

#[test]
fn the_check_sees_a_link_to_mini_sector_zero() {
    let original = sample();
    assert_eq!(
        links_to_sector_zero(&original).unwrap(),
        Vec::<String>::new()
    );
    let linked = with_a_link_to_mini_sector_zero(original);
    assert_eq!(
        links_to_sector_zero(&linked).unwrap(),
        vec!["mini sector 1"]
    );

    // The same content: cfb reads every stream as before.
    let dir = Dir::new();
    let a = Snapshot::of(&dir.write("a.msp", &sample()));
    let b = Snapshot::of(&dir.write("b.msp", &linked));
    assert_eq!(a.entries, b.entries);
    assert_eq!(b.links_to_zero, vec!["mini sector 1"]);
}

#[test]
fn a_stream_rewritten_over_mini_sector_zero_starts_there() {
    // s5 takes mini sectors 0 and 1, s0 mini sector 2; writing s5 anew
    // frees 0 and 1 and takes them back. Last freed first, that was the
    // chain 1 -> 0.
    for version in [cfb::Version::V3, cfb::Version::V4] {
        let mut cf =
            cfb::CompoundFile::create_with_version(version, Cursor::new(Vec::new())).unwrap();
        for (name, len) in [("/s5", 65), ("/s0", 1), ("/s5", 65)] {
            cf.create_stream(name)
                .unwrap()
                .write_all(&vec![7u8; len])
                .unwrap();
        }
        cf.flush().unwrap();
        let bytes = cf.into_inner().into_inner();
        assert_eq!(
            links_to_sector_zero(&bytes).unwrap(),
            Vec::<String>::new(),
            "{version:?}"
        );
        let mut cf = cfb::CompoundFile::open(Cursor::new(bytes)).unwrap();
        let mut got = Vec::new();
        cf.open_stream("/s5")
            .unwrap()
            .read_to_end(&mut got)
            .unwrap();
        assert_eq!(got, vec![7u8; 65]);
    }
}

#[test]
fn retarget_and_untarget_cycles_link_nothing_to_sector_zero() {
    let dir = Dir::new();
    dir.write("p0.msp", &sample());
    let steps: [&[&str]; 4] = [
        &["retarget", "p0.msp", "-i", I1, "-i", I2, "-o", "p1.msp"],
        &["untarget", "p1.msp", "-i", I1, "-o", "p2.msp"],
        &["retarget", "p2.msp", "-i", I1, "-o", "p3.msp"],
        &["untarget", "p3.msp", "-i", I1, "-i", I2, "-o", "p4.msp"],
    ];
    for (k, args) in steps.iter().enumerate() {
        cli(*args).dir(&dir).run().code(0);
        let out = dir.join(&format!("p{}.msp", k + 1));
        assert_eq!(
            links_to_sector_zero(&read(&out)).unwrap(),
            Vec::<String>::new(),
            "after {args:?}"
        );
    }
}

/// `bytes` written anew, streams and storages in the order of `first`
/// (root stream names, unpacked) and then the rest: a layout like a
/// signing tool's, which writes a file again from scratch, where the
/// patch database's tables own the first mini sectors.
fn relaid(bytes: &[u8], first: &[&str]) -> Vec<u8> {
    let src = Dir::new();
    let snap = Snapshot::of(&src.write("in.msp", bytes));
    let version = if bytes[0x1E] == 9 {
        cfb::Version::V3
    } else {
        cfb::Version::V4
    };
    let mut cf = cfb::CompoundFile::create_with_version(version, Cursor::new(Vec::new())).unwrap();
    let packed: Vec<String> = first
        .iter()
        .map(|n| format!("/{}", streamname::encode(n, true)))
        .collect();
    let mut order: Vec<&String> = packed
        .iter()
        .filter(|p| snap.entries.contains_key(*p))
        .collect();
    order.extend(
        snap.entries
            .keys()
            .filter(|p| *p != "/" && !packed.contains(p)),
    );
    cf.set_storage_clsid("/", snap.get("/").clsid).unwrap();
    for path in order {
        let e = snap.get(path);
        if e.is_stream {
            cf.create_stream(path).unwrap().write_all(&e.bytes).unwrap();
        } else {
            cf.create_storage(path).unwrap();
            cf.set_storage_clsid(path, e.clsid).unwrap();
        }
    }
    cf.flush().unwrap();
    cf.into_inner().into_inner()
}

#[test]
fn retargeting_rows_into_a_relaid_patch_links_nothing_to_sector_zero() {
    // The edited tables first: the string data owns mini sector 0 and
    // grows when the instances' rows are added (the layout osslsigncode
    // itself writes, where the failure was first seen).
    let first = ["_StringData", "_StringPool", "MsiPatchSequence"];
    for version in [cfb::Version::V3, cfb::Version::V4] {
        let dir = Dir::new();
        let spec = PatchSpec {
            version,
            ..PatchSpec::single_product()
        };
        let built = read(&dir.patch("built.msp", &spec));
        dir.write("p.msp", &relaid(&built, &first));
        let before = Snapshot::of(&dir.join("p.msp"));
        assert_eq!(before.links_to_zero, Vec::<String>::new());
        cli(["retarget", "p.msp", "-i", I1, "-i", I2, "-o", "out.msp"])
            .dir(&dir)
            .run()
            .code(0);
        let after = Snapshot::of(&dir.join("out.msp"));
        let data = format!("/{}", streamname::encode("_StringData", true));
        assert!(
            after.get(&data).bytes.len() > before.get(&data).bytes.len(),
            "the instances' rows added strings"
        );
        assert_eq!(after.links_to_zero, Vec::<String>::new(), "{version:?}");
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// Create (or replace) stream `n` with `len` bytes.
    Create(usize, usize),
    /// Append `len` bytes to stream `n`.
    Append(usize, usize),
    /// Cut stream `n` to `len` bytes (at most its length).
    Truncate(usize, usize),
    /// Remove stream `n`.
    Remove(usize),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    // Lengths either side of the 4,096-byte mini-stream cutoff.
    let len = prop_oneof![0usize..700, 3500usize..9000];
    let op = prop_oneof![
        (0usize..6, len.clone()).prop_map(|(n, l)| Op::Create(n, l)),
        (0usize..6, len.clone()).prop_map(|(n, l)| Op::Append(n, l)),
        (0usize..6, len).prop_map(|(n, l)| Op::Truncate(n, l)),
        (0usize..6).prop_map(Op::Remove),
    ];
    prop::collection::vec(op, 1..40)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Streams created, grown, cut and removed in any order, in both
    /// compound-file versions, reopening the file after every change: the
    /// streams read back as written and no chain links to sector 0.
    #[test]
    fn edits_by_cfb_link_nothing_to_sector_zero(ops in ops(), v3 in any::<bool>()) {
        let version = if v3 { cfb::Version::V3 } else { cfb::Version::V4 };
        let mut bytes = cfb::CompoundFile::create_with_version(version, Cursor::new(Vec::new()))
            .unwrap()
            .into_inner()
            .into_inner();
        let mut model: [Option<Vec<u8>>; 6] = Default::default();
        for (k, op) in ops.iter().enumerate() {
            let mut cf = cfb::CompoundFile::open(Cursor::new(bytes)).unwrap();
            let fill = |l: usize| (0..l).map(|i| (i * 7 + k) as u8).collect::<Vec<u8>>();
            match *op {
                Op::Create(n, l) => {
                    cf.create_stream(format!("/s{n}")).unwrap().write_all(&fill(l)).unwrap();
                    model[n] = Some(fill(l));
                }
                Op::Append(n, l) => if let Some(m) = &mut model[n] {
                    let mut s = cf.open_stream(format!("/s{n}")).unwrap();
                    s.seek(SeekFrom::End(0)).unwrap();
                    s.write_all(&fill(l)).unwrap();
                    m.extend(fill(l));
                },
                Op::Truncate(n, l) => if let Some(m) = &mut model[n] {
                    let l = l.min(m.len());
                    cf.open_stream(format!("/s{n}")).unwrap().set_len(l as u64).unwrap();
                    m.truncate(l);
                },
                Op::Remove(n) => if model[n].take().is_some() {
                    cf.remove_stream(format!("/s{n}")).unwrap();
                },
            }
            cf.flush().unwrap();
            bytes = cf.into_inner().into_inner();
            prop_assert_eq!(links_to_sector_zero(&bytes).unwrap(), Vec::<String>::new(), "after {:?}", &ops[..=k]);
        }
        let mut cf = cfb::CompoundFile::open(Cursor::new(bytes)).unwrap();
        for (n, m) in model.iter().enumerate() {
            if let Some(m) = m {
                let mut got = Vec::new();
                cf.open_stream(format!("/s{n}")).unwrap().read_to_end(&mut got).unwrap();
                prop_assert_eq!(&got, m, "stream {}", n);
            }
        }
    }
}
