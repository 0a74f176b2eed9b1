use crate::internal::{
    consts, Chain, Sector, SectorInit, Sectors, Validation, Version,
};
use crate::WriteLeNumber;
use std::io::{self, Read, Seek, Write};
use std::mem::size_of;

//===========================================================================//

macro_rules! malformed {
    ($e:expr) => { invalid_data!("Malformed FAT ({})", $e) };
    ($fmt:expr, $($arg:tt)+) => {
        invalid_data!("Malformed FAT ({})", format!($fmt, $($arg)+))
    };
}

//===========================================================================//

/// FATs of at most this many entries are read and checked whole when the
/// file is opened, as upstream cfb does: 256 KiB of FAT (512 FAT sectors of
/// a version-3 file, a 32 MiB file; 64 of version 4, 256 MiB).  The whole
/// check, the one that needs every entry at once (no sector pointed to
/// twice, an 8 KiB bit set) included, costs about a million instructions
/// there, well under a millisecond, and keeps small files (every file the
/// tests edit) allocated exactly as before.  Larger FATs are loaded a FAT
/// sector at a time, as chains and allocations reach them (see `FORK.md`).
pub const WHOLE_FAT_MAX_ENTRIES: usize = 65_536;

/// How many FAT sectors at the end of a large FAT are read when the file is
/// opened, at least, to find free sectors to reuse (see `seed_free_list`).
const MIN_TAIL_PAGES: usize = 8;

/// Reads one whole sector; see `Allocator::read_sector`.
type ReadSector<F> = fn(&mut Sectors<F>, u32, &mut [u8]) -> io::Result<()>;

/// The FAT in memory, a page per FAT sector, in the DIFAT's order.  Every
/// page of a small FAT is present from the start; a page of a large FAT is
/// `None` until something reads it (`Allocator::load_page`).
struct Fat {
    pages: Vec<Option<Box<[u32]>>>,
    /// The number of entries, one per sector of the file.
    len: usize,
    /// log2 of the number of entries per page.
    shift: u32,
}

impl Fat {
    fn entries_per_page(&self) -> usize {
        1 << self.shift
    }

    fn page_of(&self, index: usize) -> usize {
        index >> self.shift
    }

    /// The entry at `index`, if its page is loaded.
    fn get(&self, index: usize) -> Option<u32> {
        let page = self.pages.get(index >> self.shift)?.as_ref()?;
        Some(page[index & (self.entries_per_page() - 1)])
    }

    /// Sets the entry at `index`, whose page must be loaded.
    fn set(&mut self, index: usize, value: u32) {
        let mask = self.entries_per_page() - 1;
        match self.pages.get_mut(index >> self.shift) {
            Some(Some(page)) => page[index & mask] = value,
            _ => unreachable!(
                "FAT entry {} set before its page was read",
                index
            ),
        }
    }

    /// Appends an entry, adding a page when the last one is full.
    fn push(&mut self, value: u32) {
        if self.page_of(self.len) == self.pages.len() {
            let page = vec![consts::FREE_SECTOR; self.entries_per_page()];
            self.pages.push(Some(page.into_boxed_slice()));
        }
        self.len += 1;
        self.set(self.len - 1, value);
    }

    /// Cuts a FAT read whole into pages; entries past its end (in the last
    /// page, or in pages no FAT sector backs) are `FREE_SECTOR`.
    fn from_entries(
        entries: &[u32],
        num_fat_sectors: usize,
        shift: u32,
    ) -> Fat {
        let per_page = 1usize << shift;
        let num_pages = num_fat_sectors.max(entries.len().div_ceil(per_page));
        let pages = (0..num_pages)
            .map(|page| {
                let mut entries: Vec<u32> = entries
                    .iter()
                    .skip(page * per_page)
                    .take(per_page)
                    .copied()
                    .collect();
                entries.resize(per_page, consts::FREE_SECTOR);
                Some(entries.into_boxed_slice())
            })
            .collect();
        Fat { pages, len: entries.len(), shift }
    }
}

/// What a large FAT's pages are checked against as they are read.
struct LazyCheck {
    validation: Validation,
    /// The FAT's length when the file was opened: a page read later is
    /// checked as the whole check would have checked it then, so a link
    /// past the end of the file as it was is refused (or ended) even if the
    /// file has grown since.
    open_len: usize,
    /// The FAT sectors the DIFAT lists, sorted, so that those in a page are
    /// found without going through the whole DIFAT.
    fat_sectors_sorted: Vec<u32>,
    /// How many FAT sectors have been read (for the tests).
    pages_read: usize,
}

/// A wrapper around the sectors of a compound file, providing sector
/// allocation via the FAT and DIFAT.
pub struct Allocator<F> {
    sectors: Sectors<F>,
    difat_sector_ids: Vec<u32>,
    difat: Vec<u32>,
    fat: Fat,
    /// Free sectors other than sector 0, reused last freed first.  For a
    /// small FAT that is every free sector; for a large one, those of the
    /// FAT sectors read on open (`seed_free_list`) and every sector freed
    /// since.
    free_sectors: Vec<u32>,
    /// Whether sector 0 is free.  It is kept out of `free_sectors` and
    /// handed out only as the first sector of a new chain, so that no FAT
    /// entry ever points to sector 0 (see `FORK.md`: a signing tool reads
    /// a next-sector value of 0 as the mark of a corrupt file).
    sector_zero_free: bool,
    /// The sector IDs of the most recently used chain, keyed by its start
    /// sector.  A `Stream` opens its chain anew for every buffer refill,
    /// and walking a long FAT chain from the start each time made reading
    /// or writing a stream of `n` sectors cost `O(n^2)`.  The list is
    /// handed to the next `Chain` opened for the same start sector, which
    /// gives it back when dropped; any FAT change discards it.
    chain_cache: Option<(u32, Vec<u32>)>,
    /// Set when the FAT is loaded lazily.
    lazy: Option<LazyCheck>,
    /// Reads a FAT sector.  A function pointer chosen where `F: Read` is
    /// known (every constructor), so that the chain walks that may need to
    /// read one (`next`, reached from code generic over any `F`) need no
    /// `Read` bound, which would spread to every public impl of the crate.
    read_sector: ReadSector<F>,
}

impl<F> Allocator<F> {
    /// Creates an allocator over a FAT read whole (`fat`), checked whole as
    /// upstream cfb checks it.
    pub fn new(
        sectors: Sectors<F>,
        difat_sector_ids: Vec<u32>,
        difat: Vec<u32>,
        mut fat: Vec<u32>,
        validation: Validation,
    ) -> io::Result<Allocator<F>> {
        validate_whole(
            &mut fat,
            sectors.num_sectors(),
            &difat_sector_ids,
            &difat,
            validation,
        )?;
        let sector_zero_free = fat.first() == Some(&consts::FREE_SECTOR);
        let free_sectors = fat
            .iter()
            .enumerate()
            .skip(1)
            .filter(|&(_, &entry)| entry == consts::FREE_SECTOR)
            .map(|(index, _)| index as u32)
            .collect();
        let shift = fat_shift(sectors.sector_len());
        let fat = Fat::from_entries(&fat, difat.len(), shift);
        Ok(Allocator {
            sectors,
            difat_sector_ids,
            difat,
            fat,
            free_sectors,
            sector_zero_free,
            chain_cache: None,
            lazy: None,
            // Never called: every page of a FAT read whole is in memory.
            read_sector: |_, _, _| {
                Err(io::Error::other("no FAT sector to read"))
            },
        })
    }
}

