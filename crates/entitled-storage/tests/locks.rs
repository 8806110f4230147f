//! Customer locks on PostgreSQL: a lock dropped inside `releasing_locks` is free in the
//! database by the time `releasing_locks` returns, so an answer never leaves while its
//! customer is still locked.

use std::time::Duration;

use entitled_storage::releasing_locks;
use entitled_testkit::postgres::TestDatabase;

#[tokio::test(flavor = "current_thread")]
async fn a_released_lock_is_free_when_the_request_ends() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let storage = entitled_storage::open(database.url())
        .await
        .expect("open postgres");
    let locks = storage.customer_locks();
    for round in 0..20 {
        let key = format!("custround{round}");
        releasing_locks(async {
            let held = locks.try_lock(&key, Duration::ZERO).await.expect("lock");
            assert!(held.is_some(), "free at first");
            drop(held);
        })
        .await;
        // No yield in between: without the wait, the unlock would still be queued.
        let again = locks.try_lock(&key, Duration::ZERO).await.expect("lock");
        assert!(
            again.is_some(),
            "round {round}: still locked after the request ended"
        );
    }
}
