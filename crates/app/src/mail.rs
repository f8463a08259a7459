//! Digest e-mail: a digest composed as a multipart message (plain text and HTML), queued in
//! the store's outbox in the transaction that records its papers as sent, and delivered over
//! SMTP by [`deliver_queued`].
//!
//! The order makes delivery at-least-once and never lossy: a crash or an unreachable server
//! after the transaction leaves the message queued, and the next delivery run sends it. A
//! crash after the server took a message but before it was marked delivered sends it once
//! more; its `Message-ID` is fixed by user and day, so mail programs show it once.

use std::time::Duration;

use lettre::address::Envelope;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Address, Message, SmtpTransport, Transport};
use paperscout_store::{Channel, NewMail, QueuedMail, Store, Timestamp};
use serde::{Deserialize, Serialize};

use crate::choose::Digest;
use crate::error::{AppError, Result};

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Plain connection upgraded with STARTTLS (port 587); refused if the server cannot.
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a server on this machine or a trusted network.
    None,
}

/// The `[mail]` table of the config file.
///
/// ```toml
/// [mail]
/// smtp_host = "smtp.example.org"
/// smtp_port = 587                  # default: 587 for starttls, 465 for tls, 25 for none
/// security = "starttls"            # starttls, tls or none
/// username = "paperscout@example.org"
/// password_env = "PAPERSCOUT_SMTP_PASSWORD"   # the variable that holds the password
/// from = "paperscout <paperscout@example.org>"
/// timeout_secs = 30
/// ```
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    /// The SMTP server.
    pub smtp_host: Option<String>,
    /// Its port.
    pub smtp_port: Option<u16>,
    /// starttls, tls or none.
    pub security: Option<Security>,
    /// The login, if the server wants one.
    pub username: Option<String>,
    /// The environment variable holding the password [default: PAPERSCOUT_SMTP_PASSWORD].
    pub password_env: Option<String>,
    /// The sender, `Name <address>` or a bare address.
    pub from: Option<String>,
    /// Seconds to wait for the server [default: 30].
    pub timeout_secs: Option<u64>,
}

/// A configured SMTP connection and sender.
pub struct Mailer {
    transport: SmtpTransport,
    from: Mailbox,
    /// One-click links for each pick, when the web page is set up.
    links: Option<std::sync::Arc<dyn crate::render::PickLinks>>,
}

impl Mailer {
    /// The mailer the config describes; an error naming the key to set when it is incomplete.
    pub fn new(config: &MailConfig) -> Result<Self> {
        let host = config.smtp_host.as_deref().ok_or_else(|| {
            AppError::MailConfig(
                "e-mail is not set up: set smtp_host (and from) in the [mail] table of the config file"
                    .to_owned(),
            )
        })?;
        let from: Mailbox = config
            .from
            .as_deref()
            .ok_or_else(|| {
                AppError::MailConfig(
                    "e-mail is not set up: set from = \"paperscout <you@example.org>\" in the [mail] table"
                        .to_owned(),
                )
            })?
            .parse()
            .map_err(|err| {
                AppError::MailConfig(format!(
                    "[mail] from = {:?} is not an address such as \"paperscout <you@example.org>\": {err}",
                    config.from.as_deref().unwrap_or_default()
                ))
            })?;
        let security = config.security.unwrap_or_default();
        let tls_setup = |err: lettre::transport::smtp::Error| {
            AppError::MailConfig(format!(
                "could not set up TLS for {host}: {err}; check [mail] smtp_host and security"
            ))
        };
        let builder = match security {
            Security::Starttls => SmtpTransport::starttls_relay(host).map_err(tls_setup)?,
            Security::Tls => SmtpTransport::relay(host).map_err(tls_setup)?,
            Security::None => SmtpTransport::builder_dangerous(host),
        };
        let port = config.smtp_port.unwrap_or(match security {
            Security::Starttls => 587,
            Security::Tls => 465,
            Security::None => 25,
        });
        let mut builder = builder
            .port(port)
            .timeout(Some(Duration::from_secs(config.timeout_secs.unwrap_or(30))));
        if let Some(username) = &config.username {
            let variable = config
                .password_env
                .as_deref()
                .unwrap_or("PAPERSCOUT_SMTP_PASSWORD");
            let password = std::env::var(variable).map_err(|_| {
                AppError::MailConfig(format!(
                    "[mail] username is set but ${variable} holds no password: export it"
                ))
            })?;
            builder = builder.credentials(Credentials::new(username.clone(), password));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            links: None,
        })
    }

    /// This mailer, putting one-click links under every pick.
    pub fn with_links(mut self, links: std::sync::Arc<dyn crate::render::PickLinks>) -> Self {
        self.links = Some(links);
        self
    }

    /// The digest as this mailer sends it (with its links, if it has any).
    pub fn compose(&self, digest: &Digest, to: &str) -> Result<Vec<u8>> {
        compose_linked(digest, &self.from, to, self.links.as_deref())
    }

    /// The sender.
    pub fn from(&self) -> &Mailbox {
        &self.from
    }

    /// Hands one message to the server.
    fn send(&self, recipient: &str, message: &[u8]) -> Result<()> {
        let to: Address = recipient.parse().map_err(|err| {
            AppError::BadSetting(format!("{recipient:?} is not an e-mail address: {err}"))
        })?;
        let envelope = Envelope::new(Some(self.from.email.clone()), vec![to])
            .map_err(|err| AppError::Bug(format!("an envelope with one recipient: {err}")))?;
        self.transport
            .send_raw(&envelope, message)
            .map_err(|err| AppError::Smtp(smtp_failure(&err)))?;
        Ok(())
    }
}

