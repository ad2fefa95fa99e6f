//! The `portcullis` command: check rule files and evaluate requests against them.
//!
//! Exit codes: 0 ok; 1 errors found in rules or requests; 2 the tool itself failed.

#![forbid(unsafe_code)]

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// `eprint!` that never panics: a closed stderr (`2>&-`, a dead log pipe) loses the text,
/// not the exit code.
macro_rules! report {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
}

/// `eprintln!` that never panics; see [`report!`].
macro_rules! reportln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod bench;
mod eval;
mod ftw;
mod replay;
mod test;

#[derive(Parser)]
#[command(
    name = "portcullis",
    version,
    about = "Check web application firewall rules and evaluate requests against them"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check rule files: exit 0 when valid (warnings allowed), 1 with diagnostics when not.
    Check {
        /// Rule files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Treat warnings as errors.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Evaluate requests (JSON lines, see docs/requests.md) and print one JSON decision per
    /// line.
    Eval {
        /// Rule files or directories.
        #[arg(required = true)]
        rules: Vec<PathBuf>,
        /// Read requests from this file instead of stdin.
        #[arg(long, short)]
        requests: Option<PathBuf>,
        /// Add each evaluated rule and why it matched or not.
        #[arg(long)]
        explain: bool,
    },
    /// Measure what a rule set costs: decisions per second, ns per decision, and the
    /// rules and fields that take the time.
    Bench {
        /// Rule files or directories.
        #[arg(required = true)]
        rules: Vec<PathBuf>,
        /// Requests (JSON lines) to evaluate, instead of stdin.
        #[arg(long, short)]
        requests: Option<PathBuf>,
    },
    /// Run the tests a rule pack carries (tests/*.toml beside the rules; see
    /// docs/operators.md): exit 0 when all pass, 1 when one fails.
    Test {
        /// Rule files or directories; tests are read from `tests/` in each directory.
        #[arg(required = true)]
        rules: Vec<PathBuf>,
        /// Test files or directories to run instead of the rules' `tests/`.
        #[arg(long, num_args = 1..)]
        tests: Vec<PathBuf>,
        /// Run only the tests whose name contains this text.
        #[arg(long)]
        filter: Option<String>,
        /// Report as text (like `cargo test`) or one JSON document.
        #[arg(long, value_enum, default_value = "text")]
        format: test::Format,
    },
    /// Run OWASP CRS's go-ftw regression tests (YAML) against the rules, without a server:
    /// exit 0 when none fails, 1 when one does.
    Ftw {
        /// The directory of go-ftw test files (`*.yaml`, `*.yml`, recursively).
        tests: PathBuf,
        /// Rule files or directories.
        #[arg(required = true)]
        rules: Vec<PathBuf>,
        /// A platform overrides file: the tests it lists are reported, not run.
        #[arg(long)]
        overrides: Option<PathBuf>,
        /// Run only the tests whose id (`942100-1`) matches this regex.
        #[arg(long)]
        include: Option<String>,
        /// Leave out the tests whose id matches this regex.
        #[arg(long)]
        exclude: Option<String>,
        /// Report as text (like `cargo test`) or one JSON document.
        #[arg(long, value_enum, default_value = "text")]
        format: ftw::Format,
    },
    /// Evaluate every request of an access log as if the rules were deployed, and report
    /// what they would do (or, with --compare, what another rule set would change).
    Replay {
        /// Rule files or directories.
        #[arg(required = true)]
        rules: Vec<PathBuf>,
        /// The access log (`-` for stdin).
        #[arg(long)]
        log: PathBuf,
        /// Log format: combined (nginx/Apache), json (JSON lines), or auto (per line).
        #[arg(long, value_enum, default_value = "auto")]
        format: replay::Format,
        /// Another rule set to compare with: newly blocked, newly allowed, changed.
        #[arg(long, num_args = 1..)]
        compare: Vec<PathBuf>,
        /// Report as text or one JSON document.
        #[arg(long, value_enum, default_value = "text")]
        output: replay::Output,
        /// Examples shown per rule.
        #[arg(long, default_value_t = 3)]
        examples: usize,
        /// Entries in each top list (client IPs, paths, user agents).
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// Exit 1 when a line could not be parsed (they are always reported).
        #[arg(long)]
        strict: bool,
    },
}

