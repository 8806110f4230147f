//! `entitled serve` and `entitled migrate`: start-up, first-start seeding, graceful shutdown.

use entitled_stores::app_store::{SignedDataVerifier, TrustedRoots};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use entitled_server::credentials::Sealer;
use entitled_server::webhooks::worker::{self, WorkerConfig};
use entitled_server::{AppState, Drain, HttpConfig, Services, admin, app, system_clock};
use entitled_storage::{Storage, redact_url};
use tokio::net::TcpListener;

use crate::config::{Config, parse_schedule};
use crate::log_output::{LogBuffer, LogGuard};

/// Logs to stderr, as JSON lines (default) or text, through a [`LogBuffer`]; `RUST_LOG`
/// sets the filter. Keep the guard until the last line: dropping it writes out the rest.
pub fn init_logging(format: &str) -> anyhow::Result<LogGuard> {
    let (buffer, guard) =
        LogBuffer::start(Box::new(std::io::stderr())).context("starting the log's flushing")?;
    let before_panic = buffer.clone();
    let report_panic = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        before_panic.try_flush();
        report_panic(info);
    }));
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(buffer);
    if format == "text" {
        builder.init();
    } else {
        builder.json().flatten_event(true).init();
    }
    Ok(guard)
}

/// Opens the configured database and applies pending migrations.
pub async fn open_migrated(config: &Config) -> anyhow::Result<Arc<dyn Storage>> {
    let storage = entitled_storage::open(&config.database)
        .await
        .with_context(|| format!("opening database {}", redact_url(&config.database)))?;
    storage.migrate().await.context("running migrations")?;
    Ok(storage)
}

/// `entitled migrate`.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    open_migrated(config).await?;
    println!(
        "entitled: migrations applied to {}",
        redact_url(&config.database)
    );
    Ok(())
}

/// `entitled serve`.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let storage = open_migrated(&config).await?;
    let clock = system_clock();
    if let Some(seeded) = admin::bootstrap(storage.as_ref(), clock())
        .await
        .map_err(|e| anyhow::anyhow!(e.message))
        .context("seeding the first project")?
    {
        println!("entitled: first start: created project \"default\"");
        println!("  project id:      {}", seeded.project.id);
        println!(
            "  public SDK key:  {}   (test_store app {})",
            seeded.public_key.plaintext, seeded.app.id
        );
        println!(
            "  secret key:      {}   (all permissions)",
            seeded.secret_key.plaintext
        );
        println!("  These keys are shown only once: store them now.");
    }
    let listener = TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let address = listener.local_addr()?;
    let drain = Arc::new(Drain::new());
    let sealer = match &config.secrets_key {
        Some(key) => Some(Arc::new(
            Sealer::from_hex(key).map_err(|e| anyhow::anyhow!("ENTITLED_SECRETS_KEY: {e}"))?,
        )),
        None => None,
    };
    let apple = Arc::new(apple_verifier(&config.apple_root_certs)?);
    let play = Arc::new(entitled_server::play_store::PlayClients::new(
        entitled_stores::play_store::PlayClientConfig {
            base_url: config.google_api_base.clone(),
            timeout: Duration::from_millis(config.store_timeout_ms.max(1)),
        },
    ));
    let worker_config = WorkerConfig {
        poll_interval: Duration::from_millis(config.webhook_poll_ms.max(10)),
        deadline: Duration::from_secs(config.webhook_deadline_secs.max(1)),
        retry_schedule_ms: parse_schedule(&config.webhook_retry_schedule)
            .map_err(|e| anyhow::anyhow!("ENTITLED_WEBHOOK_RETRY_SCHEDULE: {e}"))?,
        batch: 32,
    };
    let worker = worker::spawn(storage.clone(), clock.clone(), worker_config);
    let jobs = entitled_server::jobs::runner::spawn(
        storage.clone(),
        clock.clone(),
        Duration::from_millis(config.webhook_poll_ms.max(10)),
        entitled_server::jobs::runner::StoreAdapters {
            apple: apple.clone(),
            play: play.clone(),
            sealer: sealer.clone(),
        },
    );
    let usd_rates = entitled_core::purchases::UsdRates::parse(&config.usd_rates)
        .map_err(|e| anyhow::anyhow!("ENTITLED_USD_RATES: {e}"))?;
    let limits = entitled_core::rate_limits::RateLimits::parse(&config.rate_limits)
        .map_err(|e| anyhow::anyhow!("ENTITLED_RATE_LIMITS: {e}"))?;
    let rate_limiter = Arc::new(
        entitled_server::rate_limit::RateLimiter::open(
            &config.rate_limit_store,
            limits,
            storage.clone(),
            clock.clone(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("ENTITLED_RATE_LIMIT_STORE: {e}"))?,
    );
    let state = AppState::new(Services {
        apple,
        play,
        visits: entitled_server::visits::VisitRecorder::spawn(storage.clone()),
        storage,
        clock,
        drain: drain.clone(),
        sealer,
        usd_rates: Arc::new(usd_rates),
        rate_limiter,
        lock_wait: Duration::from_millis(config.customer_lock_wait_ms),
        shedder: Arc::new(entitled_server::shed::Shedder::new(
            config.max_concurrent_requests,
        )),
    });
    let http = HttpConfig {
        body_limit_bytes: config.body_limit_bytes,
    };
    let sweep = (config.sweep_interval_secs > 0).then(|| {
        entitled_server::sweep::spawn(
            state.clone(),
            Duration::from_secs(config.sweep_interval_secs),
        )
    });
    let visits = state.visits.clone();
    let router = app(state, &http);
    println!("entitled: listening on http://{address}");
    tracing::info!(%address, database = %redact_url(&config.database), "listening");
    let drain_timeout = Duration::from_secs(config.drain_timeout_secs);
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!(in_flight = drain.in_flight(), "draining");
            drain.start();
            if tokio::time::timeout(drain_timeout, drain.wait_idle())
                .await
                .is_err()
            {
                tracing::warn!(
                    in_flight = drain.in_flight(),
                    "drain timeout; closing anyway"
                );
            }
        })
        .await
        .context("serving HTTP")?;
    // The last requests' visits are written before the process ends.
    if let Err(err) = visits.flush().await {
        tracing::warn!(error = %err, "last-seen visits not written at shutdown");
    }
    worker.abort();
    jobs.abort();
    if let Some(sweep) = sweep {
        sweep.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// The verifier of Apple-signed purchases: Apple's own root, or the roots in `paths`
/// (comma-separated files).
fn apple_verifier(paths: &str) -> anyhow::Result<SignedDataVerifier> {
    let paths: Vec<&str> = paths
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if paths.is_empty() {
        return Ok(SignedDataVerifier::new(TrustedRoots::apple()));
    }
    let files = paths
        .iter()
        .map(|path| {
            std::fs::read(path)
                .map(|bytes| (path.to_string(), bytes))
                .with_context(|| format!("ENTITLED_APPLE_ROOT_CERTS: reading {path}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let roots = TrustedRoots::from_files(&files)
        .map_err(|e| anyhow::anyhow!("ENTITLED_APPLE_ROOT_CERTS: {e}"))?;
    Ok(SignedDataVerifier::new(roots))
}
