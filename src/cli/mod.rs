//! The command-line definition (clap derive). Parsing only: resolving the
//! arguments and running the library lives in `main.rs`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub mod bulk;
pub mod color;
pub mod generate;
pub mod help;
pub mod progress;
pub mod words;

/// Retarget Windows Installer patches (.msp) to every instance of a
/// multi-instance product, on any operating system.
#[derive(Debug, Parser)]
#[command(
    name = "msp-retarget",
    version = env!("MSP_RETARGET_VERSION"),
    long_version = long_version(),
    about,
    long_about = None,
    max_term_width = 80
)]
#[command(after_help = help::text(help::MAIN))]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true, help_heading = "Global options")]
    pub verbose: u8,

    /// Errors only: no report on stdout (a --json document is still
    /// printed) and no logs below error on stderr.
    #[arg(short, long, global = true, help_heading = "Global options")]
    pub quiet: bool,

    /// When to colour logs, errors and help: auto (a terminal, unless
    /// NO_COLOR is set or TERM=dumb), always, never.
    #[arg(
        long,
        value_name = "WHEN",
        value_enum,
        default_value_t = color::ColorChoice::Auto,
        global = true,
        help_heading = "Global options"
    )]
    pub color: color::ColorChoice,

    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// What `--version` prints after the name: the crate version, the commit
/// and its date when the build knew them (see build.rs), then the full
/// commit and the target, one per line (`-V` prints the first line only).
fn long_version() -> &'static str {
    static TEXT: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| env!("MSP_RETARGET_LONG_VERSION").replace("\\n", "\n"));
    &TEXT
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make a patch apply to product instances as well as to its base product.
    #[command(after_help = help::text(help::RETARGET))]
    Retarget(RetargetArgs),
    /// Remove the transform copies and Template entries of instances.
    #[command(after_help = help::text(help::UNTARGET))]
    Untarget(UntargetArgs),
    /// Show what is in a patch, database or transform.
    #[command(after_help = help::text(help::INSPECT))]
    Inspect(InspectArgs),
    /// Tell whether a patch installs on given products, and why; lint the patch.
    #[command(after_help = help::text(help::CHECK))]
    Check(CheckArgs),
    /// Tell, per product, which patches apply in which order and why the others do not.
    #[command(after_help = help::text(help::SEQUENCE))]
    Sequence(SequenceArgs),
    /// Complete or discard the journal an interrupted --in-place edit left.
    #[command(after_help = help::text(help::RECOVER))]
    Recover(RecoverArgs),
    /// Retarget every patch a manifest names, several at once.
    #[command(after_help = help::text(help::BULK))]
    Bulk(bulk::BulkArgs),
    /// Add instance transforms to a product (.msi), or remove them.
    #[command(subcommand, after_help = help::text(help::INSTANCES))]
    Instances(InstancesCommand),
    /// Print a shell completion script.
    #[command(after_help = help::text(help::COMPLETIONS))]
    Completions(generate::CompletionsArgs),
    /// Print a man page (roff), or write them all into a folder.
    #[command(after_help = help::text(help::MAN))]
    Man(generate::ManArgs),
}

/// Arguments of `check`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("product_facts").required(true).multiple(true).args(["packages", "products", "instances_from"]))]
#[command(
    override_usage = "msp-retarget check [OPTIONS] PATCH\n       (--package MSI | --product CODE[,...] | --instances-from MSI)..."
)]
pub struct CheckArgs {
    /// The patch to check.
    pub patch: PathBuf,

    /// A product database (.msi) whose Property table gives the facts.
    /// Repeat for more products.
    #[arg(long = "package", value_name = "PRODUCT.msi")]
    pub packages: Vec<PathBuf>,