impl<F: Read + Seek> Allocator<F> {
    /// Reads the FAT of a file being opened, whose DIFAT has been read, and
    /// creates the allocator over it.  A FAT of at most `max_whole_entries`
    /// entries (`WHOLE_FAT_MAX_ENTRIES`), or one whose FAT sectors do not
    /// cover the file's sectors exactly, is read and checked whole, as
    /// upstream cfb does; a larger one is read a FAT sector at a time, as
    /// it is used, each checked as it is read.
    pub fn open(
        mut sectors: Sectors<F>,
        difat_sector_ids: Vec<u32>,
        difat: Vec<u32>,
        validation: Validation,
        max_whole_entries: usize,
    ) -> io::Result<Allocator<F>> {
        let num_sectors = sectors.num_sectors();
        let sector_len = sectors.sector_len();
        let entries_per_sector = sector_len / size_of::<u32>();
        let lazy = difat.len() * entries_per_sector > max_whole_entries
            && difat.len()
                == (num_sectors as usize).div_ceil(entries_per_sector);
        if lazy {
            return Allocator::open_lazy(
                sectors,
                difat_sector_ids,
                difat,
                validation,
            );
        }

        // Read in FAT, a whole sector at a time.
        let mut sector_buf = vec![0u8; sector_len];
        let mut fat = Vec::<u32>::new();
        for &sector_index in difat.iter() {
            if sector_index >= num_sectors {
                invalid_data!(
                    "DIFAT refers to sector {}, but sector count is only {}",
                    sector_index,
                    num_sectors
                );
            }
            sectors
                .seek_to_sector(sector_index)?
                .read_exact(&mut sector_buf)?;
            fat.extend(crate::le_u32s(&sector_buf));
        }
        // If the number of sectors in the file is not a multiple of the number
        // of FAT entries per sector, then the last FAT sector must be padded
        // with FREE_SECTOR entries (see MS-CFB section 2.3).  However, some
        // CFB implementations incorrectly pad the last FAT sector with zeros
        // (see https://github.com/mdsteele/rust-cfb/issues/8), so we allow
        // this under Permissive validation.  Since zero is normally a
        // meaningful FAT entry (referring to sector 0), we only want to strip
        // zeros from the end of the FAT if they are beyond the number of
        // sectors in the file.
        // Files have been seen with erroneous other types of sectors beyond
        // EOF, so strip those as well.
        if !validation.is_strict() {
            while fat.len() > num_sectors as usize {
                if fat.last().copied().is_some_and(strippable_when_permissive)
                {
                    fat.pop();
                } else {
                    break;
                }
            }
        }
        // Strip FREE_SECTOR entries from the end of the FAT.
        while fat.len() > num_sectors as usize
            && fat.last() == Some(&consts::FREE_SECTOR)
        {
            fat.pop();
        }
        while fat.len() < num_sectors as usize {
            fat.push(consts::FREE_SECTOR);
        }
        Allocator::new(sectors, difat_sector_ids, difat, fat, validation)
    }

    /// `open` for a large FAT whose FAT sectors cover exactly the file's
    /// sectors: only the last FAT sectors are read (`seed_free_list`).
    fn open_lazy(
        sectors: Sectors<F>,
        difat_sector_ids: Vec<u32>,
        difat: Vec<u32>,
        validation: Validation,
    ) -> io::Result<Allocator<F>> {
        let num_sectors = sectors.num_sectors();
        for &sector_index in difat.iter() {
            if sector_index >= num_sectors {
                invalid_data!(
                    "DIFAT refers to sector {}, but sector count is only {}",
                    sector_index,
                    num_sectors
                );
            }
        }
        let mut fat_sectors_sorted = difat.clone();
        fat_sectors_sorted.sort_unstable();
        let shift = fat_shift(sectors.sector_len());
        let fat = Fat {
            pages: vec![None; difat.len()],
            len: num_sectors as usize,
            shift,
        };
        let mut alloc = Allocator {
            sectors,
            difat_sector_ids,
            difat,
            fat,
            free_sectors: Vec::new(),
            sector_zero_free: false,
            chain_cache: None,
            lazy: Some(LazyCheck {
                validation,
                open_len: num_sectors as usize,
                fat_sectors_sorted,
                pages_read: 0,
            }),
            read_sector: Self::read_sector,
        };
        alloc.seed_free_list()?;
        Ok(alloc)
    }

    fn read_sector(
        sectors: &mut Sectors<F>,
        sector_id: u32,
        buf: &mut [u8],
    ) -> io::Result<()> {
        sectors.seek_to_sector(sector_id)?.read_exact(buf)
    }
}

impl<F> Allocator<F> {
    pub fn version(&self) -> Version {
        self.sectors.version()
    }

    pub fn inner(&self) -> &F {
        self.sectors.inner()
    }

    pub fn sector_len(&self) -> usize {
        self.sectors.sector_len()
    }

    /// The whole FAT, every page read.
    #[cfg(test)]
    pub(crate) fn fat_entries(&mut self) -> Vec<u32> {
        (0..self.fat.len).map(|index| self.entry(index).unwrap()).collect()
    }

    /// Checks the FAT in memory whole, as a strict open would.
    #[cfg(test)]
    fn validate_strict(&mut self) -> io::Result<()> {
        let mut fat = self.fat_entries();
        validate_whole(
            &mut fat,
            self.sectors.num_sectors(),
            &self.difat_sector_ids,
            &self.difat,
            Validation::Strict,
        )
    }

    /// The number of FAT sectors read so far, for a lazily loaded FAT.
    #[cfg(test)]
    pub(crate) fn fat_sectors_read(&self) -> Option<usize> {
        self.lazy.as_ref().map(|lazy| lazy.pages_read)
    }

    pub fn next(&mut self, sector_id: u32) -> io::Result<u32> {
        let index = sector_id as usize;
        if index >= self.fat.len {
            invalid_data!(
                "Found reference to sector {}, but FAT has only {} entries",
                index,
                self.fat.len
            );
        }
        let next_id = self.entry(index)?;
        if next_id != consts::END_OF_CHAIN
            && (next_id > consts::MAX_REGULAR_SECTOR
                || next_id as usize >= self.fat.len)
        {
            invalid_data!("next_id ({}) is invalid", next_id);
        }
        Ok(next_id)
    }

    /// The FAT entry at `index` (which must be below the FAT's length),
    /// reading its FAT sector first if need be.
    fn entry(&mut self, index: usize) -> io::Result<u32> {
        if let Some(entry) = self.fat.get(index) {
            return Ok(entry);
        }
        self.load_page(self.fat.page_of(index))?;
        Ok(self.fat.get(index).unwrap_or(consts::FREE_SECTOR))
    }

    /// Sets the in-memory FAT entry at `index` (below the FAT's length),
    /// reading its FAT sector first if need be.
    fn set_entry(&mut self, index: usize, value: u32) -> io::Result<()> {
        self.ensure_page(self.fat.page_of(index))?;
        self.fat.set(index, value);
        Ok(())
    }

    /// Reads page `page` of the FAT if it exists and is not in memory yet.
    fn ensure_page(&mut self, page: usize) -> io::Result<()> {
        if matches!(self.fat.pages.get(page), Some(None)) {
            self.load_page(page)?;
        }
        Ok(())
    }

    /// Reads page `page` of a large FAT (its FAT sector) and checks it as
    /// `validate_whole` checks every entry: the FAT and DIFAT sectors in it
    /// marked as such (strict) or marked now (permissive), links past the
    /// end of the file refused (strict) or ended (permissive), no
    /// `INVALID_SECTOR`.  Not checked, because it needs the whole FAT: that
    /// no sector is pointed to twice; `Chain::new` refuses a chain that runs
    /// into itself instead.
    fn load_page(&mut self, page: usize) -> io::Result<()> {
        let buf = self.read_fat_sector(page)?;
        self.install_page(page, &buf)
    }

