//! `paperscout store copy`: a SQLite store moved into an empty PostgreSQL database, row for
//! row, in one transaction.
//!
//! The two schemas have the same tables and columns (see [`super::schema`]), so every row keeps
//! its numbers (users', outbox messages'), and nothing a trait method would not hand back is
//! lost: when each paper was sent, every delivered day, delivered mail. Rows stream through
//! PostgreSQL's binary `COPY`. Before the commit the rows of each table are counted on both
//! sides; any difference rolls the whole copy back.

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use rusqlite::types::ValueRef;

use super::{PostgresStore, no_nul};
use crate::error::{Result, StoreError};
use crate::sqlite::SqliteStore;

/// How a column is held in PostgreSQL.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Text,
    Integer,
    Real,
    Bytes,
}

use Kind::{Bytes, Integer, Real, Text};

/// Every table, parents before the tables that refer to them, with its columns.
const TABLES: &[(&str, &[(&str, Kind)])] = &[
    (
        "papers",
        &[
            ("id", Text),
            ("arxiv_id", Text),
            ("version", Integer),
            ("doi", Text),
            ("title", Text),
            ("abstract", Text),
            ("authors", Text),
            ("categories", Text),
            ("date", Text),
            ("comment", Text),
            ("abs_url", Text),
            ("pdf_url", Text),
            ("source", Text),
            ("text_sha", Bytes),
            ("first_seen", Integer),
            ("updated", Integer),
        ],
    ),
    (
        "models",
        &[
            ("id", Integer),
            ("name", Text),
            ("sha256", Text),
            ("dim", Integer),
        ],
    ),
    (
        "embeddings",
        &[
            ("paper_id", Text),
            ("model_id", Integer),
            ("text_sha", Bytes),
            ("vector", Bytes),
        ],
    ),
    (
        "users",
        &[
            ("id", Integer),
            ("name", Text),
            ("created", Integer),
            ("settings", Text),
        ],
    ),
    (
        "profile_items",
        &[
            ("id", Integer),
            ("user_id", Integer),
            ("paper_id", Text),
            ("interest", Text),
            ("weight", Real),
            ("added", Integer),
        ],
    ),
    (
        "feedback",
        &[
            ("id", Integer),
            ("user_id", Integer),
            ("paper_id", Text),
            ("kind", Text),
            ("at", Integer),
        ],
    ),
    (
        "digests_sent",
        &[("user_id", Integer), ("paper_id", Text), ("sent", Integer)],
    ),
    (
        "mail_outbox",
        &[
            ("id", Integer),
            ("user_id", Integer),
            ("day", Text),
            ("recipient", Text),
            ("message", Bytes),
            ("queued", Integer),
            ("delivered", Integer),
            ("attempts", Integer),
            ("last_error", Text),
            ("channel", Text),
            ("last_attempt", Integer),
        ],
    ),
    (
        "recommendations",
        &[
            ("user_id", Integer),
            ("rank", Integer),
            ("paper_id", Text),
            ("score", Real),
            ("because", Text),
            ("method", Text),
            ("computed", Integer),
        ],
    ),
    (
        "deliveries",
        &[("user_id", Integer), ("day", Text), ("at", Integer)],
    ),
];

/// The tables whose ids come from an identity column, set past the copied ids afterwards.
const NUMBERED: &[&str] = &[
    "models",
    "users",
    "profile_items",
    "feedback",
    "mail_outbox",
];

/// One table's rows, as copied and then counted on both sides.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CopiedTable {
    /// The table's name.
    pub table: &'static str,
    /// Its rows, the same number in the SQLite file and in the database.
    pub rows: u64,
}