    /// A product given by hand: CODE[,VERSION[,LANGUAGE[,UPGRADECODE]]].
    /// Repeat for more products.
    #[arg(
        long = "product",
        value_name = "CODE[,VERSION[,LANGUAGE[,UPGRADECODE]]]"
    )]
    pub products: Vec<String>,

    /// Every instance a product database defines through its embedded
    /// instance transforms, each checked with the product's facts and the
    /// instance's ProductCode (and UpgradeCode, when it has its own).
    #[arg(long, value_name = "PRODUCT.msi")]
    pub instances_from: Vec<PathBuf>,

    /// Every pair's evaluation for every product (text and JSON); by
    /// default each product gets one line, and only the products the
    /// patch does not apply to get their pairs, without the pairs made
    /// for other product codes.
    #[arg(long)]
    pub details: bool,

    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `sequence`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("product_facts").required(true).multiple(true).args(["packages", "products", "instances_from"]))]
#[command(
    override_usage = "msp-retarget sequence [OPTIONS] PATCH... [--installed PATCH...]\n       (--package MSI | --product CODE[,...] | --instances-from MSI)..."
)]
pub struct SequenceArgs {
    /// The patches to apply, in the order given.
    #[arg(required = true)]
    pub patches: Vec<PathBuf>,

    /// Patches already installed on the products, in the order they were
    /// applied.
    #[arg(long, value_name = "PATCH", num_args = 1..)]
    pub installed: Vec<PathBuf>,

    /// A product database (.msi) whose Property table gives the facts.
    /// Repeat for more products.
    #[arg(long = "package", value_name = "PRODUCT.msi")]
    pub packages: Vec<PathBuf>,

    /// A product given by hand: CODE[,VERSION[,LANGUAGE[,UPGRADECODE]]].
    /// Repeat for more products.
    #[arg(
        long = "product",
        value_name = "CODE[,VERSION[,LANGUAGE[,UPGRADECODE]]]"
    )]
    pub products: Vec<String>,

    /// Every instance a product database defines through its embedded
    /// instance transforms, with the product's facts and the instance's
    /// ProductCode (and UpgradeCode, when it has its own).
    #[arg(long, value_name = "PRODUCT.msi")]
    pub instances_from: Vec<PathBuf>,

    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Where an edit writes its result: exactly one of `-o`, `--in-place`,
/// `--dry-run` (what a command says differently is set where it is
/// flattened, with `mut_arg`).
#[derive(Debug, Args)]
#[group(id = "destination", required = true, multiple = false)]
pub struct DestinationArgs {
    /// Write the result to this file (atomically).
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,

    /// Replace the input file atomically.
    #[arg(long)]
    pub in_place: bool,

    /// Print the plan and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

impl DestinationArgs {
    /// The library's destination (clap has checked that exactly one is
    /// given; a caller that built the arguments by hand gets a usage error).
    pub fn resolve(&self) -> msp_retarget::Result<msp_retarget::Destination> {
        use msp_retarget::Destination;
        match (&self.output, self.in_place, self.dry_run) {
            (Some(out), false, false) => Ok(Destination::Output(out.clone())),
            (None, true, false) => Ok(Destination::InPlace),
            (None, false, true) => Ok(Destination::DryRun),
            _ => Err(msp_retarget::Error::usage(
                "give exactly one of -o OUT, --in-place, --dry-run",
            )),
        }
    }
}

/// What one command says differently about the flag `id` (a flattened
/// destination flag): changed where it stands, so that help, man page and
/// completions list the flags in the same order (`mut_arg` would move it
/// last).
fn say(id: &'static str, f: impl Fn(clap::Arg) -> clap::Arg) -> impl FnMut(clap::Arg) -> clap::Arg {
    move |a| if a.get_id() == id { f(a) } else { a }
}

/// Arguments of `retarget`.
#[derive(Debug, Args)]
#[command(mut_args(say("output", |a| a.help(
    "Write the result to this file (atomically; the input is not opened for writing)"
))))]
#[command(group = clap::ArgGroup::new("instance_source").required(true).multiple(true).args(["instances", "instances_from", "instances_file"]))]
#[command(
    override_usage = "msp-retarget retarget [OPTIONS] PATCH\n       (-i INSTANCE | --instances-from PRODUCT | --instances-file FILE)...\n       (-o OUT | --in-place | --dry-run)"
)]
pub struct RetargetArgs {
    /// The patch to retarget.
    pub patch: PathBuf,

