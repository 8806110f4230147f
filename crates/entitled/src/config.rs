//! Configuration: defaults < TOML file (`--config`) < environment < command-line flags.

// figment::Error is large and is what figment (and its test Jail) hands back; boxing it at
// every call would only move the allocation around.
#![allow(clippy::result_large_err)]

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Everything `entitled` can be configured with.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on (`ENTITLED_LISTEN`).
    pub listen: String,
    /// Database URL: `sqlite://PATH` or `postgres://…` (`DATABASE_URL` or `ENTITLED_DATABASE`).
    pub database: String,
    /// Largest request body accepted, in bytes (`ENTITLED_BODY_LIMIT_BYTES`).
    pub body_limit_bytes: usize,
    /// On SIGTERM/SIGINT, how long in-flight requests may take to finish
    /// (`ENTITLED_DRAIN_TIMEOUT_SECS`).
    pub drain_timeout_secs: u64,
    /// Log format on stderr: `json` or `text` (`ENTITLED_LOG_FORMAT`).
    pub log_format: String,
    /// 64 hex characters that seal store credentials (`ENTITLED_SECRETS_KEY`); without it,
    /// apps cannot be given credentials.
    pub secrets_key: Option<String>,
    /// How long a webhook receiver has to answer, in seconds (`ENTITLED_WEBHOOK_DEADLINE_SECS`).
    pub webhook_deadline_secs: u64,
    /// Delays before each webhook retry, e.g. `5m,10m,20m,40m,80m`
    /// (`ENTITLED_WEBHOOK_RETRY_SCHEDULE`).
    pub webhook_retry_schedule: String,
    /// How often the webhook worker looks for due deliveries, in ms
    /// (`ENTITLED_WEBHOOK_POLL_MS`).
    pub webhook_poll_ms: u64,
    /// Exchange rates into USD, `EUR=1.08,GBP=1.27` (`ENTITLED_USD_RATES`).
    pub usd_rates: String,
    /// Rate limits per key and domain over RevenueCat's defaults, e.g.
    /// `project_configuration=120/60s,sdk=1000/1s` (`ENTITLED_RATE_LIMITS`).
    pub rate_limits: String,
    /// Where rate-limit counts live (`ENTITLED_RATE_LIMIT_STORE`): empty for the default
    /// (memory on SQLite, the database on PostgreSQL), `memory`, `database`, or `redis://…`.
    pub rate_limit_store: String,
    /// How long a change waits for a busy customer before answering 423, in ms
    /// (`ENTITLED_CUSTOMER_LOCK_WAIT_MS`; 0 fails fast, as RevenueCat does).
    pub customer_lock_wait_ms: u64,
    /// Requests one node handles at once; more are shed with 503
    /// (`ENTITLED_MAX_CONCURRENT_REQUESTS`).
    pub max_concurrent_requests: usize,
    /// How often the sweep settles what time alone changes (test-store renewals, EXPIRATION
    /// events), in seconds (`ENTITLED_SWEEP_INTERVAL_SECS`; 0 turns it off).
    pub sweep_interval_secs: u64,
    /// Root certificates Apple-signed data must chain to, as comma-separated DER or PEM file
    /// paths (`ENTITLED_APPLE_ROOT_CERTS`); empty trusts Apple Root CA - G3, built in.
    pub apple_root_certs: String,
    /// Base URL of Google's Play Developer API (`ENTITLED_GOOGLE_API_BASE`); tests point it
    /// at a local stand-in.
    pub google_api_base: String,
    /// How long a store's API may take to answer before the request gets 504, in ms
    /// (`ENTITLED_STORE_TIMEOUT_MS`).
    pub store_timeout_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8000".to_string(),
            database: "sqlite://entitled.db".to_string(),
            body_limit_bytes: 1024 * 1024,
            drain_timeout_secs: 30,
            log_format: "json".to_string(),
            secrets_key: None,
            webhook_deadline_secs: 60,
            webhook_retry_schedule: "5m,10m,20m,40m,80m".to_string(),
            webhook_poll_ms: 1000,
            usd_rates: String::new(),
            rate_limits: String::new(),
            rate_limit_store: String::new(),
            customer_lock_wait_ms: 0,
            max_concurrent_requests: 512,
            sweep_interval_secs: 60,
            apple_root_certs: String::new(),
            google_api_base: entitled_stores::play_store::DEFAULT_BASE_URL.to_string(),
            store_timeout_ms: 10_000,
        }
    }
}

