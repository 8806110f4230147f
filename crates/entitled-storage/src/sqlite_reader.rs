//! Reads on the hot path (authentication, CustomerInfo) run synchronously on the calling
//! thread through read-only SQLite connections, instead of through sqlx's per-connection
//! worker threads.
//!
//! Why: profiling `GET /v1/subscribers/{id}` showed about 40 % of the server's CPU spent
//! waking and parking threads to hand each statement to a sqlx worker and each row back,
//! while SQLite itself took under 2 % (bench/README.md). A read of a few indexed rows from
//! the page cache takes microseconds, short enough to run on an async worker thread. WAL mode
//! lets these readers run beside the (sqlx) writer without ever waiting for it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use entitled_core::ApiKey;
use entitled_core::engine::CatalogView;

use rusqlite::{Connection, OpenFlags};

use crate::shared::RowExt;
use crate::{OfferingTree, StorageError};

/// Idle connections kept for reuse; more are opened when many reads overlap.
const MAX_IDLE: usize = 16;

/// The most key lookups a connection keeps under one configuration version; beyond it, it starts over (so
/// requests with made-up keys cannot grow it).
const MAX_KEPT_LOOKUPS: usize = 256;

/// Read-only connections to one SQLite file, reused across calls.
#[derive(Debug)]
pub(crate) struct SqliteReader {
    path: PathBuf,
    idle: Mutex<Vec<ReaderConnection>>,
}

/// A reader connection with what was last read through it of the catalog, the offerings and
/// the API keys.
#[derive(Debug)]
struct ReaderConnection {
    conn: Connection,
    catalog: RefCell<Option<Kept<CatalogView>>>,
    offerings: RefCell<Option<Kept<Arc<OfferingTree>>>>,
    keys: RefCell<KeptKeys>,
}

/// API keys by lookup as read while the configuration version was `version` (see [`Kept`]
/// for why that stands for "no key changed since"). Every request authenticates; this spares
/// the key's row on all but the first request after a key changed, while a key revoked by
/// any connection or process is refused once the revocation commits.
#[derive(Debug, Default)]
struct KeptKeys {
    version: i64,
    by_lookup: HashMap<String, Vec<ApiKey>>,
}

/// Something of a project (its catalog view, its offering tree) as read in a snapshot whose
/// configuration version was `version`.
///
/// The configuration version is the counter of the `config_version` table, which triggers
/// move with every insert, update and delete of API keys, products, entitlements, offerings,
/// packages and their links, made by any connection or process (SQLite migration 0014). While
/// it is unchanged, what was read from those tables is exactly as it is. Every CustomerInfo
/// needs the catalog, every app launch the offerings and every request its key; this spares
/// their statements until the configuration changes. SQLite's own `data_version`, kept under
/// before, moves with every commit: under a stream of purchases (a commit every few
/// milliseconds) nothing stayed kept (bench/README.md, run 12).
#[derive(Debug)]
struct Kept<T> {
    project_id: String,
    version: i64,
    view: T,
}

/// `slot`'s view when it was read for `project_id` under `version`, else `read`'s (then
/// kept in `slot`).
fn kept_or_read<T: Clone>(
    slot: &RefCell<Option<Kept<T>>>,
    conn: &Connection,
    project_id: &str,
    version: i64,
    read: impl FnOnce(&Connection) -> Result<T, StorageError>,
) -> Result<T, StorageError> {
    if let Some(kept) = slot.borrow().as_ref()
        && kept.version == version
        && kept.project_id == project_id
    {
        return Ok(kept.view.clone());
    }
    let view = read(conn)?;
    *slot.borrow_mut() = Some(Kept {
        project_id: project_id.to_string(),
        version,
        view: view.clone(),
    });
    Ok(view)
}

