//! The checks behind the fuzz targets, kept apart from libFuzzer so that
//! `cargo test` can replay saved inputs through the same code
//! (`fuzz/tests/replay.rs`).
//!
//! Each check panics only when the library breaks a promise: a panic
//! inside the library, an edit that does not re-read, a failed run that
//! leaves a file behind, an input that changed.

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use msp_retarget::Destination;
use msp_retarget::testkit::layout::Layout;
use msp_retarget::testkit::patch::Patch;
use msp_retarget::testkit::propset::{PropertySet, PropertyValue};
use msp_retarget::testkit::synth::{PatchSpec, write_patch};
use msp_retarget::{InstanceRequest, PlanOptions};
use msp_retarget::{RetargetRequest, retarget};
use msp_retarget::{UntargetRequest, untarget};

//===========================================================================//
// Allocation cap

/// The largest single allocation a check may make. The address sanitizer
/// reports oversized allocations through libFuzzer's `-malloc_limit_mb`,
/// but it slows every target three- to tenfold and the library has no
/// `unsafe` code for it to guard. Fuzzing therefore runs without it (`-s
/// none`, docs/fuzzing.md) and this allocator keeps the one finding it
/// would still catch: an allocation sized by a length field of the input.
/// A request above the cap aborts, which libFuzzer and the replay test
/// both report as a crash with the input saved.
pub const MAX_ALLOCATION: usize = 256 << 20;

struct CappedAllocator;

