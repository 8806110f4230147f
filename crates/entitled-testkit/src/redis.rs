//! The local Redis server, for rate-limit tests.
//!
//! The server is `ENTITLED_TEST_REDIS_URL` (default `redis://127.0.0.1:6379/`). Where it does
//! not answer PING, [`available`] prints why and returns `None` so the test can skip, unless
//! `ENTITLED_REQUIRE_REDIS=1` (as CI sets), where it panics.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The URL of the test Redis server.
pub fn url() -> String {
    std::env::var("ENTITLED_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into())
}

fn required() -> bool {
    std::env::var("ENTITLED_REQUIRE_REDIS").is_ok_and(|v| v == "1" || v == "true")
}

/// The server's URL when it answers PING; otherwise `None` after printing why.
pub async fn available() -> Option<String> {
    let url = url();
    let address = url
        .trim_start_matches("redis://")
        .split(['/', '?'])
        .next()
        .unwrap_or_default()
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .to_string();
    let outcome = async {
        let mut stream = TcpStream::connect(&address).await?;
        stream.write_all(b"PING\r\n").await?;
        let mut reply = [0u8; 7];
        stream.read_exact(&mut reply).await?;
        Ok::<bool, std::io::Error>(&reply == b"+PONG\r\n")
    };
    let reason = match tokio::time::timeout(std::time::Duration::from_secs(2), outcome).await {
        Ok(Ok(true)) => return Some(url),
        Ok(Ok(false)) => "it did not answer PONG".to_string(),
        Ok(Err(err)) => err.to_string(),
        Err(_) => "no answer in 2 s".to_string(),
    };
    assert!(
        !required(),
        "Redis at {address} is required (ENTITLED_REQUIRE_REDIS=1) but unusable: {reason}"
    );
    println!("SKIPPED: Redis test: no server at {address}: {reason}");
    None
}
