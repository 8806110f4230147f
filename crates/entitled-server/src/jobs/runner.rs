//! The job runner: claims one job at a time (any node may), runs it, saves progress and
//! renews its lease as it goes. A node that dies leaves the lease to run out; another node
//! then takes the job over from the start (imports skip what is already imported). Every
//! hour it also drops the stored input and output of jobs finished over a week ago.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use entitled_core::webhooks::Job;
use entitled_core::{Customer, UnixMillis};
use entitled_storage::{PageRequest, Storage, StorageError};
use serde_json::json;

use crate::Clock;
use crate::jobs::{export, import};
use crate::pagination::MAX_LIMIT;
use entitled_core::App;
use entitled_core::purchases::{LifecycleEvent, StoreTransaction};
use entitled_stores::app_store::SignedDataVerifier;

/// What imports verify purchases with: Apple's signatures and Google's API.
#[derive(Clone)]
pub struct StoreAdapters {
    /// Verifies App Store signed transactions.
    pub apple: Arc<SignedDataVerifier>,
    /// Asks Google Play about purchase tokens.
    pub play: Arc<crate::play_store::PlayClients>,
    /// Opens the Play apps' service accounts.
    pub sealer: Option<Arc<crate::credentials::Sealer>>,
}

/// One `app_user_id,product_id,purchase_token` row, verified with Google.
async fn play_row(
    storage: &dyn Storage,
    adapters: &StoreAdapters,
    line_number: usize,
    text: &str,
    apps: &[App],
    now: UnixMillis,
) -> Result<((String, StoreTransaction), Vec<LifecycleEvent>), import::RowError> {
    let error = |message: String| import::RowError {
        line: line_number,
        message,
    };
    let (user, product_id, token) = import::parse_play_row(line_number, text)?;
    let app = apps
        .iter()
        .find(|a| a.app_type == entitled_core::AppType::PlayStore)
        .ok_or_else(|| error("the project has no play_store app".into()))?;
    let client = adapters
        .play
        .client_for(storage, adapters.sealer.as_deref(), app)
        .await
        .map_err(|e| error(e.message))?;
    let verified = crate::play_store::verify_token(
        storage,
        &client,
        app,
        Some(&product_id),
        &token,
        "",
        now,
        now,
    )
    .await
    .map_err(|e| error(e.message))?;
    Ok(((user, verified.transaction), verified.lifecycle))
}

/// Kinds of job this runner does.
pub const KINDS: &[&str] = &["customer_export", "purchase_import", "webhook_redelivery"];
/// How long a claim lasts without being renewed.
const LEASE_MS: i64 = 30_000;
/// Rows or customers handled between progress saves.
const CHUNK: usize = 1_000;
/// Least time between an import's progress saves after its first chunk, well inside the
/// lease. A save rewrites the job's row, stored input (up to 64 MiB) included: 0.25–2.5 s for
/// a 29 MB input on SQLite, once per chunk before (bench/README.md).
const IMPORT_SAVE_EVERY: Duration = Duration::from_secs(2);

/// How long a finished job keeps its input and output file: an export can be downloaded
/// for a week after it finished.
pub const JOB_FILE_RETENTION_MS: i64 = 7 * 86_400_000;
/// How often a runner drops the files of jobs past their retention.
const EXPIRE_EVERY_MS: i64 = 3_600_000;

/// Drops the input and output files of jobs that finished over [`JOB_FILE_RETENTION_MS`]
/// before `now`; returns how many jobs had some.
pub async fn expire_files(storage: &dyn Storage, now: UnixMillis) -> Result<u64, StorageError> {
    storage
        .expire_job_files(UnixMillis(now.0.saturating_sub(JOB_FILE_RETENTION_MS)))
        .await
}

/// Starts the runner in the background.
pub fn spawn(
    storage: Arc<dyn Storage>,
    clock: Clock,
    poll: Duration,
    adapters: StoreAdapters,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut expired_at: Option<UnixMillis> = None;
        loop {
            let now = clock();
            if expired_at.is_none_or(|at| now.0.saturating_sub(at.0) >= EXPIRE_EVERY_MS) {
                expired_at = Some(now);
                match expire_files(storage.as_ref(), now).await {
                    Ok(0) => {}
                    Ok(jobs) => tracing::info!(jobs, "dropped the files of jobs past retention"),
                    Err(err) => tracing::warn!(error = %err, "cannot drop expired job files"),
                }
            }
            match storage.claim_job(KINDS, clock(), LEASE_MS).await {
                Ok(Some((job, input))) => {
                    let id = job.id.clone();
                    if let Err(err) = run(storage.as_ref(), &clock, &adapters, job, input).await {
                        tracing::warn!(job = %id, error = %err, "job stopped; its lease will let it run again");
                    }
                }
                Ok(None) => tokio::time::sleep(poll).await,
                Err(err) => {
                    tracing::warn!(error = %err, "job runner cannot claim");
                    tokio::time::sleep(poll).await;
                }
            }
        }
    })
}