impl SqliteReader {
    /// A reader of the database file at `path` (which the writer has already created).
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn open(&self) -> Result<ReaderConnection, StorageError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        plan_once(&conn)?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(ReaderConnection {
            conn,
            catalog: RefCell::new(None),
            offerings: RefCell::new(None),
            keys: RefCell::new(KeptKeys::default()),
        })
    }

    /// An idle connection (or a new one) with a read transaction open on it: every read
    /// through the returned [`PinnedRead`] sees the database as of its first statement.
    /// Several reads of one answer then share a snapshot, one WAL read lock and one page
    /// cache (a commit by the writer between statements would otherwise empty it).
    pub(crate) fn pin(self: &Arc<Self>) -> Result<PinnedRead, StorageError> {
        let conn = self.checkout()?;
        conn.conn.prepare_cached("BEGIN DEFERRED")?.execute([])?;
        Ok(PinnedRead {
            conn: Some(conn),
            reader: Arc::clone(self),
        })
    }

    fn checkout(&self) -> Result<ReaderConnection, StorageError> {
        let pooled = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop();
        match pooled {
            Some(conn) => Ok(conn),
            None => self.open(),
        }
    }

    /// Keeps `conn` for the next call, unless a failed read left it inside a transaction.
    fn give_back(&self, conn: ReaderConnection) {
        if conn.conn.is_autocommit() {
            let mut idle = self
                .idle
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
        }
    }

    /// Runs `read` on an idle connection (or a new one), then keeps it for the next call.
    pub(crate) fn with<T>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let conn = self.checkout()?;
        let result = read(&conn.conn);
        self.give_back(conn);
        result
    }

    /// The API keys whose lookup is `lookup`: those the connection read last when the
    /// configuration did not change since, else `read`'s (then kept).
    pub(crate) fn keys_by_lookup(
        &self,
        lookup: &str,
        read: impl FnOnce(&Connection) -> Result<Vec<ApiKey>, StorageError>,
    ) -> Result<Vec<ApiKey>, StorageError> {
        let connection = self.checkout()?;
        let result = keys_through(&connection, lookup, read);
        self.give_back(connection);
        result
    }
}

/// [`SqliteReader::keys_by_lookup`] on one connection. The version is read before the keys,
/// so kept keys are never older than the version they are kept under.
fn keys_through(
    connection: &ReaderConnection,
    lookup: &str,
    read: impl FnOnce(&Connection) -> Result<Vec<ApiKey>, StorageError>,
) -> Result<Vec<ApiKey>, StorageError> {
    let version = config_version(&connection.conn)?;
    if let Some(keys) = kept_keys(&connection.keys.borrow(), version, lookup) {
        return Ok(keys);
    }
    let keys = read(&connection.conn)?;
    let mut kept = connection.keys.borrow_mut();
    if kept.version != version || kept.by_lookup.len() >= MAX_KEPT_LOOKUPS {
        kept.by_lookup.clear();
        kept.version = version;
    }
    kept.by_lookup.insert(lookup.to_string(), keys.clone());
    Ok(keys)
}

/// The configuration version (see [`Kept`]) as `conn` sees it now.
fn config_version(conn: &Connection) -> Result<i64, StorageError> {
    Ok(conn
        .prepare_cached(crate::shared::customer_reads::config_version_sql!())?
        .query_row([], |row| row.get(0))?)
}

/// The keys of `lookup` kept under `version`, if any.
fn kept_keys(kept: &KeptKeys, version: i64, lookup: &str) -> Option<Vec<ApiKey>> {
    if kept.version == version {
        kept.by_lookup.get(lookup).cloned()
    } else {
        None
    }
}

/// A reader connection inside one read transaction, for reads that belong together; the
/// transaction ends, and the connection goes back to its reader, when this is dropped.
#[derive(Debug)]
pub(crate) struct PinnedRead {
    conn: Option<ReaderConnection>,
    reader: Arc<SqliteReader>,
}

