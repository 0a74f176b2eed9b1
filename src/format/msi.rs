//! The guarded entry into the `msi` crate. That crate trusts what a file
//! declares (stream lengths, string lengths, row counts) and can panic or
//! allocate without bound on a hostile file, so every database, transform
//! or patch table read through it goes through [`guarded`]: first the
//! bounded checks of [`check_before_msi`], then the read with the crate's
//! panics contained ([`Panicked`]), named after the table at fault when a
//! bounded look finds it.

use std::fs::File;
use std::path::Path;

use cfb::CompoundFile;

use crate::error::{Error, Result};
use crate::format::container::{self, Storage};
use crate::format::propset::PropertySet;
use crate::format::streamname;
use crate::format::summary::{MAX_SUMMARY_LEN, SUMMARY_STREAM};
use crate::format::transform::{self, ColumnKind, MAX_POOL_LEN, PoolHeader};

/// Runs `read`, which opens the file at `path` with the `msi` crate, after
/// the checks of [`check_before_msi`] and with any panic of the crate
/// contained. The inner result is the checks' or `read`'s; the outer error
/// is a panic of the crate, which the caller words ([`Panicked::error`]).
pub fn guarded<T>(
    path: &Path,
    read: impl FnOnce() -> Result<T>,
) -> std::result::Result<Result<T>, Panicked> {
    if let Err(e) = check_before_msi(path) {
        return Ok(Err(e));
    }
    contained(path, read)
}

/// `read` with any panic of the `msi` crate contained, and the part an
/// error of the crate names taken out of its text; a panic is named after
/// the table at fault in the file at `path` when a bounded look finds it.
fn contained<T>(
    path: &Path,
    read: impl FnOnce() -> Result<T>,
) -> std::result::Result<Result<T>, Panicked> {
    match crate::error::contain_panics(read) {
        Ok(Err(e)) if e.part().is_none() => Ok(Err(match part_named_in(e.reason()) {
            Some(part) => e.at(part),
            None => e,
        })),
        Ok(found) => Ok(found),
        Err(why) => Err(Panicked {
            why,
            part: null_table_name(path).or_else(|| null_column_field(path)),
        }),
    }
}

/// The database the `msi` crate reads from a file already open with the
/// lazy reader: only the streams it reads (the summary information, the
/// string pool, `_Tables`, `_Columns`, `_Validation`) and the `tables`
/// asked for, each bounded, copied into a compound file in memory. The
/// `msi` crate opens files with `cfb`, which reads and checks the whole
/// FAT of the file it is given: a patch's database is a few kilobytes
/// beside a cabinet that can reach gigabytes, so giving it the file
/// would cost as much as the cabinet is large.
pub type Extract = msi::Package<std::io::Cursor<Vec<u8>>>;

/// [`guarded`] for a file already open (`cf`, named `path`): the checks
/// of [`check_before_msi`] on `cf`, then `read` on the database's
/// streams extracted as [`Extract`] says, with any panic of the crate
/// contained. `read` gets the crate's result of opening the extract.
pub fn guarded_in<S: Storage, T>(
    cf: &mut S,
    path: &Path,
    tables: &[&str],
    read: impl FnOnce(std::io::Result<Extract>) -> Result<T>,
) -> std::result::Result<Result<T>, Panicked> {
    if let Err(e) = check_streams(cf) {
        return Ok(Err(e));
    }
    let bytes = match extract(cf, tables) {
        Ok(b) => b,
        Err(e) => return Ok(Err(e)),
    };
    let read = || read(msi::Package::open(std::io::Cursor::new(bytes)));
    contained(path, read)
}

/// The bytes of a compound file holding the root CLSID of `cf` and the
/// streams of its database that the `msi` crate reads, plus `tables`.
fn extract<S: Storage>(cf: &mut S, tables: &[&str]) -> Result<Vec<u8>> {
    use crate::format::transform::{MAX_STRING_DATA_LEN, MAX_TABLE_LEN};
    use std::io::Write;
    let mut wanted: Vec<(String, u64)> = vec![
        (SUMMARY_STREAM.to_string(), MAX_SUMMARY_LEN),
        (streamname::encode("_StringPool", true), MAX_POOL_LEN),
        (streamname::encode("_StringData", true), MAX_STRING_DATA_LEN),
    ];
    for t in ["_Tables", "_Columns", "_Validation"].iter().chain(tables) {
        wanted.push((streamname::encode(t, true), MAX_TABLE_LEN));
    }
    let fail = |e: std::io::Error| Error::io("cannot extract the database", e);
    let mut out =
        cfb::CompoundFile::create_with_version(cfb::Version::V3, std::io::Cursor::new(Vec::new()))
            .map_err(fail)?;
    out.set_storage_clsid("/", cf.root_clsid()).map_err(fail)?;
    for (name, limit) in wanted {
        let path = Path::new("/").join(&name);
        if !Storage::is_stream(cf, &path) {
            continue;
        }
        let bytes = container::read_stream_bounded(cf, &path, limit)?;
        out.create_stream(&path)
            .and_then(|mut s| s.write_all(&bytes))
            .map_err(fail)?;
    }
    out.flush().map_err(fail)?;
    Ok(out.into_inner().into_inner())
}

