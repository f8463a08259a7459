//! A data set in the format of `shared/EVAL.md`, read for `paperscout eval`: its papers,
//! vectors computed elsewhere, and its queries with their graded relevant papers.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use paperscout_rank::Matrix;
use paperscout_rank::eval::Query;
use serde_json::Value;

use crate::error::{AppError, Result};

/// A paper of an evaluation data set, known by the data set's own id.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalPaper {
    /// The data set's own id, as its queries and qrels name the paper: whatever it looks like
    /// (an arXiv id, a bare DOI, an OpenAlex or PubMed id; a number is read as its digits).
    pub id: String,
    /// The store's key of the paper (`arXiv:…`, `doi:…`) when the record has an arXiv id or a
    /// DOI, so its embedding can be cached in the store; none otherwise.
    pub key: Option<String>,
    /// The title.
    pub title: String,
    /// The abstract.
    pub abstract_text: String,
    /// The day, `YYYY-MM-DD`, where given.
    pub date: Option<String>,
}

impl EvalPaper {
    /// The text paperscout embeds for it, as for a stored paper.
    pub fn embedding_text(&self) -> String {
        paperscout_types::embedding_text(&self.title, &self.abstract_text)
    }
}

/// Every paper of a data set's papers file (JSON lines, gzipped or not, as `shared/EVAL.md`
/// describes), keyed by the data set's own `id`. A paper that cannot be read is an error
/// naming its line, since the queries may need it.
pub fn read_papers(source: &str) -> Result<Vec<EvalPaper>> {
    let input = paperscout_ingest::open(source)?;
    let mut papers = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (number, line) in input.reader.lines().enumerate() {
        let number = number + 1;
        let line = line.map_err(|err| AppError::io(format!("cannot read {source}"), err))?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: &str| {
            AppError::DataSet(format!(
                "{source} line {number}: {why}; eval needs every paper readable"
            ))
        };
        let Ok(Value::Object(record)) = serde_json::from_str::<Value>(&line) else {
            return Err(bad("not a JSON object"));
        };
        let id = match record.get("id") {
            Some(Value::String(id)) if !id.trim().is_empty() => id.trim().to_owned(),
            Some(Value::Number(id)) => id.to_string(),
            _ => return Err(bad("no `id` (a string or a number)")),
        };
        if let Some(first) = seen.insert(id.clone(), number) {
            return Err(bad(&format!(
                "the id {id:?} was already used on line {first}"
            )));
        }
        let text = |field: &str| match record.get(field) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(text)) => Ok(text.clone()),
            Some(_) => Err(bad(&format!("`{field}` is not a string"))),
        };
        let (title, abstract_text) = (text("title")?, text("abstract")?);
        if title.trim().is_empty() && abstract_text.trim().is_empty() {
            return Err(bad("neither a title nor an abstract"));
        }
        let date = match text("date")?.trim() {
            "" => None,
            day => Some(
                paperscout_ingest::text::iso_day(day)
                    .map_err(|_| bad("`date` is not a day (YYYY-MM-DD)"))?,
            ),
        };
        // The store's key, by the rule ingest uses, where the record has one.
        let key = paperscout_ingest::parse_json_line(&line)
            .ok()
            .flatten()
            .map(|paper| paper.id);
        papers.push(EvalPaper {
            id,
            key,
            title,
            abstract_text,
            date,
        });
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
    // The first line that names a paper the data lacks, for the message when nothing matched.
    let mut example: Option<String> = None;
    let mut missing = |path: &Path, line: usize, what: &str| {
        unknown += 1;
        example.get_or_insert_with(|| format!("{} line {line} names {what}", path.display()));
    };
    for (fields, line) in tsv(queries, 2)? {
        let [query, paper, ..] = fields.as_slice() else {
            continue;
        };
        let Some(&row) = index.get(paper.as_str()) else {
            missing(queries, line, &format!("the paper {paper:?}"));
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
        let Some(&row) = index.get(paper.as_str()) else {
            missing(qrels, line, &format!("the paper {paper:?}"));
            continue;
        };
        let Some(entry) = by_id.get_mut(query.as_str()) else {
            missing(
                qrels,
                line,
                &format!("the query {query:?}, which has no profile"),
            );
            continue;
        };
        entry.relevance.insert(row, grade);
    }
    if unknown > 0 {
        tracing::warn!(
            "{unknown} query or qrels lines name a paper or query not in the data; skipped"
        );
    }
    let found: Vec<Query> = order
        .into_iter()
        .filter_map(|id| by_id.remove(&id))
        .collect();
    if found.iter().all(|query| query.relevance.is_empty()) {
        return Err(AppError::DataSet(format!(
            "no query can be evaluated: none has both a profile paper and a relevant paper in the \
             papers file{}; papers are matched by their `id` exactly as the papers file spells it",
            example.map_or_else(String::new, |example| format!(
                " ({unknown} lines name what the data lacks, such as: {example})"
            ))
        )));
    }
    Ok(found)
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
