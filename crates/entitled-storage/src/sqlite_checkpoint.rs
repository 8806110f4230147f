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
//! holds more than [`MAX_WAL_FRAMES`], the thread has it rewound:
//!
//! 1. passive checkpoints first, each followed by a sync of the database, until one finds
//!    few frames to copy ([`catch_up`]), while writers carry on;
//! 2. then the storage's write turn (its one write connection's fair queue), so that writers
//!    wait in that queue rather than racing for SQLite's lock in their busy handlers, which
//!    sleep up to 100 ms between tries (receipts' p99 was 520 ms that way);
//! 3. then a RESTART checkpoint on this thread's connection: it copies what came since the
//!    last pass, waits for readers still on old frames, polling every 250 µs ([`wait_briefly`];
//!    SQLite's own handler sleeps 1, 2, 5, 10, … ms), and starts the WAL over from its
//!    beginning. The file keeps its size and is overwritten (truncating it, then growing it
//!    again, cost writers 40–50 ms more per rewind).
//!
//! Under full receipt load a rewind (every second or so) stops writes for 1–20 ms; it was
//! 100–200 ms before these steps (bench/README.md run 10), and 45–200 ms while the first step
//! took a pass's report for what was left and left the database's sync to the rewind (run 12).

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

/// Starts the WAL over, given the checkpoint thread's connection: the storage takes its
/// write turn around [`restart`] on it.
pub(crate) type Rewind = Box<dyn Fn(&Connection) -> Result<(), String> + Send>;

/// Rewinds the WAL through `conn` (a RESTART checkpoint: every frame copied, then the WAL
/// starts over from its beginning), waiting for readers still on old frames.
pub(crate) fn restart(conn: &Connection) -> Result<(), String> {
    let busy = conn
        .query_row("PRAGMA wal_checkpoint(RESTART)", [], |row| {
            row.get::<_, i64>(0)
        })
        .map_err(|e| e.to_string())?;
    if busy == 0 {
        Ok(())
    } else {
        Err("readers or a writer were in the way".to_string())
    }
}

