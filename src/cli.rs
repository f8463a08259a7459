//! The command line: what each command and option means, as `--help` shows it.
//!
//! The doc comments below are clap's help text, written for a terminal: `[default: …]`,
//! `[mail]` and `<data-dir>` are words there, not rustdoc links or HTML.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use paperscout_app::render::Format;
use paperscout_app::settings::{ModelConfig, Overrides};
use paperscout_app::users::SettingsChange;

/// paperscout finds each researcher the new papers worth reading.
///
/// It embeds abstracts on this machine with a small sentence-transformer, indexes every paper it
/// has seen, and ranks each day's new papers against what each user cares about.
///
/// Settings come from built-in defaults, then the config file, then the environment, then flags:
/// a later source overrides an earlier one.
#[derive(Debug, Parser)]
#[command(
    name = "paperscout",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Where paperscout keeps its data [default: $XDG_DATA_HOME/paperscout]
    #[arg(long, global = true, env = "PAPERSCOUT_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Config file (TOML) [default: $XDG_CONFIG_HOME/paperscout/config.toml, if present]
    #[arg(long, global = true, env = "PAPERSCOUT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The daemon's socket [default: $XDG_RUNTIME_DIR/paperscout.sock, else in the data dir]
    #[arg(long, global = true, env = "PAPERSCOUT_SOCKET", value_name = "PATH")]
    pub socket: Option<PathBuf>,

    /// A PostgreSQL database to keep the store in, shared by every paperscout that names it
    /// (postgres://USER@HOST/DATABASE) [default: the SQLite file in the data dir]
    #[arg(long, global = true, env = "PAPERSCOUT_STORE_URL", value_name = "URL")]
    pub store_url: Option<String>,

    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Only errors: no progress bars, no summaries
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Embed texts or papers from JSONL, writing one vector per record in input order.
    ///
    /// Each input line is a JSON object. A record with `title` and/or `abstract` embeds
    /// title + "\n" + abstract (as a paper); a record with only `text` embeds that text. Its `id`
    /// (any JSON value) is copied to the output; without one, the line number is used.
    /// Malformed lines are reported with their number and skipped, unless --strict.
    Embed(EmbedArgs),

    /// Take papers into the store from files or feeds, and embed the new and changed ones.
    ///
    /// Reads JSON lines (paperscout's paper format, as in shared/data, or the arXiv metadata
    /// snapshot), arXiv API Atom feeds, arXiv RSS listings and OAI-PMH ListRecords responses
    /// (following resumption tokens), from files, `-` (standard input) or http(s) URLs; gzip is
    /// detected from the content. Ingesting the same input again changes nothing; a newer
    /// version of a paper updates it. Bad records are reported with their line or record number
    /// and skipped, unless --strict. Each batch of papers is committed with its embeddings in
    /// one transaction: after a crash, run the same command again.
    Ingest(IngestArgs),

    /// Run the daemon: answer requests on a Unix socket, keep the index warm, take in papers.
    ///
    /// Without --foreground it starts itself in the background (logging to
    /// <data-dir>/paperscout.log), waits until it answers, prints its pid and returns. It
    /// stops cleanly on SIGTERM or SIGINT (finishing requests in flight, saving the index,
    /// removing the socket) and re-reads the config file's limits on SIGHUP.
    Serve(ServeArgs),

    /// Whether the daemon runs on the socket, and how busy it is (exit status 3 if none).
    Status {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },

    /// Stop the running daemon (SIGTERM) and wait until it has saved the index and gone.
    Stop,

    /// Papers most like a paper or a text, through the index.
    ///
    /// The query is an arXiv id (any spelling), a DOI, a stored paper's exact title, or free
    /// text. Asks the running daemon; without one, loads the store, the index and the model
    /// here.
    Similar(SimilarArgs),

    /// A user's current top papers with reasons, recording nothing.
    ///
    /// Ranks the papers announced in the last --days days up to --date (by default the
    /// newest day in the store). Asks the running daemon; without one, works here.
    Recommend(RecommendArgs),

    /// Why a paper is, or is not, in a user's next digest.
    ///
    /// Says where the paper ranks among the digest's candidates and against its last pick,
    /// which profile items it is nearest, and the exact reason it was left out: sent before,
    /// rated, in the profile, muted by a rule, announced outside the window, below the
    /// similarity floor, pushed out by diversity for a named pick, or outranked.
    WhyNot(WhyNotArgs),

    /// Rank every selected user against a set of candidates, offline, and write each user's
    /// top papers with scores and reasons as JSON lines.
    ///
    /// Uses the ranking of `recommend` and digests (the same code: the same scores and order),
    /// in blocks of users on every core. A killed run continues where it stopped when run
    /// again with the same options (the progress is kept in OUT.checkpoint).
    ///
    /// On a PostgreSQL store the work can be shared by machines: `rerank --shards N` splits
    /// the users into N shards in the database, then `rerank --worker [--out FILE]` on each
    /// machine ranks shards until all are done; the merged output equals a single run's.
    Rerank(RerankArgs),

    /// Show what the store holds: papers, embeddings per model, users, dates, size.
    Stats {
        /// Print a JSON object instead of a table
        #[arg(long)]
        json: bool,
    },

    /// Manage users and their profiles.
    User {
        /// What to do.
        #[command(subcommand)]
        command: UserCommand,
    },

    /// Record that a user liked papers (more like these).
    Like(FeedbackArgs),
    /// Record that a user disliked papers (fewer like these).
    Dislike(FeedbackArgs),
    /// Record that a user saved papers (a strong like).
    Save(FeedbackArgs),
    /// Record that a user is not interested in papers (never shown again).
    Dismiss(FeedbackArgs),
    /// Forget a user's ratings of papers (likes, dislikes, saves, dismissals), as if never
    /// given: the next ranking no longer counts them.
    Undo(FeedbackArgs),

    /// Choose a user's papers of a day: ranked, diversified, each explained; then record them as
    /// sent, so no paper is sent twice.
    ///
    /// Candidates are the papers announced since the user's last digest (the first time: the
    /// last --days days up to --date), minus papers sent or rated before.
    Digest(DigestArgs),

    /// The sources fetched by name ([sources] in the config file): arXiv categories, bioRxiv and
    /// medRxiv subject collections, each with its last fetch, papers fetched, next fetch and
    /// last error.
    ///
    /// arXiv is fetched shortly after each announcement (20:00 US Eastern, Sunday to Thursday)
    /// and caught up through OAI-PMH after downtime; bioRxiv and medRxiv every few hours.
    /// `add` and `remove` change the config file, and the running daemon reloads it.
    #[command(
        after_help = "Examples:\n  paperscout sources\n  paperscout sources add cs.CL\n  paperscout sources add neuroscience --biorxiv\n  paperscout sources add all --medrxiv\n  paperscout sources remove cs.CL"
    )]
    Sources {
        /// Change the list instead of showing it.
        #[command(subcommand)]
        command: Option<SourcesCommand>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },

    /// Digest e-mail waiting in the outbox: list it, or deliver it now.
    ///
    /// A digest e-mail is queued in the same transaction that records its papers as sent, then
    /// handed to the SMTP server of the [mail] config table; what the server did not take stays
    /// queued. The daemon delivers the queue by itself, backing off while the server refuses.
    Mail {
        /// What to do.
        #[command(subcommand)]
        command: MailCommand,
    },

    /// The store itself: move it from the SQLite file to a PostgreSQL database.
    ///
    /// One paperscout serves from the SQLite file in its data dir. To run several daemons on
    /// one database (an institution, a service that must survive a machine), copy the file into
    /// an empty PostgreSQL database, then give every paperscout its URL: [store] url in the
    /// config file, --store-url or PAPERSCOUT_STORE_URL.
    Store {
        /// What to do.
        #[command(subcommand)]
        command: StoreCommand,
    },

    /// The HNSW index of the store's embeddings (kept in <data-dir>/index).
    Index {
        /// What to do.
        #[command(subcommand)]
        command: IndexCommand,
    },

    /// Judge the ranking methods on a data set in the format of shared/EVAL.md.
    ///
    /// Each query's profile papers are ranked against the candidates; prints nDCG@10,
    /// recall@10, recall@100, MRR and MAP@100 with 95% bootstrap intervals as a table (standard
    /// error) and one JSON object (standard output). Embeddings are paperscout's own: the
    /// papers are ingested into the store and what it lacks is embedded once, then reused.
    Eval(EvalArgs),

    /// Inspect the embedding model.
    Model {
        /// What to do with the model.
        #[command(subcommand)]
        command: ModelCommand,
    },
}