/// One SQLite value as the PostgreSQL column wants it. A text column holding bytes that are
/// not UTF-8 (a damaged file) is copied with U+FFFD in their place, as the store reads it.
fn convert(value: ValueRef<'_>, kind: Kind) -> Box<dyn ToSql + Sync> {
    match (kind, value) {
        (_, ValueRef::Null) => match kind {
            Text => Box::new(None::<String>),
            Integer => Box::new(None::<i64>),
            Real => Box::new(None::<f64>),
            Bytes => Box::new(None::<Vec<u8>>),
        },
        (Text, ValueRef::Text(bytes) | ValueRef::Blob(bytes)) => {
            Box::new(no_nul(&String::from_utf8_lossy(bytes)).into_owned())
        }
        (Text, ValueRef::Integer(n)) => Box::new(n.to_string()),
        (Text, ValueRef::Real(x)) => Box::new(x.to_string()),
        (Integer, ValueRef::Integer(n)) => Box::new(n),
        (Integer, ValueRef::Real(x)) => Box::new(x as i64),
        (Integer, ValueRef::Text(text) | ValueRef::Blob(text)) => Box::new(
            std::str::from_utf8(text)
                .ok()
                .and_then(|text| text.trim().parse::<i64>().ok()),
        ),
        (Real, ValueRef::Real(x)) => Box::new(x),
        (Real, ValueRef::Integer(n)) => Box::new(n as f64),
        (Real, ValueRef::Text(text) | ValueRef::Blob(text)) => Box::new(
            std::str::from_utf8(text)
                .ok()
                .and_then(|text| text.trim().parse::<f64>().ok()),
        ),
        (Bytes, ValueRef::Blob(bytes) | ValueRef::Text(bytes)) => Box::new(bytes.to_vec()),
        (Bytes, ValueRef::Integer(n)) => Box::new(n.to_le_bytes().to_vec()),
        (Bytes, ValueRef::Real(x)) => Box::new(x.to_le_bytes().to_vec()),
    }
}

fn pg_type(kind: Kind) -> Type {
    match kind {
        Text => Type::TEXT,
        Integer => Type::INT8,
        Real => Type::FLOAT8,
        Bytes => Type::BYTEA,
    }
}

/// Copies every row of `source` into `target`, whose paperscout tables must be empty; calls
/// `progress` with each table's name and the rows copied of it so far. Everything is copied
/// or, after an error, nothing.
pub fn copy_sqlite_to_postgres(
    source: &SqliteStore,
    target: &PostgresStore,
    progress: &mut dyn FnMut(&str, u64),
) -> Result<Vec<CopiedTable>> {
    if target.read_only {
        return Err(StoreError::ReadOnly);
    }
    let from = source.connection();
    target.with(|db| {
        let mut transaction = db.client.transaction()?;
        // Nobody writes to the tables while they are filled.
        let names: Vec<&str> = TABLES.iter().map(|(table, _)| *table).collect();
        transaction.batch_execute(&format!(
            "LOCK TABLE {} IN EXCLUSIVE MODE",
            names.join(", ")
        ))?;
        for (table, _) in TABLES {
            let found: i64 = transaction
                .query_one(&format!("SELECT count(*) FROM {table}"), &[])?
                .try_get(0)?;
            if found > 0 {
                return Err(StoreError::NotEmpty {
                    place: target.place.clone(),
                    table,
                    rows: found as u64,
                });
            }
        }
        let mut copied = Vec::with_capacity(TABLES.len());
        for (table, columns) in TABLES {
            let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
            let list = names.join(", ");
            let types: Vec<Type> = columns.iter().map(|(_, kind)| pg_type(*kind)).collect();
            let sink = transaction
                .copy_in(&format!("COPY {table} ({list}) FROM STDIN (FORMAT binary)"))?;
            let mut writer = BinaryCopyInWriter::new(sink, &types);
            let mut select = from.prepare(&format!("SELECT {list} FROM {table}"))?;
            let mut rows = select.query([])?;
            let mut count = 0_u64;
            while let Some(row) = rows.next()? {
                let values = columns
                    .iter()
                    .enumerate()
                    .map(|(index, (_, kind))| Ok(convert(row.get_ref(index)?, *kind)))
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(Box::as_ref).collect();
                writer.write(&refs)?;
                count += 1;
                if count.is_multiple_of(10_000) {
                    progress(table, count);
                }
            }
            writer.finish()?;
            progress(table, count);
            let in_source: i64 =
                from.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
                    row.get(0)
                })?;
            let in_target: i64 = transaction
                .query_one(&format!("SELECT count(*) FROM {table}"), &[])?
                .try_get(0)?;
            if in_source != in_target || in_target as u64 != count {
                return Err(StoreError::Corrupt {
                    what: "copy",
                    detail: format!(
                        "table {table}: {in_source} rows in the SQLite file, {count} read, \
                         {in_target} in the database; nothing was copied"
                    ),
                });
            }
            copied.push(CopiedTable { table, rows: count });
        }
        for table in NUMBERED {
            transaction.batch_execute(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'),
                               coalesce(max(id), 0) + 1, false) FROM {table}"
            ))?;
        }
        transaction.commit()?;
        Ok(copied)
    })
}
