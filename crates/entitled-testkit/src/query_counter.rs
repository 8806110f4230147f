//! A PostgreSQL wire-protocol proxy on a random loopback port that counts the statements
//! clients execute through it, so a test can prove a code path's query count is bounded.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The request codes of untyped messages sent before the startup message.
const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;

/// Forwards connections to a PostgreSQL server, counting `Query` and `Execute` messages.
#[derive(Debug)]
pub struct QueryCounter {
    address: SocketAddr,
    executed: Arc<AtomicU64>,
}

impl QueryCounter {
    /// Starts forwarding from a fresh loopback port to `target`.
    pub async fn start(target: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let executed = Arc::new(AtomicU64::new(0));
        let counter = executed.clone();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    // Messages are forwarded one by one: no Nagle delays on either leg.
                    let _ = inbound.set_nodelay(true);
                    let _ = outbound.set_nodelay(true);
                    let (from_client, mut to_client) = inbound.into_split();
                    let (mut from_server, mut to_server) = outbound.into_split();
                    let replies = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
                    });
                    let mut from_client = tokio::io::BufReader::new(from_client);
                    let _ = forward_counting(&mut from_client, &mut to_server, &counter).await;
                    replies.abort();
                });
            }
        });
        Ok(Self { address, executed })
    }

    /// The proxy's `host:port`.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Statements executed through the proxy so far.
    pub fn executed(&self) -> u64 {
        self.executed.load(Ordering::SeqCst)
    }
}

/// Copies the client's messages to the server, counting the ones that run a statement.
async fn forward_counting(
    client: &mut tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>,
    server: &mut tokio::net::tcp::OwnedWriteHalf,
    executed: &AtomicU64,
) -> std::io::Result<()> {
    // Untyped messages first: optional SSL/GSS requests, then the startup message.
    loop {
        let length = client.read_u32().await?;
        let mut message = length.to_be_bytes().to_vec();
        message.resize((length as usize).max(4), 0);
        client.read_exact(&mut message[4..]).await?;
        server.write_all(&message).await?;
        let code = message
            .get(4..8)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .unwrap_or_default();
        if code != SSL_REQUEST && code != GSSENC_REQUEST {
            break;
        }
    }
    loop {
        let kind = client.read_u8().await?;
        let length = client.read_u32().await?;
        let mut message = vec![kind];
        message.extend_from_slice(&length.to_be_bytes());
        message.resize(1 + (length as usize).max(4), 0);
        client.read_exact(&mut message[5..]).await?;
        if kind == b'Q' || kind == b'E' {
            executed.fetch_add(1, Ordering::SeqCst);
        }
        server.write_all(&message).await?;
    }
}
