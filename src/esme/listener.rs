//! Listeners: plain TCP and TLS (rustls), a bound on connections, one task per connection.

use crate::config::{Config, TlsConfig};
use crate::esme::EsmeService;
use crate::session::{self, Role, SessionLimits};
use dashmap::DashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The sockets the gateway listens on, bound before anything is served (so a port in use is
/// an error at start, and port 0 resolves to a real port the caller can print).
pub struct Listeners {
    plain: Vec<TcpListener>,
    tls: Vec<TcpListener>,
    identity: Option<TlsIdentity>,
}

/// The TLS listeners' certificate chain and key, replaceable while serving: a renewed
/// certificate is taken on SIGHUP. Sessions already up keep the one they started with.
#[derive(Clone)]
pub struct TlsIdentity(Arc<arc_swap::ArcSwap<TlsAcceptor>>);

impl TlsIdentity {
    fn load(config: &TlsConfig) -> Result<Self, ListenError> {
        let acceptor = tls_acceptor("server.tls", config)?;
        Ok(Self(Arc::new(arc_swap::ArcSwap::from_pointee(acceptor))))
    }

    /// Reads `config`'s certificate and key again; the returned step makes new handshakes use
    /// them. On an error the running ones stay.
    pub fn reload_later(self, config: &TlsConfig) -> Result<impl FnOnce(), ListenError> {
        let acceptor = Arc::new(tls_acceptor("server.tls", config)?);
        Ok(move || self.0.store(acceptor))
    }

    fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::clone(&self.0.load())
    }
}

/// Why listening could not start.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// A socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The TLS certificate or key could not be loaded.
    #[error("TLS: {0}")]
    Tls(String),
}

impl Listeners {
    /// Binds every configured listener.
    pub async fn bind(config: &Config) -> Result<Self, ListenError> {
        let mut plain = Vec::new();
        for addr in &config.server.listen {
            plain.push(bind(*addr).await?);
        }
        let (mut tls, mut identity) = (Vec::new(), None);
        if let Some(tls_config) = &config.server.tls {
            identity = Some(TlsIdentity::load(tls_config)?);
            for addr in &tls_config.listen {
                tls.push(bind(*addr).await?);
            }
        }
        Ok(Self {
            plain,
            tls,
            identity,
        })
    }

    /// The TLS listeners' certificate, for reloading it; `None` without TLS listeners.
    pub fn tls_identity(&self) -> Option<TlsIdentity> {
        self.identity.clone()
    }