/// Parses a retry schedule such as `5m,10m,20m` (units `ms`, `s`, `m`, `h`) into ms.
pub fn parse_schedule(text: &str) -> Result<Vec<i64>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (number, unit_ms) = if let Some(n) = part.strip_suffix("ms") {
                (n, 1)
            } else if let Some(n) = part.strip_suffix('s') {
                (n, 1_000)
            } else if let Some(n) = part.strip_suffix('m') {
                (n, 60_000)
            } else if let Some(n) = part.strip_suffix('h') {
                (n, 3_600_000)
            } else {
                return Err(format!("{part:?} needs a unit: ms, s, m or h"));
            };
            let value: i64 = number
                .parse()
                .map_err(|_| format!("{part:?} is not a whole number with a unit"))?;
            if value < 0 {
                return Err(format!("{part:?} is negative"));
            }
            Ok(value.saturating_mul(unit_ms))
        })
        .collect()
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("database", &entitled_storage::redact_url(&self.database))
            .field("body_limit_bytes", &self.body_limit_bytes)
            .field("drain_timeout_secs", &self.drain_timeout_secs)
            .field("log_format", &self.log_format)
            .field("secrets_key", &self.secrets_key.as_ref().map(|_| "***"))
            .field("webhook_deadline_secs", &self.webhook_deadline_secs)
            .field("webhook_retry_schedule", &self.webhook_retry_schedule)
            .field("webhook_poll_ms", &self.webhook_poll_ms)
            .field("usd_rates", &self.usd_rates)
            .field("rate_limits", &self.rate_limits)
            .field(
                "rate_limit_store",
                &entitled_storage::redact_url(&self.rate_limit_store),
            )
            .field("customer_lock_wait_ms", &self.customer_lock_wait_ms)
            .field("max_concurrent_requests", &self.max_concurrent_requests)
            .field("sweep_interval_secs", &self.sweep_interval_secs)
            .field("apple_root_certs", &self.apple_root_certs)
            .field("google_api_base", &self.google_api_base)
            .field("store_timeout_ms", &self.store_timeout_ms)
            .finish()
    }
}

/// Values given as command-line flags; `None` leaves the lower layers' value.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FlagOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_limit_bytes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drain_timeout_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secrets_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_deadline_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_retry_schedule: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_poll_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usd_rates: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limits: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit_store: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_lock_wait_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrent_requests: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep_interval_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apple_root_certs: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub google_api_base: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_timeout_ms: Option<u64>,
}