/// `paperscout serve ...`
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Stay in the foreground, logging to standard error (for systemd and containers)
    #[arg(long)]
    pub foreground: bool,

    /// A group whose members may use the socket too (mode 0660 instead of 0600)
    #[arg(long, value_name = "GROUP")]
    pub socket_group: Option<String>,

    /// Connections open at once; more are answered `overloaded` [default: 4096]
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,

    /// Longest request line in bytes [default: 1048576]
    #[arg(long, value_name = "BYTES")]
    pub max_line_bytes: Option<usize>,

    /// Close connections silent for this many seconds [default: 300]
    #[arg(long, value_name = "SECONDS")]
    pub idle_timeout: Option<u64>,

    /// Requests that may wait for the model before new ones are answered `overloaded`
    /// [default: 256]
    #[arg(long, value_name = "N")]
    pub model_queue: Option<usize>,

    /// Texts of waiting requests embedded in one pass (1 turns batching off) [default: 32]
    #[arg(long, value_name = "N")]
    pub model_batch: Option<usize>,

    /// Also serve the web page here (each user's digest, history, search, profile, one-click
    /// ratings from the e-mail); beats `[web] listen`. Loopback unless you put a reverse proxy
    /// with TLS in front (`[web] public_url`)
    #[arg(long, env = "PAPERSCOUT_HTTP", value_name = "IP:PORT")]
    pub http: Option<String>,

    /// Which model, on which device.
    #[command(flatten)]
    pub model: ModelArgs,
}

