//! The web server: its options, its shared state, the routes, and the guard every request
//! passes. Started by the daemon as a [`Frontend`] on its own runtime.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use paperscout_app::Settings;
use paperscout_daemon::service::Service;
use paperscout_daemon::{DaemonError, Frontend};
use tokio::sync::watch;

use crate::connections::{self, ConnectionLimits};
use crate::error::Result;
use crate::guard::{Hosts, RateLimit, client_of};
use crate::links::{LinkMaker, StoreLinks, bad_listen, bad_proxy};
use crate::pages;

/// Bytes a request body may hold (forms).
const MAX_BODY: usize = 64 * 1024;
/// Bytes a BibTeX upload may hold.
pub(crate) const MAX_UPLOAD: usize = 4 * 1024 * 1024;

/// What the page is served with.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// Where it listens.
    pub listen: SocketAddr,
    /// Its URL behind a reverse proxy, if any.
    pub public_url: Option<String>,
    /// Days a sign-in lasts.
    pub session_days: u32,
    /// Requests a second per client address.
    pub requests_per_second: f64,
    /// Caps and timeouts of its connections, and the reverse proxies whose `X-Forwarded-For`
    /// names the client ([`crate::guard::client_of`]).
    pub connections: ConnectionLimits,
    /// Where delivered digests are (the scheduler's outbox).
    pub outbox: PathBuf,
    /// Whether cookies are marked `Secure` (the public URL is https).
    pub secure_cookies: bool,
}

impl WebOptions {
    /// The options of `[web]`, with `listen` (`serve --http`) beating `[web] listen`; none when
    /// neither asks for a page.
    pub fn from_settings(settings: &Settings, listen: Option<&str>) -> Result<Option<Self>> {
        let web = &settings.web;
        let Some(address) = listen.map(str::to_owned).or_else(|| web.listen.clone()) else {
            return Ok(None);
        };
        let listen: SocketAddr = address.parse().map_err(|_| bad_listen(&address))?;
        Ok(Some(Self {
            listen,
            public_url: web.public_url.clone(),
            session_days: web.session_days(),
            requests_per_second: web.requests_per_second(),
            connections: ConnectionLimits {
                max_connections: web.max_connections(),
                per_client: web.max_connections_per_client(),
                idle_timeout: Duration::from_secs(web.idle_timeout_secs()),
                trusted_proxies: web
                    .trusted_proxies
                    .iter()
                    .map(|proxy| proxy.trim().parse().map_err(|_| bad_proxy(proxy)))
                    .collect::<Result<_>>()?,
            },
            outbox: settings.outbox(),
            secure_cookies: web
                .public_url
                .as_deref()
                .is_some_and(|url| url.starts_with("https://")),
        }))
    }
}

/// The header a reverse proxy names the client in.
const FORWARDED_FOR: &str = "x-forwarded-for";

/// What every page shares.
pub(crate) struct Shared {
    pub service: Arc<Service>,
    pub links: LinkMaker,
    pub options: WebOptions,
    hosts: Hosts,
    limit: RateLimit,
}

/// The page, ready to be served: its secret read (or made) and its links' base known.
pub struct Web {
    links: LinkMaker,
    options: WebOptions,
}

impl Web {
    /// Prepares the page of these settings and options.
    pub fn new(settings: &Settings, options: WebOptions) -> Result<Self> {
        let listen = options.listen.to_string();
        Ok(Self {
            links: LinkMaker::from_settings(settings, Some(&listen))?,
            options,
        })
    }

    /// The routes over a service, for the daemon and for tests.
    fn router(self, service: Arc<Service>) -> Router {
        let hosts = Hosts::new(self.options.listen, self.options.public_url.as_deref());
        let rate = self.options.requests_per_second;
        let shared = Arc::new(Shared {
            service,
            links: self.links,
            options: self.options,
            hosts,
            limit: RateLimit::new(rate, rate * 4.0),
        });
        Router::new()
            .route("/", get(pages::auth::home))
            .route("/login/{token}", get(pages::auth::login))
            .route("/logout", post(pages::auth::logout))
            .route(
                "/m/{token}",
                get(pages::auth::mail_link).post(pages::auth::mail_action),
            )
            .route("/feed/{token}", get(pages::auth::feed))
            .route("/today", get(pages::digests::today))
            .route("/history", get(pages::digests::history))
            .route("/search", get(pages::find::search))
            .route("/paper/{id}", get(pages::find::paper))
            .route("/rate", post(pages::rate::rate))
            .route("/undo", post(pages::rate::undo))
            .route("/profile", get(pages::profile::show))
            .route("/profile/backtest", get(pages::profile::backtest))
            .route("/profile/facets", get(pages::facets::show))
            .route("/profile/facet", post(pages::facets::change))
            .route("/profile/add", post(pages::profile::add))
            .route("/profile/rules", post(pages::profile::rules))
            .route("/profile/timing", post(pages::timing::change))
            .route(
                "/profile/bibtex",
                post(pages::profile::bibtex).layer(DefaultBodyLimit::max(MAX_UPLOAD)),
            )
            .route("/profile/revoke", post(pages::profile::revoke))
            .route("/profile/watch", post(pages::profile::watch))
            .route("/profile/unwatch", post(pages::profile::unwatch))
            .fallback(pages::not_found)
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .layer(middleware::from_fn_with_state(Arc::clone(&shared), guard))
            .with_state(shared)
    }
}

/// The `Host` check, the rate limit, and the headers every answer carries.
async fn guard(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    if !shared.hosts.allows(host) {
        return (
            StatusCode::MISDIRECTED_REQUEST,
            "this page is not served under that name\n",
        )
            .into_response();
    }
    let forwarded = request
        .headers()
        .get_all(FORWARDED_FOR)
        .iter()
        .filter_map(|value| value.to_str().ok());
    let client = client_of(
        client.ip(),
        forwarded,
        &shared.options.connections.trusted_proxies,
    );
    if !shared.limit.admit(client) {
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            "too many requests: wait a moment\n",
        )
            .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(&crate::html::content_security_policy())
            .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'")),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

impl Frontend for Web {
    fn start(
        self: Box<Self>,
        service: Arc<Service>,
        stopped: watch::Receiver<bool>,
    ) -> paperscout_daemon::Result<tokio::task::JoinHandle<()>> {
        let listen = self.options.listen;
        let listener = std::net::TcpListener::bind(listen)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .and_then(tokio::net::TcpListener::from_std)
            .map_err(|err| {
                DaemonError::io(
                    format!("could not listen on {listen} for the web page"),
                    err,
                )
            })?;
        // E-mailed picks carry one-click links from now on.
        let reader = Arc::clone(&service);
        service.set_links(Arc::new(StoreLinks::new(
            self.links.clone(),
            move |user: &str| {
                reader
                    .read_store(|store| Ok(store.user(user)?.map(|u| u.settings.links_epoch)))
                    .ok()
                    .flatten()
            },
        )));
        tracing::info!(url = %self.links.url("/"), "serving the web page");
        let limits = self.options.connections.clone();
        let app = self.router(service);
        Ok(tokio::spawn(connections::serve(
            listener, app, limits, stopped,
        )))
    }
}