/// Opens the database at `path` with the `msi` crate: the one place the
/// crate opens a file. Call it only inside the `read` of [`guarded`], which
/// runs the bounded checks first and contains the crate's panics.
pub fn open_package(path: &Path) -> std::io::Result<msi::Package<File>> {
    msi::Package::open(File::open(path)?)
}

/// The part of the database an error of the `msi` crate is about, read
/// from its message: the crate's errors while opening a database name a
/// table only inside the text (`_Columns mentions table ""`, `Repeated key
/// in "_Validation" table`) or not at all (an unknown code page), while
/// this crate's errors name the part apart from the reason.
fn part_named_in(reason: &str) -> Option<String> {
    let quoted = |after: &str| -> Option<String> {
        let rest = &reason[reason.find(after)? + after.len()..];
        let rest = rest.strip_prefix('"')?;
        Some(rest[..rest.find('"')?].to_owned())
    };
    if reason.contains("_Columns mentions table")
        || reason.contains("does not have a complete set of columns")
        || reason.contains("No columns found for table")
    {
        // The crate checks `_Columns` against `_Tables`: the definition
        // at fault is in `_Columns`.
        Some("table _Columns".to_owned())
    } else if reason.contains("codepage for string pool") {
        Some("table _StringPool".to_owned())
    } else if reason.contains("codepage for property set") {
        Some(container::stream_part(&Path::new("/").join(SUMMARY_STREAM)))
    } else if reason.contains("Unrecognized package CLSID") {
        Some("root storage".to_owned())
    } else {
        quoted("Repeated key in ")
            .or_else(|| quoted("Table "))
            .map(|table| format!("table {table}"))
    }
}

/// A panic of the `msi` crate on a file, contained.
#[derive(Debug, Clone)]
pub struct Panicked {
    /// The panic's message.
    pub why: String,
    /// The part of the file at fault, when a bounded look found it.
    pub part: Option<String>,
}

impl Panicked {
    /// The error to report: `what` (for example "cannot read the
    /// installer database"), that the crate failed and why, at the part
    /// at fault when known.
    pub fn error(&self, what: &str) -> Error {
        let e = Error::format(format!("{what}: the msi crate failed: {}", self.why));
        match &self.part {
            Some(part) => e.at(part.clone()),
            None => e,
        }
    }

    /// The same as text without a file name, for a report's problem list.
    pub fn describe(&self) -> String {
        match &self.part {
            Some(part) => format!("the msi crate failed: {} ({part})", self.why),
            None => format!("the msi crate failed: {}", self.why),
        }
    }
}

/// The width of a string reference in the tables of the database whose
/// `_StringPool` is at `pool`, from the pool's header.
fn string_ref_width(cf: &mut CompoundFile<File>, pool: &Path) -> Option<usize> {
    let bytes = container::read_stream_bounded(cf, pool, MAX_POOL_LEN).ok()?;
    let header = PoolHeader::parse(&bytes).ok()?;
    Some(ColumnKind::String.width(header.long_refs))
}

/// The first row of `_Tables` whose name is a null string reference (the
/// `msi` crate unwraps every table name as a string), as a part name;
/// `None` when there is none or the table cannot be read. Reads at most
/// [`MAX_POOL_LEN`] bytes.
fn null_table_name(path: &Path) -> Option<String> {
    let mut cf = container::open(path).ok()?;
    let pool = Path::new("/").join(streamname::encode("_StringPool", true));
    let tables = Path::new("/").join(streamname::encode("_Tables", true));
    let width = string_ref_width(&mut cf, &pool)?;
    let rows = container::read_stream_bounded(&mut cf, &tables, MAX_POOL_LEN).ok()?;
    rows.chunks_exact(width)
        .position(|r| r.iter().all(|&b| b == 0))
        .map(|i| format!("table _Tables, row {} (a table without a name)", i + 1))
}