/// How to read a `similar` query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QueryBy {
    /// An id or DOI if it looks like one, else an exact title, else free text.
    Auto,
    /// A stored paper by arXiv id or DOI.
    Paper,
    /// A stored paper by exact title.
    Title,
    /// Free text.
    Text,
}

/// `paperscout similar ...`
#[derive(Debug, Args)]
pub struct SimilarArgs {
    /// An arXiv id, a DOI, a title or free text (several words are joined)
    #[arg(required = true, value_name = "PAPER_OR_TEXT")]
    pub query: Vec<String>,

    /// How many papers
    #[arg(short, long, default_value_t = 10)]
    pub k: usize,

    /// How to read the query
    #[arg(long, value_enum, default_value_t = QueryBy::Auto)]
    pub by: QueryBy,

    /// Only papers announced on or after this day
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub since: Option<String>,

    /// Only papers announced on or before this day
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub until: Option<String>,

    /// Only papers in this category (repeatable; `cs` means every cs.*)
    #[arg(long = "category", value_name = "CATEGORY")]
    pub categories: Vec<String>,

    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,

    /// Which model, on which device (without a daemon).
    #[command(flatten)]
    pub model: ModelArgs,
}

/// `paperscout recommend ...`
#[derive(Debug, Args)]
pub struct RecommendArgs {
    /// The user
    #[arg(long)]
    pub user: String,

    /// How many papers
    #[arg(short, long, default_value_t = 10)]
    pub n: usize,

    /// How many days of announcements up to --date
    #[arg(long, default_value_t = 7)]
    pub days: u32,

    /// The last day [default: the newest day in the store]
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub date: Option<String>,

    /// Print JSON instead of a list
    #[arg(long)]
    pub json: bool,

    /// Show the recommendations the last `rerank --store` kept for the user instead of ranking
    /// now
    #[arg(long, conflicts_with_all = ["days", "date"])]
    pub stored: bool,

    /// Which model, on which device (without a daemon).
    #[command(flatten)]
    pub model: ModelArgs,
}

/// `paperscout why-not ...`
#[derive(Debug, Args)]
pub struct WhyNotArgs {
    /// The paper: an arXiv id (any spelling), a DOI or a paperscout id
    #[arg(value_name = "PAPER")]
    pub paper: String,

    /// The user
    #[arg(long)]
    pub user: String,

    /// The digest's day [default: today]
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub date: Option<String>,

    /// How many days up to --date a first digest covers
    #[arg(long, default_value_t = 1)]
    pub days: u32,

    /// Print JSON
    #[arg(long)]
    pub json: bool,

    /// Which model, on which device (without a daemon).
    #[command(flatten)]
    pub model: ModelArgs,
}

/// `paperscout rerank ...`
#[derive(Debug, Args)]
pub struct RerankArgs {
    /// `all`, or a file of user names, one a line
    #[arg(long, default_value = "all", value_name = "all|FILE")]
    pub users: String,

    /// `all`, `since:YYYY-MM-DD`, `until:YYYY-MM-DD` or `ids:FILE` (arXiv ids or DOIs)
    #[arg(long, default_value = "all", value_name = "SPEC")]
    pub candidates: String,

    /// Papers per user
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub top: usize,

    /// The ranking method: hybrid (that of digests and `recommend`: embeddings and terms,
    /// dislikes, diversity) or centroid (embeddings only, each user's mean item; many times
    /// faster)
    #[arg(long, default_value = "hybrid", value_name = "METHOD")]
    pub method: String,

    /// Diversity: 1 ranks by relevance alone
    #[arg(long, default_value_t = 0.7, value_name = "LAMBDA")]
    pub mmr_lambda: f32,

    /// Users ranked together: a paper in several of their profiles is compared with the
    /// candidates once. Memory grows with it (about 6 KiB a user, plus their distinct profile
    /// papers), not with the number of users; a killed run resumes after the last whole group
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub block_users: usize,

    /// The JSON-lines output (with --worker: where the merged output of every shard goes, once
    /// the last shard is done)
    #[arg(long, short, value_name = "FILE", required_unless_present_any = ["shards", "worker"])]
    pub out: Option<PathBuf>,

    /// Across machines (a PostgreSQL store): split the users into N shards kept in the
    /// database, for `rerank --worker` processes on any machine to rank; prints the run's number
    #[arg(long, value_name = "N", conflicts_with = "worker")]
    pub shards: Option<usize>,

    /// Rank shards of a sharded run (see --shards) until every shard is done: lease one, rank
    /// it, hand it back; a killed worker's shard is taken again once its lease ends
    #[arg(long)]
    pub worker: bool,