    /// Local addresses of the plain listeners.
    pub fn plain_addrs(&self) -> Vec<SocketAddr> {
        self.plain
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Local addresses of the TLS listeners.
    pub fn tls_addrs(&self) -> Vec<SocketAddr> {
        self.tls
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, ListenError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ListenError::Bind { addr, source })
}

/// The acceptor of a TLS listener section (`section`: `server.tls`, `http_api.tls`).
pub(crate) fn tls_acceptor(section: &str, config: &TlsConfig) -> Result<TlsAcceptor, ListenError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&config.cert)
        .and_then(|certs| certs.collect())
        .map_err(|e| ListenError::Tls(format!("{section}.cert {}: {e}", config.cert.display())))?;
    let key = PrivateKeyDer::from_pem_file(&config.key)
        .map_err(|e| ListenError::Tls(format!("{section}.key {}: {e}", config.key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        // TLS 1.2 and 1.3 only.
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| ListenError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ListenError::Tls(format!("{section}: {e}")))?;
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// Accepts connections on every listener until `accepting` is cancelled, each served by a
/// session that ends at the latest when `shutdown` is cancelled; returns once they all ended.
pub async fn serve(
    listeners: Listeners,
    config: Arc<Config>,
    service: Arc<EsmeService>,
    accepting: CancellationToken,
    shutdown: CancellationToken,
) {
    let connections = Connections {
        total: Arc::new(Semaphore::new(config.server.max_connections.get())),
        per_ip: Arc::new(PerIp {
            counts: DashMap::new(),
            max: config.server.max_connections_per_ip.get(),
        }),
    };
    let tracker = TaskTracker::new();
    let limits = SessionLimits {
        timers: config.server.session.clone(),
        max_pdu_bytes: config.server.max_pdu_bytes,
        // Until bound, a client gets a small window: binds and enquire_links only.
        window: 8,
        gate: None,
    };
    let identity = listeners.identity.clone();
    for listener in listeners.plain {
        tracker.spawn(accept_loop(
            listener,
            None,
            limits.clone(),
            service.clone(),
            connections.clone(),
            (accepting.clone(), shutdown.clone()),
            tracker.clone(),
        ));
    }
    for listener in listeners.tls {
        tracker.spawn(accept_loop(
            listener,
            identity.clone(),
            limits.clone(),
            service.clone(),
            connections.clone(),
            (accepting.clone(), shutdown.clone()),
            tracker.clone(),
        ));
    }
    tracker.close();
    tracker.wait().await;
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsIdentity>,
    limits: SessionLimits,
    service: Arc<EsmeService>,
    connections: Connections,
    (accepting, shutdown): (CancellationToken, CancellationToken),
    tracker: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            () = accepting.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // EMFILE and friends: wait a little rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = connections.total.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "connection refused: max_connections reached");
            drop(stream);
            continue;
        };
        let Some(ip_slot) = PerIp::take(&connections.per_ip, peer.ip()) else {
            tracing::warn!(%peer, "connection refused: max_connections_per_ip reached");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        // The certificate of the moment: a reload between two accepts takes effect here.
        let (limits, service, shutdown, tls) = (
            limits.clone(),
            service.clone(),
            shutdown.clone(),
            tls.as_ref().map(TlsIdentity::acceptor),
        );
        tracker.spawn(async move {
            connection(stream, peer, tls, limits, service, shutdown).await;
            drop((permit, ip_slot));
        });
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    limits: SessionLimits,
    service: Arc<EsmeService>,
    shutdown: CancellationToken,
) {
    match tls {
        None => session::run(stream, peer, Role::Smsc, limits, service, shutdown).await,
        Some(acceptor) => {
            let handshake =
                tokio::time::timeout(limits.timers.session_init_timeout, acceptor.accept(stream));
            match handshake.await {
                Ok(Ok(stream)) => {
                    session::run(stream, peer, Role::Smsc, limits, service, shutdown).await
                }
                Ok(Err(e)) => tracing::info!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
            }
        }
    }
}

/// The bounds on open connections: all together, and per peer address.
#[derive(Clone)]
struct Connections {
    total: Arc<Semaphore>,
    per_ip: Arc<PerIp>,
}

/// Open connections per peer address, so that one host cannot take every slot.
struct PerIp {
    counts: DashMap<IpAddr, usize>,
    max: usize,
}

impl PerIp {
    /// A slot for one more connection from `ip`, or `None` at the limit.
    fn take(this: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        // An IPv4 peer on a dual-stack socket is the same host as on a v4 socket.
        let ip = ip.to_canonical();
        let mut count = this.counts.entry(ip).or_insert(0);
        if *count >= this.max {
            return None;
        }
        *count += 1;
        Some(IpSlot {
            per_ip: this.clone(),
            ip,
        })
    }
}

/// One connection's share of its address's count, given back when dropped.
struct IpSlot {
    per_ip: Arc<PerIp>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        // The entry goes with its last connection, so idle addresses take no memory.
        self.per_ip.counts.remove_if_mut(&self.ip, |_, count| {
            *count -= 1;
            *count == 0
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_slots_are_counted_and_given_back() {
        let per_ip = Arc::new(PerIp {
            counts: DashMap::new(),
            max: 2,
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = PerIp::take(&per_ip, a).unwrap();
        let second = PerIp::take(&per_ip, mapped).unwrap();
        // The mapped address is the same host: its third connection is refused…
        assert!(PerIp::take(&per_ip, a).is_none());
        // …while another host is not affected.
        let other = PerIp::take(&per_ip, b).unwrap();
        drop(first);
        let third = PerIp::take(&per_ip, a).unwrap();
        drop((second, third, other));
        assert!(
            per_ip.counts.is_empty(),
            "entries outlived their connections"
        );
    }
}