/// The digest as an e-mail: the Markdown as its plain-text part, the e-mail-safe HTML as its
/// HTML part.
pub fn compose(digest: &Digest, from: &Mailbox, to: &str) -> Result<Vec<u8>> {
    compose_linked(digest, from, to, None)
}

/// [`compose`], with one-click links under every pick of both parts.
pub fn compose_linked(
    digest: &Digest,
    from: &Mailbox,
    to: &str,
    links: Option<&dyn crate::render::PickLinks>,
) -> Result<Vec<u8>> {
    let to: Mailbox = to.parse().map_err(|err| {
        AppError::BadSetting(format!(
            "{to:?} is not an e-mail address ({err}): fix it with `paperscout user set {} --email ADDRESS`",
            digest.user
        ))
    })?;
    let count = digest.papers.len();
    let subject = format!(
        "paperscout: {count} new paper{} for {} — {}",
        if count == 1 { "" } else { "s" },
        digest.user,
        digest.to
    );
    let message_id = format!("digest.{}.{}", id_safe(&digest.user), id_safe(&digest.to));
    build(
        from,
        to,
        &subject,
        &message_id,
        crate::render::markdown_linked(digest, links),
        crate::render::html_linked(digest, links),
    )
}

/// A multipart message (plain text and HTML) from paperscout, marked as sent by a program;
/// `message_id` is made unique with the sender's domain.
pub(crate) fn build(
    from: &Mailbox,
    to: Mailbox,
    subject: &str,
    message_id: &str,
    plain: String,
    html: String,
) -> Result<Vec<u8>> {
    let message_id = format!("<{message_id}@{}>", from.email.domain());
    let mut message = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject)
        .date_now()
        .message_id(Some(message_id))
        .user_agent(format!("paperscout {}", env!("CARGO_PKG_VERSION")))
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(plain),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(html),
                ),
        )
        .map_err(|err| AppError::Bug(format!("could not build the message: {err}")))?;
    // Mail robots and vacation replies leave automatic messages alone (RFC 3834).
    message.headers_mut().insert_raw(HeaderValue::new(
        HeaderName::new_from_ascii_str("Auto-Submitted"),
        "auto-generated".to_owned(),
    ));
    Ok(message.formatted())
}

