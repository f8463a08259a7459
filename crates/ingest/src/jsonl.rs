//! JSON lines: paperscout's own paper format (that of `shared/data/arxiv-cs/papers.jsonl.gz`)
//! and the arXiv metadata snapshot (`arxiv-metadata-oai-snapshot.json`), told apart per record.

use paperscout_types::{ArxivId, Paper, PaperLinks, doi_paper_id, normalise_doi};
use serde_json::{Map, Value};

use crate::text::{day_of_rfc2822, iso_day, normalise_space, split_authors};

/// Reads one line into a paper; `Ok(None)` for a blank line.
pub fn parse_line(line: &str) -> Result<Option<Paper>, String> {
    if line.trim().is_empty() {
        return Ok(None);
    }
    let value: Value =
        serde_json::from_str(line).map_err(|err| format!("not valid JSON ({err})"))?;
    let Value::Object(record) = value else {
        return Err("not a JSON object".to_owned());
    };
    let is_snapshot = matches!(record.get("categories"), Some(Value::String(_)))
        || record.contains_key("versions")
        || record.contains_key("authors_parsed");
    if is_snapshot {
        snapshot_record(&record).map(Some)
    } else {
        paper_record(record).map(Some)
    }
}

fn string<'a>(record: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, String> {
    match record.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.as_str())),
        Some(_) => Err(format!("`{field}` is not a string")),
    }
}

fn required(record: &Map<String, Value>, field: &str) -> Result<String, String> {
    match string(record, field)? {
        Some(text) if !text.trim().is_empty() => Ok(text.to_owned()),
        Some(_) => Err(format!("`{field}` is empty")),
        None => Err(format!("has no `{field}`")),
    }
}

/// The id a paper gets from its arXiv id, else its DOI.
fn identify(
    arxiv: Option<&str>,
    doi: Option<&str>,
) -> Result<(String, Option<ArxivId>, Option<String>), String> {
    let arxiv = match arxiv {
        Some(text) => Some(
            ArxivId::parse(text)
                .ok_or("the id is not an arXiv id (such as 2503.11677 or hep-th/9901001)")?,
        ),
        None => None,
    };
    let doi = doi.and_then(|text| text.split_whitespace().find_map(normalise_doi));
    match (&arxiv, &doi) {
        (Some(id), _) => Ok((id.paper_id(), arxiv, doi)),
        (None, Some(doi_text)) => Ok((doi_paper_id(doi_text), None, doi)),
        (None, None) => Err("has neither an arXiv id nor a DOI".to_owned()),
    }
}

/// paperscout's own format: the fields of [`Paper`].
fn paper_record(mut record: Map<String, Value>) -> Result<Paper, String> {
    let title = required(&record, "title")?;
    let abstract_text = required(&record, "abstract")?;
    let own_id = string(&record, "id")?;
    let arxiv_text = match string(&record, "arxiv_id")? {
        Some(id) => Some(id.to_owned()),
        None => own_id
            .filter(|id| ArxivId::parse(id).is_some())
            .map(str::to_owned),
    };
    // A bare DOI in `id` (`10.1145/3343413.3377957`, as data sets from other fields key their
    // papers) stands for `doi` when that is absent.
    let doi_text = match string(&record, "doi")? {
        Some(doi) => Some(doi),
        None => own_id.filter(|id| normalise_doi(id).is_some()),
    };
    let (id, arxiv, doi) = identify(arxiv_text.as_deref(), doi_text)?;
    let date = string(&record, "date")?.map(iso_day).transpose()?;
    // The remaining fields have the shape of `Paper`; serde checks their types.
    record.insert("id".into(), Value::String(id.clone()));
    record.insert("title".into(), Value::String(title));
    record.insert("abstract".into(), Value::String(abstract_text));
    let mut paper: Paper =
        serde_path_to_error::deserialize(Value::Object(record)).map_err(|err| {
            format!(
                "`{}` has the wrong type ({})",
                err.path(),
                without_values(&err.inner().to_string())
            )
        })?;
    paper.version = paper.version.or(arxiv.as_ref().and_then(|id| id.version));
    paper.arxiv_id = arxiv.map(|id| id.base);
    paper.doi = doi;
    paper.date = date;
    Ok(paper)
}

