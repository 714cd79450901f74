//! Two tests, each with its own database: neither sees the other's tables.

use inlet_testsupport::TestDb;

async fn create_own_table(db: &TestDb, table: &str, other: &str) {
    let pool = db.pool().await;
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&pool)
        .await
        .expect("test database");
    assert_eq!(one, 1);
    sqlx::query(&format!("CREATE TABLE {table} (id int)"))
        .execute(&pool)
        .await
        .expect("test database");

    // The database is fresh: only our own table exists, never the other test's.
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_all(&pool)
    .await
    .expect("test database");
    assert_eq!(tables, vec![table.to_string()]);
    assert!(!tables.contains(&other.to_string()));

    let current: String = sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(&pool)
        .await
        .expect("test database");
    assert_eq!(current, db.name);
    pool.close().await;
}

#[tokio::test]
async fn first_database_is_isolated() {
    let db = TestDb::new().await;
    let other = TestDb::new().await;
    assert_ne!(db.name, other.name);
    assert_ne!(db.url, other.url);
    create_own_table(&db, "first_only", "second_only").await;

    // A table created in `db` is not visible in `other`.
    let pool = other.pool().await;
    let visible: Option<String> = sqlx::query_scalar("SELECT to_regclass('first_only')::text")
        .fetch_one(&pool)
        .await
        .expect("test database");
    assert_eq!(visible, None);
}

#[tokio::test]
async fn second_database_is_isolated() {
    let db = TestDb::new().await;
    create_own_table(&db, "second_only", "first_only").await;
    assert!(db.name.starts_with("test_"));
    assert_eq!(db.name.len(), "test_".len() + 12);
    assert!(
        inlet_testsupport::server_url(&db.name).ends_with(&db.name)
            || inlet_testsupport::server_url(&db.name).contains(&format!("/{}?", db.name))
    );
}