/// Keeps letters, digits, dots and dashes, for a Message-ID.
pub(crate) fn id_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Composes a digest's e-mail, then queues it and records the digest's papers as sent, in
/// one transaction. Returns how many papers were newly recorded.
pub fn queue(
    store: &mut dyn Store,
    digest: &Digest,
    mailer: &Mailer,
    recipient: &str,
) -> Result<usize> {
    let message = mailer.compose(digest, recipient)?;
    let ids: Vec<&str> = digest.papers.iter().map(|e| e.paper.id.as_str()).collect();
    let mail = NewMail {
        channel: Channel::Email,
        day: &digest.to,
        recipient,
        message: &message,
    };
    let (recorded, _) =
        store.record_sent_with_mail(&digest.user, &ids, paperscout_store::now(), &mail)?;
    Ok(recorded)
}

/// What a delivery run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Messages the server took.
    pub delivered: usize,
    /// Messages left queued, with why.
    pub failed: Vec<String>,
}

/// Delivers every queued e-mail, oldest first; a failure leaves the message queued with its
/// reason and the run goes on with the next. Webhook posts are left for [`deliver_outbox`].
pub fn deliver_queued(store: &mut dyn Store, mailer: &Mailer) -> Result<Delivery> {
    deliver_outbox(store, Some(mailer), Posts::Leave, paperscout_store::now())
}

/// Which queued webhook posts a delivery run makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posts {
    /// None.
    Leave,
    /// Each one not failed lately: after its `n`-th failure a post waits `retry_seconds`
    /// × 2ⁿ⁻¹, at most an hour, so a dead receiver is not hammered and a living one is not
    /// starved.
    Due {
        /// The first pause.
        retry_seconds: u64,
    },
    /// Every one, now (`paperscout mail flush`).
    All,
}

impl Posts {
    /// Whether a queued post is to be tried at `now`.
    fn tries(self, mail: &QueuedMail, now: Timestamp) -> bool {
        match self {
            Self::Leave => false,
            Self::All => true,
            Self::Due { retry_seconds } => match (mail.last_attempt, mail.attempts) {
                (Some(last), attempts) if attempts > 0 => {
                    let pause = retry_seconds
                        .saturating_mul(1 << (attempts - 1).min(12))
                        .min(3600);
                    now >= last.saturating_add(i64::try_from(pause).unwrap_or(3600))
                }
                _ => true,
            },
        }
    }
}

/// Delivers the outbox, oldest first: each e-mail when there is a mailer (else it waits), and
/// the webhook posts `posts` says. A failure leaves its message queued with the reason and
/// the time, and the run goes on with the next.
pub fn deliver_outbox(
    store: &mut dyn Store,
    mailer: Option<&Mailer>,
    posts: Posts,
    now: Timestamp,
) -> Result<Delivery> {
    let mut delivery = Delivery::default();
    for mail in store.undelivered_mail()? {
        let sent = match mail.channel {
            Channel::Email => match mailer {
                Some(mailer) => mailer.send(&mail.recipient, &mail.message),
                None => continue,
            },
            Channel::Webhook if posts.tries(&mail, now) => crate::webhook::post(&mail),
            Channel::Webhook => continue,
        };
        match sent {
            Ok(()) => {
                store.mail_delivered(mail.id, paperscout_store::now())?;
                delivery.delivered += 1;
            }
            Err(err) => {
                let why = err.to_string();
                let to = match mail.channel {
                    Channel::Email => mail.recipient.clone(),
                    Channel::Webhook => crate::webhook::redact(&mail.recipient),
                };
                tracing::warn!(
                    "the digest of {} for {:?} to {to:?} is still queued: {why}",
                    mail.user,
                    mail.day,
                );
                store.mail_failed(mail.id, &why, paperscout_store::now())?;
                delivery
                    .failed
                    .push(format!("{} {} → {to}: {why}", mail.user, mail.day));
            }
        }
    }
    Ok(delivery)
}

/// The user's e-mail address, or an error saying how to set one.
pub fn recipient(store: &dyn Store, user: &str) -> Result<String> {
    let settings = store
        .user(user)?
        .ok_or_else(|| paperscout_store::StoreError::NoSuchUser(user.to_owned()))?
        .settings;
    settings
        .email
        .ok_or_else(|| AppError::NoAddress(user.to_owned()))
}

/// An SMTP failure with its causes (lettre keeps the server's answer in the source chain).
fn smtp_failure(err: &lettre::transport::smtp::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text += &format!(": {cause}");
        source = cause.source();
    }
    text
}