fn refuse(size: usize) -> ! {
    use std::io::Write;
    // Formatting into a fixed buffer: the message must not allocate.
    let mut buf = [0u8; 96];
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    let _ = writeln!(cursor, "allocation of {size} bytes exceeds the fuzzing cap");
    let n = cursor.position() as usize;
    let _ = std::io::stderr().write_all(&buf[..n]);
    std::process::abort();
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// wrapper only refuses sizes above the cap before forwarding.
unsafe impl std::alloc::GlobalAlloc for CappedAllocator {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        if layout.size() > MAX_ALLOCATION {
            refuse(layout.size());
        }
        // SAFETY: the caller's contract is passed through unchanged.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        if layout.size() > MAX_ALLOCATION {
            refuse(layout.size());
        }
        // SAFETY: as above.
        unsafe { std::alloc::System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: as above.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        if new_size > MAX_ALLOCATION {
            refuse(new_size);
        }
        // SAFETY: as above.
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CappedAllocator = CappedAllocator;

/// An instance product code that no seed uses.
pub const INSTANCE: &str = "{11111111-1111-4111-8111-111111111111}";

//===========================================================================//
// (a) the property-set codec

/// Parses `data[4..]` as a property set; when it parses, checks the byte
/// faithful round trip, reads every property, then makes one edit chosen
/// by `data[..4]` and checks the result re-parses with the edit in it and
/// every other property as it was (or, when the edit is refused, that the
/// set did not change).
pub fn propset(data: &[u8]) {
    let Some((ctl, bytes)) = data.split_first_chunk::<4>() else {
        return;
    };
    let Ok(mut set) = PropertySet::parse(bytes) else {
        return;
    };
    assert_eq!(set.as_bytes(), bytes, "parse is not byte-faithful");
    let ids = set.property_ids();
    for &id in &ids {
        let _ = set.get(id);
        let _ = set.get_string(id);
    }
    let _ = (
        set.code_page(),
        set.section_count(),
        set.fmtid(),
        set.warnings(),
    );
    let before = set.clone();

    let pid = u32::from(ctl[0] % 20);
    let len = usize::from(ctl[1]);
    let text: String = "{11111111-1111-4111-8111-111111111111};"
        .chars()
        .cycle()
        .take(len)
        .collect();
    let value = match ctl[2] % 6 {
        0 => Some(PropertyValue::Lpstr(text.clone().into_bytes())),
        1 => Some(PropertyValue::I4(i32::from(ctl[3]) - 7)),
        2 => Some(PropertyValue::I2(i16::from(ctl[3]))),
        3 => Some(PropertyValue::FileTime(u64::from(ctl[3]) << 40)),
        4 => Some(PropertyValue::Lpstr(vec![b'x'; len])),
        _ => None,
    };
    let (result, edited) = match (ctl[2] % 6, value) {
        (0, _) => (set.set_string(pid, &text), true),
        (5, _) => (set.remove(pid).map(|_| ()), true),
        (_, Some(v)) => (set.set(pid, v), true),
        (_, None) => (Ok(()), false),
    };
    if !edited {
        return;
    }
    match result {
        Err(_) => assert_eq!(set, before, "a refused edit changed the set"),
        Ok(_) => {
            let again = PropertySet::parse(set.as_bytes()).expect("an edited set must re-parse");
            assert_eq!(again.as_bytes(), set.as_bytes());
            assert_eq!(again.section_count(), before.section_count());
            if ctl[2] % 6 == 0 && pid != 1 {
                // Text set through the code page reads back the same.
                if let Some(Ok(got)) = again.get_string(pid) {
                    assert_eq!(got, text, "property {pid} does not read back");
                }
            }
            if ctl[2] % 6 == 5 {
                let dup = ids.iter().filter(|&&i| i == pid).count() > 1;
                assert!(
                    dup || again.get(pid).is_none(),
                    "property {pid} not removed"
                );
            }
            // Every other property keeps its value, unless the set holds
            // values whose extent an edit may legitimately move (raw
            // unknown types and dictionaries run to the next value).
            let raw_extents = ids.iter().any(|&i| {
                matches!(
                    before.get(i),
                    Some(PropertyValue::Other { .. } | PropertyValue::Dictionary(_))
                )
            });
            if !raw_extents && pid != 1 {
                for &id in ids.iter().filter(|&&i| i != pid) {
                    assert_eq!(
                        again.get(id),
                        before.get(id),
                        "editing property {pid} changed property {id}"
                    );
                }
            }
        }
    }
}

//===========================================================================//
// (b) open → inspect → plan → retarget → untarget

/// A scratch folder per thread of the fuzzing process, on a RAM disk when
/// there is one (every run syncs its output). Removed at exit only by the
/// operating system's temp cleaning: it holds at most three small files.
fn scratch() -> PathBuf {
    thread_local! {
        static DIR: PathBuf = {
            static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let base = if Path::new("/dev/shm").is_dir() {
                PathBuf::from("/dev/shm")
            } else {
                std::env::temp_dir()
            };
            let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir = base.join(format!("msp-retarget-fuzz.{}.{n}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("creating the scratch folder");
            dir
        };
    }
    DIR.with(Clone::clone)
}

/// Removes this thread's scratch folder (tests call it when done).
pub fn remove_scratch() {
    let _ = std::fs::remove_dir_all(scratch());
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Writes `data` as a patch and runs the whole tool on it: inspect, a
/// retarget to one instance (with `{BASE}=` when the patch has several
/// targets) and, when that succeeds, an untarget of the result. A failure
/// must leave the input unchanged and the folder without output or
/// temporary file; a success must leave an output that re-reads and lists
/// the instance. The same retarget `--in-place` on a copy must agree with
/// `-o`: both fail, or both succeed with the same bytes.
pub fn pipeline(data: &[u8]) {
    let dir = &scratch();
    for name in names_in(dir) {
        let _ = std::fs::remove_file(dir.join(name));
    }
    let input = dir.join("in.msp");
    std::fs::write(&input, data).expect("writing the input");

    let _ = msp_retarget::inspect(&input);

    let mut instance = INSTANCE.to_string();
    let mut options = PlanOptions::default();
    if let Ok(p) = Patch::open(&input) {
        if p.targets.len() > 1 {
            instance = format!("{}={INSTANCE}", p.targets[0].braced());
        }
        options.strip_signature = true;
        options.copy_all = data.len() % 2 == 1;
    }
    let Ok(request) = InstanceRequest::parse(&instance) else {
        return;
    };
    let output = dir.join("out.msp");
    let req = RetargetRequest {
        input: input.clone(),
        destination: Destination::Output(output.clone()),
        instances: vec![request],
        options,
    };
    let result = retarget(&req);
    assert_eq!(
        std::fs::read(&input).expect("reading the input back"),
        data,
        "the input changed"
    );
    // In place on a copy (the journaled overlay path): the same verdict as
    // -o, and on success the same bytes; on failure the copy unchanged.
    let work = dir.join("work.msp");
    std::fs::write(&work, data).expect("writing the copy");
    let in_place = retarget(&RetargetRequest {
        input: work.clone(),
        destination: Destination::InPlace,
        ..req.clone()
    });
    let work_now = std::fs::read(&work).expect("reading the copy back");
    match (&result, &in_place) {
        (Ok(_), Ok(_)) => assert!(
            work_now == std::fs::read(&output).expect("reading the output"),
            "--in-place wrote other bytes than -o"
        ),
        (Err(_), Err(_)) => assert!(work_now == data, "a failed --in-place changed the file"),
        (a, b) => panic!(
            "-o and --in-place disagree: {:?} / {:?}",
            a.as_ref().err().map(|e| e.to_string()),
            b.as_ref().err().map(|e| e.to_string())
        ),
    }
    std::fs::remove_file(&work).expect("removing the copy");
    match result {
        Err(e) => {
            assert_eq!(
                names_in(dir),
                ["in.msp"],
                "a failed retarget left files: {e}"
            );
            assert!(!e.to_string().is_empty());
        }
        Ok(_) => {
            let out = Patch::open(&output).expect("a written result must re-read");
            let code = msp_retarget::Guid::parse_braced(INSTANCE).expect("a GUID");
            assert!(
                out.targets_product(code),
                "the result does not list the instance"
            );
            drop(out);
            let back = dir.join("back.msp");
            let req = UntargetRequest {
                input: output.clone(),
                destination: Destination::Output(back.clone()),
                instances: vec![code],
                force: false,
            };
            if untarget(&req).is_err() {
                assert!(!back.exists(), "a failed untarget left its output");
            } else {
                Patch::open(&back).expect("an untargeted result must re-read");
            }
        }
    }
}

//===========================================================================//
// (c) the layout reader

/// Reads the layout of `data` as a compound file and walks the chain of
/// every regular stream it lists, checking that each visited sector lies
/// inside the file.
pub fn layout(data: &[u8]) {
    let mut file = Cursor::new(data);
    let Ok(layout) = Layout::read(&mut file) else {
        return;
    };
    let len = data.len() as u64;
    let sector_len = layout.sector_len();
    let mut places: Vec<_> = layout.streams.values().copied().collect();
    places.sort_by_key(|p| (p.start, p.len, p.mini));
    for place in places {
        if place.mini {
            assert!(layout.walk_chain(&mut file, place, |_, _, _| true).is_err());
            continue;
        }
        let mut visited = 0u64;
        let _ = layout.walk_chain(&mut file, place, |sector, offset, _next| {
            visited += 1;
            assert!(
                offset + sector_len <= len,
                "sector {sector} lies outside the file"
            );
            let _ = layout.fat_range_of(sector);
            true
        });
        assert!(
            visited <= place.len.div_ceil(sector_len),
            "walked past the stream's length"
        );
        let _ = layout.next_sector(&mut file, place.start);
    }
    lazy_reader(data);
}

/// The lazy reader of the read paths on the same bytes: never a panic,
/// no stream read past its declared length, and every stream both it and
/// `cfb` read holds the same bytes in both.
fn lazy_reader(data: &[u8]) {
    use msp_retarget::testkit::compound::Compound;
    let len = data.len() as u64;
    let Ok(mut lazy) = Compound::open(Cursor::new(data), len) else {
        return;
    };
    let Ok(entries) = lazy.walk_storage(Path::new("/")) else {
        return;
    };
    let streams: Vec<(PathBuf, u64)> = entries
        .into_iter()
        .filter(|(_, e)| e.is_stream())
        .map(|(p, e)| (p, e.len))
        .collect();
    let mut theirs = cfb::CompoundFile::open(Cursor::new(data)).ok();
    for (path, declared) in streams {
        let mut ours = Vec::new();
        let read = lazy
            .open_stream(&path)
            .and_then(|s| s.take(declared + 1).read_to_end(&mut ours));
        if read.is_err() {
            continue;
        }
        assert_eq!(
            ours.len() as u64,
            declared,
            "{path:?}: not its declared length"
        );
        if let Some(cf) = theirs.as_mut() {
            let mut want = Vec::new();
            if cf
                .open_stream(&path)
                .and_then(|mut s| s.read_to_end(&mut want))
                .is_ok()
            {
                assert_eq!(ours, want, "{path:?}: the readers disagree");
            }
        }
    }
}

//===========================================================================//
// (d) the transform table reader and instance sources

/// The transform reader on arbitrary bytes. A compound file: every storage
/// is read as a transform (its tables with the Property-only schema and,
/// when the file is a database the `msi` crate opens, with its schema),
/// and the file as an instance source (`instances::from_product`).
/// Anything else: `[u16 pool length][pool][u16 data length][data][rows]`
/// through `StringPool::parse` and `decode_rows` for a few table shapes.
pub fn transform(data: &[u8]) {
    use msp_retarget::testkit::transform::{
        ColumnDef, ColumnKind, Schema, StringPool, TableDef, decode_rows, property_changes,
        read_transform_tables,
    };
    if data.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        let Ok(mut cf) = cfb::CompoundFile::open(Cursor::new(data)) else {
            return;
        };
        let storages: Vec<PathBuf> = cf
            .walk()
            .filter(|e| !e.is_stream())
            .map(|e| e.path().to_path_buf())
            .take(64)
            .collect();
        let dir = scratch();
        let path = dir.join("source.msi");
        std::fs::write(&path, data).expect("writing the input");
        // As the tool does: the checks that keep the msi crate's
        // allocations bounded first, then the crate with its panics
        // contained (it unwraps values of malformed tables).
        let schema = msp_retarget::testkit::msi::check_before_msi(&path)
            .ok()
            .and_then(|()| {
                msp_retarget::testkit::contain_panics(|| {
                    msi::Package::open(Cursor::new(data)).map(|p| Schema::from_package(&p))
                })
                .ok()
            })
            .and_then(Result::ok)
            .unwrap_or_else(Schema::property_only);
        for storage in &storages {
            let _ = read_transform_tables(&mut cf, storage, &Schema::property_only());
            let _ = read_transform_tables(&mut cf, storage, &schema);
            let _ = property_changes(&mut cf, storage, &schema);
            editor_round_trip(&mut cf, storage, &schema);
        }
        let _ = msp_retarget::instances::from_product(&path);
        let _ = std::fs::remove_file(&path);
        return;
    }
    let take = |rest: &mut &[u8]| -> Option<Vec<u8>> {
        let (len, tail) = rest.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_le_bytes(*len)).min(tail.len());
        let (head, tail) = tail.split_at(len);
        *rest = tail;
        Some(head.to_vec())
    };
    let mut rest = data;
    let (Some(pool), Some(strings)) = (take(&mut rest), take(&mut rest)) else {
        return;
    };
    let pool_bytes = pool;
    let Ok(pool) = StringPool::parse(&pool_bytes, &strings) else {
        writer_round_trip(&pool_bytes, &strings, &[], rest);
        return;
    };
    for id in 0..pool.len() as u32 + 2 {
        let _ = pool.get(id);
    }
    let tables = [
        TableDef::new(
            "Property",
            vec![
                ColumnDef::new("Property", ColumnKind::String, true),
                ColumnDef::new("Value", ColumnKind::String, false),
            ],
        ),
        TableDef::new(
            "Mixed",
            vec![
                ColumnDef::new("Key", ColumnKind::Int16, true),
                ColumnDef::new("Name", ColumnKind::String, true),
                ColumnDef::new("Size", ColumnKind::Int32, false),
                ColumnDef::new("Data", ColumnKind::Stream, false),
            ],
        ),
        TableDef::new(
            "Wide",
            (0..20)
                .map(|i| ColumnDef::new(format!("C{i}"), ColumnKind::Int16, i == 0))
                .collect(),
        ),
    ];
    for table in &tables {
        let _ = decode_rows(table, rest, &pool);
    }
    writer_round_trip(&pool_bytes, &strings, &tables, rest);
}

/// The writer's codecs on raw streams: a pool `PoolEditor::parse` accepts
/// is written back byte for byte by `to_streams`; rows that
/// `decode_raw_rows` (transform rows) or `decode_db_rows` (database
/// columns) accept encode back to exactly their bytes, with 2- and 3-byte
/// string references.
fn writer_round_trip(
    pool: &[u8],
    strings: &[u8],
    tables: &[msp_retarget::testkit::transform::TableDef],
    rows: &[u8],
) {
    use msp_retarget::testkit::transform::database::{decode_db_rows, encode_db_rows};
    use msp_retarget::testkit::transform::rows::{decode_raw_rows, encode_raw_rows};
    use msp_retarget::testkit::transform::write::PoolEditor;
    if let Ok(editor) = PoolEditor::parse(pool, strings) {
        let (p, d) = editor.to_streams();
        assert!(
            p == pool && d == strings,
            "an unedited pool was not written back as read"
        );
        for id in 0..editor.len() as u32 + 2 {
            let _ = editor.get(id);
        }
    }
    for table in tables {
        for long_refs in [false, true] {
            if let Ok(decoded) = decode_raw_rows(table, rows, long_refs) {
                let encoded = encode_raw_rows(table, &decoded, long_refs)
                    .expect("decoded transform rows encode again");
                assert!(encoded == rows, "transform rows of {} changed", table.name);
            }
            if let Ok(decoded) = decode_db_rows(table, rows, long_refs) {
                let encoded = encode_db_rows(table, &decoded, long_refs)
                    .expect("decoded database rows encode again");
                assert!(encoded == rows, "database rows of {} changed", table.name);
            }
        }
    }
}

/// The transform editor on one storage: when it loads, an edit-free
/// `finish` changes nothing, and one row inserted into `Property` comes
/// out as streams that load again and hold the row.
fn editor_round_trip(
    cf: &mut cfb::CompoundFile<Cursor<&[u8]>>,
    storage: &Path,
    schema: &msp_retarget::testkit::transform::Schema,
) {
    use msp_retarget::testkit::transform::edit::TransformEditor;
    use msp_retarget::testkit::transform::{RowKind, Value};
    let Ok(mut editor) = TransformEditor::load(cf, storage, schema) else {
        return;
    };
    let _ = editor.table_names().count();
    for name in editor.table_names().map(str::to_owned).collect::<Vec<_>>() {
        let _ = editor.rows(&name);
    }
    let unedited = editor.finish().expect("an unedited transform finishes");
    assert!(unedited.is_empty(), "an unedited transform changed");
    let row = [
        Value::Str("MSP_RETARGET_FUZZ".into()),
        Value::Str("1".into()),
    ];
    if editor.insert_row("Property", &row).is_err() {
        return;
    }
    let Ok(out) = editor.finish() else {
        return;
    };
    let (pool, data) = out
        .pool
        .clone()
        .unwrap_or_else(|| editor.pool().to_streams());
    let tables: Vec<(String, Vec<u8>)> = out
        .tables
        .iter()
        .map(|(n, b)| (n.clone(), b.clone()))
        .collect();
    let again = TransformEditor::from_streams(&pool, &data, tables, schema)
        .expect("the streams an edit writes load again");
    let rows = again.rows("Property").expect("the edited Property decodes");
    assert!(
        rows.iter()
            .any(|r| r.kind == RowKind::Insert && r.key.first() == Some(&row[0])),
        "the inserted row is not there"
    );
}

//===========================================================================//
// (e) the in-place edit journal

/// CRC-32 (IEEE), as the journal uses; written here again so that the
/// check does not trust the code it checks.
fn crc32(bytes: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    c ^ 0xFFFF_FFFF
}

const J_HEADER: usize = 40;

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn le64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The records of a journal as the format lays them out, read leniently
/// (no checksum, no rule): `(offset, new bytes, old bytes)`, and the
/// lengths before and after. The oracle of [`journal`].
#[allow(clippy::type_complexity)]
fn journal_records(j: &[u8]) -> (u64, u64, Vec<(u64, Vec<u8>, Vec<u8>)>) {
    let before = le64(j, 16).unwrap_or(0);
    let after = le64(j, 24).unwrap_or(0);
    let mut out = Vec::new();
    let mut at = J_HEADER;
    while j.get(at..at + 4) == Some(b"REC1".as_slice()) {
        let (Some(offset), Some(n), Some(o)) =
            (le64(j, at + 4), le32(j, at + 12), le32(j, at + 16))
        else {
            break;
        };
        let (n, o) = (n as usize, o as usize);
        let data = at + 20;
        let Some(end) = data.checked_add(n).and_then(|e| e.checked_add(o)) else {
            break;
        };
        if end + 4 > j.len() {
            break;
        }
        out.push((
            offset,
            j[data..data + n].to_vec(),
            j[data + n..end].to_vec(),
        ));
        at = end + 4;
    }
    (before, after, out)
}

/// Rewrites every checksum of a journal-shaped input (header, each
/// record whose lengths fit, the whole), so that fuzzing reaches the
/// rules behind them instead of stopping at a CRC.
fn fix_checksums(j: &mut [u8]) {
    if j.len() < J_HEADER {
        return;
    }
    let hc = crc32(&j[..32]);
    j[32..36].copy_from_slice(&hc.to_le_bytes());
    let mut at = J_HEADER;
    loop {
        match j.get(at..at + 4) {
            Some(b"REC1") => {
                let (Some(n), Some(o)) = (le32(j, at + 12), le32(j, at + 16)) else {
                    return;
                };
                let end = at + 20 + n as usize + o as usize;
                if end + 4 > j.len() {
                    return;
                }
                let rc = crc32(&j[at..end]);
                j[end..end + 4].copy_from_slice(&rc.to_le_bytes());
                at = end + 4;
            }
            Some(b"END1") if at + 16 <= j.len() => {
                let total = crc32(&j[..at + 12]);
                j[at + 12..at + 16].copy_from_slice(&total.to_le_bytes());
                return;
            }
            _ => return,
        }
    }
}

/// The patch a journal input is replayed against: `len` bytes of a fixed
/// pattern (the seeds' before-images are of this pattern).
pub fn journal_target(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

const JOURNAL_TARGET_LENS: [usize; 4] = [0, 700, 4096, 9000];

/// `data[0]` chooses: bit 0, rewrite the checksums; bits 1-2, the
/// patch's length ([`JOURNAL_TARGET_LENS`]); bit 3, leave the patch as a
/// crash half-way through the writes would (the length after set, the
/// first half of the records written). `data[1..]` is the journal, put
/// beside the patch.
///
/// Then, whatever the journal: `check_readable` and `recover` never
/// panic and agree (a patch readers accept has a journal `recover`
/// discards); a refused journal leaves the patch and the journal as they
/// were; a discarded one leaves the patch as it was; a completed one is
/// gone and leaves exactly the patch its records describe, grown by no
/// more than the journal's own size.
pub fn journal(data: &[u8]) {
    use msp_retarget::testkit::journal::{Recovery, check_readable, journal_path, recover};
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let mut j = rest.to_vec();
    if ctl & 1 != 0 {
        fix_checksums(&mut j);
    }
    let original = journal_target(JOURNAL_TARGET_LENS[usize::from(ctl >> 1) & 3]);
    let (len_before, len_after, records) = journal_records(&j);
    let mut start = original.clone();
    if ctl & 8 != 0 && len_before == original.len() as u64 && len_after < 1 << 20 {
        // What commit leaves when it stops half-way: the length after,
        // the first half of the records written.
        start.resize(len_after.max(len_before) as usize, 0);
        for (offset, new, _) in records.iter().take(records.len() / 2) {
            let Ok(at) = usize::try_from(*offset) else {
                break;
            };
            if at
                .checked_add(new.len())
                .is_none_or(|end| end > start.len())
            {
                break;
            }
            start[at..at + new.len()].copy_from_slice(new);
        }
    }

    let dir = &scratch();
    for name in names_in(dir) {
        let _ = std::fs::remove_file(dir.join(name));
    }
    let target = dir.join("t.msp");
    std::fs::write(&target, &start).expect("writing the patch");
    let jp = journal_path(&target);
    std::fs::write(&jp, &j).expect("writing the journal");

    let readable = check_readable(&target);
    let result = recover(&target);
    let now = std::fs::read(&target).expect("reading the patch back");
    match &result {
        Err(e) => {
            assert!(
                readable.is_err(),
                "readers accept what recover refuses: {e}"
            );
            assert!(now == start, "a refused journal changed the patch: {e}");
            assert!(
                std::fs::read(&jp).ok().as_deref() == Some(&j[..]),
                "a refused journal was changed or deleted: {e}"
            );
        }
        Ok(Recovery::Discarded) => {
            assert!(
                readable.is_ok(),
                "readers refuse a journal recover discards"
            );
            assert!(now == start, "a discarded journal changed the patch");
            assert!(!jp.exists(), "a discarded journal is still there");
        }
        Ok(Recovery::Completed) => {
            assert!(
                readable.is_err(),
                "readers accept a journal recover replays"
            );
            assert!(!jp.exists(), "a replayed journal is still there");
            assert_eq!(now.len() as u64, len_after, "the length after the replay");
            assert!(
                len_after <= len_before.max(start.len() as u64) + j.len() as u64,
                "a {}-byte journal grew the patch from {} to {len_after} bytes",
                j.len(),
                start.len()
            );
            // Exactly the records, over the patch as it was before the edit.
            let mut want = original.clone();
            want.resize(len_after as usize, 0);
            for (offset, new, _) in &records {
                let at = *offset as usize;
                want[at..at + new.len()].copy_from_slice(new);
            }
            assert!(
                now == want,
                "the replayed patch is not what the records describe"
            );
        }
        Ok(Recovery::Nothing) => panic!("a journal was there, recover found nothing"),
    }
}

//===========================================================================//
// (f) signature

/// `signature::parse_signature_blob` on the input as the bytes of a
/// `\005DigitalSignature` stream: no panic, a non-empty reason when
/// refused, and a signed digest exactly one digest of its algorithm long
/// when accepted. Then the same bytes as the signature stream of a small
/// compound file, with and without `\005MsiDigitalSignatureEx`:
/// `signature::examine` gives a report whose digests are hex of that
/// length (valid or stale), or an error naming the stream; never `None`.
pub fn signature(data: &[u8]) {
    use msp_retarget::testkit::signature::{self, DIGITAL_SIGNATURE, DIGITAL_SIGNATURE_EX};
    use std::io::Write as _;
    match signature::parse_signature_blob(data) {
        Ok((alg, digest)) => assert_eq!(digest.len(), alg.digest_len()),
        Err(why) => assert!(!why.is_empty()),
    }
    for with_ex in [false, true] {
        let Ok(mut cf) =
            cfb::CompoundFile::create_with_version(cfb::Version::V3, Cursor::new(Vec::new()))
        else {
            return;
        };
        let mut put = |name: &str, bytes: &[u8]| {
            cf.create_stream(Path::new("/").join(name))
                .and_then(|mut s| s.write_all(bytes))
                .expect("writing to an in-memory compound file");
        };
        put("content", b"signed content");
        put(DIGITAL_SIGNATURE, data);
        if with_ex {
            put(DIGITAL_SIGNATURE_EX, &[0u8; 32]);
        }
        match signature::examine(&mut cf) {
            Ok(Some(r)) => {
                let hex = 2 * r.digest_algorithm.digest_len();
                assert_eq!(r.signed_digest.len(), hex);
                assert_eq!(r.computed_digest.len(), hex);
                assert_eq!(r.msi_digital_signature_ex, with_ex);
                assert_eq!(
                    r.verdict == signature::Verdict::Valid,
                    r.reason.is_none(),
                    "{r:?}"
                );
            }
            Ok(None) => panic!("a file with a signature stream read as unsigned"),
            Err(e) => assert!(
                e.to_string().contains("\\005DigitalSignature"),
                "an error that does not name the stream: {e}"
            ),
        }
    }
}

//===========================================================================//
// Seeds

/// Named seed inputs of one target.
pub type Seeds = Vec<(String, Vec<u8>)>;

/// Whole-file seeds (for `pipeline` and `layout`): the presets of
/// `msp_retarget::testkit::synth` with small cabinets, below and above the 4 KiB
/// mini-stream cutoff, a signed one, and every file of `extra` folders.
pub fn file_seeds(extra: &[PathBuf]) -> Seeds {
    let mut files = Seeds::new();
    let presets = [
        ("single", PatchSpec::single_product()),
        ("two-products", PatchSpec::two_products()),
        ("two-baselines", PatchSpec::two_baselines()),
    ];
    for (name, spec) in presets {
        for cabinet_len in [100u64, 5000] {
            let spec = PatchSpec {
                cabinet_len,
                ..spec.clone()
            };
            files.push((format!("synth-{name}-{cabinet_len}"), build(&spec)));
        }
    }
    let signed = PatchSpec {
        signed: true,
        cabinet_len: 100,
        ..PatchSpec::single_product()
    };
    files.push(("synth-signed".into(), build(&signed)));
    for dir in extra {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_none_or(|x| x != "md"))
            .collect();
        paths.sort();
        for path in paths {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if let Ok(bytes) = std::fs::read(&path) {
                files.push((format!("file-{name}"), bytes));
            }
        }
    }
    files
}

/// Property-set seeds: every `\005SummaryInformation` stream of `files`
/// behind a few edit selectors (set Template as text, set LastSavedBy as
/// text, set RevisionNumber to an integer, remove Template).
pub fn propset_seeds(files: &Seeds) -> Seeds {
    let mut out = Seeds::new();
    for (name, bytes) in files {
        for (k, stream) in summaries(bytes).into_iter().enumerate() {
            for ctl in [[7u8, 80, 0, 0], [8, 40, 0, 0], [9, 0, 1, 3], [7, 0, 5, 0]] {
                let mut seed = ctl.to_vec();
                seed.extend_from_slice(&stream);
                out.push((format!("{name}-{k}-{}-{}", ctl[0], ctl[2]), seed));
            }
        }
    }
    out
}

/// Transform seeds: the whole files (patches hold transform storages, the
/// corpus has a product with instance transforms and a stand-alone .mst)
/// and two raw pool-and-rows inputs for the non-compound mode of
/// [`transform`].
pub fn transform_seeds(files: &Seeds) -> Seeds {
    let mut out = files.clone();
    // Pool: code page 1252, strings "ProductCode" and a GUID; rows of the
    // Property table: an add (mask 0x0201, two columns) and an update of
    // column 1 (mask 0x0002) and a delete (mask 0).
    let strings: [&[u8]; 2] = [b"ProductCode", b"{11111111-1111-4111-8111-111111111111}"];
    let mut pool = 1252u32.to_le_bytes().to_vec();
    for s in strings {
        pool.extend_from_slice(&(s.len() as u16).to_le_bytes());
        pool.extend_from_slice(&1u16.to_le_bytes());
    }
    let data: Vec<u8> = strings.concat();
    let rows: [u16; 8] = [0x0201, 1, 2, 0x0002, 1, 2, 0x0000, 1];
    let mut seed = Vec::new();
    seed.extend_from_slice(&(pool.len() as u16).to_le_bytes());
    seed.extend_from_slice(&pool);
    seed.extend_from_slice(&(data.len() as u16).to_le_bytes());
    seed.extend_from_slice(&data);
    for r in rows {
        seed.extend_from_slice(&r.to_le_bytes());
    }
    out.push(("raw-property-rows".into(), seed.clone()));
    // The same with the long-reference flag (3-byte string references).
    seed[2 + 3] |= 0x80;
    out.push(("raw-long-refs".into(), seed));
    out
}

/// Journal seeds for [`journal`]: journals of edits of the
/// [`journal_target`] pattern shaped as the commit writes them (in place,
/// two runs, grown, grown from an unaligned end, from an empty file), the
/// shapes that must be refused (no record, a gap before the last record,
/// overlapping records, a length that shrinks), each as written, with its
/// checksums rewritten by the check, half-replayed, and torn.
pub fn journal_seeds() -> Seeds {
    struct Rec(u64, Vec<u8>);
    fn write(len_before: u64, len_after: u64, recs: &[Rec]) -> Vec<u8> {
        let before = journal_target(len_before as usize);
        let mut j = b"MSPRJRNL".to_vec();
        j.extend_from_slice(&1u32.to_le_bytes());
        j.extend_from_slice(&512u32.to_le_bytes());
        j.extend_from_slice(&len_before.to_le_bytes());
        j.extend_from_slice(&len_after.to_le_bytes());
        j.extend_from_slice(&[0; 8]);
        for Rec(offset, new) in recs {
            let at = *offset as usize;
            let old_len = before.len().saturating_sub(at).min(new.len());
            j.extend_from_slice(b"REC1");
            j.extend_from_slice(&offset.to_le_bytes());
            j.extend_from_slice(&(new.len() as u32).to_le_bytes());
            j.extend_from_slice(&(old_len as u32).to_le_bytes());
            j.extend_from_slice(new);
            j.extend_from_slice(&before[at.min(before.len())..at.min(before.len()) + old_len]);
            j.extend_from_slice(&[0; 4]);
        }
        j.extend_from_slice(b"END1");
        j.extend_from_slice(&(recs.len() as u64).to_le_bytes());
        j.extend_from_slice(&[0; 4]);
        fix_checksums(&mut j);
        j
    }
    // `ctl` for a patch of `len` bytes, checksums rewritten or not.
    let ctl = |len: usize, fix: bool, half: bool| -> u8 {
        let k = JOURNAL_TARGET_LENS
            .iter()
            .position(|l| *l == len)
            .unwrap_or(0) as u8;
        (k << 1) | u8::from(fix) | (u8::from(half) << 3)
    };
    let journals: Vec<(&str, usize, Vec<u8>)> = vec![
        (
            "in-place",
            4096,
            write(4096, 4096, &[Rec(512, vec![0xA5; 512])]),
        ),
        (
            "two-runs",
            4096,
            write(
                4096,
                4096,
                &[Rec(0, vec![1; 512]), Rec(2048, vec![2; 1024])],
            ),
        ),
        (
            "grown",
            4096,
            write(4096, 5120, &[Rec(3584, vec![3; 1536])]),
        ),
        (
            "grown-unaligned",
            700,
            write(700, 1600, &[Rec(512, vec![4; 1088])]),
        ),
        ("from-empty", 0, write(0, 1024, &[Rec(0, vec![5; 1024])])),
        ("no-record", 4096, write(4096, 1 << 20, &[])),
        (
            "gap",
            4096,
            write(4096, 1 << 20, &[Rec((1 << 20) - 512, vec![6; 512])]),
        ),
        (
            "overlap",
            9000,
            write(
                9000,
                9000,
                &[Rec(1024, vec![7; 512]), Rec(1024, vec![8; 512])],
            ),
        ),
        ("shrunk", 9000, write(9000, 4096, &[Rec(0, vec![9; 512])])),
    ];
    let mut out = Seeds::new();
    for (name, len, j) in journals {
        for (variant, fix, half) in [
            ("", false, false),
            ("-fix", true, false),
            ("-half", true, true),
        ] {
            let mut seed = vec![ctl(len, fix, half)];
            seed.extend_from_slice(&j);
            out.push((format!("journal-{name}{variant}"), seed));
        }
        // Torn: cut in the middle of the last record.
        let mut torn = vec![ctl(len, false, false)];
        torn.extend_from_slice(&j[..j.len().saturating_sub(20)]);
        out.push((format!("journal-{name}-torn"), torn));
    }
    out
}

/// Signature seeds: fixture signatures (`msp_retarget::testkit::signature::fixture`)
/// with each digest algorithm, the `\005DigitalSignature` stream of every
/// file of `files` that has one, and, when `osslsigncode` and `openssl`
/// are installed (CI installs them), a signature they make with a
/// throwaway certificate (SHA-1 and SHA-256): those carry an X.509
/// certificate, which the fixtures do not.
pub fn signature_seeds(files: &Seeds) -> Seeds {
    use msp_retarget::testkit::signature::{DigestAlgorithm, fixture};
    let mut out = Seeds::new();
    for alg in [
        DigestAlgorithm::Sha1,
        DigestAlgorithm::Sha256,
        DigestAlgorithm::Sha384,
        DigestAlgorithm::Sha512,
    ] {
        let digest = vec![0x5A; alg.digest_len()];
        if let Ok(blob) = fixture::signature_blob(alg, &digest, 1_700_000_000) {
            out.push((format!("fixture-{}", alg.name()), blob));
        }
    }
    for (name, bytes) in files {
        if let Some(blob) = signature_stream(bytes) {
            out.push((format!("{name}-signature"), blob));
        }
    }
    out.extend(osslsigncode_seeds());
    out
}

fn signature_stream(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut cf = cfb::CompoundFile::open(Cursor::new(bytes)).ok()?;
    let mut data = Vec::new();
    cf.open_stream("/\u{5}DigitalSignature")
        .ok()?
        .read_to_end(&mut data)
        .ok()?;
    Some(data)
}

fn osslsigncode_seeds() -> Seeds {
    use std::process::{Command, Stdio};
    let dir = scratch().join("osslsigncode");
    let _ = std::fs::create_dir_all(&dir);
    let quiet = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let mut out = Seeds::new();
    let made = std::fs::write(dir.join("in.msp"), build(&PatchSpec::single_product())).is_ok()
        && quiet(
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
                "/CN=Fuzz Seed",
                "-keyout",
                "key.pem",
                "-out",
                "cert.pem",
            ],
        );
    for hash in ["sha1", "sha256"] {
        let _ = std::fs::remove_file(dir.join("out.msp"));
        let signed = made
            && quiet(
                "osslsigncode",
                &[
                    "sign", "-certs", "cert.pem", "-key", "key.pem", "-h", hash, "-in", "in.msp",
                    "-out", "out.msp",
                ],
            );
        if let Some(blob) = signed
            .then(|| std::fs::read(dir.join("out.msp")).ok())
            .flatten()
            .and_then(|b| signature_stream(&b))
        {
            out.push((format!("osslsigncode-{hash}"), blob));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    out
}

fn build(spec: &PatchSpec) -> Vec<u8> {
    write_patch(spec, Cursor::new(Vec::new()))
        .expect("building a synthetic patch")
        .into_inner()
}

/// Every summary-information stream of a compound file.
fn summaries(bytes: &[u8]) -> Vec<Vec<u8>> {
    let Ok(mut cf) = cfb::CompoundFile::open(Cursor::new(bytes)) else {
        return Vec::new();
    };
    let paths: Vec<PathBuf> = cf
        .walk()
        .filter(|e| e.is_stream() && e.name() == "\u{5}SummaryInformation")
        .map(|e| e.path().to_path_buf())
        .collect();
    paths
        .iter()
        .filter_map(|p| {
            let mut data = Vec::new();
            cf.open_stream(p).ok()?.read_to_end(&mut data).ok()?;
            Some(data)
        })
        .collect()
}

/// Runs every check on one input.
pub fn all(data: &[u8]) {
    propset(data);
    layout(data);
    transform(data);
    signature(data);
    pipeline(data);
    journal(data);
}

//===========================================================================//
// (g) product files

/// Fuzz check `product`: `data` is a whole file given as a product, the
/// way `--package`, `--instances-from` and `inspect` read one:
/// `ProductFacts::from_package`, `ProductFacts::instances_of`,
/// `instances::from_product` and `inspect`. None may panic or allocate
/// past the cap; every error of the first three names the file; facts
/// read whole have a version and a language; the file never changes.
pub fn product(data: &[u8]) {
    use msp_retarget::ProductFacts;
    let dir = scratch();
    let path = dir.join("product.msi");
    std::fs::write(&path, data).expect("writing the input");
    let named = format!("{}: ", path.display());
    let names_file = |what: &str, e: &msp_retarget::Error| {
        let text = e.to_string();
        assert!(
            text.starts_with(&named),
            "{what}: the error does not name the file: {text}"
        );
    };
    match ProductFacts::from_package(&path) {
        Ok(facts) => assert!(
            facts.version.is_some() && facts.language.is_some(),
            "facts without version or language: {}",
            facts.describe()
        ),
        Err(e) => names_file("from_package", &e),
    }
    match ProductFacts::instances_of(&path) {
        Ok(instances) => assert!(!instances.is_empty(), "instances_of gave none"),
        Err(e) => names_file("instances_of", &e),
    }
    if let Err(e) = msp_retarget::instances::from_product(&path) {
        names_file("from_product", &e);
    }
    let _ = msp_retarget::inspect(&path);
    assert!(
        std::fs::read(&path).expect("reading the input back") == data,
        "the product changed"
    );
    let _ = std::fs::remove_file(&path);
}

/// The `instances` target: `instances add` and `instances remove` on a
/// whole file given as a product. Kept apart from [`product`] because
/// writing and re-reading a product costs ten to twenty times what
/// reading it does, and would starve the readers of executions.
pub fn instances(data: &[u8]) {
    let dir = scratch();
    let path = dir.join("product.msi");
    std::fs::write(&path, data).expect("writing the input");
    instances_add(&dir, &path);
    assert!(
        std::fs::read(&path).expect("reading the input back") == data,
        "the product changed"
    );
    let _ = std::fs::remove_file(&path);
}

/// `instances add` of two instances to the product at `path`, written to a new file beside it: a failure names the product
/// and leaves nothing beside it; a success leaves an output that lists
/// the two instances, and `instances remove` of one of them from it ends
/// with one instance or an error naming the output.
fn instances_add(dir: &Path, path: &Path) {
    use msp_retarget::{
        AddOptions, InstancesAddRequest, InstancesRemoveRequest, NewInstanceRequest, instances_add,
        instances_remove,
    };
    let out = dir.join("multi.msi");
    let _ = std::fs::remove_file(&out);
    let before = names_in(dir);
    let req = InstancesAddRequest {
        input: path.to_path_buf(),
        destination: Destination::Output(out.clone()),
        instances: ["FuzzA", "FuzzB"]
            .iter()
            .map(|id| NewInstanceRequest {
                id: (*id).to_owned(),
                product_code: None,
            })
            .collect(),
        options: AddOptions::default(),
        mst_dir: None,
    };
    match instances_add(&req) {
        Err(e) => {
            let text = e.to_string();
            assert!(
                text.starts_with(&format!("{}: ", path.display())),
                "instances add: the error does not name the product: {text}"
            );
            assert!(
                names_in(dir) == before,
                "a failed instances add left a file"
            );
        }
        Ok(_) => {
            let listed = msp_retarget::instances::from_product(&out)
                .expect("the output of instances add re-reads");
            let ids: Vec<String> = listed
                .instances
                .iter()
                .filter_map(|i| i.id.clone())
                .collect();
            for id in ["FuzzA", "FuzzB"] {
                assert!(
                    ids.iter().any(|i| i.eq_ignore_ascii_case(id)),
                    "instance {id} missing from {ids:?}"
                );
            }
            let remove = InstancesRemoveRequest {
                input: out.clone(),
                destination: Destination::InPlace,
                ids: vec!["FuzzA".into()],
                strip_signature: false,
            };
            if let Err(e) = instances_remove(&remove) {
                assert!(
                    e.to_string().starts_with(&format!("{}: ", out.display())),
                    "instances remove: the error does not name the file: {e}"
                );
            }
        }
    }
    let _ = std::fs::remove_file(&out);
}

/// Product seeds for [`product`]: a product database with a Property
/// table (`synth::product_database`), the same with an embedded
/// transform storage, and the whole files (the corpus has products with
/// instance transforms and a stand-alone `.mst`).
pub fn product_seeds(files: &Seeds) -> Seeds {
    let mut out = files.clone();
    let product = msp_retarget::testkit::synth::product_database(&[
        ("ProductCode", "{5F6A1D2E-7C3B-4E8A-9D41-2B7C8E9F0A11}"),
        ("ProductVersion", "1.0.0.0"),
        ("ProductLanguage", "1033"),
        ("UpgradeCode", "{C2E84B19-6A7D-4C3E-B5F1-0D9E8A7B6C33}"),
    ])
    .expect("building a product database");
    out.push(("synth-product".into(), product.clone()));
    // The product's own tables copied into a storage stamped as a
    // transform: the shape of an embedded instance transform.
    let Ok(mut cf) = cfb::CompoundFile::open(Cursor::new(product)) else {
        return out;
    };
    let streams: Vec<PathBuf> = cf
        .read_root_storage()
        .filter(|e| e.is_stream() && !e.name().starts_with('\u{5}'))
        .map(|e| e.path().to_path_buf())
        .collect();
    if cf.create_storage("/Inst1").is_ok()
        && cf
            .set_storage_clsid("/Inst1", msp_retarget::testkit::synth::TRANSFORM_CLSID)
            .is_ok()
    {
        for s in streams {
            let mut bytes = Vec::new();
            if cf
                .open_stream(&s)
                .and_then(|mut r| r.read_to_end(&mut bytes))
                .is_ok()
            {
                let to = Path::new("/Inst1").join(s.file_name().unwrap_or_default());
                let _ = cf
                    .create_stream(&to)
                    .and_then(|mut w| std::io::Write::write_all(&mut w, &bytes));
            }
        }
    }
    if cf.flush().is_ok() {
        out.push((
            "synth-product-embedded".into(),
            cf.into_inner().into_inner(),
        ));
    }
    out
}
