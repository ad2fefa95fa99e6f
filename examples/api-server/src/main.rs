//! `api-server`: the example API on a TCP port, reloading its rules when they change.
//!
//! ```sh
//! cargo run -p portcullis-example-api -- [--listen 127.0.0.1:3000] [--rules DIR]
//!     [--trust-proxy CIDR]... [--cors-origin ORIGIN]...
//!     [--redis redis://HOST:PORT [--instances N]]
//! ```
//!
//! With `--redis`, rate limits are counted in that Redis and so shared with every other
//! instance using it; while Redis is unavailable each instance applies its share of each
//! limit (divided by `--instances`, default 1).
//!
//! Logs (the decision log included) go to stderr; `RUST_LOG` filters them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use portcullis::store::{FailureMode, RedisOptions, RedisStore};
use portcullis::{Engine, TrustedProxies};
use portcullis_example_api::{app_with, rules_dir, serve, Options};

struct Args {
    listen: SocketAddr,
    rules: PathBuf,
    proxies: Vec<String>,
    origins: Vec<String>,
    redis: Option<String>,
    instances: u32,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
        rules: rules_dir(),
        proxies: Vec::new(),
        origins: Vec::new(),
        redis: None,
        instances: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => args.listen = value()?.parse().map_err(|e| format!("--listen: {e}"))?,
            "--rules" => args.rules = PathBuf::from(value()?),
            "--trust-proxy" => args.proxies.push(value()?),
            "--cors-origin" => args.origins.push(value()?),
            "--redis" => args.redis = Some(value()?),
            "--instances" => {
                args.instances = value()?
                    .parse()
                    .map_err(|e| format!("--instances: {e}"))?;
            }
            "-h" | "--help" => {
                return Err("usage: api-server [--listen ADDR] [--rules DIR] [--trust-proxy CIDR]... [--cors-origin ORIGIN]... [--redis redis://HOST:PORT [--instances N]]".to_string())
            }
            other => return Err(format!("unknown argument `{other}` (try --help)")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut builder = Engine::builder();
    if let Some(url) = &args.redis {
        let options = RedisOptions {
            failure_mode: FailureMode::Local {
                instances: args.instances,
            },
            ..RedisOptions::default()
        };
        match RedisStore::connect(url, options) {
            Ok(store) => builder = builder.rate_limit_store(store),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        }
    }
    let engine = match builder.load(&[&args.rules]) {
        Ok(e) => e,
        Err(e) => {
            eprint!("{}", e.render());
            return ExitCode::from(1);
        }
    };
    // Keep the watcher alive for the life of the server: edits to the rules apply at once.
    let _watcher = match engine.watch() {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!("{e}; rules will not reload by themselves");
            None
        }
    };
    let mut options = Options::default();
    match TrustedProxies::parse(&args.proxies) {
        Ok(p) => options.trusted_proxies = p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    }
    if !args.origins.is_empty() {
        options.cors_origins = args.origins;
    }
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {}: {e}", args.listen);
            return ExitCode::from(2);
        }
    };
    tracing::info!(
        "listening on http://{} with rules from {}{}",
        args.listen,
        args.rules.display(),
        args.redis
            .as_deref()
            .map(|u| format!(", rate limits shared through {u}"))
            .unwrap_or_default()
    );
    match serve(listener, app_with(engine, options)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server failed: {e}");
            ExitCode::from(2)
        }
    }
}
