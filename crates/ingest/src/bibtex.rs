//! BibTeX and BibLaTeX libraries (Zotero, Mendeley, JabRef exports) as profile papers.
//!
//! Each entry is parsed on its own with the `biblatex` crate, so one malformed entry is reported
//! with its line and skipped instead of failing the whole library. An entry names its paper by
//! arXiv id (`eprint` with `archivePrefix`/`eprinttype` arXiv, an `arxiv.org` URL, or
//! `arXiv:` in `journal`/`note`), else by DOI; its title and abstract let a paper that is not in
//! the store join the profile as an external paper.

use biblatex::{Bibliography, ChunksExt};
use paperscout_types::{ArxivId, normalise_doi};

use crate::text::{normalise_space, split_authors};

/// One library entry, as far as a profile needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BibEntry {
    /// The citation key.
    pub key: String,
    /// The line the entry starts on.
    pub line: usize,
    /// Its arXiv id, if it names one.
    pub arxiv: Option<ArxivId>,
    /// Its DOI, if it has one.
    pub doi: Option<String>,
    /// Its title, braces removed.
    pub title: Option<String>,
    /// Its abstract, if the export carries it.
    pub abstract_text: Option<String>,
    /// Its authors.
    pub authors: Vec<String>,
}

/// An entry that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadEntry {
    /// The line the entry starts on.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// Reads every entry of a library; bad entries come back separately.
pub fn parse_library(source: &str) -> (Vec<BibEntry>, Vec<BadEntry>) {
    let mut entries = Vec::new();
    let mut bad = Vec::new();
    for (line, text) in split_entries(source) {
        let lowered = text.trim_start().to_ascii_lowercase();
        if lowered.starts_with("@comment")
            || lowered.starts_with("@preamble")
            || lowered.starts_with("@string")
        {
            continue;
        }
        match Bibliography::parse(text) {
            Ok(bibliography) => {
                for entry in bibliography.iter() {
                    entries.push(read_entry(entry, line));
                }
            }
            Err(err) => bad.push(BadEntry {
                line,
                reason: format!("not a valid BibTeX entry ({})", err.kind),
            }),
        }
    }
    (entries, bad)
}

fn read_entry(entry: &biblatex::Entry, line: usize) -> BibEntry {
    let field = |name: &str| -> Option<String> {
        entry
            .fields
            .get(name)
            .map(|chunks| normalise_space(&chunks.format_verbatim()))
            .filter(|text| !text.is_empty())
    };
    let prefix = field("archiveprefix")
        .or_else(|| field("eprinttype"))
        .unwrap_or_default();
    let from_eprint =
        field("eprint").filter(|_| prefix.is_empty() || prefix.eq_ignore_ascii_case("arxiv"));
    let arxiv = from_eprint
        .as_deref()
        .and_then(ArxivId::parse)
        .or_else(|| {
            field("url")
                .as_deref()
                .filter(|u| u.contains("arxiv.org"))
                .and_then(ArxivId::parse)
        })
        .or_else(|| {
            ["journal", "note", "journaltitle", "howpublished"]
                .iter()
                .filter_map(|name| field(name))
                .find_map(|text| {
                    let at = text.to_ascii_lowercase().find("arxiv:")?;
                    let rest = &text[at..];
                    let end = rest.find([' ', ',', ';', '}']).unwrap_or(rest.len());
                    ArxivId::parse(&rest[..end])
                })
        });
    let doi = field("doi")
        .and_then(|doi| normalise_doi(&doi))
        .or_else(|| field("url").and_then(|url| normalise_doi(&url)));
    BibEntry {
        key: entry.key.clone(),
        line,
        arxiv,
        doi,
        title: field("title"),
        abstract_text: field("abstract"),
        authors: field("author")
            .map(|names| names.split(" and ").flat_map(split_authors).collect())
            .unwrap_or_default(),
    }
}

/// Splits a library into entries, each with the line it starts on: an entry begins at an `@`
/// outside any braces, or at an `@type{` that opens a line (so an entry left unclosed ends
/// where the next one begins).
fn split_entries(source: &str) -> Vec<(usize, &str)> {
    let mut starts: Vec<(usize, usize)> = Vec::new();
    let mut depth = 0i32;
    let mut line = 1;
    let mut line_start = true;
    for (at, character) in source.char_indices() {
        match character {
            '\n' => line += 1,
            '{' | '(' => depth += 1,
            '}' | ')' => depth = (depth - 1).max(0),
            '@' if depth == 0 || (line_start && opens_entry(&source[at..])) => {
                depth = 0;
                starts.push((at, line));
            }
            _ => {}
        }
        line_start = character == '\n' || (line_start && character.is_whitespace());
    }
    starts
        .iter()
        .enumerate()
        .map(|(i, &(at, line))| {
            let end = starts.get(i + 1).map_or(source.len(), |next| next.0);
            (line, &source[at..end])
        })
        .collect()
}

/// Whether text starting with `@` reads `@word{` or `@word(`.
fn opens_entry(text: &str) -> bool {
    let rest = &text[1..];
    let word = rest.chars().take_while(char::is_ascii_alphabetic).count();
    word > 0 && rest[word..].trim_start().starts_with(['{', '('])
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIBRARY: &str = r"@comment{jabref-meta: databaseType:bibtex;}

@article{lovelace2025counting,
  title = {Counting {Tokens} by Hand},
  author = {Lovelace, Ada and Babbage, Charles},
  year = {2025},
  eprint = {2503.00101},
  archivePrefix = {arXiv},
  primaryClass = {cs.CL},
  abstract = {A fixture abstract.}
}

@inproceedings{hopper2024,
  title = {Compilers for Everyone},
  author = {Hopper, Grace},
  booktitle = {Proceedings},
  doi = {10.1145/ABC.123},
}

@article{broken,
  title = {Unclosed
@misc{turing2023,
  title = {Machines},
  url = {https://arxiv.org/abs/2301.00001v2},
  note = {arXiv:2301.00001},
}
";

    #[test]
    fn entries_name_their_papers_and_a_broken_one_is_reported() {
        let (entries, bad) = parse_library(LIBRARY);
        let keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["lovelace2025counting", "hopper2024", "turing2023"]);
        assert_eq!(
            entries[0].arxiv.as_ref().map(|id| id.base.as_str()),
            Some("2503.00101")
        );
        assert_eq!(entries[0].title.as_deref(), Some("Counting Tokens by Hand"));
        assert_eq!(
            entries[0].abstract_text.as_deref(),
            Some("A fixture abstract.")
        );
        assert_eq!(entries[0].line, 3);
        assert_eq!(entries[1].doi.as_deref(), Some("10.1145/abc.123"));
        assert_eq!(entries[1].arxiv, None);
        assert_eq!(
            entries[2].arxiv.as_ref().map(|id| id.base.as_str()),
            Some("2301.00001")
        );
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert_eq!(bad[0].line, 20);
    }
}
