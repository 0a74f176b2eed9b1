//! What an edit of a product's instances needs to know of the product
//! database: its Property and Component rows, its schema, the code page
//! of its string pool, its summary information, the storages and streams
//! at its root (the instances it already has) and whether it is signed.
//!
//! Tables are read through the guarded entry into the `msi` crate
//! ([`crate::format::msi`]); the rest through `cfb` with bounded reads.

use std::fs::File;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use crate::error::{Context, Error, Result};
use crate::format::container::{self, FileKind};
use crate::format::guid::Guid;
use crate::format::propset::PropertySet;
use crate::format::streamname;
use crate::format::transform::{self, Schema};
use crate::patch;
use crate::product::instances::{self, InstanceSource};

/// The Component table.
pub const COMPONENT: &str = "Component";

/// A product database as an instances edit reads it.
#[derive(Debug, Clone)]
pub struct ProductDatabase {
    /// The file read.
    pub path: PathBuf,
    /// ProductCode.
    pub product_code: Guid,
    /// ProductVersion as stored (empty when absent).
    pub product_version: String,
    /// UpgradeCode, when the product has one.
    pub upgrade_code: Option<Guid>,
    /// The Property table: property → value (`None`: null), in row order.
    pub properties: IndexMap<String, Option<String>>,
    /// The Component table: component → ComponentId (`None`: null, an
    /// unregistered component), in row order; empty without the table.
    pub components: IndexMap<String, Option<String>>,
    /// The table definitions.
    pub schema: Schema,
    /// The code page in the header of the database's `_StringPool`: an
    /// instance transform's own pool is written in it.
    pub pool_code_page: u32,
    /// The summary information.
    pub summary: PropertySet,
    /// Names of every entry at the root (streams and storages), as stored.
    pub root_names: Vec<String>,
    /// The signature streams present at the root.
    pub signatures: Vec<String>,
    /// The instances its embedded transforms define.
    pub instances: InstanceSource,
}

/// Reads `path` as a product database. A patch, a transform or another
/// kind of compound file is refused, naming what it is.
pub fn read(path: &Path) -> Result<ProductDatabase> {
    read_inner(path).in_file(path)
}

fn read_inner(path: &Path) -> Result<ProductDatabase> {
    let mut cf = container::open(path)?;
    match container::kind_of(&cf) {
        FileKind::Database => {}
        FileKind::Patch => {
            return Err(Error::usage(
                "is a patch (.msp); instances are added to a product (.msi)",
            ));
        }
        FileKind::Transform => {
            return Err(Error::usage(
                "is a transform (.mst); instances are added to a product (.msi)",
            ));
        }
        FileKind::Other => {
            return Err(Error::format(
                "is a compound file of unknown kind (its root CLSID is not an installer \
                 database's), not a product (.msi)",
            ));
        }
    }
    let root_names = container::root_names(&cf);
    let signatures = crate::format::signature::streams_present(&cf);
    let summary = patch::read_summary(&mut cf, Path::new("/"))?;
    let pool_path = Path::new("/").join(streamname::encode("_StringPool", true));
    if !cf.is_stream(&pool_path) {
        return Err(Error::format("has no _StringPool stream"));
    }
    let header = container::read_stream_bounded(&mut cf, &pool_path, transform::MAX_POOL_LEN)?;
    let pool_code_page = transform::PoolHeader::parse(&header)
        .map_err(|e| e.at(container::stream_part(&pool_path)))?
        .code_page;
    drop(cf);
    let tables = crate::format::msi::guarded(path, || read_tables(path))
        .unwrap_or_else(|panicked| Err(panicked.error("cannot read the installer database")))?;
    let instances = instances::from_product(path)?;
    let text = |name: &str| tables.properties.get(name).cloned().flatten();
    let product_code = text("ProductCode")
        .ok_or_else(|| Error::format("is missing"))
        .and_then(|v| Guid::parse_braced(&v))
        .at("table Property, property ProductCode")?;
    let upgrade_code = text("UpgradeCode")
        .map(|v| Guid::parse_braced(&v))
        .transpose()
        .at("table Property, property UpgradeCode")?;
    Ok(ProductDatabase {
        path: path.to_path_buf(),
        product_code,
        product_version: text("ProductVersion").unwrap_or_default(),
        upgrade_code,
        properties: tables.properties,
        components: tables.components,
        schema: tables.schema,
        pool_code_page,
        summary,
        root_names,
        signatures,
        instances,
    })
}

struct Tables {
    properties: IndexMap<String, Option<String>>,
    components: IndexMap<String, Option<String>>,
    schema: Schema,
}

fn read_tables(path: &Path) -> Result<Tables> {
    let mut package = crate::format::msi::open_package(path)
        .map_err(|e| Error::io("cannot read the installer database", e))?;
    let schema = Schema::from_package(&package);
    if !package.has_table(transform::PROPERTY) {
        return Err(Error::format("has no Property table"));
    }
    let properties = pairs(&mut package, transform::PROPERTY, ["Property", "Value"])?;
    let components = if package.has_table(COMPONENT) {
        pairs(&mut package, COMPONENT, ["Component", "ComponentId"])?
    } else {
        IndexMap::new()
    };
    Ok(Tables {
        properties,
        components,
        schema,
    })
}

/// The (key, value) pairs of two string columns of `table`.
fn pairs(
    package: &mut msi::Package<File>,
    table: &str,
    columns: [&str; 2],
) -> Result<IndexMap<String, Option<String>>> {
    let at = || format!("table {table}");
    let rows = package
        .select_rows(msi::Select::table(table).columns(&columns))
        .map_err(|e| Error::io("cannot read the table", e).at(at()))?;
    let mut out = IndexMap::new();
    for row in rows {
        let key = row[0]
            .as_str()
            .ok_or_else(|| Error::format(format!("a row has a null {}", columns[0])).at(at()))?
            .to_string();
        out.insert(key, row[1].as_str().map(str::to_string));
    }
    Ok(out)
}