    /// With --worker: the run to work on [default: the newest]
    #[arg(long, value_name = "RUN", requires = "worker")]
    pub run: Option<i64>,

    /// With --worker: seconds a lease lasts without renewal (renewed while ranking)
    #[arg(
        long,
        default_value_t = 120,
        value_name = "SECONDS",
        requires = "worker"
    )]
    pub lease_seconds: i64,

    /// Also store each user's ranking as their current recommendations, replacing the last
    /// (`recommend --stored` shows them); needs the store to itself, so not while the daemon runs
    #[arg(long)]
    pub store: bool,

    /// Which model, on which device (for interests and papers without a stored vector).
    #[command(flatten)]
    pub model: ModelArgs,
}

/// `paperscout model ...`
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Load the model and print its name, dimension, pooling, maximum length, device and sha256.
    Info {
        /// Print a JSON object instead of a table
        #[arg(long)]
        json: bool,

        /// Which model, on which device.
        #[command(flatten)]
        model: ModelArgs,
    },
}

/// `paperscout ingest ...`
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Files, `-` for standard input, or http(s) URLs
    #[arg(required = true, value_name = "FILE_OR_URL")]
    pub sources: Vec<String>,

    /// Store the papers without embedding them; `paperscout embed --missing` catches up later
    #[arg(long)]
    pub no_embed: bool,

    /// Stop at the first bad record (nothing of its batch is written) instead of skipping it
    #[arg(long)]
    pub strict: bool,

    /// Papers per transaction
    #[arg(long, default_value_t = 512, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub papers_per_batch: u32,

    /// Print a JSON summary on standard output
    #[arg(long)]
    pub json: bool,

    /// Which model, on which device.
    #[command(flatten)]
    pub model: ModelArgs,
}

