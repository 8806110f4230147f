//! WAL checkpoints on a thread of their own.
//!
//! By default SQLite checkpoints inside whichever commit pushes the WAL past 1,000 pages:
//! that commit copies the pages into the database file and syncs it, while every other
//! write waits behind it (the load harness saw all 64 receipts in flight stall for 1.1 s).
//! The write connections turn automatic checkpoints off, and this thread runs a PASSIVE
//! checkpoint every second instead: it takes no write lock, so writers carry on beside it.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;

/// How often the WAL is checkpointed.
const INTERVAL: Duration = Duration::from_secs(1);

/// Keeps the checkpoint thread running; the thread stops when this is dropped.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

impl Checkpointer {
    /// Starts checkpointing the WAL of the database at `path` every second.
    pub(crate) fn start(path: PathBuf) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".to_string())
            .spawn(move || {
                let mut conn = None;
                // Runs until the sender is dropped (recv_timeout then reports disconnection).
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                    if conn.is_none() {
                        conn = Connection::open(&path)
                            .inspect_err(|e| tracing::warn!(error = %e, "checkpoint: cannot open"))
                            .ok();
                    }
                    if let Some(c) = &conn
                        && let Err(e) = checkpoint(c)
                    {
                        tracing::warn!(error = %e, "WAL checkpoint failed; retrying");
                        conn = None;
                    }
                }
            })?;
        Ok(Self { _stop: stop })
    }
}

/// Copies what it can of the WAL into the database without blocking readers or writers.
fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thread_copies_what_writers_leave_in_the_wal_into_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; CREATE TABLE t (b BLOB);",
            )
            .unwrap();
        for _ in 0..200 {
            writer
                .execute("INSERT INTO t VALUES (zeroblob(1000))", [])
                .unwrap();
        }
        let database_bytes = || std::fs::metadata(&path).unwrap().len();
        // Everything written so far is in the WAL only.
        assert!(database_bytes() < 100_000, "{}", database_bytes());
        let checkpointer = Checkpointer::start(path.clone()).unwrap();
        let deadline = std::time::Instant::now() + INTERVAL * 10;
        while database_bytes() < 200_000 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            database_bytes() >= 200_000,
            "no checkpoint: {}",
            database_bytes()
        );
        drop(checkpointer);
    }
}
