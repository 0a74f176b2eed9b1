//! The `msp-retarget` command: parses arguments, calls the library, renders
//! the report and maps the outcome to the documented exit code.

mod cli;

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{CommandFactory, FromArgMatches};
use msp_retarget::Guid;
use msp_retarget::ProductFacts;
use msp_retarget::check_readable;
use msp_retarget::instances;
use msp_retarget::recover;
use msp_retarget::report::{self, ErrorReport};
use msp_retarget::{Error, Result};
use msp_retarget::{InstanceRequest, PlanOptions};
use msp_retarget::{RetargetRequest, retarget};
use msp_retarget::{UntargetRequest, untarget};

use cli::{
    CheckArgs, Cli, Command, InspectArgs, RecoverArgs, RetargetArgs, SequenceArgs, UntargetArgs,
};

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let definition = Cli::command();
    let names: Vec<&str> = definition.get_subcommands().map(|s| s.get_name()).collect();
    let early = cli::color::scan(&args, &names);
    let colored = cli::color::init_stderr(early.color);
    let parsed = Cli::command()
        .color(early.color)
        .try_get_matches_from(&args)
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e, &early),
    };
    init_tracing(cli.verbose, cli.quiet, colored);
    QUIET.store(cli.quiet, Ordering::Relaxed);
    let (command, json) = match &cli.command {
        Command::Retarget(a) => ("retarget", a.json),
        Command::Untarget(a) => ("untarget", a.json),
        Command::Inspect(a) => ("inspect", a.json),
        Command::Check(a) => ("check", a.json),
        Command::Sequence(a) => ("sequence", a.json),
        Command::Recover(a) => ("recover", a.json),
        Command::Bulk(a) => ("bulk", a.json),
        Command::Instances(cli::InstancesCommand::Add(a)) => ("instances add", a.json),
        Command::Instances(cli::InstancesCommand::Remove(a)) => ("instances remove", a.json),
        Command::Completions(_) => ("completions", false),
        Command::Man(_) => ("man", false),
    };
    let result = match &cli.command {
        Command::Retarget(a) => run_retarget(a),
        Command::Untarget(a) => run_untarget(a),
        Command::Inspect(a) => run_inspect(a),
        Command::Check(a) => run_check(a),
        Command::Sequence(a) => run_sequence(a),
        Command::Recover(a) => run_recover(a),
        Command::Bulk(a) => cli::bulk::run(a, cli.verbose, cli.quiet),
        Command::Instances(cli::InstancesCommand::Add(a)) => run_instances_add(a),
        Command::Instances(cli::InstancesCommand::Remove(a)) => run_instances_remove(a),
        Command::Completions(a) => cli::generate::run_completions(a),
        Command::Man(a) => cli::generate::run_man(a),
    };
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            // The library names its own settings; this tool's are options.
            let e = e.worded(&cli::words::Options);
            if json {
                print_json(&report::to_json(command, &ErrorReport::from_error(&e)));
            }
            eprintln!("{} {e}", cli::color::error_prefix());
            e.exit_code()
        }
    };
    if WRITE_FAILED.load(Ordering::Relaxed) {
        return ExitCode::from(2);
    }
    ExitCode::from(code)
}