    /// Reads the FAT sector of page `page`, as it is in the file.
    fn read_fat_sector(&mut self, page: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; self.sectors.sector_len()];
        (self.read_sector)(&mut self.sectors, self.difat[page], &mut buf)?;
        if let Some(lazy) = self.lazy.as_mut() {
            lazy.pages_read += 1;
        }
        Ok(buf)
    }

    /// Checks page `page`, read from the file into `buf` (see `load_page`),
    /// and keeps it.
    fn install_page(&mut self, page: usize, buf: &[u8]) -> io::Result<()> {
        let Some(lazy) = self.lazy.as_ref() else {
            unreachable!("a FAT read whole has every page in memory");
        };
        let mut entries: Box<[u32]> = crate::le_u32s(buf).collect();
        let first = page << self.fat.shift;
        let end = first + entries.len();
        let strict = lazy.validation.is_strict();
        for &difat_sector in self.difat_sector_ids.iter() {
            let index = difat_sector as usize;
            if (first..end).contains(&index) {
                let entry = &mut entries[index - first];
                if *entry != consts::DIFAT_SECTOR && strict {
                    malformed!(
                        "DIFAT sector {} is not marked as such in the FAT",
                        difat_sector
                    );
                }
                *entry = consts::DIFAT_SECTOR;
            }
        }
        let sorted = &lazy.fat_sectors_sorted;
        let from = sorted.partition_point(|&id| (id as usize) < first);
        for &fat_sector in sorted[from..].iter() {
            let index = fat_sector as usize;
            if index >= end {
                break;
            }
            let entry = &mut entries[index - first];
            if *entry != consts::FAT_SECTOR && strict {
                malformed!(
                    "FAT sector {} is not marked as such in the FAT",
                    fat_sector
                );
            }
            *entry = consts::FAT_SECTOR;
        }
        let open_len = lazy.open_len;
        for (offset, entry) in entries.iter_mut().enumerate() {
            let from_sector = first + offset;
            if from_sector >= open_len {
                break;
            }
            let to_sector = *entry;
            if to_sector <= consts::MAX_REGULAR_SECTOR {
                if to_sector as usize >= open_len {
                    if strict {
                        malformed!(
                            "FAT has {} entries, but sector {} points to {}",
                            open_len,
                            from_sector,
                            to_sector
                        );
                    }
                    *entry = consts::END_OF_CHAIN;
                }
            } else if to_sector == consts::INVALID_SECTOR {
                malformed!("0x{:08X} is not a valid FAT entry", to_sector);
            }
        }
        self.fat.pages[page] = Some(entries);
        Ok(())
    }

    /// Reads the last FAT sectors of a large FAT when the file is opened:
    /// the last one, to check that no entry past the end of the file is in
    /// use (as the whole read does), and the ones before it, to find free
    /// sectors to reuse before the file grows.  At least `MIN_TAIL_PAGES`,
    /// and on backwards while the page just read is at least a quarter
    /// free: what an edit frees, the next edit of the file finds again, so
    /// repeated edits that add and remove streams reuse the same sectors
    /// (sectors freed nearer the start of the file stay unused, as they
    /// would be in any file cfb never reads the FAT of).  Free sectors are
    /// reused highest first, as with a FAT read whole.
    fn seed_free_list(&mut self) -> io::Result<()> {
        let num_pages = self.fat.pages.len();
        let per_page = self.fat.entries_per_page();
        let len = self.fat.len;
        let Some(lazy) = self.lazy.as_ref() else {
            return Ok(());
        };
        let validation = lazy.validation;
        let mut lowest = num_pages;
        while lowest > 0 {
            let page = lowest - 1;
            let first = page * per_page;
            let buf = self.read_fat_sector(page)?;
            if page + 1 == num_pages {
                // The entries past the end of the file must be unused, as
                // the whole read's stripping and length check require.
                let raw: Vec<u32> = crate::le_u32s(&buf).collect();
                let past_end = raw.iter().enumerate().skip(len - first);
                if let Some((offset, _)) = past_end.rev().find(|&(_, &e)| {
                    !(e == consts::FREE_SECTOR
                        || (!validation.is_strict()
                            && strippable_when_permissive(e)))
                }) {
                    malformed!(
                        "FAT has {} entries, but file has only {} sectors",
                        first + offset + 1,
                        len
                    );
                }
            }
            self.install_page(page, &buf)?;
            lowest = page;
            let end = (first + per_page).min(len);
            let free = (first..end)
                .filter(|&index| {
                    self.fat.get(index) == Some(consts::FREE_SECTOR)
                })
                .count();
            if num_pages - page >= MIN_TAIL_PAGES && free * 4 < per_page {
                break;
            }
        }
        let first = lowest * per_page;
        self.sector_zero_free =
            first == 0 && self.fat.get(0) == Some(consts::FREE_SECTOR);
        self.free_sectors = (first.max(1)..len)
            .filter(|&index| self.fat.get(index) == Some(consts::FREE_SECTOR))
            .map(|index| index as u32)
            .collect();
        Ok(())
    }

    pub fn into_inner(self) -> F {
        self.sectors.into_inner()
    }

    pub fn open_chain(
        &mut self,
        start_sector_id: u32,
        init: SectorInit,
    ) -> io::Result<Chain<'_, F>> {
        match self.chain_cache.take() {
            Some((cached_start, sector_ids))
                if cached_start == start_sector_id =>
            {
                Ok(Chain::from_sector_ids(self, sector_ids, init))
            }
            _ => Chain::new(self, start_sector_id, init),
        }
    }

    /// Remembers the sector IDs of the chain starting at `start_sector_id`
    /// so that the next `open_chain` for it need not walk the FAT again.
    /// The IDs must reflect the current FAT.
    pub(crate) fn cache_chain(
        &mut self,
        start_sector_id: u32,
        sector_ids: Vec<u32>,
    ) {
        debug_assert_eq!(sector_ids.first(), Some(&start_sector_id));
        self.chain_cache = Some((start_sector_id, sector_ids));
    }
}

/// Entries that permissive reading strips from the end of a FAT past the
/// end of the file, besides `FREE_SECTOR`.
fn strippable_when_permissive(entry: u32) -> bool {
    entry == 0
        || entry == consts::DIFAT_SECTOR
        || entry == consts::FAT_SECTOR
        || entry == consts::FREE_SECTOR
}

/// log2 of the number of FAT entries in a sector of `sector_len` bytes.
fn fat_shift(sector_len: usize) -> u32 {
    (sector_len / size_of::<u32>()).trailing_zeros()
}

/// Checks a FAT read whole, as upstream cfb does when it opens a file, and
/// marks its FAT and DIFAT sectors (permissive).
fn validate_whole(
    fat: &mut [u32],
    num_sectors: u32,
    difat_sector_ids: &[u32],
    difat: &[u32],
    validation: Validation,
) -> io::Result<()> {
    if fat.len() > num_sectors as usize {
        malformed!(
            "FAT has {} entries, but file has only {} sectors",
            fat.len(),
            num_sectors
        );
    }
    for &difat_sector in difat_sector_ids.iter() {
        let difat_sector_index = difat_sector as usize;
        let fat_len = fat.len();
        let Some(sector) = fat.get_mut(difat_sector_index) else {
            malformed!(
                "FAT has {} entries, but DIFAT lists {} as a DIFAT sector",
                fat_len,
                difat_sector
            );
        };
        if *sector != consts::DIFAT_SECTOR && validation.is_strict() {
            malformed!(
                "DIFAT sector {} is not marked as such in the FAT",
                difat_sector
            );
        }
        *sector = consts::DIFAT_SECTOR;
    }
    for &fat_sector in difat.iter() {
        let fat_sector_index = fat_sector as usize;
        let fat_len = fat.len();
        let Some(sector) = fat.get_mut(fat_sector_index) else {
            malformed!(
                "FAT has {} entries, but DIFAT lists {} as a FAT sector",
                fat_len,
                fat_sector
            );
        };
        if *sector != consts::FAT_SECTOR && validation.is_strict() {
            malformed!(
                "FAT sector {} is not marked as such in the FAT",
                fat_sector
            );
        }
        *sector = consts::FAT_SECTOR;
    }
    // One bit per FAT entry (a hash set of up to millions of sector ids
    // cost most of an open of a large file, and 32 times the memory).
    let mut pointees = vec![0u64; fat.len().div_ceil(64)];
    for from_sector in 0..fat.len() {
        let to_sector = fat[from_sector];
        if to_sector <= consts::MAX_REGULAR_SECTOR {
            if to_sector as usize >= fat.len() {
                if validation.is_strict() {
                    malformed!(
                        "FAT has {} entries, but sector {} points to {}",
                        fat.len(),
                        from_sector,
                        to_sector
                    );
                }
                // End the chain here instead, so that only a chain
                // that actually runs through this sector is affected
                // (it gets truncated), rather than the whole file.
                fat[from_sector] = consts::END_OF_CHAIN;
                continue;
            }
            let (word, bit) =
                (to_sector as usize / 64, 1u64 << (to_sector % 64));
            if pointees[word] & bit != 0 {
                malformed!("sector {} pointed to twice", to_sector);
            }
            pointees[word] |= bit;
        } else if to_sector == consts::INVALID_SECTOR {
            malformed!("0x{:08X} is not a valid FAT entry", to_sector);
        }
    }
    Ok(())
}

impl<F: Read + Seek> Allocator<F> {
    /// Reads from `offset_within_sector` bytes into sector `sector_id` and
    /// on through the sectors after it in the file; see
    /// `Sectors::read_contiguous`.
    pub fn read_contiguous(
        &mut self,
        sector_id: u32,
        offset_within_sector: u64,
        buf: &mut [u8],
    ) -> io::Result<usize> {
        self.sectors.read_contiguous(sector_id, offset_within_sector, buf)
    }
}

impl<F: Seek> Allocator<F> {
    pub fn seek_within_header(
        &mut self,
        offset_within_header: u64,
    ) -> io::Result<Sector<'_, F>> {
        self.sectors.seek_within_header(offset_within_header)
    }

    pub fn seek_to_sector(
        &mut self,
        sector_id: u32,
    ) -> io::Result<Sector<'_, F>> {
        self.sectors.seek_to_sector(sector_id)
    }

    pub fn seek_within_sector(
        &mut self,
        sector_id: u32,
        offset_within_sector: u64,
    ) -> io::Result<Sector<'_, F>> {
        self.sectors.seek_within_sector(sector_id, offset_within_sector)
    }

    pub fn seek_within_subsector(
        &mut self,
        sector_id: u32,
        subsector_index_within_sector: u32,
        subsector_len: usize,
        offset_within_subsector: u64,
    ) -> io::Result<Sector<'_, F>> {
        let subsector_start =
            subsector_index_within_sector as usize * subsector_len;
        let offset_within_sector =
            subsector_start as u64 + offset_within_subsector;
        let sector = self
            .sectors
            .seek_within_sector(sector_id, offset_within_sector)?;
        Ok(sector.subsector(subsector_start, subsector_len))
    }
}

