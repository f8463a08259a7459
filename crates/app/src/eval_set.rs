//! A data set in the format of `shared/EVAL.md`, read for `paperscout eval`: its papers,
//! vectors computed elsewhere, and its queries with their graded relevant papers.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use paperscout_ingest::{Item, Records};
use paperscout_rank::Matrix;
use paperscout_rank::eval::Query;
use paperscout_types::Paper;

use crate::error::{AppError, Result};

/// Every paper of a data set's papers file (any format `ingest` reads); a bad record is an
/// error, since queries refer to papers by their place.
pub fn read_papers(source: &str) -> Result<Vec<Paper>> {
    let mut papers = Vec::new();
    for item in Records::new(paperscout_ingest::open(source)?)? {
        match item? {
            Item::Paper(paper) | Item::Shortened { paper, .. } => papers.push(paper),
            Item::Bad(bad) => {
                return Err(AppError::DataSet(format!(
                    "{bad}: eval needs every paper readable"
                )));
            }
            Item::Deleted => {}
        }
    }
    Ok(papers)
}

/// Vectors computed elsewhere for the data set's papers: a float16 matrix of one row per
/// paper, in order, scaled to unit length.
pub fn imported_vectors(path: &Path, papers: usize) -> Result<Matrix> {
    let bytes = fs_err::read(path)?;
    let dim = bytes.len() / 2 / papers.max(1);
    let rows = paperscout_index::f16_rows(&bytes, dim).map_err(|err| {
        AppError::DataSet(format!(
            "{} is not a float16 matrix of one row per paper: {err}",
            path.display()
        ))
    })?;
    if rows.len() != papers {
        return Err(AppError::DataSet(format!(
            "{} holds {} rows for {papers} papers",
            path.display(),
            rows.len()
        )));
    }
    let mut matrix = Matrix::from_data(dim, rows.into_iter().flatten().collect());
    matrix.normalise_rows();
    Ok(matrix)
}

/// Reads the queries (`query_id<TAB>paper_id`) and the qrels (`query_id<TAB>paper_id<TAB>grade`).
pub fn read_queries(
    queries: &Path,
    qrels: &Path,
    index: &HashMap<&str, usize>,
) -> Result<Vec<Query>> {
    let mut by_id: HashMap<String, Query> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut unknown = 0;
    for (fields, _) in tsv(queries, 2)? {
        let [query, paper, ..] = fields.as_slice() else {
            continue;
        };
        let Some(&row) = index.get(paper.as_str()) else {
            unknown += 1;
            continue;
        };
        let entry = by_id.entry(query.clone()).or_insert_with(|| {
            order.push(query.clone());
            Query {
                id: query.clone(),
                profile: Vec::new(),
                relevance: HashMap::new(),
            }
        });
        entry.profile.push(row);
    }
    for (fields, line) in tsv(qrels, 3)? {
        let [query, paper, grade, ..] = fields.as_slice() else {
            continue;
        };
        let grade: f64 = grade.parse().map_err(|_| {
            AppError::DataSet(format!(
                "{} line {line}: relevance {grade:?} is not a number",
                qrels.display()
            ))
        })?;
        let (Some(entry), Some(&row)) = (by_id.get_mut(query.as_str()), index.get(paper.as_str()))
        else {
            unknown += 1;
            continue;
        };
        entry.relevance.insert(row, grade);
    }
    if unknown > 0 {
        tracing::warn!(
            "{unknown} query or qrels lines name a paper or query not in the data; skipped"
        );
    }
    Ok(order
        .into_iter()
        .filter_map(|id| by_id.remove(&id))
        .collect())
}

/// The lines of a tab-separated file after its header, split, with their line numbers.
fn tsv(path: &Path, fields: usize) -> Result<Vec<(Vec<String>, usize)>> {
    let file = fs_err::File::open(path)?;
    let mut rows = Vec::new();
    for (number, line) in std::io::BufReader::new(file).lines().enumerate().skip(1) {
        let line =
            line.map_err(|err| AppError::io(format!("cannot read {}", path.display()), err))?;
        if line.trim().is_empty() {
            continue;
        }
        let parts: Vec<String> = line.split('\t').map(|s| s.trim().to_owned()).collect();
        if parts.len() < fields {
            return Err(AppError::DataSet(format!(
                "{} line {}: expected {fields} tab-separated fields",
                path.display(),
                number + 1
            )));
        }
        rows.push((parts, number + 1));
    }
    Ok(rows)
}

/// Keeps `limit` queries, spread evenly over the list (deterministic).
pub fn sample(queries: &mut Vec<Query>, limit: usize) {
    if queries.len() <= limit || limit == 0 {
        return;
    }
    let step = queries.len() as f64 / limit as f64;
    let kept: Vec<Query> = (0..limit)
        .map(|i| queries[(i as f64 * step) as usize].clone())
        .collect();
    *queries = kept;
}
