//! Raw SQL behind the application's back, for tests that damage or inspect a database.

use sqlx::{Connection, Executor};

/// Runs one statement on the database a `sqlite://` or `postgres://` URL names.
pub async fn execute(url: &str, sql: &'static str) {
    if url.starts_with("sqlite:") {
        let mut connection = sqlx::SqliteConnection::connect(url)
            .await
            .expect("raw sqlite connection");
        connection.execute(sql).await.expect("raw sql");
    } else {
        let mut connection = sqlx::PgConnection::connect(url)
            .await
            .expect("raw postgres connection");
        connection.execute(sql).await.expect("raw sql");
    }
}

/// Runs one query answering a single integer on the PostgreSQL database `url` names.
pub async fn postgres_scalar(url: &str, sql: &'static str) -> i64 {
    let mut connection = sqlx::PgConnection::connect(url)
        .await
        .expect("raw postgres connection");
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(&mut connection)
        .await
        .expect("raw sql")
}
