//! `similar` and `recommend`: the requests a person waits on.

use paperscout_app::choose::{self, Digest, Window};
use paperscout_index::SearchFilter;
use paperscout_proto::{
    QueryKind, RecommendRequest, ResolvedQuery, SimilarAnswer, SimilarHit, SimilarRequest,
};
use paperscout_rank::DigestParams;

use super::{Interactive, Service, app, read};
use crate::error::{DaemonError, Result};

/// Most papers one `similar` may ask for.
pub const MAX_K: usize = 1000;

/// Most categories one `similar` may filter on: a filter costs each candidate paper a set
/// lookup per category it has, but a list longer than arXiv's own (about 160) is a mistake or
/// an attack.
pub const MAX_CATEGORIES: usize = 200;

/// Longest category name a filter may hold (arXiv's longest, `physics.atom-ph` and the like,
/// are under 20).
const MAX_CATEGORY_LEN: usize = 32;

/// Refuses a category filter that is too long or names what cannot be a category.
fn check_categories(categories: &[String]) -> Result<()> {
    if categories.len() > MAX_CATEGORIES {
        return Err(DaemonError::BadRequest(format!(
            "{} categories is too many to filter on: name at most {MAX_CATEGORIES} (an archive \
             such as `cs` stands for all of its categories)",
            categories.len()
        )));
    }
    for category in categories {
        let shaped = !category.is_empty()
            && category.len() <= MAX_CATEGORY_LEN
            && category
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if !shaped {
            let mut quoted = category.clone();
            paperscout_ingest::limits::cut_text(&mut quoted, MAX_CATEGORY_LEN);
            return Err(DaemonError::BadRequest(format!(
                "{quoted:?} is not an arXiv category: give names like `cs.LG` or `cs`, at most \
                 {MAX_CATEGORY_LEN} letters, digits, dots and dashes"
            )));
        }
    }
    Ok(())
}

impl Service {
    /// `similar`.
    pub fn similar(&self, request: &SimilarRequest) -> Result<SimilarAnswer> {
        if request.k == 0 || request.k > MAX_K {
            return Err(DaemonError::BadRequest(format!(
                "k must be between 1 and {MAX_K}, not {}",
                request.k
            )));
        }
        check_categories(&request.categories)?;
        for (name, day) in [("since", &request.since), ("until", &request.until)] {
            if let Some(day) = day {
                choose::parse_day(day, name).map_err(app)?;
            }
        }
        let (query, vector) = self.resolve(request)?;
        let filter = SearchFilter {
            since: request.since.clone(),
            until: request.until.clone(),
            categories: request.categories.clone(),
            exclude: query.id.iter().cloned().collect(),
        };
        let found = self.index.search(&vector, request.k, &filter)?;
        let catalog = read(&self.catalog);
        let hits = found
            .into_iter()
            .map(|hit| {
                let entry = catalog.get(&hit.id);
                SimilarHit {
                    title: entry.map(|e| e.title.clone()).unwrap_or_default(),
                    date: entry.and_then(|e| e.date.clone()),
                    categories: entry.map(|e| e.categories.clone()).unwrap_or_default(),
                    id: hit.id,
                    score: hit.score,
                }
            })
            .collect();
        Ok(SimilarAnswer { query, hits })
    }