/// A serde message with the values it quotes left out, so that no error repeats what a file
/// holds (a file the daemon read for someone else may hold secrets): `invalid type: string
/// "Ada", expected a sequence` becomes `invalid type: string, expected a sequence`.
fn without_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(open) = rest.find(['"', '`']) {
        let quote = rest.as_bytes()[open];
        let Some(close) = rest[open + 1..].find(char::from(quote)) else {
            break;
        };
        out.push_str(rest[..open].trim_end());
        rest = &rest[open + 1 + close + 1..];
    }
    out.push_str(rest);
    out
}

/// The arXiv metadata snapshot: `categories` a space-separated string, `versions` a list of
/// `{version, created}`, authors as prose and as `authors_parsed` [last, first, suffix].
fn snapshot_record(record: &Map<String, Value>) -> Result<Paper, String> {
    let arxiv_text = required(record, "id")?;
    let (id, arxiv, doi) = identify(Some(&arxiv_text), string(record, "doi")?)?;
    let title = normalise_space(&required(record, "title")?);
    let abstract_text = normalise_space(&required(record, "abstract")?);

    let authors = match record.get("authors_parsed") {
        Some(Value::Array(parsed)) => parsed
            .iter()
            .map(|parts| {
                let parts: Vec<&str> = parts
                    .as_array()
                    .ok_or("`authors_parsed` holds a non-list")?
                    .iter()
                    .map(|part| part.as_str().unwrap_or_default().trim())
                    .collect();
                // [last, first, suffix] reads as "first last suffix".
                let mut ordered: Vec<&str> = Vec::with_capacity(3);
                ordered.extend(parts.get(1).filter(|p| !p.is_empty()));
                ordered.extend(parts.first().filter(|p| !p.is_empty()));
                ordered.extend(parts.get(2).filter(|p| !p.is_empty()));
                Ok(ordered.join(" "))
            })
            .collect::<Result<Vec<String>, String>>()?,
        _ => string(record, "authors")?
            .map(split_authors)
            .unwrap_or_default(),
    };

    let versions = match record.get("versions") {
        Some(Value::Array(versions)) => versions.as_slice(),
        _ => &[],
    };
    let version_field =
        |entry: &Value, field: &str| entry.get(field).and_then(Value::as_str).map(str::to_owned);
    let version = versions
        .last()
        .and_then(|entry| version_field(entry, "version"))
        .and_then(|text| text.trim_start_matches('v').parse().ok());
    let date = match versions
        .first()
        .and_then(|entry| version_field(entry, "created"))
    {
        Some(created) => Some(day_of_rfc2822(&created)?),
        None => string(record, "update_date")?.map(iso_day).transpose()?,
    };
    let categories = string(record, "categories")?
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let base = arxiv.as_ref().map(|id| id.base.clone());
    Ok(Paper {
        id,
        links: base.as_ref().map(|base| PaperLinks {
            abs: Some(format!("https://arxiv.org/abs/{base}")),
            pdf: Some(format!("https://arxiv.org/pdf/{base}")),
        }),
        arxiv_id: base,
        version: version.or(arxiv.and_then(|id| id.version)),
        doi,
        title,
        abstract_text,
        authors,
        date,
        categories,
        comment: string(record, "comments")?.map(normalise_space),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_paperscouts_own_format() {
        let line = r#"{"id": "arXiv:2503.11677", "arxiv_id": "2503.11677", "title": "T", "abstract": "A.", "authors": ["Ada"], "date": "2025-03-18", "categories": ["cs.HC", "cs.CV"], "comment": null, "links": {"abs": "https://arxiv.org/abs/2503.11677", "pdf": null}}"#;
        let paper = parse_line(line).expect("valid").expect("a paper");
        assert_eq!(paper.id, "arXiv:2503.11677");
        assert_eq!(paper.arxiv_id.as_deref(), Some("2503.11677"));
        assert_eq!(paper.categories, ["cs.HC", "cs.CV"]);
        assert_eq!(paper.date.as_deref(), Some("2025-03-18"));
    }

    #[test]
    fn a_bare_doi_in_id_keys_the_paper() {
        let paper = parse_line(
            r#"{"id": "10.1145/3343413.3377957", "title": "T", "abstract": "A.", "date": "2020-03-14"}"#,
        )
        .expect("read")
        .expect("a paper");
        assert_eq!(paper.id, "doi:10.1145/3343413.3377957");
        assert_eq!(paper.doi.as_deref(), Some("10.1145/3343413.3377957"));
    }

    #[test]
    fn reads_the_arxiv_snapshot_format() {
        let line = r#"{"id":"0704.0001","submitter":"Pavel Nadolsky","authors":"C. Bal\u00e1zs, E. L. Berger, P. M. Nadolsky, C.-P. Yuan","title":"Calculation of prompt diphoton production cross sections at Tevatron and\n  LHC energies","comments":"37 pages, 15 figures; published version","journal-ref":"Phys.Rev.D76:013009,2007","doi":"10.1103/PhysRevD.76.013009","report-no":"ANL-HEP-PR-07-12","categories":"hep-ph","license":null,"abstract":"  A fully differential calculation in perturbative quantum chromodynamics is\npresented for the production of massive photon pairs.\n","versions":[{"version":"v1","created":"Mon, 2 Apr 2007 19:18:42 GMT"},{"version":"v2","created":"Tue, 24 Jul 2007 20:10:27 GMT"}],"update_date":"2008-11-13","authors_parsed":[["Bal\u00e1zs","C.",""],["Berger","E. L.",""],["Nadolsky","P. M.",""],["Yuan","C. -P.",""]]}"#;
        let paper = parse_line(line).expect("valid").expect("a paper");
        assert_eq!(paper.id, "arXiv:0704.0001");
        assert_eq!(paper.version, Some(2));
        assert_eq!(paper.doi.as_deref(), Some("10.1103/physrevd.76.013009"));
        assert_eq!(
            paper.title,
            "Calculation of prompt diphoton production cross sections at Tevatron and LHC energies"
        );
        assert!(paper.abstract_text.starts_with("A fully differential"));
        assert_eq!(paper.authors[0], "C. Balázs");
        assert_eq!(
            paper.date.as_deref(),
            Some("2007-04-02"),
            "the first version's day"
        );
        assert_eq!(paper.categories, ["hep-ph"]);
        assert_eq!(
            paper.comment.as_deref(),
            Some("37 pages, 15 figures; published version")
        );
    }

    #[test]
    fn says_what_is_wrong_with_a_bad_line() {
        for (line, reason) in [
            (
                "{not json",
                "not valid JSON (key must be a string at line 1 column 2)",
            ),
            ("[1, 2]", "not a JSON object"),
            (
                r#"{"id": "arXiv:2503.00001", "abstract": "A."}"#,
                "has no `title`",
            ),
            (
                r#"{"id": "arXiv:2503.00001", "title": "T", "abstract": "  "}"#,
                "`abstract` is empty",
            ),
            (
                r#"{"id": "x", "title": "T", "abstract": "A."}"#,
                "has neither an arXiv id nor a DOI",
            ),
            (
                r#"{"id": "arXiv:2503.00001", "title": "T", "abstract": "A.", "date": "2025-13-01"}"#,
                "bad date (expected YYYY-MM-DD)",
            ),
            (
                r#"{"id": "arXiv:2503.00001", "title": "T", "abstract": "A.", "authors": "Ada"}"#,
                "`authors` has the wrong type (invalid type: string, expected a sequence)",
            ),
        ] {
            assert_eq!(parse_line(line), Err(reason.to_owned()), "{line}");
        }
        assert_eq!(parse_line("   "), Ok(None));
    }
}
