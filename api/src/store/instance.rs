//! Instance-level settings: the hash of the generated operator token.

use sqlx::PgPool;

const OPERATOR_TOKEN_HASH: &str = "operator_token_hash";

/// Stores the operator token hash unless one exists; `true` when this call stored it (first start).
pub async fn init_operator_token_hash(db: &PgPool, hash_hex: &str) -> sqlx::Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO instance_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(OPERATOR_TOKEN_HASH)
    .bind(hash_hex)
    .execute(db)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

pub async fn operator_token_hash(db: &PgPool) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT value FROM instance_settings WHERE name = $1")
        .bind(OPERATOR_TOKEN_HASH)
        .fetch_optional(db)
        .await
}
