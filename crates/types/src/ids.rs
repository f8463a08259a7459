//! Paper identifiers as people and feeds write them: arXiv ids in every spelling, and DOIs.
//!
//! paperscout keys a paper by `arXiv:<id>` (the versionless arXiv id) when it has one, else by
//! `doi:<doi>`. Every source writes these differently (`2503.11677v2`, `arXiv:2503.11677`,
//! `https://arxiv.org/abs/2503.11677v1`, `oai:arXiv.org:2503.11677`, `hep-th/9901001`), so
//! the parsing lives here, once.

/// A parsed arXiv identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArxivId {
    /// The id without its version: `2503.11677` or `hep-th/9901001`.
    pub base: String,
    /// The version, when the text named one (`v2` gives 2).
    pub version: Option<u32>,
}

impl ArxivId {
    /// Reads an arXiv id in any of its usual spellings; `None` when the text is not one.
    ///
    /// ```
    /// use paperscout_types::ArxivId;
    /// let id = ArxivId::parse("https://arxiv.org/abs/2503.11677v2").unwrap();
    /// assert_eq!((id.base.as_str(), id.version), ("2503.11677", Some(2)));
    /// assert_eq!(ArxivId::parse("oai:arXiv.org:hep-th/9901001").unwrap().base, "hep-th/9901001");
    /// assert!(ArxivId::parse("10.1000/xyz").is_none());
    /// ```
    pub fn parse(text: &str) -> Option<Self> {
        let mut rest = text.trim();
        for prefix in [
            "https://",
            "http://",
            "www.",
            "export.",
            "arxiv.org/",
            "abs/",
            "pdf/",
        ] {
            rest = strip_prefix_ignore_case(rest, prefix).unwrap_or(rest);
        }
        for prefix in ["oai:arxiv.org:", "arxiv:"] {
            rest = strip_prefix_ignore_case(rest, prefix).unwrap_or(rest);
        }
        let rest = rest.strip_suffix(".pdf").unwrap_or(rest);
        let (base, version) = split_version(rest);
        if is_new_style(base) || is_old_style(base) {
            Some(Self {
                base: base.to_owned(),
                version,
            })
        } else {
            None
        }
    }

    /// The paper id paperscout keys this paper by: `arXiv:<base>`.
    pub fn paper_id(&self) -> String {
        format!("arXiv:{}", self.base)
    }
}

/// Reads a DOI from `10.x/y`, `doi:10.x/y` or a `doi.org` link, lower-cased (DOIs ignore case).
///
/// ```
/// use paperscout_types::normalise_doi;
/// assert_eq!(normalise_doi("https://doi.org/10.1145/ABC.1").as_deref(), Some("10.1145/abc.1"));
/// assert_eq!(normalise_doi("2503.11677"), None);
/// ```
pub fn normalise_doi(text: &str) -> Option<String> {
    let mut rest = text.trim();
    for prefix in ["https://", "http://", "dx.doi.org/", "doi.org/", "doi:"] {
        rest = strip_prefix_ignore_case(rest, prefix).unwrap_or(rest);
    }
    let rest = rest.trim();
    let (registrant, suffix) = rest.split_once('/')?;
    let valid = registrant.starts_with("10.")
        && registrant.len() > 3
        && registrant[3..]
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.')
        && !suffix.is_empty()
        && !suffix.chars().any(char::is_whitespace);
    valid.then(|| rest.to_lowercase())
}

/// The paper id for a paper known only by its DOI: `doi:<doi>`.
pub fn doi_paper_id(doi: &str) -> String {
    format!("doi:{doi}")
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

fn split_version(text: &str) -> (&str, Option<u32>) {
    if let Some(at) = text.rfind('v') {
        let digits = &text[at + 1..];
        if at > 0 && !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
            return (&text[..at], digits.parse().ok());
        }
    }
    (text, None)
}

/// `YYMM.NNNN` (2007–2014) or `YYMM.NNNNN` (2015 on).
fn is_new_style(text: &str) -> bool {
    let Some((month, number)) = text.split_once('.') else {
        return false;
    };
    month.len() == 4
        && month.chars().all(|c| c.is_ascii_digit())
        && (4..=5).contains(&number.len())
        && number.chars().all(|c| c.is_ascii_digit())
}

/// `archive[.SUB]/YYMMNNN`, e.g. `hep-th/9901001` or `math.AG/0309136`.
fn is_old_style(text: &str) -> bool {
    let Some((archive, number)) = text.split_once('/') else {
        return false;
    };
    let (name, subject) = archive.split_once('.').unwrap_or((archive, ""));
    !name.is_empty()
        && name.chars().all(|c| c.is_ascii_lowercase() || c == '-')
        && subject.chars().all(|c| c.is_ascii_uppercase())
        && number.len() == 7
        && number.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_spelling_of_an_arxiv_id() {
        for (text, base, version) in [
            ("2503.11677", "2503.11677", None),
            ("arXiv:2503.11677v3", "2503.11677", Some(3)),
            ("http://arxiv.org/abs/2503.11677v1", "2503.11677", Some(1)),
            (
                "https://arxiv.org/pdf/2503.11677v2.pdf",
                "2503.11677",
                Some(2),
            ),
            ("oai:arXiv.org:0704.0001", "0704.0001", None),
            ("hep-th/9901001v2", "hep-th/9901001", Some(2)),
            ("math.AG/0309136", "math.AG/0309136", None),
        ] {
            let id = ArxivId::parse(text).unwrap_or_else(|| panic!("{text} is an arXiv id"));
            assert_eq!((id.base.as_str(), id.version), (base, version), "{text}");
        }
        assert_eq!(
            ArxivId::parse("2503.11677")
                .map(|id| id.paper_id())
                .as_deref(),
            Some("arXiv:2503.11677")
        );
    }

    #[test]
    fn rejects_what_is_not_an_arxiv_id() {
        for text in [
            "",
            "v2",
            "2503.116",
            "25031.1677",
            "10.1145/3292500",
            "Hep-th/9901001",
            "a title",
        ] {
            assert_eq!(ArxivId::parse(text), None, "{text}");
        }
    }

    #[test]
    fn dois_are_trimmed_and_lower_cased() {
        assert_eq!(
            normalise_doi(" doi:10.48550/arXiv.2503.11677 ").as_deref(),
            Some("10.48550/arxiv.2503.11677")
        );
        assert_eq!(
            normalise_doi("http://dx.doi.org/10.1000/x").as_deref(),
            Some("10.1000/x")
        );
        for text in ["10.1000", "11.1000/x", "10./x", "10.1000/a b"] {
            assert_eq!(normalise_doi(text), None, "{text}");
        }
    }
}