impl<F: Write + Seek> Allocator<F> {
    /// Allocates a new chain with one sector, and returns the starting sector
    /// number.
    pub fn begin_chain(&mut self, init: SectorInit) -> io::Result<u32> {
        self.allocate_sector(init, true)
    }

    /// Given the starting sector (or any internal sector) of a chain, extends
    /// the end of that chain by one sector and returns the new sector number,
    /// updating the FAT as necessary.
    pub fn extend_chain(
        &mut self,
        start_sector_id: u32,
        init: SectorInit,
    ) -> io::Result<u32> {
        debug_assert_ne!(start_sector_id, consts::END_OF_CHAIN);
        let mut last_sector_id = start_sector_id;
        // A chain has at most one sector per FAT entry: more means a loop.
        let mut steps = 0;
        loop {
            let next = self.next(last_sector_id)?;
            if next == consts::END_OF_CHAIN {
                break;
            }
            steps += 1;
            if steps > self.fat.len {
                invalid_data!("Chain contained duplicate sector id {}", next);
            }
            last_sector_id = next;
        }
        let new_sector_id = self.allocate_sector(init, false)?;
        self.set_fat(last_sector_id, new_sector_id)?;
        Ok(new_sector_id)
    }

    /// Writes `buf` starting `offset_within_sector` bytes into sector
    /// `sector_id` and on through the sectors after it in the file; see
    /// `Sectors::write_contiguous`.
    pub fn write_contiguous(
        &mut self,
        sector_id: u32,
        offset_within_sector: u64,
        buf: &[u8],
    ) -> io::Result<usize> {
        self.sectors.write_contiguous(sector_id, offset_within_sector, buf)
    }

    /// Adds `count` sectors to the end of the chain whose last sector is
    /// `last_sector_id` (or starts a new chain, if that is `END_OF_CHAIN`),
    /// and returns their IDs in chain order.  The first `uninit` of them are
    /// not initialized, because the caller is about to overwrite them
    /// completely; the rest are initialized with `init`.
    ///
    /// Doing this for a whole write at once, rather than a sector at a
    /// time, lets the FAT entries of consecutive sectors be written
    /// together.
    pub fn extend_chain_by(
        &mut self,
        last_sector_id: u32,
        count: usize,
        init: SectorInit,
        uninit: usize,
    ) -> io::Result<Vec<u32>> {
        debug_assert!(
            last_sector_id == consts::END_OF_CHAIN
                || self.fat.get(last_sector_id as usize)
                    == Some(consts::END_OF_CHAIN)
        );
        let mut sector_ids = Vec::with_capacity(count);
        for index in 0..count {
            let chain_start =
                index == 0 && last_sector_id == consts::END_OF_CHAIN;
            let sector_id = self.take_sector_id(chain_start)?;
            if index < uninit {
                if sector_id as usize == self.fat.len - 1
                    && sector_id == self.sectors.num_sectors()
                {
                    self.sectors.reserve_sector(sector_id);
                }
            } else {
                self.sectors.init_sector(sector_id, init)?;
            }
            sector_ids.push(sector_id);
        }
        // Link the new sectors up, writing the FAT entries of each run of
        // consecutive sector IDs in one go.
        let mut start = 0;
        while start < sector_ids.len() {
            let mut end = start + 1;
            while end < sector_ids.len()
                && sector_ids[end] == sector_ids[end - 1] + 1
            {
                end += 1;
            }
            let values: Vec<u32> = (start..end)
                .map(|i| {
                    sector_ids
                        .get(i + 1)
                        .copied()
                        .unwrap_or(consts::END_OF_CHAIN)
                })
                .collect();
            self.set_fat_run(sector_ids[start], &values)?;
            start = end;
        }
        if last_sector_id != consts::END_OF_CHAIN && count > 0 {
            self.set_fat(last_sector_id, sector_ids[0])?;
        }
        Ok(sector_ids)
    }

    /// Allocates a new entry in the FAT, sets its value to `END_OF_CHAIN`, and
    /// returns the new sector number.
    fn allocate_sector(
        &mut self,
        init: SectorInit,
        chain_start: bool,
    ) -> io::Result<u32> {
        let sector_id = self.take_sector_id(chain_start)?;
        self.set_fat(sector_id, consts::END_OF_CHAIN)?;
        self.sectors.init_sector(sector_id, init)?;
        Ok(sector_id)
    }

    /// Picks the sector ID for a new sector: a free one if there is one,
    /// otherwise the one past the end of the file (adding a FAT sector
    /// first if the FAT is full).  Its FAT entry is set to `END_OF_CHAIN`
    /// in memory only; the caller writes the entry, and initializes the
    /// sector.  Sector 0 is taken only for the first sector of a new chain
    /// (`chain_start`), so that no other sector is ever linked to it.
    fn take_sector_id(&mut self, chain_start: bool) -> io::Result<u32> {
        if chain_start && self.sector_zero_free {
            self.sector_zero_free = false;
            self.set_entry(0, consts::END_OF_CHAIN)?;
            return Ok(0);
        }
        if let Some(sector_id) = self.free_sectors.pop() {
            self.set_entry(sector_id as usize, consts::END_OF_CHAIN)?;
            return Ok(sector_id);
        }
        if self.fat.len % self.fat.entries_per_page() == 0 {
            self.append_fat_sector()?;
        }
        let new_sector = self.fat.len as u32;
        self.fat.push(consts::END_OF_CHAIN);
        Ok(new_sector)
    }

    /// Sets `self.fat[index..index + values.len()] = values`, and also writes
    /// that change to the underlying file, one write per FAT sector
    /// touched.  The entries must already exist.
    fn set_fat_run(&mut self, index: u32, values: &[u32]) -> io::Result<()> {
        let fat_entries_per_sector =
            self.sectors.sector_len() / size_of::<u32>();
        let mut done = 0;
        while done < values.len() {
            let fat_index = index as usize + done;
            let index_within_sector = fat_index % fat_entries_per_sector;
            let count = (fat_entries_per_sector - index_within_sector)
                .min(values.len() - done);
            let mut bytes = Vec::with_capacity(count * size_of::<u32>());
            for &value in &values[done..done + count] {
                bytes.extend_from_slice(&value.to_le_bytes());
            }
            let fat_sector_id =
                self.fat_sector_of(fat_index / fat_entries_per_sector)?;
            let mut sector = self.sectors.seek_within_sector(
                fat_sector_id,
                (index_within_sector * size_of::<u32>()) as u64,
            )?;
            sector.write_all(&bytes)?;
            for (offset, &value) in
                values[done..done + count].iter().enumerate()
            {
                self.fat.set(fat_index + offset, value);
            }
            done += count;
        }
        Ok(())
    }

    /// Adds a new sector to the FAT chain at the end of the file, and updates
    /// the FAT and DIFAT accordingly.
    fn append_fat_sector(&mut self) -> io::Result<()> {
        // Add a new FAT sector to the end of the file.
        let new_fat_sector_id = self.fat.len as u32;
        self.sectors.init_sector(new_fat_sector_id, SectorInit::Fat)?;

        // Record this new FAT sector in the DIFAT and in the FAT itself.
        let difat_index = self.difat.len();
        self.difat.push(new_fat_sector_id);
        self.set_fat(new_fat_sector_id, consts::FAT_SECTOR)?;
        debug_assert_eq!(self.fat.len, new_fat_sector_id as usize + 1);

        // Write DIFAT changes to file.
        if difat_index < consts::NUM_DIFAT_ENTRIES_IN_HEADER {
            // This DIFAT entry goes in the file header.
            let offset = 76 + 4 * difat_index as u64;
            let mut header = self.sectors.seek_within_header(offset)?;
            header.write_le_u32(new_fat_sector_id)?;
        } else {
            // This DIFAT entry goes in a DIFAT sector.
            let difat_entries_per_sector = (self.sector_len() - 4) / 4;
            let difat_sector_index = (difat_index
                - consts::NUM_DIFAT_ENTRIES_IN_HEADER)
                / difat_entries_per_sector;
            if difat_sector_index >= self.difat_sector_ids.len() {
                // Add a new DIFAT sector to the end of the file.
                let new_difat_sector_id = self.fat.len as u32;
                self.sectors
                    .init_sector(new_difat_sector_id, SectorInit::Difat)?;
                // Record this new DIFAT sector in the FAT.
                self.set_fat(new_difat_sector_id, consts::DIFAT_SECTOR)?;
                // Add this sector to the end of the DIFAT chain.
                if let Some(&last_sector_id) = self.difat_sector_ids.last() {
                    let offset = self.sector_len() as u64 - 4;
                    let mut sector = self
                        .sectors
                        .seek_within_sector(last_sector_id, offset)?;
                    sector.write_le_u32(new_difat_sector_id)?;
                }
                self.difat_sector_ids.push(new_difat_sector_id);
                // Update DIFAT chain fields in header.
                let mut header = self.sectors.seek_within_header(68)?;
                header.write_le_u32(self.difat_sector_ids[0])?;
                header.write_le_u32(self.difat_sector_ids.len() as u32)?;
            }
            // Write the new entry into the DIFAT sector.
            let difat_sector_id = self.difat_sector_ids[difat_sector_index];
            let index_within_difat_sector = difat_index
                - consts::NUM_DIFAT_ENTRIES_IN_HEADER
                - difat_sector_index * difat_entries_per_sector;
            let mut sector = self.sectors.seek_within_sector(
                difat_sector_id,
                4 * index_within_difat_sector as u64,
            )?;
            sector.write_le_u32(new_fat_sector_id)?;
        }

        // Update length of FAT chain in header.
        let mut header = self.sectors.seek_within_header(44)?;
        header.write_le_u32(self.difat.len() as u32)?;
        Ok(())
    }