/// `paperscout index ...`
#[derive(Debug, Subcommand)]
pub enum IndexCommand {
    /// Measure the index against exact search: recall@k with stored papers as queries, and
    /// queries/s of both. Opens the saved index (rebuilding it if missing, stale or corrupt,
    /// and catching up with the store).
    Check {
        /// How many stored papers to use as queries
        #[arg(long, default_value_t = 200)]
        queries: usize,
        /// Neighbours per query
        #[arg(long, short, default_value_t = 10)]
        k: usize,
        /// Candidates explored per search [default: the index's own, calibrated for recall@10
        /// of 0.97 when it was built or had grown by a fifth]
        #[arg(long)]
        ef: Option<usize>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Build the index from the store's embeddings anew and save it.
    Rebuild,
}

/// `paperscout sources add|remove`.
#[derive(Debug, Subcommand)]
pub enum SourcesCommand {
    /// Fetch an arXiv category (cs.CL) or archive (cs); with --biorxiv or --medrxiv, a subject
    /// collection (neuroscience) or all
    Add(SourceEntry),
    /// Stop fetching one
    Remove(SourceEntry),
}

/// A source's entry.
#[derive(Debug, Clone, Args)]
pub struct SourceEntry {
    /// The category, archive or collection
    pub entry: String,
    /// A bioRxiv subject collection
    #[arg(long)]
    pub biorxiv: bool,
    /// A medRxiv subject collection
    #[arg(long, conflicts_with = "biorxiv")]
    pub medrxiv: bool,
}

/// `paperscout mail ...`
#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// List the digest e-mail and webhook posts not delivered yet, oldest first, with why the
    /// last try failed.
    Queue {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Deliver every queued e-mail and webhook post now (the daemon does it by itself).
    Flush,
}

/// `paperscout store ...`
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy the data dir's SQLite store, every row of every table, into an empty PostgreSQL
    /// database, in one transaction, and check each table's count on both sides.
    ///
    /// Stop the daemon first (the copy takes the file's writer lock). The file is left as it
    /// was.
    Copy {
        /// The database to fill (postgres://USER@HOST/DATABASE); create it first with createdb
        #[arg(long, value_name = "URL")]
        to: String,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

/// `paperscout user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user, or add to an existing user's profile.
    Add {
        /// The user's name
        name: String,
        /// A file of paper ids (arXiv ids in any spelling, or DOIs), one a line; the papers must
        /// be in the store
        #[arg(long, value_name = "FILE")]
        papers: Option<PathBuf>,
        /// A BibTeX/BibLaTeX library (a Zotero, Mendeley or JabRef export): entries are matched
        /// to stored papers by arXiv id or DOI; others with a title join as external papers
        #[arg(long, value_name = "FILE")]
        bibtex: Option<PathBuf>,
        /// A statement of interest, e.g. "graph neural networks for molecules" (repeatable)
        #[arg(long = "interest", value_name = "TEXT")]
        interests: Vec<String>,
    },
    /// List the users.
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Show a user's profile and feedback.
    Show {
        /// The user's name
        name: String,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Set a user's e-mail address, rules (category filters, keyword and author boosts and
    /// mutes, a similarity floor, a digest size), when their digests come (cadence, time zone,
    /// hour) and the webhooks they are posted to. Lists add to what is there.
    #[command(
        after_help = "Examples:\n  paperscout user set ada --email ada@example.org --only-category cs --mute-category cs.CR\n  paperscout user set ada --boost-author Hinton --boost-keyword \"graph neural\" --mute-keyword blockchain\n  paperscout user set ada --clear-rules --min-similarity 0.35 --size 5\n  paperscout user set ada --cadence weekly:mon --timezone Europe/Berlin --digest-at 07:30\n  paperscout user set ada --webhook https://hooks.slack.com/services/T/B/X --webhook-format slack"
    )]
    Set {
        /// The user's name
        name: String,
        /// What to change.
        #[command(flatten)]
        change: Box<SettingsFlags>,
    },
    /// Watch a text for scoops: a new paper at least this close to it is e-mailed at once,
    /// beside it, out of the daily digest (the user needs an e-mail address, the daemon mail).
    #[command(
        after_help = "Examples:\n  paperscout user watch ada --text draft-abstract.txt --threshold 0.8\n  paperscout user watch ada --paper 2503.11677"
    )]
    Watch {
        /// The user's name
        name: String,
        /// A file holding the text: a draft's title and abstract
        #[arg(long, value_name = "FILE", required_unless_present = "paper")]
        text: Option<PathBuf>,
        /// A stored paper whose title and abstract are the text (say, the user's own preprint)
        #[arg(long, value_name = "ID", conflicts_with = "text")]
        paper: Option<String>,
        /// The cosine at or above which a new paper is sent (0 to 1)
        #[arg(long, default_value_t = 0.8, value_name = "COSINE")]
        threshold: f32,
    },
    /// Stop watching a text (named as `user show` lists it: the file's name or the paper's id).
    Unwatch {
        /// The user's name
        name: String,
        /// The watch's label
        label: String,
    },
    /// Follow a library: a BibTeX file (as Zotero's Better BibTeX or JabRef keep one exported)
    /// or Zotero's own database. Its papers join the profile now, and the daemon keeps the
    /// profile in step whenever it changes (papers added by hand are never taken away).
    Follow {
        /// The user's name
        name: String,
        /// A BibTeX library
        #[arg(long, value_name = "FILE", required_unless_present = "zotero")]
        bibtex: Option<PathBuf>,
        /// Zotero's database (zotero.sqlite in its data folder), read from a copy
        #[arg(long, value_name = "FILE", conflicts_with = "bibtex")]
        zotero: Option<PathBuf>,
        /// With --zotero: only this collection
        #[arg(long, value_name = "NAME", requires = "zotero")]
        collection: Option<String>,
    },
    /// Stop following a library file; its papers stay in the profile.
    Unfollow {
        /// The user's name
        name: String,
        /// The library, as `user show` lists it
        path: String,
    },
    /// List the facets a user's profile falls into (a digest has a section for each), or mute,
    /// boost, rename or reset one, named by its number or name as listed.
    #[command(
        after_help = "Examples:\n  paperscout user facet ada\n  paperscout user facet ada 2 --rename \"Speech\" --boost\n  paperscout user facet ada speech --mute\n  paperscout user facet ada 2 --reset"
    )]
    Facet {
        /// The user's name
        name: String,
        /// The facet to change: its number or name
        facet: Option<String>,
        /// Call the facet this in digests
        #[arg(long, value_name = "NAME", requires = "facet")]
        rename: Option<String>,
        /// Leave its papers out of digests
        #[arg(long, requires = "facet", conflicts_with_all = ["boost", "normal"])]
        mute: bool,
        /// Give it twice its share of a digest's places
        #[arg(long, requires = "facet", conflicts_with = "normal")]
        boost: bool,
        /// Neither muted nor boosted
        #[arg(long, requires = "facet")]
        normal: bool,
        /// Forget its name and mode
        #[arg(long, requires = "facet", conflicts_with_all = ["rename", "mute", "boost", "normal"])]
        reset: bool,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Remove a user with their profile, feedback and digest history.
    Remove {
        /// The user's name
        name: String,
    },
    /// Print a link that signs the user in to the web page, or end every link and session.
    ///
    /// The link carries a token signed with the data directory's secret; it works for --days
    /// and is built from `[web] public_url`, else the listen address. With --revoke every
    /// session, mail link and feed URL of the user stops working at once.
    Link {
        /// The user's name
        name: String,
        /// End every link and session of the user instead
        #[arg(long)]
        revoke: bool,
        /// Days the link works
        #[arg(long, default_value_t = 7, value_name = "N",
              value_parser = clap::value_parser!(u32).range(1..=365))]
        days: u32,
        /// The page's address, when not `[web] listen` [default: 127.0.0.1:8737]
        #[arg(long, env = "PAPERSCOUT_HTTP", value_name = "IP:PORT")]
        http: Option<String>,
    },
}

