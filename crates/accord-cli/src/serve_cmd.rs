//! `accord serve`: loads the configuration, binds, prints `listening on ADDR`, and runs the
//! broker until SIGINT or SIGTERM, then drains calls in flight.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use accord_server::{ServerConfig, EXIT_CONFIG};
use tokio::net::TcpListener;

use crate::dev_cmd::DEFAULT_DIR;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Configuration file (TOML; every key may be overridden by an ACCORD_* variable). Default:
    /// .accord-dev/accord.toml when it exists.
    #[arg(long, env = "ACCORD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on, overriding `listen` (127.0.0.1:0 picks a free port).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Log line format on stderr; the level comes from RUST_LOG (default info).
    #[arg(long, value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Installs the tracing subscriber (stderr, `RUST_LOG` or `default` as the filter).
pub fn init_tracing(format: LogFormat, default: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    use std::io::IsTerminal as _;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // A second installation (tests, the demo after serve) is harmless: keep the first.
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

fn config_path(given: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(p) = given {
        return Ok(p);
    }
    let dev = Path::new(DEFAULT_DIR).join("accord.toml");
    if dev.is_file() {
        return Ok(dev);
    }
    Err(format!(
        "no configuration: pass --config FILE (or set ACCORD_CONFIG), or run `accord dev init` to create a development setup in {DEFAULT_DIR}/ that `accord serve` then uses"
    ))
}

pub fn run(args: ServeArgs) -> ExitCode {
    let path = match config_path(args.config) {
        Ok(p) => p,
        Err(msg) => {
            eprintln!("error: {msg}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let mut env: Vec<(String, String)> = std::env::vars().collect();
    if let Some(listen) = args.listen {
        env.retain(|(k, _)| k != "ACCORD_LISTEN");
        env.push(("ACCORD_LISTEN".into(), listen.to_string()));
    }
    let config = match ServerConfig::load_with_env(&path, env) {
        Ok(c) => c,
        Err(e) => {
            eprint!("error: {e}");
            eprintln!("Fix these and start again; docs/operations.md lists every key.");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    init_tracing(args.log_format, "info");
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: ServerConfig) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.listen).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {}: {e} (is another broker running? choose another address with --listen or `listen`)",
            config.listen
        )
    })?;
    let addr = listener.local_addr()?;
    // Bound: clients may connect from now on (their handshakes wait while the store opens).
    outln!("listening on {addr}");
    let _ = std::io::stdout().flush();
    accord_server::run_with_config(config, listener, shutdown_signal()).await
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
