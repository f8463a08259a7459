//! The seam between paperscout and a vector engine: [`VectorIndex`], with a filter made of
//! data ([`SearchFilter`]) rather than a closure, so that an engine in another process (a
//! database's vector extension, a search server) can evaluate it next to the vectors, and the
//! [`Payload`] each paper is stored with for that.

use crate::error::Result;

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The paper's id.
    pub id: String,
    /// Inner product with the query: the cosine, for unit vectors.
    pub score: f32,
}

/// What an index keeps with each paper's vector so that a filter can be evaluated beside it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Payload {
    /// Announcement day (YYYY-MM-DD), when known.
    pub date: Option<String>,
    /// arXiv categories.
    pub categories: Vec<String>,
}

impl Payload {
    /// The payload of a paper.
    pub fn of(paper: &paperscout_types::Paper) -> Self {
        Self {
            date: paper.date.clone(),
            categories: paper.categories.clone(),
        }
    }
}

/// Which papers a search may return.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchFilter {
    /// Only papers announced on or after this day (YYYY-MM-DD).
    pub since: Option<String>,
    /// Only papers announced on or before this day.
    pub until: Option<String>,
    /// Only papers in one of these categories; `cs` admits every `cs.*`. Empty admits all.
    pub categories: Vec<String>,
    /// Papers never to return: the query paper, papers already seen.
    pub exclude: Vec<String>,
}

impl SearchFilter {
    /// Whether the filter looks at payloads at all (days or categories).
    pub fn reads_payloads(&self) -> bool {
        self.since.is_some() || self.until.is_some() || !self.categories.is_empty()
    }

    /// Whether a paper with this payload passes the day and category bounds (the excluded ids
    /// are the engine's to check). A paper with no payload, or no known day, fails any bound
    /// on it. For many papers, [`SearchFilter::bounds`] once and ask it.
    pub fn admits(&self, payload: Option<&Payload>) -> bool {
        self.bounds().admits(payload)
    }

    /// The day and category bounds, ready to be asked of many papers: the categories in a set,
    /// so a paper costs its own few categories, however many the filter names.
    pub fn bounds(&self) -> Bounds<'_> {
        Bounds {
            since: self.since.as_deref(),
            until: self.until.as_deref(),
            categories: self.categories.iter().map(String::as_str).collect(),
        }
    }
}

/// A [`SearchFilter`]'s day and category bounds, compiled for asking many times.
#[derive(Debug, Clone)]
pub struct Bounds<'a> {
    since: Option<&'a str>,
    until: Option<&'a str>,
    categories: std::collections::HashSet<&'a str>,
}

impl Bounds<'_> {
    /// Whether a paper with this payload passes: see [`SearchFilter::admits`].
    pub fn admits(&self, payload: Option<&Payload>) -> bool {
        if self.since.is_none() && self.until.is_none() && self.categories.is_empty() {
            return true;
        }
        let Some(payload) = payload else {
            return false;
        };
        let date = payload.date.as_deref();
        if let Some(since) = self.since
            && date.is_none_or(|d| d < since)
        {
            return false;
        }
        if let Some(until) = self.until
            && date.is_none_or(|d| d > until)
        {
            return false;
        }
        self.categories.is_empty()
            || payload
                .categories
                .iter()
                .any(|have| self.admits_category(have))
    }

    /// Whether `have` is named, or lies under a named archive: `cs` admits `cs.LG`, and a name
    /// matches only up to a dot, so `cs` does not admit `csx.AI`.
    fn admits_category(&self, have: &str) -> bool {
        self.categories.contains(have)
            || have
                .match_indices('.')
                .any(|(at, _)| self.categories.contains(&have[..at]))
    }
}

/// How full an index is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IndexCounts {
    /// Live papers.
    pub papers: usize,
    /// Points the engine holds, replaced ones not yet reclaimed included.
    pub points: usize,
    /// Share of the points that are replaced or removed papers (0 for an engine without any).
    pub tombstone_ratio: f64,
}

/// A searchable store of paper vectors, shared by every thread of a long-lived process: the
/// operations paperscout needs of any vector engine. Everything an engine does for itself
/// (compaction, calibration, caches) happens behind [`VectorIndex::maintain`] and
/// [`VectorIndex::flush`].
pub trait VectorIndex: Send + Sync {
    /// Adds papers, or replaces their vectors and payloads; the same vector again changes the
    /// payload only.
    fn upsert(&self, papers: &[(&str, &[f32], Payload)]) -> Result<()>;

    /// Replaces the payloads (days, categories) of papers the index holds, leaving their
    /// vectors; papers it does not hold are passed over.
    fn set_payloads(&self, papers: &[(&str, Payload)]);

    /// Removes papers; returns how many were there.
    fn remove(&self, ids: &[&str]) -> Result<usize>;

    /// The `k` admissible papers nearest `query` (a unit vector), best first, scored by
    /// cosine.
    fn search(&self, query: &[f32], k: usize, filter: &SearchFilter) -> Result<Vec<Hit>>;

    /// A paper's vector, if the index holds it.
    fn vector(&self, id: &str) -> Option<Vec<f32>>;

    /// How full it is.
    fn counts(&self) -> IndexCounts;

    /// Housekeeping that may take a while (a compaction); returns whether it did any. Searches
    /// go on meanwhile.
    fn maintain(&self) -> Result<bool>;

    /// Makes what changed durable, if the engine keeps anything itself.
    fn flush(&self) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(date: Option<&str>, categories: &[&str]) -> Payload {
        Payload {
            date: date.map(str::to_owned),
            categories: categories.iter().map(|c| (*c).to_owned()).collect(),
        }
    }

    #[test]
    fn days_bound_inclusively_and_a_category_prefix_matches_at_a_dot() {
        let filter = SearchFilter {
            since: Some("2025-03-18".into()),
            until: Some("2025-03-19".into()),
            categories: vec!["cs".into()],
            exclude: Vec::new(),
        };
        assert!(filter.admits(Some(&payload(Some("2025-03-18"), &["cs.CV"]))));
        assert!(filter.admits(Some(&payload(Some("2025-03-19"), &["math.CO", "cs.LG"]))));
        assert!(!filter.admits(Some(&payload(Some("2025-03-20"), &["cs.CV"]))));
        assert!(!filter.admits(Some(&payload(Some("2025-03-18"), &["csx.AI"]))));
        let statistics = SearchFilter {
            categories: vec!["stat.ML".into()],
            ..SearchFilter::default()
        };
        assert!(statistics.admits(Some(&payload(None, &["math.OC", "stat.ML"]))));
        assert!(!statistics.admits(Some(&payload(None, &["stat.ME"]))));
        assert!(
            !filter.admits(Some(&payload(None, &["cs.CV"]))),
            "no day fails a bound"
        );
        assert!(!filter.admits(None));
        assert!(
            SearchFilter::default().admits(None),
            "no bound admits everything"
        );
    }
}