/// `paperscout like|dislike|save|dismiss USER PAPER...`
#[derive(Debug, Args)]
pub struct FeedbackArgs {
    /// The user's name
    pub user: String,
    /// Papers: arXiv ids in any spelling, or DOIs
    #[arg(required = true)]
    pub papers: Vec<String>,
}

/// `paperscout digest ...`
#[derive(Debug, Args)]
pub struct DigestArgs {
    /// Whose digest
    #[arg(long)]
    pub user: String,

    /// The day of the digest [default: today, UTC]
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub date: Option<String>,

    /// For a first digest, how many days up to --date it covers
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub days: u32,

    /// Papers in the digest at most [default: the user's own setting, else 10]
    #[arg(long, value_name = "N")]
    pub size: Option<usize>,

    /// Diversity: 1 ranks by relevance alone, lower values prefer variety
    #[arg(long, default_value_t = 0.7, value_name = "LAMBDA")]
    pub mmr_lambda: f32,

    /// Leave out papers whose cosine to every profile item is below this (send nothing rather
    /// than noise)
    #[arg(long, value_name = "COSINE")]
    pub min_similarity: Option<f32>,

    /// Output format
    #[arg(long, value_enum, default_value_t = FormatArg::Markdown)]
    pub format: FormatArg,

    /// Write here (in one rename) instead of standard output
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Show the digest without recording its papers as sent
    #[arg(long)]
    pub dry_run: bool,

    /// E-mail the digest (text and HTML) to the user's address, set with `user set --email`,
    /// through the [mail] server of the config file; with --dry-run, print the message instead
    #[arg(long)]
    pub email: bool,

    /// Which model, on which device.
    #[command(flatten)]
    pub model: ModelArgs,
}

/// `paperscout eval ...`
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Papers: JSONL or JSONL.gz in paperscout's paper format
    #[arg(long, value_name = "FILE", required_unless_present = "user")]
    pub papers: Option<PathBuf>,

    /// Profiles: `query_id<TAB>paper_id` lines after a header
    #[arg(long, value_name = "FILE", required_unless_present = "user")]
    pub queries: Option<PathBuf>,

    /// Relevance: `query_id<TAB>paper_id<TAB>relevance` lines after a header
    #[arg(long, value_name = "FILE", required_unless_present = "user")]
    pub qrels: Option<PathBuf>,

    /// Backtest this user instead of a data set: hide their latest papers and likes, replay
    /// the days those were announced, and report where each would have ranked
    #[arg(long, value_name = "NAME", conflicts_with_all = ["papers", "queries", "qrels"])]
    pub user: Option<String>,

    /// With --user: the share of the user's papers and likes to hide (0.2 or 20%)
    #[arg(long, default_value = "20%", value_name = "SHARE", value_parser = paperscout_app::backtest::parse_share)]
    pub holdout: f64,

    /// Candidates are the papers dated on or after this day [default: every paper]
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub candidates_since: Option<String>,

    /// How deep each ranking goes
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub k_max: usize,

    /// A method (centroid, max-sim, zotero, tfidf, bm25, tfidf-svm, hybrid), several joined by
    /// commas, or `all`
    #[arg(long, default_value = "hybrid", value_name = "METHOD")]
    pub method: String,

    /// Keep only each query's newest profile paper: judges `similar <paper>`
    #[arg(long)]
    pub single_paper: bool,

    /// Also judge the digest's sections (one per facet of the profile) against the flat top 10
    #[arg(long)]
    pub sections: bool,

    /// Evaluate this many queries, spread evenly over the file [default: all]
    #[arg(long, value_name = "N")]
    pub max_queries: Option<usize>,

    /// Only one half of the queries, split by a hash of their ids: `tune` to choose constants
    /// on, `report` to report them on data they never saw
    #[arg(long, value_name = "tune|report")]
    pub half: Option<paperscout_app::evaluation::Half>,

    /// Precomputed vectors instead of the store's: little-endian float16, row i for paper i of
    /// --papers (as shared/data/arxiv-cs/embeddings/), for development
    #[arg(long, value_name = "FILE")]
    pub vectors: Option<PathBuf>,

    /// The hybrid's soft-max sharpness over profile items (0 averages them)
    #[arg(long, default_value_t = 20.0, value_name = "T")]
    pub temperature: f32,

    /// The hybrid's weight of lexical against embedding evidence
    #[arg(long, default_value_t = 2.0, value_name = "W")]
    pub lexical_weight: f32,

    /// The hybrid's soft-max sharpness over the per-item lexical cosines (0: one cosine with
    /// the profile's summed terms)
    #[arg(long, default_value_t = 10.0, value_name = "T")]
    pub lexical_temperature: f32,

    /// The hybrid's recency decay: the profile item of rank r (0 the newest) weighs
    /// (r + 1)^-DECAY; 0 weighs all alike
    #[arg(long, default_value_t = 0.0, value_name = "DECAY")]
    pub recency_decay: f32,

    /// The hybrid's discount of generic candidates: how much of each candidate's lexical
    /// hubness (the mean of its ten closest lexical cosines among the candidates) comes off its
    /// lexical score; 0 takes none
    #[arg(long, default_value_t = 0.25, value_name = "W")]
    pub lexical_hubness: f32,

    /// How much the hybrid's rare character n-grams (runs of 3 to 5 characters of each word,
    /// case kept, in at most 2 candidates or 0.02 % of them) count against its words; 0
    /// leaves them out
    #[arg(long, default_value_t = paperscout_rank::terms::GRAM_WEIGHT, value_name = "W")]
    pub char_grams: f32,

    /// Which model, on which device.
    #[command(flatten)]
    pub model: ModelArgs,
}