/// A command line clap refused, in the tool's one error style
/// (`msp-retarget: reason`, then clap's usage line and hint), and as the
/// documented JSON error document on stdout when `--json` was given; exit
/// status 2. Help and version requests are printed as clap prints them.
fn usage_error(e: &clap::Error, early: &cli::color::Early) -> ExitCode {
    use clap::error::ErrorKind as Kind;
    if matches!(e.kind(), Kind::DisplayHelp | Kind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let text = e.render().to_string();
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    let reason = first.strip_prefix("error: ").unwrap_or(first).trim();
    if early.json {
        // The reason with what clap lists under it (the missing
        // arguments), up to the blank line before the usage.
        let listed: Vec<&str> = text
            .lines()
            .skip(1)
            .take_while(|l| !l.trim().is_empty())
            .map(str::trim)
            .collect();
        let full = match listed.is_empty() {
            true => reason.to_string(),
            false => format!("{reason} {}", listed.join(" ")),
        };
        let command = early.command.as_deref().unwrap_or("msp-retarget");
        print_json(&report::to_json(
            command,
            &ErrorReport::from_error(&Error::usage(full)),
        ));
    }
    let mut message = format!("{} {reason}", cli::color::error_prefix());
    for line in lines {
        message.push('\n');
        message.push_str(line);
    }
    eprintln!("{}", message.trim_end());
    ExitCode::from(2)
}

fn init_tracing(verbose: u8, quiet: bool, colored: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(cli::progress::LogWriter)
        .with_target(false)
        .with_ansi(colored)
        .try_init();
}

/// Set by `-q`: reports for people are not printed.
static QUIET: AtomicBool = AtomicBool::new(false);
/// Set when stdout could not be written (other than a closed pipe).
static WRITE_FAILED: AtomicBool = AtomicBool::new(false);

/// Prints a report for people to stdout, unless `-q`.
fn print_out(text: &str) {
    if !QUIET.load(Ordering::Relaxed) {
        write_stdout(text);
    }
}

/// Prints a command's report: its JSON document with `--json`, else its
/// rendering for people.
fn emit<T: serde::Serialize>(command: &str, json: bool, report: &T, render: impl Fn(&T) -> String) {
    emit_worded(command, json, report, render, &cli::words::Options);
}

/// [`emit`], with the settings the report's texts name (by their API
/// words) in `wording`'s words.
fn emit_worded<T: serde::Serialize>(
    command: &str,
    json: bool,
    report: &T,
    render: impl Fn(&T) -> String,
    wording: &dyn msp_retarget::Wording,
) {
    if json {
        let text = report::to_json(command, report);
        print_json(&msp_retarget::reword(&text, &cli::words::Json(wording)));
    } else {
        print_out(&msp_retarget::reword(&render(report), wording));
    }
}

/// Prints a JSON document to stdout, `-q` or not: it was asked for.
fn print_json(text: &str) {
    write_stdout(text);
}

/// Writes to stdout. A closed pipe (`| head`) is not an error: the reader
/// has what it wanted. Any other failure (a full disk, `>/dev/full`) is
/// reported once and makes the exit status 2, so that a report that was
/// not written never passes for one that was.
fn write_stdout(text: &str) {
    let mut out = io::stdout().lock();
    let mut result = out.write_all(text.as_bytes());
    if result.is_ok() && !text.ends_with('\n') {
        result = out.write_all(b"\n");
    }
    let result = result.and_then(|()| out.flush());
    if let Err(e) = result
        && e.kind() != io::ErrorKind::BrokenPipe
        && !WRITE_FAILED.swap(true, Ordering::Relaxed)
    {
        eprintln!(
            "{} standard output: cannot write: {e}",
            cli::color::error_prefix()
        );
    }
}

fn run_retarget(a: &RetargetArgs) -> Result<u8> {
    let mut instances = a
        .instances
        .iter()
        .map(|s| InstanceRequest::parse(s).map_err(|e| e.at("--instance")))
        .collect::<Result<Vec<_>>>()?;
    for path in &a.instances_from {
        check_readable(path)?;
        let source = instances::from_product(path)?;
        for skipped in &source.skipped {
            tracing::info!(id = %skipped.id, reason = %skipped.reason, "not an instance");
        }
        instances.extend(source.require_instances()?.requests());
    }
    for path in &a.instances_file {
        for i in instances::from_list_file(path)? {
            instances.push(i.request(None, None));
        }
    }
    let req = RetargetRequest {
        input: a.patch.clone(),
        destination: a.destination.resolve()?,
        instances,
        options: PlanOptions {
            copy_all: a.copy_all,
            strip_signature: a.strip_signature,
            isolation: msp_retarget::ComponentIsolation::parse(&a.isolate_components)?,
            beyond_transform_limit: a.beyond_transform_limit,
        },
    };
    let r = retarget(&req)?;
    emit("retarget", a.json, &r, report::render_retarget);
    Ok(0)
}

fn run_untarget(a: &UntargetArgs) -> Result<u8> {
    let instances = a
        .instances
        .iter()
        .map(|s| Guid::parse_lenient(s).map_err(|e| e.at("--instance")))
        .collect::<Result<Vec<_>>>()?;
    let req = UntargetRequest {
        input: a.patch.clone(),
        destination: a.destination.resolve()?,
        instances,
        force: a.force,
    };
    let r = untarget(&req)?;
    emit("untarget", a.json, &r, report::render_untarget);
    Ok(0)
}

fn run_instances_add(a: &cli::InstancesAddArgs) -> Result<u8> {
    let instances = match a.count {
        Some(n) => msp_retarget::NewInstanceRequest::numbered(Some(&a.id_prefix), n)?,
        None => a
            .instances
            .iter()
            .map(|s| msp_retarget::NewInstanceRequest::parse(s))
            .collect::<Result<Vec<_>>>()?,
    };
    let upgrade_codes = a
        .upgrade_codes
        .iter()
        .map(|s| {
            let (id, code) = s
                .split_once('=')
                .ok_or_else(|| Error::usage(format!("--upgrade-code {s:?}: write ID={{CODE}}")))?;
            let code = Guid::parse_lenient(code)
                .map_err(|e| Error::usage(format!("--upgrade-code {s:?}: {}", e.reason())))?;
            Ok((id.to_string(), code))
        })
        .collect::<Result<Vec<_>>>()?;
    let req = msp_retarget::InstancesAddRequest {
        input: a.product.clone(),
        destination: a.destination.resolve()?,
        instances,
        options: msp_retarget::AddOptions {
            product_name: Some(a.product_name.clone()),
            upgrade_codes,
            property: a.property.clone(),
            isolate: msp_retarget::Isolation::parse(&a.isolate_components)?,
            strip_signature: a.strip_signature,
        },
        mst_dir: a.mst_dir.clone(),
    };
    let r = msp_retarget::instances_add(&req)?;
    emit("instances add", a.json, &r, report::instances::render);
    Ok(0)
}

fn run_instances_remove(a: &cli::InstancesRemoveArgs) -> Result<u8> {
    let req = msp_retarget::InstancesRemoveRequest {
        input: a.product.clone(),
        destination: a.destination.resolve()?,
        ids: a.ids.clone(),
        strip_signature: a.strip_signature,
    };
    let r = msp_retarget::instances_remove(&req)?;
    emit("instances remove", a.json, &r, report::instances::render);
    Ok(0)
}

fn run_inspect(a: &InspectArgs) -> Result<u8> {
    let options = msp_retarget::InspectOptions {
        tables: a.tables,
        package: a.package.clone(),
    };
    let r = msp_retarget::inspect_with(&a.file, &options)?;
    emit("inspect", a.json, &r, |r| {
        report::inspect::render_worded(r, &cli::words::Options)
    });
    Ok(0)
}

fn run_recover(a: &RecoverArgs) -> Result<u8> {
    let r = recover(&a.files)?;
    emit("recover", a.json, &r, report::recover::render);
    Ok(0)
}

fn run_check(a: &CheckArgs) -> Result<u8> {
    let mut products = a
        .packages
        .iter()
        .map(|p| ProductFacts::from_package(p))
        .collect::<Result<Vec<_>>>()?;
    for spec in &a.products {
        products.push(ProductFacts::parse_spec(spec).map_err(|e| e.at("--product"))?);
    }
    for path in &a.instances_from {
        check_readable(path)?;
        products.extend(ProductFacts::instances_of(path)?);
    }
    let mut r = msp_retarget::check_file(&a.patch, &products)?;
    if !a.details {
        r = r.brief();
    }
    emit("check", a.json, &r, |r| {
        report::check::render_with(r, a.details)
    });
    Ok(r.exit_code())
}

fn run_sequence(a: &SequenceArgs) -> Result<u8> {
    use msp_retarget::{SequenceRequest, products_from, sequence_files};
    // The library names no option; the command line says which one.
    for spec in &a.products {
        ProductFacts::parse_spec(spec).map_err(|e| e.at("--product"))?;
    }
    let req = SequenceRequest {
        patches: a.patches.clone(),
        installed: a.installed.clone(),
        products: products_from(&a.packages, &a.products, &a.instances_from)?,
    };
    let r = sequence_files(&req)?;
    emit("sequence", a.json, &r, report::sequence::render);
    Ok(r.exit_code())
}