impl PinnedRead {
    /// Runs `read` inside the pinned transaction (the same shape as [`SqliteReader::with`],
    /// so the backend's `select_all!` works on either).
    pub(crate) fn with<T>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        read(&self.connection()?.conn)
    }

    fn connection(&self) -> Result<&ReaderConnection, StorageError> {
        self.conn.as_ref().ok_or_else(|| {
            StorageError::Internal("a pinned read was used after it ended".to_string())
        })
    }

    /// This snapshot's configuration version (see [`Kept`]).
    pub(crate) fn config_version(&self) -> Result<i64, StorageError> {
        self.with(config_version)
    }

    /// This snapshot's configuration version (see [`Kept`]) and `project_id`'s test-store
    /// clock offset (0 without a clock), in one statement.
    pub(crate) fn version_and_clock_offset(
        &self,
        project_id: &str,
    ) -> Result<(i64, i64), StorageError> {
        let rows = self.with(|conn| {
            select_all(
                conn,
                crate::shared::customer_reads::config_version_and_clock_offset_sql!(),
                rusqlite::params![project_id],
                |row| Ok((row.int("version")?, row.opt_int("offset_ms")?)),
            )
        })?;
        let (version, offset) = rows
            .into_iter()
            .next()
            .ok_or_else(|| StorageError::Internal("no config_version row".to_string()))?;
        Ok((version, offset.unwrap_or(0)))
    }

    /// The catalog view of `project_id` in this snapshot, whose configuration version is
    /// `version` (read inside this transaction): the one this connection read last when the
    /// configuration did not change since, else `read`'s (then kept).
    pub(crate) fn catalog_view(
        &self,
        project_id: &str,
        version: i64,
        read: impl FnOnce(&Connection) -> Result<CatalogView, StorageError>,
    ) -> Result<CatalogView, StorageError> {
        let connection = self.connection()?;
        kept_or_read(
            &connection.catalog,
            &connection.conn,
            project_id,
            version,
            read,
        )
    }

    /// The offering tree of `project_id` in this snapshot, kept as
    /// [`catalog_view`](Self::catalog_view) keeps the catalog.
    pub(crate) fn offering_tree(
        &self,
        project_id: &str,
        version: i64,
        read: impl FnOnce(&Connection) -> Result<OfferingTree, StorageError>,
    ) -> Result<Arc<OfferingTree>, StorageError> {
        let connection = self.connection()?;
        kept_or_read(
            &connection.offerings,
            &connection.conn,
            project_id,
            version,
            |conn| read(conn).map(Arc::new),
        )
    }
}

impl Drop for PinnedRead {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // A read-only transaction has nothing to keep: ending it cannot lose anything,
            // and a connection that failed to end it is dropped rather than reused.
            let ended = conn
                .conn
                .prepare_cached("COMMIT")
                .and_then(|mut commit| commit.execute([]));
            if ended.is_ok() {
                self.reader.give_back(conn);
            }
        }
    }
}

/// Makes `conn`'s prepared statements keep their plans whatever values are bound (SQLite's
/// query planner stability guarantee). Otherwise SQLite compiles a statement again whenever
/// a new value is bound to a parameter its plan looked at, such as `LIMIT $3`: every
/// paginated read, every offerings answer and every webhook event's aliases paid a compile
/// (bench/README.md, run 11). entitled has no statistics tables or `LIKE` patterns whose
/// values a plan could use.
pub(crate) fn plan_once(conn: &Connection) -> Result<(), StorageError> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

impl From<rusqlite::Error> for StorageError {
    fn from(err: rusqlite::Error) -> Self {
        match &err {
            rusqlite::Error::SqliteFailure(code, _)
                if matches!(
                    code.code,
                    rusqlite::ErrorCode::DatabaseBusy
                        | rusqlite::ErrorCode::DatabaseLocked
                        | rusqlite::ErrorCode::CannotOpen
                        | rusqlite::ErrorCode::SystemIoFailure
                ) =>
            {
                StorageError::Unavailable(err.to_string())
            }
            _ => StorageError::Internal(err.to_string()),
        }
    }
}

/// A row with the column names of its statement, read once per statement: rusqlite's own
/// lookup by name asks SQLite for every column's name and compares them ignoring case, on
/// every call (5 % of a CustomerInfo read's CPU, bench/README.md run 8).
///
/// Decoders mostly read the columns in the order they are selected, so the column after the
/// last one found is tried first (`next`): a row of n columns costs n comparisons, not n²/2.
pub(crate) struct NamedRow<'r, 's> {
    row: &'r rusqlite::Row<'s>,
    columns: &'r [String],
    next: std::cell::Cell<usize>,
}

impl NamedRow<'_, '_> {
    fn index(&self, column: &str) -> Result<usize, StorageError> {
        let guess = self.next.get();
        let index = if self.columns.get(guess).is_some_and(|name| name == column) {
            guess
        } else {
            self.columns
                .iter()
                .position(|name| name == column)
                .or_else(|| {
                    self.columns
                        .iter()
                        .position(|name| name.eq_ignore_ascii_case(column))
                })
                .ok_or_else(|| StorageError::Internal(format!("no column named {column}")))?
        };
        self.next.set(index + 1);
        Ok(index)
    }

    fn get<T: rusqlite::types::FromSql>(&self, column: &str) -> Result<T, StorageError> {
        Ok(self.row.get(self.index(column)?)?)
    }
}