/// `paperscout embed ...`
#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// JSONL input file; `-` reads standard input
    #[arg(default_value = "-", value_name = "FILE")]
    pub input: PathBuf,

    /// Instead of reading FILE, embed every paper in the store that lacks an embedding of its
    /// current title and abstract under the chosen model (after `ingest --no-embed`, or after
    /// changing the model)
    #[arg(long, conflicts_with_all = ["out", "format", "strict"])]
    pub missing: bool,

    /// Re-embed the whole store with the model given (after a model change), side by side:
    /// the current model's vectors and index stay untouched until every paper has a vector
    /// of the new model and its index is built, then the data directory switches to it in one
    /// rename (<data-dir>/model.json). With the model in use, make every vector again in the
    /// precision that runs now (`--precision`) and build its index anew: how a store moves to
    /// int8 or back to fp32. A killed run continues where it stopped when run again
    #[arg(long, conflicts_with_all = ["out", "format", "strict", "missing"])]
    pub all: bool,

    /// Write here instead of standard output
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Output format: `jsonl` ({"id": ..., "embedding": [...]} a line) or `f32` (a row-major
    /// little-endian float32 matrix, one row per embedded record, no header)
    #[arg(long, value_enum, default_value_t = OutputFormat::Jsonl)]
    pub format: OutputFormat,

    /// Stop at the first malformed line instead of skipping it
    #[arg(long)]
    pub strict: bool,

    /// Which model, on which device.
    #[command(flatten)]
    pub model: ModelArgs,
}

/// How `embed` writes vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// One JSON object a line.
    Jsonl,
    /// Raw little-endian float32 rows.
    F32,
}

/// Options shared by every command that runs the model.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// A sentence-transformers folder, or a Hugging Face name (ORG/NAME[@REV]) found in the local
    /// hub cache [default: all-MiniLM-L6-v2 as fetched by `models/fetch`]
    #[arg(long, env = "PAPERSCOUT_MODEL", value_name = "DIR|NAME")]
    pub model: Option<String>,

    /// Where the model runs: cpu, cuda or cuda:N (CUDA needs a build with `--features cuda`)
    #[arg(long, env = "PAPERSCOUT_DEVICE", value_name = "DEVICE")]
    pub device: Option<String>,

    /// Which implementation runs the model: auto (the fused CPU encoder on CPUs, Candle on
    /// GPUs), fused, or candle (the reference)
    #[arg(long, env = "PAPERSCOUT_ENGINE", value_name = "ENGINE")]
    pub engine: Option<String>,

    /// The arithmetic of the fused encoder's dense layers: auto (int8 where the CPU has
    /// AVX512-VNNI, else fp32), fp32, bf16 (needs AVX512-BF16) or int8 (needs AVX512-VNNI).
    /// Every precision gives vectors within a cosine of 0.995 of the reference; `embed --all`
    /// rewrites a store's vectors in the one that runs now [default: auto]
    #[arg(long, env = "PAPERSCOUT_PRECISION", value_name = "PRECISION")]
    pub precision: Option<String>,

    /// Texts per forward pass [default: 16]
    #[arg(long, env = "PAPERSCOUT_BATCH_SIZE", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub batch_size: Option<u32>,
}

/// The formats a digest is written in, as flags name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Markdown, for people.
    Markdown,
    /// JSON, for scripts.
    Json,
    /// An e-mail-safe HTML page.
    Html,
    /// An Atom feed for feed readers.
    Atom,
}

impl From<FormatArg> for Format {
    fn from(format: FormatArg) -> Self {
        match format {
            FormatArg::Markdown => Self::Markdown,
            FormatArg::Json => Self::Json,
            FormatArg::Html => Self::Html,
            FormatArg::Atom => Self::Atom,
        }
    }
}