/// Loads the configuration from its four layers.
pub fn load(config_file: Option<&Path>, flags: &FlagOverrides) -> Result<Config, figment::Error> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(path) = config_file {
        if !path.exists() {
            return Err(figment::Error::from(format!(
                "config file {} does not exist",
                path.display()
            )));
        }
        figment = figment.merge(Toml::file(path));
    }
    figment
        .merge(
            Env::raw()
                .only(&["DATABASE_URL"])
                .map(|_| "database".into()),
        )
        .merge(Env::prefixed("ENTITLED_").only(&[
            "listen",
            "database",
            "body_limit_bytes",
            "drain_timeout_secs",
            "log_format",
            "secrets_key",
            "webhook_deadline_secs",
            "webhook_retry_schedule",
            "webhook_poll_ms",
            "usd_rates",
            "rate_limits",
            "rate_limit_store",
            "customer_lock_wait_ms",
            "max_concurrent_requests",
            "sweep_interval_secs",
            "apple_root_certs",
            "google_api_base",
            "store_timeout_ms",
        ]))
        .merge(Serialized::defaults(flags))
        .extract()
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn defaults_work_on_a_laptop() {
        Jail::expect_with(|_| {
            let config = load(None, &FlagOverrides::default())?;
            assert_eq!(config, Config::default());
            assert_eq!(config.listen, "127.0.0.1:8000");
            assert_eq!(config.database, "sqlite://entitled.db");
            assert_eq!(config.body_limit_bytes, 1024 * 1024);
            Ok(())
        });
    }

    #[test]
    fn file_then_env_then_flags_take_precedence() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "entitled.toml",
                "listen = \"0.0.0.0:1\"\ndatabase = \"sqlite://file.db\"\nbody_limit_bytes = 10\ndrain_timeout_secs = 7\n",
            )?;
            let path = Path::new("entitled.toml");
            let from_file = load(Some(path), &FlagOverrides::default())?;
            assert_eq!(from_file.listen, "0.0.0.0:1");
            assert_eq!(from_file.database, "sqlite://file.db");
            assert_eq!(from_file.drain_timeout_secs, 7);

            jail.set_env("ENTITLED_LISTEN", "0.0.0.0:2");
            jail.set_env("DATABASE_URL", "postgres://env/db");
            let from_env = load(Some(path), &FlagOverrides::default())?;
            assert_eq!(from_env.listen, "0.0.0.0:2");
            assert_eq!(from_env.database, "postgres://env/db");
            assert_eq!(
                from_env.body_limit_bytes, 10,
                "unset in env, file value kept"
            );

            let flags = FlagOverrides {
                listen: Some("0.0.0.0:3".into()),
                database: Some("sqlite://flag.db".into()),
                ..FlagOverrides::default()
            };
            let from_flags = load(Some(path), &flags)?;
            assert_eq!(from_flags.listen, "0.0.0.0:3");
            assert_eq!(from_flags.database, "sqlite://flag.db");
            assert_eq!(from_flags.drain_timeout_secs, 7);
            Ok(())
        });
    }

    #[test]
    fn the_secrets_key_never_shows_in_debug_output() {
        Jail::expect_with(|jail| {
            jail.set_env("ENTITLED_SECRETS_KEY", "ab".repeat(32));
            jail.set_env("DATABASE_URL", "postgres://u:hunter2@db/x");
            let config = load(None, &FlagOverrides::default())?;
            assert_eq!(
                config.secrets_key.as_deref(),
                Some("ab".repeat(32).as_str())
            );
            let shown = format!("{config:?}");
            assert!(!shown.contains("abab"), "{shown}");
            assert!(!shown.contains("hunter2"), "{shown}");
            Ok(())
        });
    }

    #[test]
    fn retry_schedules_parse_with_units() {
        assert_eq!(parse_schedule("5m,10m").unwrap(), vec![300_000, 600_000]);
        assert_eq!(
            parse_schedule("250ms, 1s ,1h").unwrap(),
            vec![250, 1_000, 3_600_000]
        );
        assert!(parse_schedule("5").is_err());
        assert!(parse_schedule("fives").is_err());
        assert_eq!(parse_schedule("").unwrap(), Vec::<i64>::new());
    }

    #[test]
    fn entitled_database_overrides_database_url() {
        Jail::expect_with(|jail| {
            jail.set_env("DATABASE_URL", "postgres://generic/db");
            jail.set_env("ENTITLED_DATABASE", "postgres://specific/db");
            assert_eq!(
                load(None, &FlagOverrides::default())?.database,
                "postgres://specific/db"
            );
            Ok(())
        });
    }

    #[test]
    fn bad_values_and_missing_files_are_errors() {
        Jail::expect_with(|jail| {
            jail.set_env("ENTITLED_BODY_LIMIT_BYTES", "lots");
            assert!(load(None, &FlagOverrides::default()).is_err());
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "unknown_setting = 1\n")?;
            assert!(load(Some(Path::new("bad.toml")), &FlagOverrides::default()).is_err());
            assert!(load(Some(Path::new("missing.toml")), &FlagOverrides::default()).is_err());
            Ok(())
        });
    }
}
