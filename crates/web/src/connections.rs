//! The page's connections: how many it holds at once, how many one client may hold, and how
//! long a silent or slow one is kept. `axum::serve` gives hyper no timer, so a client that
//! opened connections and sent nothing kept each one, and a file descriptor of the daemon's,
//! for ever; here every connection must send a whole request head within the idle timeout
//! (between requests too), and every request is answered within [`REQUEST_TIMEOUT`].

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use paperscout_daemon::per_key::PerKey;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::guard::client_key;

/// The longest a request may take, its body's upload included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How long connections still open at shutdown may finish their requests.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How many connections the page holds, and for how long.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Connections at once; one past it is closed as soon as it is accepted.
    pub max_connections: usize,
    /// Connections at once from one client ([`client_key`]); a trusted proxy's connections
    /// count only towards `max_connections`.
    pub per_client: usize,
    /// How long a connection may take to send a whole request head, or wait between requests.
    pub idle_timeout: Duration,
    /// Proxies exempt from `per_client`.
    pub trusted_proxies: Vec<IpAddr>,
}

/// Serves `app` on `listener` within `limits` until `stopped` turns true; then lets open
/// connections finish for a few seconds.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    mut stopped: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let clients: Arc<PerKey<IpAddr>> = Arc::new(PerKey::default());
    let mut connections = JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of descriptors, most likely: wait for some to be given back.
                    tracing::warn!("the web page could not accept a connection: {err}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stop_signal(&mut stopped) => break,
        };
        while connections.try_join_next().is_some() {}
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::debug!(%peer, "the web page holds its most connections; closing one more");
            continue;
        };
        let claim = if limits.trusted_proxies.contains(&peer.ip()) {
            None
        } else {
            match clients.take(client_key(peer.ip()), limits.per_client.max(1)) {
                Some(claim) => Some(claim),
                None => {
                    tracing::debug!(%peer, "a client holds its most connections; closing one more");
                    continue;
                }
            }
        };
        connections.spawn(serve_connection(
            stream,
            peer,
            app.clone(),
            limits.idle_timeout,
            stopped.clone(),
            (slot, claim),
        ));
    }
    let finished = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, finished)
        .await
        .is_err()
    {
        tracing::debug!("web connections still open at shutdown were dropped");
    }
}

/// Serves one connection, holding its slot and its client's claim until it closes.
async fn serve_connection<Held: Send>(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
    idle_timeout: Duration,
    mut stopped: watch::Receiver<bool>,
    _held: Held,
) {
    let service = service_fn(move |request: Request<Incoming>| {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(peer));
        let app = app.clone();
        async move {
            match tokio::time::timeout(REQUEST_TIMEOUT, app.oneshot(request)).await {
                Ok(answered) => answered,
                Err(_) => Ok::<Response, Infallible>(
                    (
                        StatusCode::REQUEST_TIMEOUT,
                        "the request took too long: send it again\n",
                    )
                        .into_response(),
                ),
            }
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(idle_timeout);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        served = connection.as_mut() => {
            if let Err(err) = served {
                tracing::debug!(%peer, "a web connection ended: {err}");
            }
            return;
        }
        () = stop_signal(&mut stopped) => connection.as_mut().graceful_shutdown(),
    }
    let _ = connection.await;
}

/// Waits until `stopped` turns true (or its sender is gone); holds no borrow of it after.
async fn stop_signal(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}