    /// An instance: `{INSTANCE}`, or `{BASE}={INSTANCE}` when the patch
    /// targets several products. Repeat for more instances.
    #[arg(short = 'i', long = "instance", value_name = "[BASE=]INSTANCE")]
    pub instances: Vec<String>,

    /// Every instance defined by a product: its embedded instance
    /// transforms (.msi), or a stand-alone instance transform (.mst).
    #[arg(long, value_name = "PRODUCT.msi|INSTANCE.mst")]
    pub instances_from: Vec<PathBuf>,

    /// Instances listed in a file, one per line: `[ID] {BASE}={INSTANCE}`
    /// or `[ID] {INSTANCE}`; `#` starts a comment. `-` reads standard
    /// input. At most 16 MiB are read.
    #[arg(long, value_name = "FILE")]
    pub instances_file: Vec<PathBuf>,

    /// Where the result goes.
    #[command(flatten)]
    pub destination: DestinationArgs,

    /// Copy every pair of the base, also those that do not validate the
    /// product code (they would then validate twice for the instance).
    #[arg(long)]
    pub copy_all: bool,

    /// Which components the patch adds get a code of each instance's own
    /// in its copy: `auto` (when the product's instance transforms isolate
    /// components), `all`, `none`, or a list of Component keys. A code the
    /// instance's own transform gives comes first; otherwise WiX's
    /// MultiInstance derivation from the instance id.
    #[arg(
        long,
        value_name = "auto|all|none|KEY[,KEY...]",
        default_value = "auto"
    )]
    pub isolate_components: String,

    /// Remove the patch's digital signature instead of refusing a signed
    /// patch; the result must be signed again.
    #[arg(long)]
    pub strip_signature: bool,

    /// List more than 255 transforms in LastSavedBy (the documented most a
    /// package applies; whether a patch's count is not documented) instead
    /// of refusing.
    #[arg(long)]
    pub beyond_transform_limit: bool,

    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `untarget`.
#[derive(Debug, Args)]
#[command(mut_args(say("dry_run", |a| a.help("Print what would be removed and write nothing"))))]
#[command(
    override_usage = "msp-retarget untarget [OPTIONS] PATCH (-i INSTANCE)...\n       (-o OUT | --in-place | --dry-run)"
)]
pub struct UntargetArgs {
    /// The patch to edit.
    pub patch: PathBuf,

    /// The product code of an instance to remove. Repeat for more.
    #[arg(
        short = 'i',
        long = "instance",
        value_name = "INSTANCE",
        required = true
    )]
    pub instances: Vec<String>,

    /// Where the result goes.
    #[command(flatten)]
    pub destination: DestinationArgs,

    /// Also remove products the patch was originally built for.
    #[arg(long)]
    pub force: bool,

    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// An .msp, .msi or .mst file.
    pub file: PathBuf,

    /// Show what each transform changes: the tables it touches and, per
    /// row, insert, update (columns, old -> new) or delete.
    #[arg(long)]
    pub tables: bool,

    /// The product database the transforms apply to (implies --tables):
    /// defines the tables they change and gives the old values. An .msi's
    /// embedded transforms use the .msi itself by default.
    #[arg(long, value_name = "PRODUCT.msi")]
    pub package: Option<PathBuf>,

    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The subcommands of `instances`.
#[derive(Debug, Subcommand)]
pub enum InstancesCommand {
    /// Make a product multi-instance: embed one instance transform per id.
    #[command(after_help = help::text(help::INSTANCES_ADD))]
    Add(InstancesAddArgs),
    /// Remove instance transforms from a product.
    #[command(after_help = help::text(help::INSTANCES_REMOVE))]
    Remove(InstancesRemoveArgs),
}

/// Arguments of `instances add`.
#[derive(Debug, Args)]
#[command(mut_args(say("output", |a| a.value_name("OUT.msi"))))]
#[command(group = clap::ArgGroup::new("which").required(true).args(["instances", "count"]))]
#[command(
    override_usage = "msp-retarget instances add [OPTIONS] PRODUCT\n       (-i ID[={CODE}]... | --count N) (-o OUT.msi | --in-place | --dry-run)"
)]
pub struct InstancesAddArgs {
    /// The product (.msi).
    pub product: PathBuf,

