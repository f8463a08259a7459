//! Plain data types shared by every paperscout crate.
//!
//! Nothing here does I/O or knows about models, indexes or storage: these are the nouns the
//! other crates pass to each other. The one rule that lives here is [`embedding_text`], because
//! every crate that embeds a paper must agree on which text of it is embedded, and the parsing of
//! arXiv ids and DOIs, because every source spells them differently; and the one stable hash
//! ([`fnv1a`]), because values kept or compared across runs must not change with a build.

#![forbid(unsafe_code)]

mod fault;
mod ids;
mod paper;
mod settings;
mod stable_hash;
mod user_name;

pub use fault::Fault;
pub use ids::{ArxivId, doi_paper_id, normalise_doi};
pub use paper::{Paper, PaperLinks, embedding_text};
pub use settings::{
    Cadence, DigestTiming, FacetMode, FacetSetting, Follow, Rules, UserSettings, Watch, Webhook,
    WebhookFormat,
};
pub use stable_hash::{FNV_OFFSET, fnv1a, fnv1a_from};
pub use user_name::{BadUserName, MAX_USER_NAME, check_user_name, folder_name};