    /// Sets the given sector to point to `END_OF_CHAIN`, and deallocates all
    /// subsequent sectors in the chain.
    pub fn free_chain_after(&mut self, sector_id: u32) -> io::Result<()> {
        let next = self.next(sector_id)?;
        self.set_fat(sector_id, consts::END_OF_CHAIN)?;
        self.free_chain(next)?;
        Ok(())
    }

    /// Given the start sector of a chain, deallocates the entire chain.
    pub fn free_chain(&mut self, start_sector_id: u32) -> io::Result<()> {
        let mut sector_id = start_sector_id;
        while sector_id != consts::END_OF_CHAIN {
            let next = self.next(sector_id)?;
            self.free_sector(sector_id)?;
            sector_id = next;
        }
        Ok(())
    }

    /// Deallocates the specified sector.
    fn free_sector(&mut self, sector_id: u32) -> io::Result<()> {
        if (sector_id as usize) < self.fat.len
            && self.entry(sector_id as usize)? == consts::FREE_SECTOR
        {
            invalid_input!("sector {} freed twice", sector_id);
        }
        self.set_fat(sector_id, consts::FREE_SECTOR)?;
        if sector_id == 0 {
            self.sector_zero_free = true;
        } else {
            self.free_sectors.push(sector_id);
        }
        // TODO: Truncate FAT if last FAT sector is now all free.
        Ok(())
    }

    /// Sets FAT entry `index` to `value`, and also writes that change to
    /// the underlying file.  The `index` must be <= the FAT's length.
    fn set_fat(&mut self, index: u32, value: u32) -> io::Result<()> {
        self.chain_cache = None;
        let index = index as usize;
        debug_assert!(index <= self.fat.len);
        let fat_entries_per_sector = self.fat.entries_per_page();
        let page = index / fat_entries_per_sector;
        let fat_sector_id = self.fat_sector_of(page)?;
        let offset_within_sector = 4 * (index % fat_entries_per_sector) as u64;
        let mut sector = self
            .sectors
            .seek_within_sector(fat_sector_id, offset_within_sector)?;
        sector.write_le_u32(value)?;
        if index == self.fat.len {
            self.fat.push(value);
        } else {
            self.fat.set(index, value);
        }
        Ok(())
    }

    /// The FAT sector holding page `page` of the FAT, read into memory
    /// first if it is not yet, so that it is checked as read from the file
    /// before anything in it changes.
    fn fat_sector_of(&mut self, page: usize) -> io::Result<u32> {
        let Some(&fat_sector_id) = self.difat.get(page) else {
            // Only a file whose FAT sectors cover fewer sectors than it has
            // gets here (permissive), when a sector past them is used.
            malformed!(
                "FAT has {} sectors, but sector {} needs FAT sector {}",
                self.difat.len(),
                page * self.fat.entries_per_page(),
                page
            );
        };
        self.ensure_page(page)?;
        Ok(fat_sector_id)
    }

    /// Flushes all changes to the underlying file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.sectors.flush()
    }
}

//===========================================================================//

#[cfg(test)]
mod tests {
    use super::Allocator;
    use crate::internal::{
        consts, Chain, SectorInit, Sectors, Validation, Version,
    };
    use std::io::Cursor;

    fn make_sectors(
        version: Version,
        num_sectors: usize,
    ) -> Sectors<Cursor<Vec<u8>>> {
        let data_len = (num_sectors + 1) * version.sector_len();
        Sectors::new(version, data_len as u64, Cursor::new(vec![0; data_len]))
    }

    fn make_allocator(
        difat: Vec<u32>,
        fat: Vec<u32>,
        validation: Validation,
    ) -> Allocator<Cursor<Vec<u8>>> {
        Allocator::new(
            make_sectors(Version::V3, fat.len()),
            vec![],
            difat,
            fat,
            validation,
        )
        .unwrap()
    }