/// The first row of `_Columns` with a null Table, Number, Name or Type
/// (the `msi` crate unwraps each), as a part name; `None` when there is
/// none or the table cannot be read. `_Columns` is stored a column at a
/// time: every Table reference, then every Number (2 bytes), every Name,
/// every Type (2 bytes). Reads at most [`MAX_POOL_LEN`] bytes.
fn null_column_field(path: &Path) -> Option<String> {
    let mut cf = container::open(path).ok()?;
    let pool = Path::new("/").join(streamname::encode("_StringPool", true));
    let columns = Path::new("/").join(streamname::encode("_Columns", true));
    let width = string_ref_width(&mut cf, &pool)?;
    let bytes = container::read_stream_bounded(&mut cf, &columns, MAX_POOL_LEN).ok()?;
    let rows = bytes.len() / (2 * width + 4);
    let fields = [
        ("Table", 0, width),
        ("Number", rows * width, 2),
        ("Name", rows * (width + 2), width),
        ("Type", rows * (2 * width + 2), 2),
    ];
    (0..rows).find_map(|i| {
        fields.iter().find_map(|&(name, start, size)| {
            let at = start + i * size;
            bytes[at..at + size]
                .iter()
                .all(|&b| b == 0)
                .then(|| format!("table _Columns, row {} (a null {name})", i + 1))
        })
    })
}

/// Checks what the `msi` crate trusts when it opens the database in
/// `path`, so that a hostile file cannot make it allocate without bound:
/// every stream's declared length must fit in the file (the crate sizes
/// its row tables by it), the summary information must pass this crate's
/// property-set parser (which checks every string length against the
/// bytes present; the crate reserves a declared length before reading),
/// and the string lengths declared by `_StringPool` must fit in
/// `_StringData` (the crate allocates each, up to 4 GiB, before reading).
pub fn check_before_msi(path: &Path) -> Result<()> {
    // `open` refuses streams longer than the file.
    let mut cf = container::open(path)?;
    check_streams(&mut cf)
}

/// The checks of [`check_before_msi`] on a file already open (either
/// reader refuses streams longer than the file when it opens it).
fn check_streams<S: Storage>(cf: &mut S) -> Result<()> {
    let summary = Path::new("/").join(SUMMARY_STREAM);
    if Storage::is_stream(cf, &summary) {
        let bytes = container::read_stream_bounded(cf, &summary, MAX_SUMMARY_LEN)?;
        // The crate reads property 0 as a typed value too, where this
        // crate's parser keeps a dictionary as it is: a "string" there
        // must fit as well (a fuzz find: a 1.29 GB reservation).
        PropertySet::parse(&bytes)
            .and_then(|set| set.check_dictionary_as_typed())
            .map_err(|e| Error::from(e).at(container::stream_part(&summary)))?;
    }
    let pool = Path::new("/").join(streamname::encode("_StringPool", true));
    let data = Path::new("/").join(streamname::encode("_StringData", true));
    let (Some(_), Some(data_entry)) = (
        cf.info(&pool).filter(|e| e.is_stream),
        cf.info(&data).filter(|e| e.is_stream),
    ) else {
        return Ok(()); // the msi crate says what is missing
    };
    let data_len = data_entry.len;
    let entries = container::read_stream_bounded(cf, &pool, MAX_POOL_LEN)?;
    // The crate reads whole entries and says only "failed to fill whole
    // buffer" of a cut one, refuses an unknown code page without naming
    // the table, and allocates each declared length before reading: the
    // walk names all three here.
    let (_, walk) = transform::walk_pool(&entries, data_len)
        .map_err(|e| e.at(container::stream_part(&pool)))?;
    for entry in walk {
        entry.map_err(|e| e.at(container::stream_part(&pool)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_of_the_msi_crate_name_their_part() {
        let cases = [
            (
                "x: _Columns mentions table \"\", which isn't in _Tables",
                Some("table _Columns"),
            ),
            (
                "x: Repeated key in \"_Validation\" table: (\"\", \"\")",
                Some("table _Validation"),
            ),
            (
                "x: Table \"Property\" has no column named \"Property\"",
                Some("table Property"),
            ),
            (
                "x: Unknown codepage for string pool (12345)",
                Some("table _StringPool"),
            ),
            ("x: failed to fill whole buffer", None),
        ];
        for (reason, part) in cases {
            assert_eq!(part_named_in(reason).as_deref(), part, "{reason}");
        }
    }
}
