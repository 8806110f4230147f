//! `entitled projects|apps|keys …`: admin commands for scripts. Each prints the object it
//! created or changed as one JSON object on stdout. They work on the database directly, also
//! while a server runs on it.

use anyhow::{Context, anyhow};
use clap::Subcommand;
use entitled_core::{Actor, AppType, Permissions, TransferRule};
use entitled_server::admin::{self, NewApp};
use entitled_server::v2::api_keys::ApiKeyView;
use entitled_server::v2::apps::AppView;
use entitled_server::v2::projects::ProjectView;
use entitled_server::{ApiError, system_clock};
use entitled_storage::Storage;
use serde::Serialize;

use crate::config::Config;
use crate::serve::open_migrated;

/// `entitled projects …`
#[derive(Debug, Subcommand)]
pub enum ProjectsCommand {
    /// Creates a project.
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
        /// Who owns a purchase another customer restores: transfer (default) or
        /// keep_with_original.
        #[arg(long, default_value = "transfer")]
        transfer_rule: String,
    },
}

/// `entitled apps …`
#[derive(Debug, Subcommand)]
pub enum AppsCommand {
    /// Creates an app and prints it with its public SDK key (shown only here).
    Create {
        /// The project id.
        #[arg(long)]
        project: String,
        /// test_store, app_store, play_store or stripe.
        #[arg(long = "type")]
        app_type: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Bundle id (app_store apps).
        #[arg(long)]
        bundle_id: Option<String>,
        /// Package name (play_store apps).
        #[arg(long)]
        package_name: Option<String>,
        /// Connected Stripe account, acct_… (stripe apps).
        #[arg(long)]
        stripe_account_id: Option<String>,
    },
}

/// `entitled keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Creates a secret key and prints it with `key` (shown only here).
    Create {
        /// The project id.
        #[arg(long)]
        project: String,
        /// A label for the key.
        #[arg(long)]
        name: Option<String>,
        /// all, read, or comma-separated scopes like project_configuration:apps:read_write.
        #[arg(long, default_value = "all")]
        permissions: String,
    },
    /// Revokes a secret key; it stops working at once.
    Revoke {
        /// The project id.
        #[arg(long)]
        project: String,
        /// The key's id (`key…`).
        key_id: String,
    },
}

fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

fn explain(err: ApiError) -> anyhow::Error {
    match err.param {
        Some(param) => anyhow!("{} ({param})", err.message),
        None => anyhow!("{}", err.message),
    }
}

async fn storage(config: &Config) -> anyhow::Result<std::sync::Arc<dyn Storage>> {
    open_migrated(config).await
}

/// Runs a `projects` command.
pub async fn projects(config: &Config, command: ProjectsCommand) -> anyhow::Result<()> {
    let storage = storage(config).await?;
    let now = system_clock()();
    match command {
        ProjectsCommand::Create {
            name,
            transfer_rule,
        } => {
            let rule = TransferRule::parse(&transfer_rule, "--transfer-rule")
                .map_err(|e| anyhow!(e.message))?;
            let project = admin::create_project(storage.as_ref(), &name, rule, now)
                .await
                .map_err(explain)?;
            print_json(&ProjectView::from(project))
        }
    }
}

/// Runs an `apps` command.
pub async fn apps(config: &Config, command: AppsCommand) -> anyhow::Result<()> {
    let storage = storage(config).await?;
    let now = system_clock()();
    match command {
        AppsCommand::Create {
            project,
            app_type,
            name,
            bundle_id,
            package_name,
            stripe_account_id,
        } => {
            let app_type = AppType::parse(&app_type, "--type").map_err(|e| anyhow!(e.message))?;
            let new = NewApp {
                name,
                app_type,
                bundle_id,
                package_name,
                stripe_account_id,
                ..NewApp::default()
            };
            let (app, key) = admin::create_app(
                storage.as_ref(),
                None,
                &project,
                new,
                &Actor::CommandLine,
                now,
            )
            .await
            .map_err(explain)?;
            let mut view = AppView::from(app);
            view.public_api_key = Some(key.plaintext);
            print_json(&view)
        }
    }
}

/// Runs a `keys` command.
pub async fn keys(config: &Config, command: KeysCommand) -> anyhow::Result<()> {
    let storage = storage(config).await?;
    let now = system_clock()();
    match command {
        KeysCommand::Create {
            project,
            name,
            permissions,
        } => {
            let permissions = Permissions::parse(&permissions, "--permissions")
                .map_err(|e| anyhow!(e.message))?;
            let issued = admin::create_secret_key(
                storage.as_ref(),
                &project,
                name.as_deref(),
                permissions,
                &Actor::CommandLine,
                now,
            )
            .await
            .map_err(explain)?;
            let mut view = ApiKeyView::from(issued.record);
            view.key = Some(issued.plaintext);
            print_json(&view)
        }
        KeysCommand::Revoke { project, key_id } => {
            admin::revoke_key(
                storage.as_ref(),
                &project,
                &key_id,
                &Actor::CommandLine,
                now,
            )
            .await
            .map_err(explain)?;
            let key = storage
                .get_api_key(&project, &key_id)
                .await
                .context("reading the revoked key")?
                .ok_or_else(|| anyhow!("API key not found"))?;
            print_json(&ApiKeyView::from(key))
        }
    }
}