/// A [`Rewind`] on the checkpoint thread's own connection, without taking a turn.
#[cfg(test)]
fn rewind_here() -> Rewind {
    Box::new(restart)
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
                            .and_then(|c| c.busy_handler(Some(wait_briefly)).map(|()| c))
                            .inspect_err(|e| tracing::warn!(error = %e, "checkpoint: cannot open"))
                            .ok();
                    }
                    let Some(c) = &conn else { continue };
                    match checkpoint(c) {
                        Ok(frames) if frames.in_wal > max_frames => {
                            let wal_frames = frames.in_wal;
                            let found = catch_up(c, &path, frames);
                            let started = std::time::Instant::now();
                            match rewind(c) {
                                Ok(()) => tracing::debug!(
                                    wal_frames,
                                    last_pass_found = found,
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

/// How long the busy handler of the checkpoint thread's connection sleeps between tries.
const RETRY_EVERY: Duration = Duration::from_micros(250);

/// The checkpoint thread's busy handler: tries again every [`RETRY_EVERY`] for up to
/// [`REWIND_WAIT`]. A rewind holds the write turn while it waits for readers still on old
/// frames (they finish within microseconds); SQLite's own handler sleeps 1, 2, 5, 10, … up
/// to 100 ms between tries, and every writer waited out those sleeps (40–140 ms a rewind).
fn wait_briefly(tries: i32) -> bool {
    let waited = RETRY_EVERY * u32::try_from(tries).unwrap_or(u32::MAX);
    if waited >= REWIND_WAIT {
        return false;
    }
    std::thread::sleep(RETRY_EVERY);
    true
}

/// What a checkpoint reports: the WAL's frames as it found them when it began, and how many
/// of them are now copied into the database. Writers keep appending while a passive
/// checkpoint copies, so `in_wal` is already behind when it returns.
#[derive(Debug, Clone, Copy)]
struct Frames {
    in_wal: i64,
    copied: i64,
}

/// Copies what it can of the WAL into the database without blocking readers or writers.
fn checkpoint(conn: &Connection) -> rusqlite::Result<Frames> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok(Frames {
            in_wal: row.get(1)?,
            copied: row.get(2)?,
        })
    })
}

/// Frames a pass may find to copy for the rewind to start after it: the frames writers add
/// during so short a pass are what the rewind then copies, and syncs, while they wait.
const SMALL_REMAINDER: i64 = 256;

/// Passive checkpoints, at most, before a rewind.
const CATCH_UP_PASSES: usize = 8;

/// Before a rewind, which stops writers while it copies every frame not yet copied and syncs
/// the WAL and the database: passive checkpoints (writers carry on) until one finds few
/// frames to copy, each followed by a sync of the database (`path`). Each pass copies what
/// arrived during the one before, so under steady writes they shrink: a pass over 20,000
/// frames lets writers add thousands, one over a few hundred a few dozen. `last` is the
/// checkpoint that found the WAL too large. Returns the frames the last pass found to copy.
///
/// A checkpoint's own report cannot say how much is left (it counts the WAL as it began),
/// so what a pass found is its WAL's end less where the pass before had copied up to. Taking
/// "all copied" at its word, rewinds began with a second's worth of frames still to copy.
/// And SQLite syncs the database only after a pass that copies the whole WAL, which steady
/// writes never allow, so the rewind's own sync flushed every page the passes had copied
/// since the last rewind. The two stopped writers for 45–200 ms a rewind; now 1–20 ms
/// (bench/README.md, run 12).
fn catch_up(conn: &Connection, path: &std::path::Path, last: Frames) -> i64 {
    let mut copied = last.copied;
    let mut found = last.in_wal - last.copied;
    for _ in 0..CATCH_UP_PASSES {
        let Ok(pass) = checkpoint(conn) else { break };
        // A WAL that started over since (writers rewind a WAL that was all copied) is
        // new from its first frame.
        found = if pass.in_wal >= copied {
            pass.in_wal - copied
        } else {
            pass.in_wal
        };
        copied = pass.copied;
        if let Err(e) = sync_database(path) {
            tracing::warn!(error = %e, "checkpoint: cannot sync the database");
        }
        if found <= SMALL_REMAINDER {
            break;
        }
    }
    found
}

/// Writes the pages passive checkpoints copied into the database file at `path` to disk.
fn sync_database(path: &std::path::Path) -> std::io::Result<()> {
    std::fs::File::open(path)?.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A WAL database with a table `t (b BLOB)` and no automatic checkpoints, in a new
    /// temporary directory (kept alive by the guard), with a writer on it.
    fn blob_table_in_wal() -> (tempfile::TempDir, PathBuf, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; CREATE TABLE t (b BLOB);",
            )
            .unwrap();
        (dir, path, writer)
    }

    #[test]
    fn the_thread_copies_what_writers_leave_in_the_wal_into_the_database() {
        let (_dir, path, writer) = blob_table_in_wal();
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
    fn catching_up_copies_what_came_after_the_last_pass_until_a_pass_finds_little() {
        let (_dir, path, writer) = blob_table_in_wal();
        let insert = |rows: usize| {
            for _ in 0..rows {
                writer
                    .execute("INSERT INTO t VALUES (zeroblob(3000))", [])
                    .unwrap();
            }
        };
        let database_bytes = || std::fs::metadata(&path).unwrap().len();
        let checkpointer = Connection::open(&path).unwrap();
        insert(10);
        let last = checkpoint(&checkpointer).unwrap();
        assert_eq!(last.in_wal, last.copied, "the pass copied all it found");
        // Writers went on after that pass reported "all copied": what they added is copied
        // before the rewind, by a pass, and the next pass finds nothing left.
        insert(3_000);
        let before = database_bytes();
        assert_eq!(catch_up(&checkpointer, &path, last), 0);
        assert!(
            database_bytes() > before + 3_000 * 3_000,
            "the WAL was not copied: {} bytes",
            database_bytes()
        );
        // Nothing new since: one pass finds nothing, and copies nothing.
        let last = checkpoint(&checkpointer).unwrap();
        let before = database_bytes();
        assert_eq!(catch_up(&checkpointer, &path, last), 0);
        assert_eq!(database_bytes(), before);
        // A few frames since: one pass finds and copies them.
        insert(5);
        let found = catch_up(&checkpointer, &path, last);
        assert!((5..=SMALL_REMAINDER).contains(&found), "{found}");
        let after = checkpoint(&checkpointer).unwrap();
        assert_eq!(after.in_wal, after.copied);
    }

    #[test]
    fn the_wal_is_rewound_once_it_passes_its_bound_while_writes_go_on() {
        let (_dir, path, writer) = blob_table_in_wal();
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