    /// What a `similar` query names, and the vector to search with.
    fn resolve(&self, request: &SimilarRequest) -> Result<(ResolvedQuery, Vec<f32>)> {
        let text = request.query.trim();
        if text.is_empty() {
            return Err(DaemonError::BadRequest(
                "the query is empty: give an arXiv id, a DOI, a title or some text".to_owned(),
            ));
        }
        let looks_like_id = paperscout_types::ArxivId::parse(text).is_some()
            || paperscout_types::normalise_doi(text).is_some()
            || text.starts_with("arXiv:")
            || text.starts_with("doi:");
        let by_id = matches!(request.by, QueryKind::Paper)
            || (matches!(request.by, QueryKind::Auto) && looks_like_id);
        let mut paper_id = None;
        if by_id {
            // arXiv ids from memory; DOIs and other spellings from the store.
            let known = paperscout_types::ArxivId::parse(text)
                .map(|arxiv| arxiv.paper_id())
                .filter(|id| read(&self.catalog).get(id).is_some());
            let found = match known {
                Some(id) => Some(id),
                None => self
                    .readers
                    .with(|store| Ok(store.find_paper(text)?))?
                    .map(|stored| stored.paper.id),
            };
            match found {
                Some(id) => paper_id = Some(id),
                None => {
                    return Err(DaemonError::NotFound(format!(
                        "{text} is not in the store: ingest it first (`paperscout ingest`), or \
                         ask by title or free text"
                    )));
                }
            }
        } else if matches!(request.by, QueryKind::Auto | QueryKind::Title) {
            paper_id = read(&self.catalog).find_title(text).map(str::to_owned);
            if paper_id.is_none() && request.by == QueryKind::Title {
                return Err(DaemonError::NotFound(format!(
                    "no stored paper has the title {text:?}; ask by free text instead"
                )));
            }
        }
        if let Some(id) = paper_id {
            let title = read(&self.catalog)
                .get(&id)
                .map(|e| e.title.clone())
                .unwrap_or_default();
            let vector = self.paper_vector(&id)?;
            return Ok((
                ResolvedQuery {
                    kind: "paper".to_owned(),
                    id: Some(id),
                    text: title,
                },
                vector,
            ));
        }
        let mut vectors = self.model.embed_now(vec![text.to_owned()])?;
        let vector = vectors
            .pop()
            .ok_or_else(|| DaemonError::Bug("the model returned no vector".to_owned()))?;
        Ok((
            ResolvedQuery {
                kind: "text".to_owned(),
                id: None,
                text: text.to_owned(),
            },
            vector,
        ))
    }

    /// The indexed vector of a paper; else the stored one; else a fresh one.
    fn paper_vector(&self, id: &str) -> Result<Vec<f32>> {
        if let Some(vector) = self.index.vector(id) {
            return Ok(vector);
        }
        let key = self.model.key().clone();
        let (stored, text) = self.readers.with(|store| {
            let stored = store.embedding(id, &key)?;
            let text = store.paper(id)?.map(|p| p.paper.embedding_text());
            Ok((stored, text))
        })?;
        if let Some(vector) = stored {
            return Ok(vector);
        }
        let text =
            text.ok_or_else(|| DaemonError::NotFound(format!("{id} is not in the store")))?;
        self.model
            .embed_now(vec![text])?
            .pop()
            .ok_or_else(|| DaemonError::Bug("the model returned no vector".to_owned()))
    }

    /// `recommend`: the window ends on the newest day in the store unless asked otherwise.
    pub fn recommend(&self, request: &RecommendRequest) -> Result<Digest> {
        let day = day_or(request.date.as_deref(), || {
            read(&self.catalog)
                .newest_day()
                .and_then(|day| choose::parse_day(day, "date").ok())
                .unwrap_or_else(choose::today)
        })?;
        let window = Window {
            day,
            days: request.days,
            after_last_sent: false,
        };
        let params = digest_params(request.mmr_lambda, None)?;
        let digest = self.readers.with(|store| {
            choose::build_shaped(
                store,
                &Interactive(&self.model),
                &request.user,
                window,
                &params,
                Some(request.n.min(MAX_K)),
                !request.flat,
            )
            .map_err(app)
        })?;
        Ok(digest)
    }
}

/// The chooser's knobs a request sets, checked; the rest stay at their defaults. The size is
/// given to [`choose::build`] on its own, since a user's own setting stands in for a missing
/// one.
pub(super) fn digest_params(
    mmr_lambda: Option<f32>,
    min_similarity: Option<f32>,
) -> Result<DigestParams> {
    let defaults = DigestParams::default();
    let params = DigestParams {
        mmr_lambda: mmr_lambda.unwrap_or(defaults.mmr_lambda),
        min_similarity,
        ..defaults
    };
    params.check().map_err(DaemonError::BadRequest)?;
    Ok(params)
}

/// The request's day, a bad one being the client's mistake; else the default.
pub(super) fn day_or(
    day: Option<&str>,
    default: impl FnOnce() -> chrono::NaiveDate,
) -> Result<chrono::NaiveDate> {
    match day {
        Some(day) => choose::parse_day(day, "date").map_err(app),
        None => Ok(default()),
    }
}
