//! The command line (clap derive), and running it against the library.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::error::Error;
use crate::linter;
use crate::printer::{self, OutputFormat, PrintOptions};
use crate::registry::{parse_rule_list, Rule, RuleSet};
use crate::settings::{Overrides, Settings};

/// Finds context-propagation bugs in Rust code.
#[derive(Debug, Parser)]
#[command(name = "ctxlint", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Lint files and directories.
    Check(CheckArgs),
    /// Print a rule's documentation.
    Rule(RuleArgs),
}

/// `ctxlint check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Files or directories to lint (files named here are always linted).
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// How to print findings.
    #[arg(long, value_enum, default_value_t = OutputFormat::Full)]
    pub output_format: OutputFormat,
    /// Rules to run: comma-separated codes or names, or ALL (replaces the configuration).
    #[arg(long, value_name = "CODES")]
    pub select: Option<String>,
    /// Rules not to run: comma-separated codes or names.
    #[arg(long, value_name = "CODES")]
    pub ignore: Option<String>,
    /// Exit with 0 even when there are findings.
    #[arg(long)]
    pub exit_zero: bool,
    /// Print the number of findings per rule instead of the findings.
    #[arg(long)]
    pub statistics: bool,
    /// Use this configuration file instead of looking for one.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print only the findings (no summary).
    #[arg(long)]
    pub quiet: bool,
}

/// `ctxlint rule`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("which").required(true))]
pub struct RuleArgs {
    /// A rule code (CTX001) or name (set-without-reset).
    #[arg(group = "which")]
    pub rule: Option<String>,
    /// Print every rule's documentation.
    #[arg(long, group = "which")]
    pub all: bool,
}

/// How a successful run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing found (or `--exit-zero`): exit 0.
    Clean,
    /// Findings: exit 1.
    Findings,
}

/// Runs the command, writing its output to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<Outcome, Error> {
    match cli.command {
        Command::Check(args) => check(args, out),
        Command::Rule(args) => {
            print_rules(&args, out)?;
            Ok(Outcome::Clean)
        }
    }
}

fn check(args: CheckArgs, out: &mut dyn Write) -> Result<Outcome, Error> {
    let overrides = Overrides {
        select: args.select.as_deref().map(parse_rule_list).transpose()?,
        ignore: args
            .ignore
            .as_deref()
            .map(parse_rule_list)
            .transpose()?
            .unwrap_or(RuleSet::EMPTY),
    };
    let start = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let settings = Settings::load(args.config.as_deref(), &start, &overrides)?;
    let report = linter::check(&args.paths, &settings)?;
    let color = args.output_format == OutputFormat::Full
        && std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    let options = PrintOptions {
        format: args.output_format,
        statistics: args.statistics,
        color,
        quiet: args.quiet,
    };
    printer::print(&report, options, out).map_err(Error::Output)?;
    out.flush().map_err(Error::Output)?;
    if report.findings.is_empty() || args.exit_zero {
        Ok(Outcome::Clean)
    } else {
        Ok(Outcome::Findings)
    }
}

fn print_rules(args: &RuleArgs, out: &mut dyn Write) -> Result<(), Error> {
    let rules: Vec<Rule> = match &args.rule {
        Some(name) => vec![name.parse()?],
        None => Rule::ALL.to_vec(),
    };
    for (at, rule) in rules.iter().enumerate() {
        if at > 0 {
            writeln!(out).map_err(Error::Output)?;
        }
        writeln!(out, "# {} ({})\n\n{}", rule.name(), rule.code(), rule.doc())
            .map_err(Error::Output)?;
    }
    Ok(())
}
