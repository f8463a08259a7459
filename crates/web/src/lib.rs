//! paperscout's web page, served by the daemon on its own runtime beside the socket and
//! sharing its service: the same store, index, model worker and use cases, so a rating or a
//! rule set here is the one the next digest ranks by.
//!
//! - [`secret`] and [`tokens`]: the key in the data directory, and the signed login links,
//!   session cookies, one-click mail links and feed URLs made with it;
//! - [`links`]: those URLs for the CLI (`user link`) and the e-mail;
//! - [`guard`]: the `Host` check and the rate limit every request passes;
//! - [`connections`]: the accept loop, with caps on connections (in all and per client) and
//!   timeouts for silent connections and slow requests;
//! - [`html`]: escaping and the page frame;
//! - `pages`: one module per page (today, history, search, a paper, the profile, the links
//!   that need no session).
//!
//! Nothing is fetched from another host: the style sheet and the small script are inlined.
//! Every page works without the script (forms and links); a GET never changes anything, so a
//! mail scanner that follows every link records nothing.

#![forbid(unsafe_code)]

pub mod connections;
mod error;
pub mod guard;
pub mod html;
pub mod links;
mod pages;
pub mod secret;
mod server;
pub mod tokens;

pub use error::{Result, WebError};
pub use server::{Web, WebOptions};