    #[test]
    #[should_panic(
        expected = "Malformed FAT (FAT has 3 entries, but file has only 2 \
                    sectors)"
    )]
    fn fat_longer_than_file() {
        let difat = vec![0];
        let fat = vec![consts::FAT_SECTOR, 2, consts::END_OF_CHAIN];
        let sectors = make_sectors(Version::V3, 2);
        Allocator::new(sectors, vec![], difat, fat, Validation::Strict)
            .unwrap();
    }

    #[test]
    #[should_panic(
        expected = "Malformed FAT (FAT has 2 entries, but DIFAT lists 3 as \
                    a DIFAT sector)"
    )]
    fn difat_sector_out_of_range() {
        let difat_sectors = vec![3];
        let difat = vec![0];
        let fat = vec![consts::FAT_SECTOR, consts::END_OF_CHAIN];
        let sectors = make_sectors(Version::V3, fat.len());
        Allocator::new(sectors, difat_sectors, difat, fat, Validation::Strict)
            .unwrap();
    }

    #[test]
    #[should_panic(
        expected = "Malformed FAT (DIFAT sector 1 is not marked as such in \
                    the FAT)"
    )]
    fn difat_sector_not_marked_in_fat_strict() {
        let difat_sectors = vec![1];
        let difat = vec![0];
        let fat = vec![consts::FAT_SECTOR, consts::END_OF_CHAIN];
        let sectors = make_sectors(Version::V3, fat.len());
        Allocator::new(sectors, difat_sectors, difat, fat, Validation::Strict)
            .unwrap();
    }

    #[test]
    fn difat_sector_not_marked_in_fat_permissive() {
        let difat_sectors = vec![1];
        let difat = vec![0];
        let fat = vec![consts::FAT_SECTOR, consts::END_OF_CHAIN];
        let sectors = make_sectors(Version::V3, fat.len());
        // Marking the DIFAT sector as END_OF_CHAIN instead of DIFAT_SECTOR is
        // a spec violation, but is tolerated under Permissive validation.
        let mut allocator = Allocator::new(
            sectors,
            difat_sectors,
            difat,
            fat,
            Validation::Permissive,
        )
        .unwrap();
        // We should repair the FAT entry, and the resulting Allocator should
        // now pass Strict validation.
        assert_eq!(allocator.fat_entries()[1], consts::DIFAT_SECTOR);
        allocator.validate_strict().unwrap();
    }

    #[test]
    #[should_panic(
        expected = "Malformed FAT (FAT has 2 entries, but DIFAT lists 3 as a \
                    FAT sector)"
    )]
    fn fat_sector_out_of_range() {
        let difat = vec![0, 3];
        let fat = vec![consts::FAT_SECTOR, consts::END_OF_CHAIN];
        make_allocator(difat, fat, Validation::Permissive);
    }

    #[test]
    #[should_panic(
        expected = "Malformed FAT (FAT sector 1 is not marked as such in the \
                    FAT)"
    )]
    fn fat_sector_not_marked_in_fat_strict() {
        let difat = vec![0, 1];
        let fat = vec![consts::FAT_SECTOR, consts::END_OF_CHAIN];
        make_allocator(difat, fat, Validation::Strict);
    }

    // Regression test for https://github.com/mdsteele/rust-cfb/issues/30
    #[test]
    fn fat_sector_not_marked_in_fat_permissive() {
        let difat = vec![0, 1];
        let fat = vec![consts::FAT_SECTOR, consts::END_OF_CHAIN];
        // Marking the second FAT sector as END_OF_CHAIN instead of FAT_SECTOR
        // is a spec violation, but is tolerated under Permissive validation.
        let mut allocator = make_allocator(difat, fat, Validation::Permissive);
        // We should repair the FAT entry, and the resulting Allocator should
        // now pass Strict validation.
        assert_eq!(allocator.fat_entries()[1], consts::FAT_SECTOR);
        allocator.validate_strict().unwrap();
    }

    #[test]
    #[should_panic(
        expected = "Malformed FAT (FAT has 2 entries, but sector 1 points to \
                    2)"
    )]
    fn pointee_out_of_range_strict() {
        let difat = vec![0];
        let fat = vec![consts::FAT_SECTOR, 2];
        make_allocator(difat, fat, Validation::Strict);
    }

    #[test]
    fn pointee_out_of_range_permissive() {
        let difat = vec![0];
        let fat = vec![consts::FAT_SECTOR, 2];
        // A FAT entry pointing past the end of the file is a spec violation,
        // but is tolerated under Permissive validation.
        let mut allocator = make_allocator(difat, fat, Validation::Permissive);
        // We should repair the FAT entry by ending the chain there, and the
        // resulting Allocator should now pass Strict validation.
        assert_eq!(allocator.fat_entries()[1], consts::END_OF_CHAIN);
        allocator.validate_strict().unwrap();
    }

    #[test]
    fn chain_cache_follows_the_fat() {
        let difat = vec![0];
        let fat = vec![consts::FAT_SECTOR, 2, 3, consts::END_OF_CHAIN];
        let mut alloc = make_allocator(difat, fat, Validation::Strict);
        assert_eq!(alloc.chain_cache, None);

        // Dropping a chain leaves its sector list behind for the next open.
        let chain = alloc.open_chain(1, SectorInit::Zero).unwrap();
        assert_eq!(chain.sector_ids(), &[1, 2, 3]);
        drop(chain);
        assert_eq!(alloc.chain_cache, Some((1, vec![1, 2, 3])));

        // A chain that grew hands back the grown list.
        let mut chain = alloc.open_chain(1, SectorInit::Zero).unwrap();
        chain.set_len(4 * 512).unwrap();
        assert_eq!(chain.sector_ids(), &[1, 2, 3, 4]);
        drop(chain);
        assert_eq!(alloc.chain_cache, Some((1, vec![1, 2, 3, 4])));
        let chain = Chain::new(&mut alloc, 1, SectorInit::Zero).unwrap();
        assert_eq!(chain.sector_ids(), &[1, 2, 3, 4]);
        drop(chain);

        // A chain that shrank hands back the shortened list.
        let mut chain = alloc.open_chain(1, SectorInit::Zero).unwrap();
        chain.set_len(2 * 512).unwrap();
        assert_eq!(chain.sector_ids(), &[1, 2]);
        drop(chain);
        assert_eq!(alloc.chain_cache, Some((1, vec![1, 2])));
        let chain = Chain::new(&mut alloc, 1, SectorInit::Zero).unwrap();
        assert_eq!(chain.sector_ids(), &[1, 2]);
        drop(chain);

        // Opening a different chain does not use the cached one.
        let start = alloc.begin_chain(SectorInit::Zero).unwrap();
        let chain = alloc.open_chain(start, SectorInit::Zero).unwrap();
        assert_eq!(chain.sector_ids(), &[start]);
        drop(chain);
        assert_eq!(alloc.chain_cache, Some((start, vec![start])));

        // Any FAT change from outside a chain discards the cache.
        alloc.free_chain(1).unwrap();
        assert_eq!(alloc.chain_cache, None);

        // A freed chain leaves nothing behind.
        let chain = alloc.open_chain(start, SectorInit::Zero).unwrap();
        chain.free().unwrap();
        assert_eq!(alloc.chain_cache, None);
        assert_eq!(alloc.fat_entries()[start as usize], consts::FREE_SECTOR);
    }

    #[test]
    #[should_panic(expected = "Malformed FAT (sector 3 pointed to twice)")]
    fn double_pointee() {
        let difat = vec![0];
        let fat = vec![consts::FAT_SECTOR, 3, 3, consts::END_OF_CHAIN];
        make_allocator(difat, fat, Validation::Permissive);
    }

    #[test]
    #[should_panic(
        expected = "Malformed FAT (0xFFFFFFFB is not a valid FAT entry)"
    )]
    fn invalid_pointee() {
        let difat = vec![0];
        let fat = vec![consts::FAT_SECTOR, consts::INVALID_SECTOR];
        make_allocator(difat, fat, Validation::Permissive);
    }
}

//===========================================================================//

#[cfg(test)]
mod extend_tests {
    use super::Allocator;
    use crate::internal::{consts, SectorInit, Sectors, Validation, Version};
    use crate::ReadLeNumber;
    use std::io::{Cursor, Read};

    /// A V3 file with one FAT sector (sector 0) and nothing else.
    fn make_allocator() -> Allocator<Cursor<Vec<u8>>> {
        let version = Version::V3;
        let data_len = 2 * version.sector_len();
        let mut data = vec![0u8; data_len];
        let mut fat_bytes = Vec::new();
        for i in 0..128u32 {
            let entry =
                if i == 0 { consts::FAT_SECTOR } else { consts::FREE_SECTOR };
            fat_bytes.extend_from_slice(&entry.to_le_bytes());
        }
        data[512..1024].copy_from_slice(&fat_bytes);
        let sectors =
            Sectors::new(version, data_len as u64, Cursor::new(data));
        Allocator::new(
            sectors,
            vec![],
            vec![0],
            vec![consts::FAT_SECTOR],
            Validation::Strict,
        )
        .unwrap()
    }

    /// Reads the FAT back from the file, as a reader would.
    fn fat_on_disk(allocator: &mut Allocator<Cursor<Vec<u8>>>) -> Vec<u32> {
        let mut fat = Vec::new();
        for &fat_sector in allocator.difat.clone().iter() {
            let mut sector = allocator.seek_to_sector(fat_sector).unwrap();
            for _ in 0..128 {
                fat.push(sector.read_le_u32().unwrap());
            }
        }
        fat.truncate(allocator.fat.len);
        fat
    }

    fn chain_of(
        allocator: &mut Allocator<Cursor<Vec<u8>>>,
        start: u32,
    ) -> Vec<u32> {
        let mut ids = vec![];
        let mut id = start;
        while id != consts::END_OF_CHAIN {
            ids.push(id);
            id = allocator.next(id).unwrap();
        }
        ids
    }

    #[test]
    fn extends_a_new_chain_in_one_run() {
        let mut allocator = make_allocator();
        let ids = allocator
            .extend_chain_by(consts::END_OF_CHAIN, 5, SectorInit::Zero, 3)
            .unwrap();
        assert_eq!(ids, vec![1, 2, 3, 4, 5]);
        assert_eq!(chain_of(&mut allocator, 1), ids);
        assert_eq!(fat_on_disk(&mut allocator), allocator.fat_entries());
        // The uninitialized sectors are part of the file, and the
        // initialized ones are zero.
        assert_eq!(allocator.sectors.num_sectors(), 6);
        let mut sector = allocator.seek_to_sector(5).unwrap();
        let mut buf = vec![0xFF; 512];
        sector.read_exact(&mut buf).unwrap();
        assert!(buf.iter().all(|&b| b == 0));
    }

    #[test]
    fn extends_an_existing_chain_through_free_sectors() {
        let mut allocator = make_allocator();
        let first = allocator
            .extend_chain_by(consts::END_OF_CHAIN, 3, SectorInit::Zero, 0)
            .unwrap();
        let other = allocator
            .extend_chain_by(consts::END_OF_CHAIN, 4, SectorInit::Zero, 0)
            .unwrap();
        assert_eq!(other, vec![4, 5, 6, 7]);
        allocator.free_chain(other[0]).unwrap();
        // The freed sectors are reused, last freed first, then the file
        // grows again; every step is linked in order.
        let more = allocator
            .extend_chain_by(*first.last().unwrap(), 6, SectorInit::Zero, 6)
            .unwrap();
        assert_eq!(more, vec![7, 6, 5, 4, 8, 9]);
        let mut expected = first.clone();
        expected.extend(more);
        assert_eq!(chain_of(&mut allocator, 1), expected);
        assert_eq!(fat_on_disk(&mut allocator), allocator.fat_entries());
        assert_eq!(allocator.sectors.num_sectors(), 10);
    }

    #[test]
    fn extends_across_fat_sectors() {
        let mut allocator = make_allocator();
        // 300 sectors need three FAT sectors, which get allocated in the
        // middle of the chain and are skipped by it.
        let ids = allocator
            .extend_chain_by(consts::END_OF_CHAIN, 300, SectorInit::Zero, 0)
            .unwrap();
        assert_eq!(chain_of(&mut allocator, ids[0]), ids);
        assert_eq!(allocator.difat.len(), 3);
        for fat_sector in allocator.difat.clone() {
            assert!(!ids.contains(&fat_sector));
            assert_eq!(
                allocator.fat_entries()[fat_sector as usize],
                consts::FAT_SECTOR
            );
        }
        assert_eq!(fat_on_disk(&mut allocator), allocator.fat_entries());
    }
}

