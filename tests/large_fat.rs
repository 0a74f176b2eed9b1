//! Patches whose FAT is too large for `cfb` to read whole when it opens them
//! (more than 65,536 entries: a version-3 file over 32 MiB), which the `cfb`
//! fork reads a FAT sector at a time as the edit reaches them
//! (`vendor/cfb/FORK.md`): an edit through that path comes out right, its
//! result passes a check of the whole FAT read from the raw bytes, and
//! repeated edits reuse the sectors they freed instead of growing the file.

use std::path::{Path, PathBuf};

use msp_retarget::testkit::synth::PatchSpec;

use crate::util::check::{Expect, check_retarget};
use crate::util::{Dir, I1, I2, PRODUCT_A, Snapshot, cli, read};

const FREE: u32 = 0xFFFF_FFFF;
const END_OF_CHAIN: u32 = 0xFFFF_FFFE;
const FAT_SECTOR: u32 = 0xFFFF_FFFD;
const DIFAT_SECTOR: u32 = 0xFFFF_FFFC;
const MAX_REGULAR: u32 = 0xFFFF_FFFA;

/// The single-product patch, version 3, with a 40 MiB cabinet: 640 FAT
/// sectors, 81,920 entries.
fn large_patch(dir: &Dir) -> PathBuf {
    let mut spec = PatchSpec::single_product();
    spec.version = cfb::Version::V3;
    spec.cabinet_len = 40 << 20;
    let path = dir.patch("in.msp", &spec);
    let fat = whole_fat(&read(&path)).unwrap();
    assert!(fat.len() > 65_536, "{} FAT entries", fat.len());
    path
}

fn u32_at(bytes: &[u8], at: usize) -> Result<u32, String> {
    bytes
        .get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| format!("offset {at} is past the end"))
}

/// The FAT of a version-3 file read whole from its bytes, independently
/// of `cfb` and of the library, and checked as a whole: the FAT and DIFAT
/// sectors marked as such, no used entry past the end of the file, no
/// sector pointed to twice, and every stream of the directory on a chain
/// of exactly its length (streams of 4096 bytes or more) that ends.
fn whole_fat(bytes: &[u8]) -> Result<Vec<u32>, String> {
    if !bytes.len().is_multiple_of(512) || bytes.get(0x1E) != Some(&9) {
        return Err("not a version-3 file of whole sectors".into());
    }
    let num_sectors = bytes.len() / 512 - 1;
    let (difat, difat_sectors) = difat(bytes)?;
    let mut fat = Vec::new();
    for &id in &difat {
        fat.extend(sector(bytes, id)?);
    }
    if fat.len() < num_sectors {
        return Err(format!(
            "{} FAT entries for {num_sectors} sectors",
            fat.len()
        ));
    }
    if let Some(i) = (num_sectors..fat.len()).find(|&i| fat[i] != FREE) {
        return Err(format!("entry {i} past the end of the file is used"));
    }
    fat.truncate(num_sectors);
    for (ids, marker, what) in [
        (&difat, FAT_SECTOR, "FAT"),
        (&difat_sectors, DIFAT_SECTOR, "DIFAT"),
    ] {
        if let Some(id) = ids
            .iter()
            .find(|&&id| fat.get(id as usize) != Some(&marker))
        {
            return Err(format!("{what} sector {id} is not marked as such"));
        }
    }
    let mut pointed = vec![false; num_sectors];
    for (from, &to) in fat.iter().enumerate() {
        if to <= MAX_REGULAR {
            let seen = pointed
                .get_mut(to as usize)
                .ok_or(format!("sector {from} points past the end, to {to}"))?;
            if *seen {
                return Err(format!("sector {to} is pointed to twice"));
            }
            *seen = true;
        }
    }
    // With no sector pointed to twice, a chain can only loop back to its
    // start; the length bound catches that too.
    let chain = |start: u32| -> Result<usize, String> {
        let (mut len, mut s) = (0, start);
        while s != END_OF_CHAIN {
            let next = *fat
                .get(s as usize)
                .ok_or(format!("chain from {start} leaves the file"))?;
            if next > MAX_REGULAR && next != END_OF_CHAIN || len > num_sectors {
                return Err(format!("chain from {start} is broken at sector {s}"));
            }
            len += 1;
            s = next;
        }
        Ok(len)
    };
    for (start, len) in streams(bytes, &fat)? {
        if len >= 4096 && chain(start)? != len.div_ceil(512) {
            return Err(format!(
                "the stream at sector {start} is not {len} bytes long"
            ));
        }
    }
    Ok(fat)
}