    /// An instance: its id (the storage name, at most 31 characters), and
    /// optionally its product code. Repeat for more.
    #[arg(short = 'i', long = "instance", value_name = "ID[={PRODUCTCODE}]")]
    pub instances: Vec<String>,

    /// Add N instances named PREFIX1..PREFIXN, codes derived.
    #[arg(long, value_name = "N")]
    pub count: Option<usize>,

    /// The id prefix of --count.
    #[arg(long, value_name = "P", default_value = "Instance", requires = "count")]
    pub id_prefix: String,

    /// ProductName of each instance: {name} is the base ProductName, {id}
    /// the instance id; '{name}' leaves it unchanged.
    #[arg(long, value_name = "TEMPLATE", default_value = "{name} ({id})")]
    pub product_name: String,

    /// The UpgradeCode of an instance. Repeat for more.
    #[arg(long = "upgrade-code", value_name = "ID={CODE}")]
    pub upgrade_codes: Vec<String>,

    /// A property each transform sets to the instance id (WiX's
    /// InstanceTransforms/@Property).
    #[arg(long, value_name = "NAME")]
    pub property: Option<String>,

    /// Components given their own ComponentId per instance (WiX's
    /// MultiInstance derivation): all, none or KEY[,KEY...].
    #[arg(long, value_name = "all|none|KEY[,KEY...]", default_value = "none")]
    pub isolate_components: String,

    /// Also write each transform as ID.mst in this folder.
    #[arg(long, value_name = "DIR")]
    pub mst_dir: Option<PathBuf>,

    /// Remove the product's digital signature instead of refusing a
    /// signed product; the result must be signed again.
    #[arg(long)]
    pub strip_signature: bool,

    /// Where the result goes.
    #[command(flatten)]
    pub destination: DestinationArgs,

    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `instances remove`.
#[derive(Debug, Args)]
#[command(mut_args(say("output", |a| a.value_name("OUT.msi"))))]
#[command(mut_args(say("dry_run", |a| a.help("Print what would be removed and write nothing"))))]
#[command(
    override_usage = "msp-retarget instances remove [OPTIONS] PRODUCT ID...\n       (-o OUT.msi | --in-place | --dry-run)"
)]
pub struct InstancesRemoveArgs {
    /// The product (.msi).
    pub product: PathBuf,

    /// The ids of the instances to remove (case-insensitive).
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,

    /// Remove the product's digital signature instead of refusing a
    /// signed product.
    #[arg(long)]
    pub strip_signature: bool,

    /// Where the result goes.
    #[command(flatten)]
    pub destination: DestinationArgs,

    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `recover`.
#[derive(Debug, Args)]
pub struct RecoverArgs {
    /// The patches to recover (each one's journal is looked for beside it).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,

    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn retarget_needs_exactly_one_destination() {
        let ok = Cli::try_parse_from([
            "msp-retarget",
            "retarget",
            "a.msp",
            "-i",
            "x",
            "-o",
            "b.msp",
        ]);
        assert!(ok.is_ok());
        let none = Cli::try_parse_from(["msp-retarget", "retarget", "a.msp", "-i", "x"]);
        assert!(none.is_err());
        let two = Cli::try_parse_from([
            "msp-retarget",
            "retarget",
            "a.msp",
            "-i",
            "x",
            "-o",
            "b",
            "--in-place",
        ]);
        assert!(two.is_err());
    }

    #[test]
    fn check_needs_a_product_and_takes_both_kinds() {
        let none = Cli::try_parse_from(["msp-retarget", "check", "a.msp"]);
        assert!(none.is_err());
        let both = Cli::try_parse_from([
            "msp-retarget",
            "check",
            "a.msp",
            "--package",
            "p.msi",
            "--product",
            "{A}",
            "--product",
            "{B},1.0",
        ])
        .unwrap();
        let Command::Check(a) = both.command else {
            panic!("not check");
        };
        assert_eq!(a.packages.len(), 1);
        assert_eq!(a.products, ["{A}", "{B},1.0"]);
    }
}