//===========================================================================//

#[cfg(test)]
mod lazy_tests {
    use super::Allocator;
    use crate::internal::{
        consts, Chain, SectorInit, Sectors, Validation, Version,
    };
    use crate::{CompoundFile, OpenOptions};
    use std::io::{Cursor, Read, Write};

    type Alloc = Allocator<Cursor<Vec<u8>>>;

    /// A version-3 file with a 5,000-byte stream, a 1.5 MB one and another
    /// 5,000-byte one, in that order: 2,975 sectors (`SECTORS`), 24 of them
    /// FAT sectors.
    fn three_streams() -> Vec<u8> {
        let cursor = Cursor::new(Vec::new());
        let mut comp =
            CompoundFile::create_with_version(Version::V3, cursor).unwrap();
        for (name, len) in [("/a", 5000), ("/big", 1_500_000), ("/z", 5000)] {
            let mut stream = comp.create_stream(name).unwrap();
            stream.write_all(&pattern(name, len)).unwrap();
        }
        comp.flush().unwrap();
        comp.into_inner().into_inner()
    }

    const SECTORS: usize = 2975;

    fn pattern(name: &str, len: usize) -> Vec<u8> {
        let seed = name.len();
        (0..len).map(|i| (i * 7 + seed + i / 251) as u8).collect()
    }

    /// The FAT sectors the header lists (the test files have fewer than
    /// 109, so no DIFAT sectors).
    fn header_difat(bytes: &[u8]) -> Vec<u32> {
        (0..consts::NUM_DIFAT_ENTRIES_IN_HEADER)
            .map(|i| le_u32(bytes, 76 + 4 * i))
            .take_while(|&id| id != consts::FREE_SECTOR)
            .collect()
    }

    fn le_u32(bytes: &[u8], at: usize) -> u32 {
        let mut word = [0u8; 4];
        word.copy_from_slice(&bytes[at..at + 4]);
        u32::from_le_bytes(word)
    }

    /// Overwrites FAT entry `index` in the file's bytes.
    fn set_raw_fat(bytes: &mut [u8], index: usize, value: u32) {
        let difat = header_difat(bytes);
        let at = (difat[index / 128] as usize + 1) * 512 + (index % 128) * 4;
        bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
    }

    fn open(
        bytes: Vec<u8>,
        validation: Validation,
        max_whole_entries: usize,
    ) -> std::io::Result<Alloc> {
        let difat = header_difat(&bytes);
        let len = bytes.len() as u64;
        let sectors = Sectors::new(Version::V3, len, Cursor::new(bytes));
        Allocator::open(sectors, vec![], difat, validation, max_whole_entries)
    }

    fn lazy(bytes: Vec<u8>, validation: Validation) -> std::io::Result<Alloc> {
        let alloc = open(bytes, validation, 0)?;
        assert!(alloc.lazy.is_some());
        Ok(alloc)
    }

    fn whole(
        bytes: Vec<u8>,
        validation: Validation,
    ) -> std::io::Result<Alloc> {
        let alloc = open(bytes, validation, usize::MAX)?;
        assert!(alloc.lazy.is_none());
        Ok(alloc)
    }

    /// The start sectors of the chains (sectors in use that no entry points
    /// to), in the order they were allocated: the directory, then the
    /// streams in the order they were written.
    fn chain_starts(alloc: &mut Alloc) -> Vec<u32> {
        let fat = alloc.fat_entries();
        let mut pointed = vec![false; fat.len()];
        for &entry in &fat {
            if (entry as usize) < fat.len() {
                pointed[entry as usize] = true;
            }
        }
        (0..fat.len())
            .filter(|&i| {
                !pointed[i]
                    && (fat[i] == consts::END_OF_CHAIN
                        || fat[i] <= consts::MAX_REGULAR_SECTOR)
            })
            .map(|i| i as u32)
            .collect()
    }

    fn chain(alloc: &mut Alloc, start: u32) -> std::io::Result<Vec<u32>> {
        Ok(Chain::new(alloc, start, SectorInit::Zero)?.sector_ids().to_vec())
    }

