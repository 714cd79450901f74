//! Singleton jobs across API replicas (docs/operations.md): the session and retention sweeps run
//! on one replica at a time, held by a PostgreSQL advisory lock on a connection of their own; when
//! that replica goes (its connection closes, as when its process dies), another takes over.

use inlet_api::worker::leader::{Leader, SESSION_SWEEP};
use inlet_testsupport::TestDb;

#[tokio::test]
async fn one_replica_leads_and_another_takes_over_when_it_goes() {
    let tdb = TestDb::new().await;
    // Two replicas: two pools on one database.
    let pool_a = inlet_api::connect(&tdb.url, 3, std::time::Duration::from_secs(10))
        .await
        .expect("a");
    let pool_b = inlet_api::connect(&tdb.url, 3, std::time::Duration::from_secs(10))
        .await
        .expect("b");
    let mut a = Leader::new(SESSION_SWEEP, "session sweep");
    let mut b = Leader::new(SESSION_SWEEP, "session sweep");
    assert!(a.lead(&pool_a).await, "the first replica leads");
    assert!(!b.lead(&pool_b).await, "the second waits");
    assert!(a.lead(&pool_a).await, "leadership is kept");
    assert!(!b.lead(&pool_b).await);
    // Other users of A's pool never get the lock's connection (it is not in the pool).
    let held: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")
            .fetch_one(&pool_a)
            .await
            .expect("locks");
    assert_eq!(held, 1);
    // Replica A goes away.
    drop(a);
    pool_a.close().await;
    let mut took_over = false;
    for _ in 0..50 {
        if b.lead(&pool_b).await {
            took_over = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(took_over, "the second replica takes the job over");
}