impl RowExt for NamedRow<'_, '_> {
    fn text(&self, column: &str) -> Result<String, StorageError> {
        self.get(column)
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>, StorageError> {
        self.get(column)
    }
    fn int(&self, column: &str) -> Result<i64, StorageError> {
        self.get(column)
    }
    fn opt_int(&self, column: &str) -> Result<Option<i64>, StorageError> {
        self.get(column)
    }
    fn boolean(&self, column: &str) -> Result<bool, StorageError> {
        self.get(column)
    }
    fn text_as<T>(&self, column: &str, decode: impl FnOnce(&str) -> T) -> Result<T, StorageError> {
        let value = self.row.get_ref(self.index(column)?)?;
        let text = value
            .as_str()
            .map_err(|err| StorageError::Internal(format!("column {column} is not text: {err}")))?;
        Ok(decode(text))
    }
}

/// Every row `sql` selects, decoded by `decode`; `params[i]` binds `$i+1` (by name, as sqlx
/// does: SQLite numbers `$n` parameters in order of first appearance, not by `n`).
pub(crate) fn select_all<T>(
    conn: &Connection,
    sql: &str,
    params: &[&dyn rusqlite::ToSql],
    decode: impl Fn(&NamedRow<'_, '_>) -> Result<T, StorageError>,
) -> Result<Vec<T>, StorageError> {
    let mut statement = conn.prepare_cached(sql)?;
    bind_numbered(&mut statement, params)?;
    let columns: Vec<String> = statement
        .column_names()
        .into_iter()
        .map(str::to_string)
        .collect();
    let mut rows = statement.raw_query();
    let mut decoded = Vec::new();
    while let Some(row) = rows.next()? {
        decoded.push(decode(&NamedRow {
            row,
            columns: &columns,
            next: std::cell::Cell::new(0),
        })?);
    }
    Ok(decoded)
}

/// The names of the first parameters, so binding them allocates nothing.
const PARAMETER_NAMES: [&str; 12] = [
    "$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8", "$9", "$10", "$11", "$12",
];

/// Binds `params[i]` to `$i+1` (by name, as sqlx does: SQLite numbers `$n` parameters in
/// order of first appearance, not by `n`); binding more or fewer than the SQL names is a bug.
pub(crate) fn bind_numbered(
    statement: &mut rusqlite::CachedStatement<'_>,
    params: &[&dyn rusqlite::ToSql],
) -> Result<(), StorageError> {
    if statement.parameter_count() != params.len() {
        return Err(StorageError::Internal(format!(
            "a statement binds {} parameters where its SQL has {}",
            params.len(),
            statement.parameter_count()
        )));
    }
    for (i, value) in params.iter().enumerate() {
        let numbered;
        let name = match PARAMETER_NAMES.get(i) {
            Some(name) => *name,
            None => {
                numbered = format!("${}", i + 1);
                numbered.as_str()
            }
        };
        let index = statement.parameter_index(name)?.ok_or_else(|| {
            StorageError::Internal(format!("a statement's SQL has no parameter {name}"))
        })?;
        statement.raw_bind_parameter(index, value)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A WAL database in a new temporary directory, set up by `sql`, with a writer on it.
    fn wal_database(sql: &str) -> (tempfile::TempDir, PathBuf, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(&format!("PRAGMA journal_mode=WAL; {sql}"))
            .unwrap();
        (dir, path, writer)
    }

    /// A WAL database with entitled's own schema (every SQLite migration, in order) and two
    /// projects, `p` and `q` (with an app, `app`), with a writer on it.
    fn migrated_database() -> (tempfile::TempDir, PathBuf, Connection) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        files.sort();
        let schema: Vec<String> = files
            .iter()
            .map(|file| std::fs::read_to_string(file).unwrap())
            .collect();
        let projects =
            "INSERT INTO projects (id, name, created_at) VALUES ('p', 'P', 1), ('q', 'Q', 1);
             INSERT INTO apps (id, project_id, name, app_type, created_at)
                 VALUES ('app', 'q', 'App', 'test_store', 1);";
        wal_database(&format!("{}\n{projects}", schema.join("\n")))
    }

    #[test]
    fn reads_what_a_writer_committed_and_reuses_its_connection() {
        let (_dir, path, writer) = wal_database(
            "CREATE TABLE t (name TEXT, n INTEGER, flag BOOLEAN);
             INSERT INTO t VALUES ('a', 1, 1), ('b', NULL, 0);",
        );
        let reader = SqliteReader::new(path);
        let read = |reader: &SqliteReader| {
            reader.with(|conn| {
                select_all(
                    conn,
                    "SELECT name, n, flag FROM t WHERE n IS NOT $2 AND name >= $1 ORDER BY name",
                    rusqlite::params!["a", 7],
                    |row| Ok((row.text("name")?, row.opt_int("n")?, row.boolean("flag")?)),
                )
            })
        };
        assert_eq!(
            read(&reader).unwrap(),
            vec![
                ("a".to_string(), Some(1), true),
                ("b".to_string(), None, false)
            ]
        );
        writer
            .execute("INSERT INTO t VALUES ('c', 3, 1)", [])
            .unwrap();
        assert_eq!(read(&reader).unwrap().len(), 3);
        assert_eq!(reader.idle.lock().unwrap().len(), 1);
        // Binding fewer parameters than the SQL names is a bug, not a silent NULL.
        let short = reader.with(|conn| {
            select_all(
                conn,
                "SELECT n FROM t WHERE name = $1 AND n = $2",
                rusqlite::params!["a"],
                |row| row.int("n"),
            )
        });
        assert!(matches!(short, Err(StorageError::Internal(_))), "{short:?}");
    }

    #[test]
    fn columns_are_found_in_any_order_and_text_is_lent_only_when_it_is_text() {
        let (_dir, path, _writer) = wal_database(
            "CREATE TABLE t (a TEXT, b INTEGER, c TEXT); INSERT INTO t VALUES ('x', 2, 'z');",
        );
        let reader = SqliteReader::new(path);
        let read = |decode: fn(&NamedRow<'_, '_>) -> Result<String, StorageError>| {
            reader
                .with(|conn| select_all(conn, "SELECT a, b, c FROM t", rusqlite::params![], decode))
        };
        // Backwards, then a column twice and by another case: each is the one named.
        let backwards = read(|row| {
            Ok(format!(
                "{}{}{}{}{}",
                row.text("c")?,
                row.int("b")?,
                row.text("a")?,
                row.text_as("C", str::len)?,
                row.text_as("a", str::to_uppercase)?
            ))
        });
        assert_eq!(backwards.unwrap(), vec!["z2x1X".to_string()]);
        let not_text = read(|row| row.text_as("b", str::to_string));
        assert!(
            matches!(&not_text, Err(StorageError::Internal(m)) if m.contains("column b is not text")),
            "{not_text:?}"
        );
        let missing = read(|row| row.text_as("d", str::to_string));
        assert!(
            matches!(missing, Err(StorageError::Internal(_))),
            "{missing:?}"
        );
    }

    #[test]
    fn a_pinned_read_sees_one_snapshot_until_it_ends() {
        let (_dir, path, writer) =
            wal_database("CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1);");
        let reader = Arc::new(SqliteReader::new(path));
        let count = |conn: &Connection| {
            select_all(
                conn,
                "SELECT count(*) AS n FROM t",
                rusqlite::params![],
                |row| row.int("n"),
            )
        };
        let pinned = reader.pin().unwrap();
        assert_eq!(pinned.with(count).unwrap(), vec![1]);
        writer.execute("INSERT INTO t VALUES (2)", []).unwrap();
        // Inside the pinned transaction: still the database as of its first read.
        assert_eq!(pinned.with(count).unwrap(), vec![1]);
        // Unpinned reads see the commit at once.
        assert_eq!(reader.with(count).unwrap(), vec![2]);
        drop(pinned);
        // Ended, its connection went back to the reader (beside the unpinned read's) and
        // reads the present.
        assert_eq!(reader.idle.lock().unwrap().len(), 2);
        let again = reader.pin().unwrap();
        assert_eq!(again.with(count).unwrap(), vec![2]);
    }

    #[test]
    fn a_catalog_view_is_kept_until_the_configuration_changes() {
        let (_dir, path, writer) = migrated_database();
        writer
            .execute("INSERT INTO test_clocks VALUES ('p', 5)", [])
            .unwrap();
        let reader = Arc::new(SqliteReader::new(path));
        let view = |lookup_key: &str| {
            let mut view = CatalogView::default();
            view.lookup_keys
                .insert("entl".to_string(), lookup_key.to_string());
            view
        };
        // One read: the snapshot's version, then the catalog of `project` (`fresh` if read).
        let read = |project: &str, fresh: &str| {
            let pinned = reader.pin().unwrap();
            let (version, offset) = pinned.version_and_clock_offset(project).unwrap();
            assert_eq!(pinned.config_version().unwrap(), version);
            let mut reads = 0;
            let catalog = pinned
                .catalog_view(project, version, |_| {
                    reads += 1;
                    Ok(view(fresh))
                })
                .unwrap();
            (catalog.lookup_keys["entl"].clone(), offset, reads)
        };
        assert_eq!(read("p", "pro"), ("pro".to_string(), 5, 1));
        // Nothing changed since: the view read before, not a new one.
        assert_eq!(read("p", "gold"), ("pro".to_string(), 5, 0));
        // Another project's catalog is read, and becomes the one kept.
        assert_eq!(read("q", "basic"), ("basic".to_string(), 0, 1));
        assert_eq!(read("q", "other"), ("basic".to_string(), 0, 0));
        // Commits by another connection that leave the configuration alone (a purchase, a
        // visit, the test clock): still kept, while the snapshot itself is new.
        writer
            .execute_batch(
                "UPDATE test_clocks SET offset_ms = 7;
                 INSERT INTO customers (key, project_id, id, first_seen_at)
                     VALUES ('ck', 'q', 'user', 1);
                 UPDATE customers SET last_seen_at = 2;",
            )
            .unwrap();
        assert_eq!(read("q", "gold"), ("basic".to_string(), 0, 0));
        // Each kind of change to each table kept things come from, by another connection:
        // read again.
        let changes = [
            "INSERT INTO products (id, project_id, app_id, store_identifier, product_type,
                 created_at) VALUES ('prod', 'q', 'app', 'pro_monthly', 'subscription', 1)",
            "UPDATE products SET display_name = 'Pro monthly'",
            "INSERT INTO entitlements (id, project_id, lookup_key, display_name, created_at)
                 VALUES ('entl', 'q', 'pro', 'Pro', 1)",
            "INSERT INTO entitlement_products (entitlement_id, product_id, created_at)
                 VALUES ('entl', 'prod', 1)",
            "UPDATE entitlement_products SET created_at = 2",
            "DELETE FROM entitlement_products",
            "UPDATE entitlements SET display_name = 'Gold'",
            "DELETE FROM entitlements",
            "INSERT INTO offerings (id, project_id, lookup_key, display_name, is_current,
                 created_at) VALUES ('ofrng', 'q', 'default', 'Default', 1, 1)",
            "UPDATE offerings SET is_current = 0",
            "INSERT INTO packages (id, project_id, offering_id, lookup_key, display_name,
                 created_at) VALUES ('pkg', 'q', 'ofrng', '$rc_monthly', 'Monthly', 1)",
            "UPDATE packages SET position = 1",
            "INSERT INTO package_products (package_id, product_id, app_id, eligibility_criteria,
                 created_at) VALUES ('pkg', 'prod', 'app', 'all', 1)",
            "UPDATE package_products SET eligibility_criteria = 'google_sdk_ge_6'",
            "DELETE FROM package_products",
            "DELETE FROM packages",
            "DELETE FROM offerings",
            "DELETE FROM products",
            "INSERT INTO api_keys (id, project_id, kind, name, lookup, hash, permissions,
                 created_at) VALUES ('key1', 'q', 'secret', 'ci', 'sk_abc', 'h', 'all', 1)",
            "UPDATE api_keys SET revoked_at = 2",
            "DELETE FROM api_keys",
        ];
        for (n, change) in changes.iter().enumerate() {
            writer.execute(change, []).unwrap();
            let fresh = format!("change {n}");
            assert_eq!(read("q", &fresh), (fresh.clone(), 0, 1), "{change}");
            assert_eq!(read("q", "kept?"), (fresh, 0, 0), "{change}");
        }
        assert_eq!(read("p", "again"), ("again".to_string(), 7, 1));
    }

    #[test]
    fn keys_are_kept_until_the_configuration_changes() {
        let (_dir, path, writer) = migrated_database();
        writer
            .execute(
                "INSERT INTO api_keys (id, project_id, app_id, kind, name, lookup, hash,
                     permissions, created_at) VALUES ('key1', 'p', NULL, 'secret', 'ci',
                     'sk_abc', $1, 'all', 1)",
                [entitled_core::hash_key("sk_abc123")],
            )
            .unwrap();
        let reader = SqliteReader::new(path);
        // The keys of `lookup`, and whether they were read from the table.
        let keys = |lookup: &str| {
            let mut reads = 0;
            let keys = reader
                .keys_by_lookup(lookup, |conn| {
                    reads += 1;
                    select_all(
                        conn,
                        concat!(
                            "SELECT ",
                            crate::shared::key_columns!(),
                            " FROM api_keys WHERE lookup = $1"
                        ),
                        rusqlite::params![lookup],
                        |row| crate::shared::key_from_row(row),
                    )
                })
                .unwrap();
            let revoked: Vec<bool> = keys.iter().map(|key| !key.is_active()).collect();
            (revoked, reads)
        };
        assert_eq!(keys("sk_abc"), (vec![false], 1));
        assert_eq!(keys("sk_abc"), (vec![false], 0));
        // An unknown lookup is read, then kept as unknown.
        assert_eq!(keys("sk_nope"), (vec![], 1));
        assert_eq!(keys("sk_nope"), (vec![], 0));
        // A commit that leaves the keys alone (a visit, a purchase): still kept.
        writer
            .execute(
                "INSERT INTO customers (key, project_id, id, first_seen_at)
                     VALUES ('ck', 'p', 'user', 1)",
                [],
            )
            .unwrap();
        assert_eq!(keys("sk_abc"), (vec![false], 0));
        // Revoked by another connection (the CLI, another node): read again at once.
        writer
            .execute("UPDATE api_keys SET revoked_at = 2", [])
            .unwrap();
        assert_eq!(keys("sk_abc"), (vec![true], 1));
        assert_eq!(keys("sk_abc"), (vec![true], 0));
        // However many made-up lookups arrive, a connection keeps a bounded number.
        for i in 0..MAX_KEPT_LOOKUPS * 2 {
            keys(&format!("sk_made_up_{i}"));
        }
        let idle = reader.idle.lock().unwrap();
        assert!(
            idle.iter()
                .all(|c| c.keys.borrow().by_lookup.len() <= MAX_KEPT_LOOKUPS)
        );
    }

    #[test]
    fn a_statement_is_compiled_once_whatever_its_limit() {
        let (_dir, path, _writer) = wal_database(
            "CREATE TABLE t (seq INTEGER PRIMARY KEY, name TEXT);
             INSERT INTO t (name) VALUES ('a'), ('b'), ('c');",
        );
        let reader = SqliteReader::new(path);
        let sql = "SELECT name FROM t WHERE seq > $1 ORDER BY seq LIMIT $2";
        let page = |after: i64, limit: i64| {
            reader
                .with(|conn| {
                    select_all(conn, sql, rusqlite::params![after, limit], |row| {
                        row.text("name")
                    })
                })
                .unwrap()
        };
        assert_eq!(page(0, 2), ["a", "b"]);
        assert_eq!(page(2, 2), ["c"]);
        assert_eq!(page(0, 1), ["a"]);
        let recompiled = reader
            .with(|conn| {
                let statement = conn.prepare_cached(sql)?;
                Ok(statement.get_status(rusqlite::StatementStatus::RePrepare))
            })
            .unwrap();
        assert_eq!(recompiled, 0, "the statement was compiled again");
        // The same reads on a connection without the guarantee: compiled again each time a
        // new limit is bound (what the guarantee spares).
        let plain = Connection::open(&reader.path).unwrap();
        for limit in [2, 1, 3] {
            let mut statement = plain.prepare_cached(sql).unwrap();
            let rows: Vec<String> = statement
                .query_map(rusqlite::params![0, limit], |row| row.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(rows.len(), limit as usize);
        }
        let statement = plain.prepare_cached(sql).unwrap();
        assert!(statement.get_status(rusqlite::StatementStatus::RePrepare) >= 1);
    }

    #[test]
    fn a_read_only_connection_refuses_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t (n INTEGER)")
            .unwrap();
        let reader = SqliteReader::new(path);
        let err = reader
            .with(|conn| Ok(conn.execute("INSERT INTO t VALUES (1)", [])?))
            .unwrap_err();
        assert!(matches!(err, StorageError::Internal(_)), "{err:?}");
    }
}