    fn error_of<T>(result: std::io::Result<T>) -> String {
        match result {
            Ok(_) => panic!("expected an error"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn opening_reads_only_the_last_fat_sectors() {
        let bytes = three_streams();
        let mut lazy = lazy(bytes.clone(), Validation::Strict).unwrap();
        assert_eq!(lazy.fat.pages.len(), 24);
        assert_eq!(lazy.fat_sectors_read(), Some(super::MIN_TAIL_PAGES));
        let mut whole = whole(bytes, Validation::Strict).unwrap();
        let starts = chain_starts(&mut whole);
        assert_eq!(starts.len(), 4);
        // The first stream's chain lies in the first FAT sector: walking
        // it reads that one only.
        let a = chain(&mut lazy, starts[1]).unwrap();
        assert_eq!(a, chain(&mut whole, starts[1]).unwrap());
        assert_eq!(lazy.fat_sectors_read(), Some(super::MIN_TAIL_PAGES + 1));
        // Every entry reads as the whole read has it, FAT sectors marked.
        assert_eq!(lazy.fat_entries(), whole.fat_entries());
        assert_eq!(lazy.fat_sectors_read(), Some(24));
        for start in starts {
            assert_eq!(
                chain(&mut lazy, start).unwrap(),
                chain(&mut whole, start).unwrap()
            );
        }
    }

    #[test]
    fn a_small_fat_or_one_not_covering_the_file_is_read_whole() {
        let bytes = three_streams();
        let alloc = open(bytes.clone(), Validation::Strict, 24 * 128).unwrap();
        assert!(alloc.lazy.is_none());
        let alloc = open(bytes.clone(), Validation::Strict, 24 * 128 - 1);
        assert!(alloc.unwrap().lazy.is_some());
        // One sector more than the FAT sectors describe: read whole, as
        // before (the extra sector is free).
        let mut longer = bytes;
        let extra = (24 * 128 + 1 - (longer.len() / 512 - 1)) * 512;
        longer.extend(std::iter::repeat_n(0, extra));
        let mut alloc = open(longer, Validation::Permissive, 0).unwrap();
        assert!(alloc.lazy.is_none());
        assert_eq!(alloc.fat_entries().len(), 24 * 128 + 1);
        // Using it is refused rather than written nowhere.
        let mut ids = Vec::new();
        let error = loop {
            match alloc.extend_chain_by(
                consts::END_OF_CHAIN,
                1,
                SectorInit::Zero,
                0,
            ) {
                Ok(new) => ids.extend(new),
                Err(error) => break error.to_string(),
            }
            assert!(ids.len() < 200);
        };
        assert_eq!(
            error,
            "Malformed FAT (FAT has 24 sectors, but sector 3072 needs FAT \
             sector 24)"
        );
    }

    /// Runs the same edits on a FAT read whole and on one read lazily; with
    /// no free sector outside the last FAT sectors, they must allocate the
    /// same sectors and write the same bytes.
    #[test]
    fn edits_write_the_same_bytes_as_with_the_fat_read_whole() {
        let bytes = three_streams();
        let mut results = Vec::new();
        for max_whole_entries in [usize::MAX, 0] {
            let mut alloc =
                open(bytes.clone(), Validation::Strict, max_whole_entries)
                    .unwrap();
            let starts = chain_starts(&mut alloc);
            let (a, big, z) = (starts[1], starts[2], starts[3]);
            alloc.free_chain(a).unwrap();
            let new = alloc
                .extend_chain_by(consts::END_OF_CHAIN, 3, SectorInit::Zero, 0)
                .unwrap();
            // Last freed first: the end of the freed chain.
            let a_chain: Vec<u32> = (a..a + 10).collect();
            assert_eq!(new, vec![a_chain[9], a_chain[8], a_chain[7]]);
            let big_last = *chain(&mut alloc, big).unwrap().last().unwrap();
            // 300 more sectors: past the end, with new FAT sectors.
            let more = alloc
                .extend_chain_by(big_last, 300, SectorInit::Zero, 299)
                .unwrap();
            assert_eq!(more.len(), 300);
            alloc.free_chain_after(z).unwrap();
            let again = alloc
                .extend_chain_by(consts::END_OF_CHAIN, 20, SectorInit::Zero, 0)
                .unwrap();
            assert_eq!(again.len(), 20);
            alloc.flush().unwrap();
            let fat = alloc.fat_entries();
            results.push((alloc.into_inner().into_inner(), fat));
        }
        assert_eq!(results[0].1, results[1].1);
        assert!(results[0].0 == results[1].0);
        // And the result reads back, checked whole and strictly.
        let mut reread =
            whole(results[1].0.clone(), Validation::Strict).unwrap();
        assert_eq!(reread.fat_entries(), results[1].1);
    }

    #[test]
    fn fat_and_difat_sectors_are_appended_to_a_lazy_fat() {
        let bytes = three_streams();
        let mut alloc = lazy(bytes, Validation::Strict).unwrap();
        let starts = chain_starts(&mut alloc);
        let big_last = *chain(&mut alloc, starts[2]).unwrap().last().unwrap();
        // 120 FAT sectors of 128 entries: past the 109 the header holds, so
        // a DIFAT sector too.  All but the last are left for the caller to
        // write.
        let count = 120 * 128 - SECTORS;
        let more = alloc
            .extend_chain_by(big_last, count, SectorInit::Zero, count - 1)
            .unwrap();
        alloc.flush().unwrap();
        assert_eq!(alloc.difat_sector_ids.len(), 1);
        assert!(alloc.difat.len() > 109);
        let fat = alloc.fat_entries();
        let expected_big: Vec<u32> =
            chain(&mut alloc, starts[2]).unwrap().to_vec();
        assert_eq!(expected_big.len(), 2930 + count);
        assert_eq!(expected_big[2930..], more[..]);
        let bytes = alloc.into_inner().into_inner();
        // Read back through a full open (the DIFAT sector included).
        let mut comp = OpenOptions::new()
            .strict()
            .open_with(Cursor::new(bytes.clone()))
            .unwrap();
        assert_eq!(comp.entry("/big").unwrap().len(), 1_500_000);
        let mut data = Vec::new();
        comp.open_stream("/big").unwrap().read_to_end(&mut data).unwrap();
        assert_eq!(data, pattern("/big", 1_500_000));
        let difat_sector = le_u32(&bytes, 68);
        assert_eq!(fat[difat_sector as usize], consts::DIFAT_SECTOR);
    }

    #[test]
    fn a_bad_entry_in_a_page_read_late_is_refused_in_the_same_words() {
        let bytes = three_streams();
        let starts = chain_starts(
            &mut whole(bytes.clone(), Validation::Strict).unwrap(),
        );
        let a = starts[1] as usize;
        let cases: [(u32, Validation, &str); 3] = [
            (
                consts::INVALID_SECTOR,
                Validation::Permissive,
                "Malformed FAT (0xFFFFFFFB is not a valid FAT entry)",
            ),
            (
                5000,
                Validation::Strict,
                "Malformed FAT (FAT has 2975 entries, but sector 5 points \
                 to 5000)",
            ),
            (consts::END_OF_CHAIN, Validation::Strict, ""),
        ];
        for (value, validation, words) in cases {
            let mut bad = bytes.clone();
            if words.is_empty() {
                // The first FAT sector's own entry, in the first page.
                set_raw_fat(&mut bad, 0, value);
            } else {
                set_raw_fat(&mut bad, a + 3, value);
            }
            let words = if words.is_empty() {
                "Malformed FAT (FAT sector 0 is not marked as such in the FAT)"
            } else {
                words
            };
            assert_eq!(error_of(whole(bad.clone(), validation)), words);
            // Opened fine: the page is not read until a chain reaches it.
            let mut alloc = lazy(bad, validation).unwrap();
            assert_eq!(error_of(chain(&mut alloc, a as u32)), words);
            // Nor read half-checked: it is refused again.
            assert_eq!(error_of(alloc.free_chain(a as u32)), words);
        }
    }

    #[test]
    fn a_bad_entry_read_late_is_mended_as_a_whole_read_mends_it() {
        let mut bad = three_streams();
        let a = 2;
        set_raw_fat(&mut bad, a as usize + 3, 5000);
        set_raw_fat(&mut bad, 0, consts::END_OF_CHAIN);
        let mut whole = whole(bad.clone(), Validation::Permissive).unwrap();
        let mut lazy = lazy(bad, Validation::Permissive).unwrap();
        assert_eq!(chain(&mut lazy, a).unwrap(), vec![2, 3, 4, 5]);
        assert_eq!(chain(&mut whole, a).unwrap(), vec![2, 3, 4, 5]);
        assert_eq!(lazy.fat_entries(), whole.fat_entries());
        assert_eq!(lazy.fat_entries()[0], consts::FAT_SECTOR);
    }

    #[test]
    fn a_chain_that_runs_into_itself_is_refused() {
        let bytes = three_streams();
        let mut whole_alloc =
            whole(bytes.clone(), Validation::Strict).unwrap();
        let starts = chain_starts(&mut whole_alloc);
        let a = chain(&mut whole_alloc, starts[1]).unwrap();
        let big = chain(&mut whole_alloc, starts[2]).unwrap();
        // The end of each chain linked back into its middle.
        for (chain_ids, back_to) in [(&a, a[4]), (&big, big[1500])] {
            let mut bad = bytes.clone();
            set_raw_fat(
                &mut bad,
                *chain_ids.last().unwrap() as usize,
                back_to,
            );
            assert_eq!(
                error_of(whole(bad.clone(), Validation::Strict)),
                format!("Malformed FAT (sector {} pointed to twice)", back_to)
            );
            let mut alloc = lazy(bad, Validation::Strict).unwrap();
            let error = error_of(chain(&mut alloc, chain_ids[0]));
            assert!(
                error.starts_with("Chain contained duplicate sector id"),
                "{}",
                error
            );
            // Freeing it stops too, at the first sector freed twice.
            assert!(alloc.free_chain(chain_ids[0]).is_err());
        }
    }

    #[test]
    fn a_used_entry_past_the_end_of_the_file_is_refused() {
        let bytes = three_streams();
        assert_eq!(bytes.len(), (SECTORS + 1) * 512);
        for (value, validation, refused) in [
            (7, Validation::Permissive, true),
            (0, Validation::Permissive, false),
            (0, Validation::Strict, true),
            (consts::FREE_SECTOR, Validation::Strict, false),
        ] {
            let mut bad = bytes.clone();
            set_raw_fat(&mut bad, SECTORS + 3, value);
            let whole = whole(bad.clone(), validation);
            let lazy = lazy(bad, validation);
            if refused {
                let words = "Malformed FAT (FAT has 2979 entries, but file \
                             has only 2975 sectors)";
                assert_eq!(error_of(whole), words);
                assert_eq!(error_of(lazy), words);
            } else {
                assert_eq!(
                    lazy.unwrap().fat_entries(),
                    whole.unwrap().fat_entries()
                );
            }
        }
    }

    /// Adds 40 streams and a storage, then removes them, over and over, as
    /// retargeting a patch and untargeting it do: the file stops growing
    /// after the first round, since the sectors freed at its end are found
    /// again by the next open (13 FAT sectors' worth, more than the 8 read
    /// at least).
    #[test]
    fn repeated_edits_reuse_the_sectors_freed_at_the_end() {
        let mut bytes = three_streams();
        let options = || OpenOptions::new().whole_fat_max_entries(0);
        let mut lengths = Vec::new();
        for round in 0..4 {
            let fat_sectors = (bytes.len() / 512 - 1).div_ceil(128);
            let mut comp = options().open_with(Cursor::new(bytes)).unwrap();
            let read = comp.fat_sectors_read().unwrap();
            if round == 0 {
                // The last ones, and the first (the directory's chain).
                assert_eq!(read, super::MIN_TAIL_PAGES + 1);
            } else {
                // The freed end, and the one before it that is not.
                assert!(read > 13 && read < fat_sectors - 20, "{}", read);
            }
            comp.create_storage("/added").unwrap();
            for i in 0..40 {
                let name = format!("/added/s{}", i);
                let mut stream = comp.create_stream(&name).unwrap();
                stream.write_all(&pattern(&name, 20_000 + round)).unwrap();
            }
            comp.flush().unwrap();
            bytes = comp.into_inner().into_inner();
            lengths.push(bytes.len());
            let mut comp = options().open_with(Cursor::new(bytes)).unwrap();
            comp.remove_storage_all("/added").unwrap();
            comp.flush().unwrap();
            bytes = comp.into_inner().into_inner();
            assert_eq!(bytes.len(), lengths[round]);
        }
        assert!(lengths[0] > SECTORS * 512 + 40 * 20_000);
        assert_eq!(lengths[1..], [lengths[0]; 3]);
        // What is left reads back whole and strictly.
        let mut comp =
            OpenOptions::new().strict().open_with(Cursor::new(bytes)).unwrap();
        assert!(!comp.exists("/added"));
        let mut data = Vec::new();
        comp.open_stream("/z").unwrap().read_to_end(&mut data).unwrap();
        assert_eq!(data, pattern("/z", 5000));
    }
}
