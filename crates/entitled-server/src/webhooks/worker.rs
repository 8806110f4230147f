//! The delivery worker: claims due deliveries, POSTs them with a deadline and a signature,
//! records every attempt, and schedules retries. Several workers (threads or nodes) can run
//! at once: a claimed delivery is leased to one of them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use entitled_core::UnixMillis;
use entitled_core::webhooks::{AttemptOutcome, next_attempt_at, signature};
use entitled_storage::{ClaimedDelivery, Storage};

use crate::Clock;

/// Header with the delivery's signature: `t=<unix seconds>,v1=<hex HMAC-SHA256>`.
pub const SIGNATURE_HEADER: &str = "X-Entitled-Signature";

/// How the worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// How often to look for due deliveries.
    pub poll_interval: Duration,
    /// How long a receiver has to answer.
    pub deadline: Duration,
    /// Delays before each retry, in ms.
    pub retry_schedule_ms: Vec<i64>,
    /// Deliveries claimed per round.
    pub batch: u32,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            deadline: Duration::from_secs(60),
            retry_schedule_ms: entitled_core::webhooks::DEFAULT_RETRY_SCHEDULE_MS.to_vec(),
            batch: 32,
        }
    }
}

/// Starts the worker in the background.
pub fn spawn(
    storage: Arc<dyn Storage>,
    clock: Clock,
    config: WorkerConfig,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = match reqwest::Client::builder().timeout(config.deadline).build() {
            Ok(client) => client,
            Err(err) => {
                tracing::error!(error = %err, "webhook worker cannot start");
                return;
            }
        };
        loop {
            match run_once(storage.as_ref(), &client, &clock, &config).await {
                Ok(0) => tokio::time::sleep(config.poll_interval).await,
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "webhook worker round failed");
                    tokio::time::sleep(config.poll_interval).await;
                }
            }
        }
    })
}

/// One round: claims due deliveries and attempts them all at once; returns how many.
pub async fn run_once(
    storage: &dyn Storage,
    client: &reqwest::Client,
    clock: &Clock,
    config: &WorkerConfig,
) -> Result<usize, entitled_storage::StorageError> {
    let now = clock();
    let lease_ms = i64::try_from(config.deadline.as_millis()).unwrap_or(i64::MAX / 2) + 5_000;
    let claimed = storage
        .claim_deliveries(now, lease_ms, config.batch)
        .await?;
    let count = claimed.len();
    let attempts = claimed.into_iter().map(|delivery| {
        let client = client.clone();
        async move {
            let outcome = attempt(&client, &delivery).await;
            (delivery, outcome)
        }
    });
    for (delivery, outcome) in futures_join_all(attempts).await {
        let finished = clock();
        let retry_at = if outcome.succeeded() {
            None
        } else {
            let made = usize::try_from(delivery.attempts + 1).unwrap_or(usize::MAX);
            next_attempt_at(&config.retry_schedule_ms, made, finished)
        };
        tracing::info!(
            delivery = %delivery.delivery_id,
            event = %delivery.event_id,
            status = outcome.status_code,
            error = outcome.error.as_deref().unwrap_or(""),
            "webhook attempt"
        );
        storage
            .finish_attempt(&delivery.delivery_id, &outcome, finished, retry_at)
            .await?;
    }
    Ok(count)
}

/// Runs futures concurrently and collects their outputs in order.
async fn futures_join_all<F: std::future::Future + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut outputs = Vec::with_capacity(handles.len());
    for handle in handles {
        if let Ok(output) = handle.await {
            outputs.push(output);
        }
    }
    outputs
}

/// POSTs one delivery; any answer other than 2xx, and no answer in time, is a failure.
async fn attempt(client: &reqwest::Client, delivery: &ClaimedDelivery) -> AttemptOutcome {
    let started = Instant::now();
    let now_secs = UnixMillis(
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis()),
        )
        .unwrap_or(0),
    )
    .0 / 1000;
    let mut request = client
        .post(&delivery.url)
        .header("Content-Type", "application/json")
        .header("User-Agent", "entitled-webhooks")
        .header("X-Entitled-Event-Id", &delivery.event_id)
        .header(
            SIGNATURE_HEADER,
            signature(&delivery.signing_secret, now_secs, delivery.body.as_bytes()),
        )
        .body(delivery.body.clone());
    if let Some(authorization) = &delivery.authorization_header {
        request = request.header("Authorization", authorization);
    }
    let result = request.send().await;
    let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    match result {
        Ok(response) => AttemptOutcome {
            status_code: Some(response.status().as_u16()),
            latency_ms,
            error: None,
        },
        Err(err) => AttemptOutcome {
            status_code: None,
            latency_ms,
            error: Some(if err.is_timeout() {
                "no answer before the deadline".to_string()
            } else if err.is_connect() {
                "could not connect".to_string()
            } else {
                "request failed".to_string()
            }),
        },
    }
}
