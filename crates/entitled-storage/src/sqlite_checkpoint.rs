//! WAL checkpoints on a thread of their own, and a bound on the WAL's size.
//!
//! By default SQLite checkpoints inside whichever commit pushes the WAL past 1,000 pages:
//! that commit copies the pages into the database file and syncs it, while every other
//! write waits behind it (the load harness saw all 64 receipts in flight stall for 1.1 s).
//! The write connections turn automatic checkpoints off, and this thread runs a PASSIVE
//! checkpoint every second instead: it takes no write lock, so writers carry on beside it.
//!
//! A passive checkpoint never lets the WAL start over while writes keep coming (it trails
//! the writers, and the WAL only rewinds once every frame is copied), so under steady writes
//! the file grew without end: 3.5 GB in a minute of load on a 250 MB database. Once the WAL
//! holds more than [`MAX_WAL_FRAMES`], the thread has it rewound by a TRUNCATE checkpoint:
//! writers wait while it copies what the passive ones left (about a second's worth), then the
//! WAL starts over from an empty file. The storage runs that checkpoint on its own write
//! connection, so writers wait for it in that connection's fair queue; run from this thread,
//! it made them wait in SQLite's busy handler instead, which sleeps up to 100 ms between
//! tries (receipts' p99 was 520 ms that way, 385 ms through the queue). Each rewind still
//! stops writes for about 0.3 s on the CI machine's disk (every 3 s under full receipt
//! load); a 256 MiB bound made them rarer but no better at p99 (bench/README.md).

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;

/// How often the WAL is checkpointed.
const INTERVAL: Duration = Duration::from_secs(1);

/// WAL frames (pages, 4 KiB each by default: 64 MiB) past which the WAL is rewound.
const MAX_WAL_FRAMES: i64 = 16_384;

/// How long a rewinding checkpoint waits for the writer and readers in its way.
const REWIND_WAIT: Duration = Duration::from_secs(5);

/// Empties the WAL (a TRUNCATE checkpoint), on whichever connection the storage chooses;
/// the thread's own connection is passed for those that have no other.
pub(crate) type Rewind = Box<dyn Fn(&Connection) -> Result<(), String> + Send>;

/// A [`Rewind`] on the checkpoint thread's own connection.
#[cfg(test)]
fn rewind_here() -> Rewind {
    Box::new(|conn| {
        let busy = conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                row.get::<_, i64>(0)
            })
            .map_err(|e| e.to_string())?;
        if busy == 0 {
            Ok(())
        } else {
            Err("busy".to_string())
        }
    })
}

/// Keeps the checkpoint thread running; the thread stops when this is dropped.
pub(crate) struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

impl std::fmt::Debug for Checkpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Checkpointer")
    }
}

impl Checkpointer {
    /// Starts checkpointing the WAL of the database at `path` every second, rewinding it
    /// with `rewind` whenever it has grown past [`MAX_WAL_FRAMES`].
    pub(crate) fn start(path: PathBuf, rewind: Rewind) -> std::io::Result<Self> {
        Self::start_with(path, INTERVAL, MAX_WAL_FRAMES, rewind)
    }

    /// [`Checkpointer::start`] with another interval and WAL bound (tests use small ones).
    fn start_with(
        path: PathBuf,
        interval: Duration,
        max_frames: i64,
        rewind: Rewind,
    ) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".to_string())
            .spawn(move || {
                let mut conn = None;
                // Runs until the sender is dropped (recv_timeout then reports disconnection).
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    if conn.is_none() {
                        conn = Connection::open(&path)
                            .and_then(|c| c.busy_timeout(REWIND_WAIT).map(|()| c))
                            .inspect_err(|e| tracing::warn!(error = %e, "checkpoint: cannot open"))
                            .ok();
                    }
                    let Some(c) = &conn else { continue };
                    match checkpoint(c) {
                        Ok(wal_frames) if wal_frames > max_frames => {
                            let started = std::time::Instant::now();
                            match rewind(c) {
                                Ok(()) => tracing::debug!(
                                    wal_frames,
                                    took_ms = started.elapsed().as_millis() as u64,
                                    "WAL rewound"
                                ),
                                Err(e) => tracing::warn!(
                                    wal_frames,
                                    error = %e,
                                    "the WAL could not be rewound yet; retrying"
                                ),
                            }
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "WAL checkpoint failed; retrying");
                            conn = None;
                        }
                    }
                }
            })?;
        Ok(Self { _stop: stop })
    }
}

/// Copies what it can of the WAL into the database without blocking readers or writers;
/// returns how many frames the WAL holds.
fn checkpoint(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        row.get::<_, i64>(1)
    })
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
        let checkpointer = Checkpointer::start(path.clone(), rewind_here()).unwrap();
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

    #[test]
    fn the_wal_is_rewound_once_it_passes_its_bound_while_writes_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; CREATE TABLE t (b BLOB);",
            )
            .unwrap();
        writer.busy_timeout(Duration::from_secs(5)).unwrap();
        let wal = path.with_extension("db-wal");
        let wal_bytes = || std::fs::metadata(&wal).map_or(0, |m| m.len());
        let checkpointer =
            Checkpointer::start_with(path.clone(), Duration::from_millis(20), 100, rewind_here())
                .unwrap();
        // Steady writes, each a new page: without a rewind the WAL ends above 3,000 pages.
        let mut largest = 0;
        for i in 0..3_000 {
            writer
                .execute("INSERT INTO t VALUES (zeroblob(3000))", [])
                .unwrap();
            if i % 100 == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
            largest = largest.max(wal_bytes());
        }
        std::thread::sleep(Duration::from_millis(200));
        drop(checkpointer);
        assert!(
            wal_bytes() < 1_000 * 4_096,
            "the WAL kept growing: {} bytes (largest seen {largest})",
            wal_bytes()
        );
        let rows: i64 = writer
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 3_000, "nothing lost to the rewinds");
    }
}
