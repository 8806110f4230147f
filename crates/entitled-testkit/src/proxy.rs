//! A TCP proxy on a random loopback port that a test can cut, to make an upstream (such as
//! PostgreSQL) unreachable for real.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Forwards connections to `target` until [`TcpProxy::cut`].
#[derive(Debug)]
pub struct TcpProxy {
    address: SocketAddr,
    cut: Arc<watch::Sender<bool>>,
}

impl TcpProxy {
    /// Starts forwarding from a fresh loopback port to `target`.
    pub async fn start(target: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (cut, _) = watch::channel(false);
        let cut = Arc::new(cut);
        let accept_cut = cut.clone();
        tokio::spawn(async move {
            let mut cut_signal = accept_cut.subscribe();
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = cut_signal.changed() => return,
                };
                let Ok((mut inbound, _)) = accepted else {
                    return;
                };
                let mut connection_cut = accept_cut.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = connection_cut.changed() => {}
                    }
                });
            }
        });
        Ok(Self { address, cut })
    }

    /// The proxy's `host:port`.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Closes every forwarded connection and stops accepting new ones.
    pub fn cut(&self) {
        let _ = self.cut.send(true);
    }
}
