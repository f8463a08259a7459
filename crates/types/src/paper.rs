//! A paper as arXiv announces it, in the JSONL format of `shared/data/arxiv-cs/papers.jsonl.gz`.

use serde::{Deserialize, Serialize};

/// One paper's metadata. Only `id`, `title` and `abstract` are guaranteed by every source;
/// everything else defaults to empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paper {
    /// Stable identifier, e.g. `arXiv:2503.11677`.
    pub id: String,
    /// The bare arXiv identifier, e.g. `2503.11677`, without a version, where the paper has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arxiv_id: Option<String>,
    /// The arXiv version this record describes (2 for `2503.11677v2`), where the source says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// The DOI of the published version, where known (`10.1000/xyz`, no `https://doi.org/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doi: Option<String>,
    /// Title, LaTeX left as is.
    pub title: String,
    /// Abstract, LaTeX left as is.
    #[serde(rename = "abstract", default)]
    pub abstract_text: String,
    /// Author names in the order the paper gives them.
    #[serde(default)]
    pub authors: Vec<String>,
    /// The day the paper was announced (`YYYY-MM-DD`), where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// arXiv categories, primary first.
    #[serde(default)]
    pub categories: Vec<String>,
    /// The authors' comment field (page counts, venues), where given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Where to read the paper.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<PaperLinks>,
}

/// Links to a paper's landing page and PDF.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PaperLinks {
    /// The abstract page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abs: Option<String>,
    /// The PDF.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdf: Option<String>,
}

impl Paper {
    /// The text paperscout embeds for this paper; see [`embedding_text`].
    pub fn embedding_text(&self) -> String {
        embedding_text(&self.title, &self.abstract_text)
    }
}

/// The text embedded for a paper: title, a newline, abstract.
///
/// This is what the sentence-transformers reference embeds, so vectors computed elsewhere
/// (the peer's precomputed embeddings, the fixtures) are comparable with ours.
pub fn embedding_text(title: &str, abstract_text: &str) -> String {
    let mut text = String::with_capacity(title.len() + 1 + abstract_text.len());
    text.push_str(title);
    text.push('\n');
    text.push_str(abstract_text);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_shared_data_record() {
        let line = r#"{"id": "arXiv:2503.11677", "arxiv_id": "2503.11677", "title": "A title",
            "abstract": "An abstract.", "authors": ["Ada Lovelace"], "date": "2025-03-18",
            "categories": ["cs.CL", "cs.AI"], "comment": null,
            "links": {"abs": "a", "pdf": "p"}}"#;
        let paper: Paper = serde_json::from_str(line).expect("valid record");
        assert_eq!(paper.id, "arXiv:2503.11677");
        assert_eq!(paper.abstract_text, "An abstract.");
        assert_eq!(paper.categories, ["cs.CL", "cs.AI"]);
        assert_eq!(paper.comment, None);
        assert_eq!(paper.embedding_text(), "A title\nAn abstract.");
    }

    #[test]
    fn optional_fields_may_be_missing() {
        let paper: Paper =
            serde_json::from_str(r#"{"id": "x", "title": "T"}"#).expect("minimal record");
        assert!(paper.authors.is_empty());
        assert_eq!(paper.embedding_text(), "T\n");
    }
}
