#![warn(missing_docs)]
//! `entitled`: the server and its admin commands.

mod admin_cli;
mod config;
mod log_output;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::admin_cli::{AppsCommand, KeysCommand, ProjectsCommand};
use crate::config::FlagOverrides;

/// mimalloc instead of glibc's allocator: a CustomerInfo read allocates many small JSON
/// values and rows, and glibc's malloc and free took about 12 % of the server's CPU under
/// load (bench/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Self-hosted backend for in-app subscriptions that speaks the RevenueCat REST API.
#[derive(Debug, Parser)]
#[command(name = "entitled", version, about)]
struct Cli {
    /// A TOML file with settings (flags and environment variables override it).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Database URL: sqlite://PATH (default sqlite://entitled.db) or postgres://…
    /// [env: DATABASE_URL, ENTITLED_DATABASE]
    #[arg(long, global = true)]
    database: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs pending migrations, then serves HTTP until SIGTERM/SIGINT.
    Serve {
        /// Address to listen on (default 127.0.0.1:8000) [env: ENTITLED_LISTEN]
        #[arg(long)]
        listen: Option<String>,
        /// Largest request body, in bytes (default 1048576) [env: ENTITLED_BODY_LIMIT_BYTES]
        #[arg(long)]
        body_limit_bytes: Option<usize>,
        /// Seconds in-flight requests get to finish on shutdown (default 30)
        /// [env: ENTITLED_DRAIN_TIMEOUT_SECS]
        #[arg(long)]
        drain_timeout_secs: Option<u64>,
        /// 64 hex characters that seal store credentials; prefer the environment variable,
        /// which other users cannot see in the process list [env: ENTITLED_SECRETS_KEY]
        #[arg(long)]
        secrets_key: Option<String>,
        /// Seconds a webhook receiver has to answer (default 60)
        /// [env: ENTITLED_WEBHOOK_DEADLINE_SECS]
        #[arg(long)]
        webhook_deadline_secs: Option<u64>,
        /// Delays before webhook retries (default 5m,10m,20m,40m,80m)
        /// [env: ENTITLED_WEBHOOK_RETRY_SCHEDULE]
        #[arg(long)]
        webhook_retry_schedule: Option<String>,
        /// How often the webhook worker polls, in ms (default 1000) [env: ENTITLED_WEBHOOK_POLL_MS]
        #[arg(long)]
        webhook_poll_ms: Option<u64>,
        /// Exchange rates into USD for webhook prices and revenue, e.g. EUR=1.08,GBP=1.27
        /// [env: ENTITLED_USD_RATES]
        #[arg(long)]
        usd_rates: Option<String>,
        /// Rate limits per key and domain, e.g. project_configuration=120/60s,sdk=1000/1s
        /// (defaults: RevenueCat's; sdk unlimited) [env: ENTITLED_RATE_LIMITS]
        #[arg(long)]
        rate_limits: Option<String>,
        /// Where rate-limit counts live: memory, database or redis://HOST:PORT/DB
        /// (default: memory on SQLite, database on PostgreSQL) [env: ENTITLED_RATE_LIMIT_STORE]
        #[arg(long)]
        rate_limit_store: Option<String>,
        /// How long a change waits for a busy customer before 423, in ms (default 0)
        /// [env: ENTITLED_CUSTOMER_LOCK_WAIT_MS]
        #[arg(long)]
        customer_lock_wait_ms: Option<u64>,
        /// Requests this node handles at once; more get 503 (default 512)
        /// [env: ENTITLED_MAX_CONCURRENT_REQUESTS]
        #[arg(long)]
        max_concurrent_requests: Option<usize>,
        /// Seconds between sweeps for test-store renewals and EXPIRATION events (default 60;
        /// 0 turns sweeping off) [env: ENTITLED_SWEEP_INTERVAL_SECS]
        #[arg(long)]
        sweep_interval_secs: Option<u64>,
        /// Root certificates Apple-signed purchases must chain to: comma-separated DER or PEM
        /// files (default: Apple Root CA - G3, built in) [env: ENTITLED_APPLE_ROOT_CERTS]
        #[arg(long)]
        apple_root_certs: Option<String>,
        /// Base URL of Google's Play Developer API (default: Google's)
        /// [env: ENTITLED_GOOGLE_API_BASE]
        #[arg(long)]
        google_api_base: Option<String>,
        /// How long a store's API may take before the request gets 504, in ms (default 10000)
        /// [env: ENTITLED_STORE_TIMEOUT_MS]
        #[arg(long)]
        store_timeout_ms: Option<u64>,
    },
    /// Runs pending migrations and exits.
    Migrate,
    /// Manages projects.
    #[command(subcommand)]
    Projects(ProjectsCommand),
    /// Manages apps.
    #[command(subcommand)]
    Apps(AppsCommand),
    /// Manages secret API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut flags = FlagOverrides {
        database: cli.database.clone(),
        ..FlagOverrides::default()
    };
    if let Command::Serve {
        listen,
        body_limit_bytes,
        drain_timeout_secs,
        secrets_key,
        webhook_deadline_secs,
        webhook_retry_schedule,
        webhook_poll_ms,
        usd_rates,
        rate_limits,
        rate_limit_store,
        customer_lock_wait_ms,
        max_concurrent_requests,
        sweep_interval_secs,
        apple_root_certs,
        google_api_base,
        store_timeout_ms,
    } = &cli.command
    {
        flags.google_api_base = google_api_base.clone();
        flags.store_timeout_ms = *store_timeout_ms;
        flags.apple_root_certs = apple_root_certs.clone();
        flags.sweep_interval_secs = *sweep_interval_secs;
        flags.max_concurrent_requests = *max_concurrent_requests;
        flags.customer_lock_wait_ms = *customer_lock_wait_ms;
        flags.rate_limits = rate_limits.clone();
        flags.rate_limit_store = rate_limit_store.clone();
        flags.usd_rates = usd_rates.clone();
        flags.webhook_deadline_secs = *webhook_deadline_secs;
        flags.webhook_retry_schedule = webhook_retry_schedule.clone();
        flags.webhook_poll_ms = *webhook_poll_ms;
        flags.listen = listen.clone();
        flags.body_limit_bytes = *body_limit_bytes;
        flags.drain_timeout_secs = *drain_timeout_secs;
        flags.secrets_key = secrets_key.clone();
    }
    let config = match config::load(cli.config.as_deref(), &flags) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("entitled: configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    let log = match serve::init_logging(&config.log_format) {
        Ok(guard) => guard,
        Err(err) => {
            eprintln!("entitled: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("entitled: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve { .. } => serve::serve(config).await,
            Command::Migrate => serve::migrate(&config).await,
            Command::Projects(command) => admin_cli::projects(&config, command).await,
            Command::Apps(command) => admin_cli::apps(&config, command).await,
            Command::Keys(command) => admin_cli::keys(&config, command).await,
        }
    });
    // Whatever the runtime's tasks still log, then the buffered lines, before the last word.
    drop(runtime);
    drop(log);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("entitled: {err:#}");
            ExitCode::FAILURE
        }
    }
}
