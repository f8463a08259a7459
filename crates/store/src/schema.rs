//! The SQLite schema and its forward migrations.
//!
//! The schema version lives in SQLite's `user_version`. [`MIGRATIONS`]`[i]` takes a database
//! from version `i` to `i + 1`, so a file of any earlier version is brought up to date, one
//! step at a time, each step in its own transaction. Never edit a migration that has shipped:
//! add the next one, and a fixture of the version before it under `crates/store/tests/fixtures`.

use rusqlite::Connection;

use crate::error::Result;

/// Each entry migrates from its index to the next version.
pub const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7];

/// The version this build writes.
pub fn current_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// The first schema: papers, embeddings, users, profiles, feedback, digests sent.
const V1: &str = "
CREATE TABLE papers (
    id          TEXT PRIMARY KEY,        -- arXiv:<id> or doi:<doi>
    arxiv_id    TEXT UNIQUE,             -- without version
    version     INTEGER,
    doi         TEXT,
    title       TEXT NOT NULL,
    abstract    TEXT NOT NULL,
    authors     TEXT NOT NULL,           -- JSON array of names
    categories  TEXT NOT NULL,           -- JSON array, primary first
    date        TEXT,                    -- announcement day, YYYY-MM-DD
    comment     TEXT,
    abs_url     TEXT,
    pdf_url     TEXT,
    source      TEXT NOT NULL,
    text_sha    BLOB NOT NULL,           -- sha256 of the embedded text
    first_seen  INTEGER NOT NULL,
    updated     INTEGER NOT NULL
);
CREATE INDEX papers_by_date ON papers(date);
CREATE INDEX papers_by_doi ON papers(doi);

CREATE TABLE models (
    id      INTEGER PRIMARY KEY,
    name    TEXT NOT NULL,
    sha256  TEXT NOT NULL,
    dim     INTEGER NOT NULL,
    UNIQUE (name, sha256)
);

CREATE TABLE embeddings (
    paper_id  TEXT NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
    model_id  INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    text_sha  BLOB NOT NULL,             -- the text_sha of the paper it was computed from
    vector    BLOB NOT NULL,             -- little-endian f32
    PRIMARY KEY (paper_id, model_id)
) WITHOUT ROWID;

CREATE TABLE users (
    id       INTEGER PRIMARY KEY,
    name     TEXT NOT NULL UNIQUE,
    created  INTEGER NOT NULL
);

CREATE TABLE profile_items (
    id        INTEGER PRIMARY KEY,
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    paper_id  TEXT REFERENCES papers(id),
    interest  TEXT,
    weight    REAL NOT NULL,
    added     INTEGER NOT NULL,
    CHECK ((paper_id IS NULL) <> (interest IS NULL))
);
CREATE INDEX profile_items_by_user ON profile_items(user_id);

CREATE TABLE feedback (
    id        INTEGER PRIMARY KEY,
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    paper_id  TEXT NOT NULL REFERENCES papers(id),
    kind      TEXT NOT NULL CHECK (kind IN ('like', 'dislike', 'save', 'dismiss')),
    at        INTEGER NOT NULL
);
CREATE INDEX feedback_by_user ON feedback(user_id);

CREATE TABLE digests_sent (
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    paper_id  TEXT NOT NULL REFERENCES papers(id),
    sent      INTEGER NOT NULL,
    PRIMARY KEY (user_id, paper_id)
) WITHOUT ROWID;
";

/// Users' own settings (e-mail address, rules) and the outbox of digest e-mails: a mail is
/// queued in the transaction that records its papers as sent, and marked delivered once the
/// SMTP server took it, so a crash between the two sends it late, never loses it.
const V2: &str = "
ALTER TABLE users ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';  -- JSON UserSettings

CREATE TABLE mail_outbox (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    day         TEXT NOT NULL,           -- the digest's day
    recipient   TEXT NOT NULL,
    message     BLOB NOT NULL,           -- the whole RFC 5322 message
    queued      INTEGER NOT NULL,
    delivered   INTEGER,                 -- NULL until the server accepted it
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT
);
CREATE INDEX mail_outbox_undelivered ON mail_outbox(queued) WHERE delivered IS NULL;
";

/// Each user's current recommendations, as the last batch re-rank with `--store` left them.
const V3: &str = "
CREATE TABLE recommendations (
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    rank      INTEGER NOT NULL,          -- 0 for the best
    paper_id  TEXT NOT NULL REFERENCES papers(id),
    score     REAL NOT NULL,
    because   TEXT NOT NULL,             -- the explanation, JSON
    method    TEXT NOT NULL,
    computed  INTEGER NOT NULL,
    PRIMARY KEY (user_id, rank)
) WITHOUT ROWID;
";

/// The days each user's scheduled digest was delivered, written in the transaction that
/// records the digest's papers: what keeps a crash mid-round from sending a day's digest again.
const V4: &str = "
CREATE TABLE deliveries (
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    day       TEXT NOT NULL,             -- YYYY-MM-DD
    at        INTEGER NOT NULL,
    PRIMARY KEY (user_id, day)
) WITHOUT ROWID;
";

/// Version 5: a count of the write transactions committed, kept beside the data too (in
/// `<store>.commits`), so that commits a damaged write-ahead log lost are noticed at open.
const V5: &str = "
CREATE TABLE commits (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    count  INTEGER NOT NULL
);
INSERT INTO commits (id, count) VALUES (1, 0);
";

/// Version 6: a user's latest rating of a paper found by one index seek. Every rating asks
/// for it (a rating given twice is one), and `feedback_by_user` alone made that a scan of
/// all the user's ratings.
const V6: &str = "
CREATE INDEX feedback_by_user_paper ON feedback(user_id, paper_id, at, id);
";

/// Version 7: the outbox carries webhook posts beside e-mail, and when each message was last
/// tried, so that a failing receiver is tried again after a growing pause.
const V7: &str = "
ALTER TABLE mail_outbox ADD COLUMN channel TEXT NOT NULL DEFAULT 'email';  -- email, webhook
ALTER TABLE mail_outbox ADD COLUMN last_attempt INTEGER;
";

/// The version of an open database (0 for a new, empty file).
pub fn version(connection: &Connection) -> Result<i64> {
    Ok(connection.query_row("PRAGMA user_version", [], |row| row.get(0))?)
}

/// Applies every migration after `from`, each in its own transaction.
pub fn migrate(connection: &mut Connection, from: i64) -> Result<()> {
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        let to = index as i64 + 1;
        let transaction = connection.transaction()?;
        transaction.execute_batch(sql)?;
        transaction.pragma_update(None, "user_version", to)?;
        transaction.commit()?;
        tracing::info!(from = to - 1, to, "migrated the store's schema");
    }
    Ok(())
}