/// `paperscout user set`'s flags: a [`SettingsChange`].
#[derive(Debug, Clone, Default, PartialEq, Args)]
pub struct SettingsFlags {
    /// Forget every rule (categories, keywords, authors, floor, size) before adding these
    #[arg(long)]
    pub clear_rules: bool,
    /// Where e-mailed digests go
    #[arg(long, value_name = "ADDRESS")]
    pub email: Option<String>,
    /// Stop e-mailing this user
    #[arg(long, conflicts_with = "email")]
    pub no_email: bool,
    /// Only papers in this category (cs.LG) or archive (cs); repeatable, any one suffices
    #[arg(long = "only-category", value_name = "CATEGORY")]
    pub only_categories: Vec<String>,
    /// Never papers in this category or archive (repeatable)
    #[arg(long = "mute-category", value_name = "CATEGORY")]
    pub mute_categories: Vec<String>,
    /// Lift papers whose title or abstract has this word or phrase (repeatable)
    #[arg(long = "boost-keyword", value_name = "TEXT")]
    pub boost_keywords: Vec<String>,
    /// Never papers whose title or abstract has this word or phrase (repeatable)
    #[arg(long = "mute-keyword", value_name = "TEXT")]
    pub mute_keywords: Vec<String>,
    /// Lift papers by this author; a surname or a full name (repeatable)
    #[arg(long = "boost-author", value_name = "NAME")]
    pub boost_authors: Vec<String>,
    /// Never papers by this author (repeatable)
    #[arg(long = "mute-author", value_name = "NAME")]
    pub mute_authors: Vec<String>,
    /// Send nothing rather than noise: leave out papers whose cosine to every profile item is
    /// below this (-1 to 1)
    #[arg(long, value_name = "COSINE")]
    pub min_similarity: Option<f32>,
    /// Papers per digest
    #[arg(long, value_name = "N")]
    pub size: Option<usize>,
    /// Forget the user's own cadence, time zone, hour and note (the daemon's [schedule]
    /// applies) before setting these
    #[arg(long)]
    pub clear_timing: bool,
    /// How often the digest comes: daily, weekdays, weekly:mon (or another day), or
    /// announcement (the morning after each arXiv announcement)
    #[arg(long, value_name = "CADENCE")]
    pub cadence: Option<paperscout_types::Cadence>,
    /// The user's time zone, an IANA name such as Europe/Berlin or Asia/Tokyo
    #[arg(long, value_name = "ZONE")]
    pub timezone: Option<String>,
    /// The time of day the digest comes at, HH:MM in the user's time zone
    #[arg(long, value_name = "HH:MM")]
    pub digest_at: Option<String>,
    /// On a due day with nothing new, send a short note saying so
    #[arg(long, overrides_with = "no_nothing_note")]
    pub nothing_note: bool,
    /// Send nothing on a day with nothing new (the default)
    #[arg(long)]
    pub no_nothing_note: bool,
    /// Post the digests to this URL too (a Slack, Mattermost or Discord incoming webhook, a
    /// Matrix room's send URL, or any program that takes JSON)
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,
    /// The body the webhook is posted: slack, mattermost, discord, matrix or json
    #[arg(
        long,
        value_name = "FORMAT",
        requires = "webhook",
        default_value = "json"
    )]
    pub webhook_format: paperscout_types::WebhookFormat,
    /// Stop posting to the webhook of this URL
    #[arg(long, value_name = "URL")]
    pub remove_webhook: Option<String>,
}

impl SettingsFlags {
    /// The change these flags ask for.
    pub fn change(&self) -> SettingsChange {
        SettingsChange {
            clear_rules: self.clear_rules,
            email: self.email.clone(),
            no_email: self.no_email,
            only_categories: self.only_categories.clone(),
            mute_categories: self.mute_categories.clone(),
            boost_keywords: self.boost_keywords.clone(),
            mute_keywords: self.mute_keywords.clone(),
            boost_authors: self.boost_authors.clone(),
            mute_authors: self.mute_authors.clone(),
            min_similarity: self.min_similarity,
            size: self.size,
            clear_timing: self.clear_timing,
            cadence: self.cadence,
            timezone: self.timezone.clone(),
            digest_at: self.digest_at.clone(),
            nothing_note: match (self.nothing_note, self.no_nothing_note) {
                (true, _) => Some(true),
                (false, true) => Some(false),
                (false, false) => None,
            },
            webhook: self.webhook.clone().map(|url| paperscout_types::Webhook {
                url,
                format: self.webhook_format,
            }),
            remove_webhook: self.remove_webhook.clone(),
            ..SettingsChange::default()
        }
    }
}

impl Cli {
    /// What the flags and the environment chose, for the settings to merge over the config
    /// file; `model` for the commands that run the model.
    pub fn overrides(&self, model: Option<&ModelArgs>) -> Overrides {
        Overrides {
            config: self.config.clone(),
            data_dir: self.data_dir.clone(),
            socket: self.socket.clone(),
            store_url: self.store_url.clone(),
            model: model.map_or_else(ModelConfig::default, |args| ModelConfig {
                path: args.model.clone(),
                device: args.device.clone(),
                engine: args.engine.clone(),
                precision: args.precision.clone(),
                batch_size: args.batch_size,
            }),
        }
    }
}