fn sector(bytes: &[u8], id: u32) -> Result<Vec<u32>, String> {
    let at = (id as usize + 1) * 512;
    let s = bytes
        .get(at..at + 512)
        .ok_or(format!("sector {id} is past the end"))?;
    Ok(s.chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// The FAT sectors the DIFAT lists, in order, and the DIFAT's own sectors.
fn difat(bytes: &[u8]) -> Result<(Vec<u32>, Vec<u32>), String> {
    let num_fat = u32_at(bytes, 0x2C)? as usize;
    let mut difat: Vec<u32> = (0..109)
        .map(|i| u32_at(bytes, 0x4C + 4 * i))
        .collect::<Result<_, _>>()?;
    let mut difat_sectors = Vec::new();
    let mut next = u32_at(bytes, 0x44)?;
    while next <= MAX_REGULAR {
        if difat_sectors.len() * 512 > bytes.len() {
            return Err("the DIFAT chain loops".into());
        }
        difat_sectors.push(next);
        let e = sector(bytes, next)?;
        difat.extend_from_slice(&e[..127]);
        next = e[127];
    }
    difat.truncate(num_fat);
    Ok((difat, difat_sectors))
}

/// The start sector and length of every stream of the directory.
fn streams(bytes: &[u8], fat: &[u32]) -> Result<Vec<(u32, usize)>, String> {
    let mut dir = Vec::new();
    let mut s = u32_at(bytes, 0x30)?;
    while s != END_OF_CHAIN {
        if dir.len() > bytes.len() {
            return Err("the directory chain loops".into());
        }
        let at = (s as usize + 1) * 512;
        dir.extend_from_slice(
            bytes
                .get(at..at + 512)
                .ok_or("the directory leaves the file")?,
        );
        s = *fat
            .get(s as usize)
            .ok_or("the directory chain leaves the file")?;
    }
    let mut out = Vec::new();
    for entry in dir.chunks_exact(128).skip(1) {
        if entry[0x42] == 2 {
            out.push((u32_at(entry, 0x74)?, u32_at(entry, 0x78)? as usize));
        }
    }
    Ok(out)
}

fn len_of(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

#[test]
fn a_patch_with_a_large_fat_is_retargeted_and_reads_back_whole() {
    let dir = Dir::new();
    let input = large_patch(&dir);
    cli(["retarget", "in.msp", "-i", I1, "-i", I2, "-o", "out.msp"])
        .dir(&dir)
        .run()
        .code(0);
    let out = dir.join("out.msp");
    whole_fat(&read(&out)).unwrap();
    check_retarget(
        &Snapshot::of(&input),
        &Snapshot::of(&out),
        &Expect::new(&[(PRODUCT_A, I1), (PRODUCT_A, I2)]),
    );
    let r = cli(["inspect", "out.msp"]).dir(&dir).run();
    r.code(0);
    assert!(
        r.stdout.contains(I1) && r.stdout.contains(I2),
        "{}",
        r.stdout
    );
}

/// Retargeting in place and untargeting in place, three times over: the
/// second and third rounds find the sectors the first one freed at the end
/// of the file (the FAT sectors the fork reads when it opens a large FAT)
/// and the file keeps the length the first retarget gave it.
#[test]
fn in_place_rounds_on_a_large_fat_reuse_what_they_freed() {
    let dir = Dir::new();
    let input = large_patch(&dir);
    let path = dir.join("p.msp");
    std::fs::copy(&input, &path).unwrap();
    let original = len_of(&path);
    let mut lengths = Vec::new();
    for _ in 0..3 {
        cli(["retarget", "p.msp", "-i", I1, "-i", I2, "--in-place"])
            .dir(&dir)
            .run()
            .code(0);
        whole_fat(&read(&path)).unwrap();
        let retargeted = len_of(&path);
        cli(["untarget", "p.msp", "-i", I1, "-i", I2, "--in-place"])
            .dir(&dir)
            .run()
            .code(0);
        whole_fat(&read(&path)).unwrap();
        // Removing never shrinks a compound file: the freed sectors stay.
        assert_eq!(len_of(&path), retargeted);
        lengths.push(retargeted);
    }
    assert!(lengths[0] > original, "{lengths:?}");
    assert_eq!(lengths, [lengths[0]; 3]);
    // And what the rounds left is still a patch to retarget.
    cli(["retarget", "p.msp", "-i", I1, "--in-place"])
        .dir(&dir)
        .run()
        .code(0);
    whole_fat(&read(&path)).unwrap();
    check_retarget(
        &Snapshot::of(&input),
        &Snapshot::of(&path),
        &Expect::new(&[(PRODUCT_A, I1)]),
    );
}

/// The cabinet's chain of the large patch linked back into its own middle
/// (sector 4,000 of 81,920 then pointed to twice): `cfb` no longer sees
/// that when it opens the file, since it does not read the whole FAT, and
/// an edit of a file this large reads it lazily and does not walk the
/// cabinet either (docs/performance.md, "Edits read lazily"): it refuses
/// the patch naming it and writes nothing, or its result keeps the damaged
/// chain exactly as it was, every sector's bytes and FAT entry.
#[test]
fn a_damaged_cabinet_chain_in_a_large_fat_is_refused_or_left_as_it_was_by_an_edit() {
    let dir = Dir::new();
    let input = large_patch(&dir);
    let intact = read(&input);
    let fat = whole_fat(&intact).unwrap();
    let (start, _) = streams(&intact, &fat)
        .unwrap()
        .into_iter()
        .find(|&(_, len)| len == 40 << 20)
        .expect("the cabinet");
    let mut chain = vec![start];
    while fat[*chain.last().unwrap() as usize] != END_OF_CHAIN {
        chain.push(fat[*chain.last().unwrap() as usize]);
    }
    assert_eq!(chain.len(), 81_920);
    let last = *chain.last().unwrap() as usize;
    let (fat_sectors, _) = difat(&intact).unwrap();
    let at = (fat_sectors[last / 128] as usize + 1) * 512 + (last % 128) * 4;
    let mut damaged = intact;
    damaged[at..at + 4].copy_from_slice(&chain[4000].to_le_bytes());
    std::fs::write(&input, &damaged).unwrap();
    assert_eq!(
        whole_fat(&damaged).unwrap_err(),
        format!("sector {} is pointed to twice", chain[4000])
    );
    let kept = |result: &[u8]| {
        let (fat_sectors, _) = difat(result).unwrap();
        let (in_fat, _) = difat(&damaged).unwrap();
        for &s in &chain {
            let s = s as usize;
            let at = (s + 1) * 512;
            assert!(result[at..at + 512] == damaged[at..at + 512], "sector {s}");
            let slot = |fats: &[u32], bytes: &[u8]| {
                let at = (fats[s / 128] as usize + 1) * 512 + (s % 128) * 4;
                u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
            };
            assert_eq!(
                slot(&fat_sectors, result),
                slot(&in_fat, &damaged),
                "sector {s}"
            );
        }
    };
    for (args, in_place) in [
        (
            ["retarget", "in.msp", "-i", I1, "-o", "out.msp"].as_slice(),
            false,
        ),
        (
            ["retarget", "in.msp", "-i", I1, "--in-place"].as_slice(),
            true,
        ),
    ] {
        let r = cli(args).dir(&dir).run();
        if r.code == 0 {
            kept(&read(&dir.join(if in_place {
                "in.msp"
            } else {
                "out.msp"
            })));
        } else {
            r.code(2);
            assert!(
                r.stderr.starts_with("msp-retarget: in.msp: "),
                "{}",
                r.stderr
            );
            assert!(!dir.join("out.msp").exists(), "an output was written");
            assert!(read(&input) == damaged, "the input changed");
        }
        std::fs::write(&input, &damaged).unwrap();
        let _ = std::fs::remove_file(dir.join("out.msp"));
    }
}