async fn save(
    storage: &dyn Storage,
    clock: &Clock,
    job: &mut Job,
    file: Option<&str>,
) -> Result<(), StorageError> {
    let now = clock();
    job.updated_at = now;
    let lease = (job.status == "running").then(|| UnixMillis(now.0 + LEASE_MS));
    storage.save_job(job, lease, file).await
}

async fn run(
    storage: &dyn Storage,
    clock: &Clock,
    adapters: &StoreAdapters,
    mut job: Job,
    input: Option<String>,
) -> Result<(), StorageError> {
    match job.kind.as_str() {
        "purchase_import" => {
            run_import(
                storage,
                clock,
                adapters,
                &mut job,
                input.unwrap_or_default(),
            )
            .await
        }
        "webhook_redelivery" => run_redelivery(storage, clock, &mut job).await,
        _ => run_export(storage, clock, &mut job).await,
    }
}

/// Queues a range of an integration's events again. Running it twice (after a crash) only
/// sends events again with their unchanged ids, which receivers deduplicate.
async fn run_redelivery(
    storage: &dyn Storage,
    clock: &Clock,
    job: &mut Job,
) -> Result<(), StorageError> {
    let integration_id = job.params["webhook_integration_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let from = UnixMillis(job.params["from_ms"].as_i64().unwrap_or(0));
    let to = UnixMillis(job.params["to_ms"].as_i64().unwrap_or(0));
    job.progress = 100;
    job.status = "succeeded".to_string();
    job.result = Some(
        match storage
            .get_integration(&job.project_id, &integration_id)
            .await?
        {
            Some(integration) => {
                let queued = storage.redeliver(&integration, from, to, clock()).await?;
                json!({"queued": queued})
            }
            None => {
                job.status = "failed".to_string();
                json!({"error": "the webhook integration was deleted"})
            }
        },
    );
    save(storage, clock, job, None).await
}

async fn run_import(
    storage: &dyn Storage,
    clock: &Clock,
    adapters: &StoreAdapters,
    job: &mut Job,
    data: String,
) -> Result<(), StorageError> {
    let format = job.params["format"].as_str().unwrap_or("csv").to_string();
    let all = PageRequest {
        starting_after: None,
        limit: MAX_LIMIT,
    };
    let apps = storage.list_apps(&job.project_id, &all).await?.items;
    let lines: Vec<&str> = data
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .collect();
    let total = lines.len().max(1);
    let (mut imported, mut known, mut errors) = (0u64, 0u64, Vec::new());
    let mut error_count = 0u64;
    let mut last_save: Option<std::time::Instant> = None;
    for (chunk_index, chunk) in lines.chunks(CHUNK).enumerate() {
        let now = clock();
        let mut rows = Vec::with_capacity(chunk.len());
        let mut refunds = Vec::new();
        for (offset, text) in chunk.iter().enumerate() {
            let line_number = chunk_index * CHUNK + offset + 2;
            let parsed = match format.as_str() {
                import::SIGNED_FORMAT => {
                    import::parse_signed_row(line_number, text, &apps, &adapters.apple, now).map(
                        |(row, refund)| {
                            refunds.extend(refund);
                            row
                        },
                    )
                }
                import::PLAY_FORMAT => play_row(storage, adapters, line_number, text, &apps, now)
                    .await
                    .map(|(row, lifecycle)| {
                        refunds.extend(lifecycle);
                        row
                    }),
                _ => import::parse_row(line_number, text, &apps, now),
            };
            match parsed {
                Ok(row) => rows.push(row),
                Err(err) => {
                    error_count += 1;
                    if errors.len() < 20 {
                        errors.push(json!({"line": err.line, "message": err.message}));
                    }
                }
            }
        }
        let written = storage
            .import_purchases(&job.project_id, &rows, now)
            .await?;
        // Historical refunds (and Play states) are facts, not news: recorded without events.
        for refund in &refunds {
            let fact = crate::store_facts::scoped(&job.project_id, refund);
            storage
                .add_lifecycle_event(&job.project_id, &fact, &[], now)
                .await?;
        }
        imported += written;
        known += rows.len() as u64 - written;
        job.progress =
            i64::try_from((chunk_index * CHUNK + chunk.len()) * 100 / total).unwrap_or(100);
        job.result =
            Some(json!({"imported": imported, "already_known": known, "rejected": error_count}));
        if last_save.is_none_or(|at| at.elapsed() >= IMPORT_SAVE_EVERY) {
            save(storage, clock, job, None).await?;
            last_save = Some(std::time::Instant::now());
        }
    }
    job.status = "succeeded".to_string();
    job.progress = 100;
    job.result = Some(json!({
        "imported": imported, "already_known": known, "rejected": error_count, "errors": errors,
    }));
    save(storage, clock, job, None).await
}

async fn run_export(
    storage: &dyn Storage,
    clock: &Clock,
    job: &mut Job,
) -> Result<(), StorageError> {
    let format = job.params["format"].as_str().unwrap_or("csv").to_string();
    let from = job.params["from_ms"].as_i64().unwrap_or(i64::MIN);
    let to = job.params["to_ms"].as_i64().unwrap_or(i64::MAX);
    let catalog = storage.catalog_view(&job.project_id).await?;
    let mut out = String::new();
    if format == "csv" {
        out.push_str(export::CSV_HEADER);
        out.push('\n');
    }
    let mut cursor: Option<String> = None;
    let (mut customers, mut purchases) = (0u64, 0u64);
    loop {
        let page = storage
            .list_customers(
                &job.project_id,
                None,
                &PageRequest {
                    starting_after: cursor.clone(),
                    limit: CHUNK as u32,
                },
            )
            .await?;
        let chosen: Vec<&Customer> = page
            .items
            .iter()
            .filter(|c| (from..=to).contains(&c.first_seen_at.0))
            .collect();
        let keys: Vec<String> = chosen.iter().map(|c| c.key.clone()).collect();
        let (transactions, events, grants) = if keys.is_empty() {
            Default::default()
        } else {
            storage.facts_of_customers(&job.project_id, &keys).await?
        };
        let mut by_customer: BTreeMap<&str, Vec<&entitled_core::purchases::StoreTransaction>> =
            BTreeMap::new();
        for t in &transactions {
            by_customer
                .entry(t.customer_key.as_str())
                .or_default()
                .push(t);
        }
        let now = clock();
        for customer in chosen {
            let theirs = by_customer
                .remove(customer.key.as_str())
                .unwrap_or_default();
            let their_grants: Vec<_> = grants
                .iter()
                .filter(|g| g.customer_key == customer.key)
                .collect();
            purchases += theirs.len() as u64;
            customers += 1;
            export::append(
                &mut out,
                &format,
                &export::CustomerFacts {
                    customer,
                    transactions: &theirs,
                    events: &events,
                    grants: &their_grants,
                },
                &catalog,
                now,
            );
        }
        job.result = Some(json!({"customers": customers, "purchases": purchases}));
        save(storage, clock, job, None).await?;
        if !page.has_more {
            break;
        }
        cursor = page.items.last().map(|c| c.id.clone());
    }
    job.status = "succeeded".to_string();
    job.progress = 100;
    save(storage, clock, job, Some(&out)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixMillis = UnixMillis(1_790_000_000_000);

    #[tokio::test]
    async fn files_are_kept_for_a_week_after_the_job_finished() {
        let (state, _dir) = crate::test_state(Arc::new(|| NOW)).await;
        let project = crate::admin::create_project(
            state.storage.as_ref(),
            "retention",
            entitled_core::TransferRule::default(),
            NOW,
        )
        .await
        .unwrap();
        let finished = |id: &str, ago_ms: i64| Job {
            id: id.to_string(),
            project_id: project.id.clone(),
            kind: "customer_export".to_string(),
            status: "succeeded".to_string(),
            progress: 100,
            params: json!({"format": "csv"}),
            result: Some(json!({})),
            created_at: UnixMillis(NOW.0 - ago_ms),
            updated_at: UnixMillis(NOW.0 - ago_ms),
        };
        let day = 86_400_000;
        for job in [
            finished("job_week_old", 7 * day + 1),
            finished("job_six_days", 6 * day),
        ] {
            state.storage.create_job(&job, None).await.unwrap();
            state
                .storage
                .save_job(&job, None, Some("customer,entitlement\n"))
                .await
                .unwrap();
        }
        assert_eq!(expire_files(state.storage.as_ref(), NOW).await.unwrap(), 1);
        let file = |id: &'static str| {
            let (storage, project_id) = (state.storage.clone(), project.id.clone());
            async move { storage.job_file(&project_id, id).await.unwrap() }
        };
        assert_eq!(file("job_week_old").await, None);
        assert!(file("job_six_days").await.is_some());
    }
}