/// The outcome of a command that ran: whether it found problems in its input.
enum Outcome {
    Clean,
    Problems,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check {
            paths,
            deny_warnings,
        } => check(&paths, deny_warnings),
        Command::Eval {
            rules,
            requests,
            explain,
        } => eval::run(&rules, requests.as_deref(), explain),
        Command::Bench { rules, requests } => bench::run(&rules, requests.as_deref()),
        Command::Test {
            rules,
            tests,
            filter,
            format,
        } => test::run(&rules, &tests, filter.as_deref(), format),
        Command::Ftw {
            tests,
            rules,
            overrides,
            include,
            exclude,
            format,
        } => ftw::run(&ftw::Options {
            tests: &tests,
            rules: &rules,
            overrides: overrides.as_deref(),
            include: include.as_deref(),
            exclude: exclude.as_deref(),
            format,
        }),
        Command::Replay {
            rules,
            log,
            format,
            compare,
            output,
            examples,
            top,
            strict,
        } => replay::run(&replay::Options {
            rules: &rules,
            log: &log,
            format,
            compare: &compare,
            output,
            examples,
            top,
            strict,
        }),
    };
    match result {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Problems) => ExitCode::from(1),
        // A reader that stopped reading (`| head`) is not a failure of the tool.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            reportln!("portcullis: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Loads and compiles rules, printing diagnostics; `None` when they have errors.
fn load(paths: &[PathBuf]) -> Option<(portcullis::Engine, Vec<String>)> {
    load_summarized(paths).map(|(engine, warnings, _)| (engine, warnings))
}

/// [`load`], and what became of the SecLang rules.
fn load_summarized(paths: &[PathBuf]) -> Option<(portcullis::Engine, Vec<String>, Vec<String>)> {
    let (rules, summaries) =
        match portcullis::load_rules_summarized(paths, &portcullis::LoadOptions::default()) {
            Ok(r) => r,
            Err(e) => {
                reportln!("{e}");
                return None;
            }
        };
    let warnings: Vec<String> = rules
        .warnings()
        .iter()
        .map(|w| w.render(rules.sources()))
        .collect();
    match portcullis::Engine::from_rules(rules) {
        Ok(engine) => Some((engine, warnings, summaries)),
        Err(e) => {
            report!("{}", e.render());
            None
        }
    }
}

fn check(paths: &[PathBuf], deny_warnings: bool) -> anyhow::Result<Outcome> {
    let Some((engine, warnings, summaries)) = load_summarized(paths) else {
        return Ok(Outcome::Problems);
    };
    for w in &warnings {
        report!("{w}");
    }
    let policy = engine.policy();
    let rules = policy.rules();
    let files = (0..).map_while(|i| rules.sources().get(i)).count();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "ok: {} rules, {} lists, {} files, {} warnings",
        rules.rules.len(),
        rules.lists.iter().filter(|l| !l.anonymous).count(),
        files,
        warnings.len()
    )
    .context("writing to stdout")?;
    for s in &summaries {
        writeln!(out, "{s}").context("writing to stdout")?;
    }
    // What was compiled into which scanner: one per field and decoding chain, every
    // pattern of every rule on it in one pass (the largest first).
    let mut fields = policy.field_costs(&[]);
    fields.retain(|f| f.predicates > 0);
    fields.sort_by(|a, b| b.predicates.cmp(&a.predicates).then(a.field.cmp(&b.field)));
    if !fields.is_empty() {
        let predicates: usize = fields.iter().map(|f| f.predicates).sum();
        writeln!(
            out,
            "compiled: {} field scanners, {predicates} scanned predicates, {} KiB of regexes",
            fields.len(),
            policy.regex_bytes() >> 10
        )
        .context("writing to stdout")?;
        for f in fields.iter().take(10) {
            writeln!(out, "  {:>5} on {}", f.predicates, f.field).context("writing to stdout")?;
        }
        if fields.len() > 10 {
            writeln!(out, "  … and {} more", fields.len() - 10).context("writing to stdout")?;
        }
    }
    Ok(if deny_warnings && !warnings.is_empty() {
        reportln!("error: warnings are denied (--deny-warnings)");
        Outcome::Problems
    } else {
        Outcome::Clean
    })
}

/// Reads lines from a file or stdin.
fn lines(
    path: Option<&std::path::Path>,
) -> anyhow::Result<Box<dyn Iterator<Item = std::io::Result<String>>>> {
    Ok(match path {
        Some(p) => {
            let f =
                std::fs::File::open(p).with_context(|| format!("cannot open {}", p.display()))?;
            Box::new(std::io::BufReader::new(f).lines())
        }
        None => Box::new(std::io::stdin().lock().lines()),
    })
}
