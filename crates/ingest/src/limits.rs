//! How much of a source one record may take: memory is bounded by these, never by what a
//! file or a feed holds.
//!
//! A record (a JSON line, an XML entry) is read whole before it is parsed, so it is capped at
//! [`MAX_RECORD_BYTES`], as the daemon caps a request line; a bigger one is skipped and
//! reported. A paper's fields are then cut to sizes no real paper reaches ([`shorten`]), so
//! that nothing downstream (the store, the tokenizer, a digest) ever holds a 100 MB abstract.
//! Decompression is bounded by [`MAX_EXPANSION`].

use paperscout_types::Paper;

/// The most bytes one record may take as read: a JSON line, or an XML record's text,
/// attributes and names together (and any single XML token).
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// The deepest an XML record's elements may nest, the record itself counted.
pub const MAX_XML_DEPTH: usize = 64;

/// A title is cut to this many bytes (the longest arXiv title is under 400).
pub const MAX_TITLE_BYTES: usize = 4 * 1024;

/// An abstract is cut to this many bytes (arXiv allows 1,920 characters).
pub const MAX_ABSTRACT_BYTES: usize = 32 * 1024;

/// A comment is cut to this many bytes.
pub const MAX_COMMENT_BYTES: usize = 4 * 1024;

/// At most this many authors are kept (the longest author lists have a few thousand).
pub const MAX_AUTHORS: usize = 5_000;

/// Each author's name is cut to this many bytes.
pub const MAX_AUTHOR_BYTES: usize = 256;

/// At most this many categories are kept, each cut to [`MAX_AUTHOR_BYTES`].
pub const MAX_CATEGORIES: usize = 64;

/// A gzipped source may expand at most this many times its compressed size (real listings
/// expand 4 to 10 times; a file of one repeated byte, a thousand times)…
pub const MAX_EXPANSION: u64 = 100;

/// …once it has expanded past this many bytes, so small files are never refused.
pub const EXPANSION_GRACE_BYTES: u64 = 64 << 20;

/// Cuts the paper's fields to this module's sizes; returns the names of the fields cut.
pub fn shorten(paper: &mut Paper) -> Vec<&'static str> {
    let mut cut = Vec::new();
    if cut_text(&mut paper.title, MAX_TITLE_BYTES) {
        cut.push("title");
    }
    if cut_text(&mut paper.abstract_text, MAX_ABSTRACT_BYTES) {
        cut.push("abstract");
    }
    if paper
        .comment
        .as_mut()
        .is_some_and(|comment| cut_text(comment, MAX_COMMENT_BYTES))
    {
        cut.push("comment");
    }
    if cut_list(&mut paper.authors, MAX_AUTHORS) {
        cut.push("authors");
    }
    if cut_list(&mut paper.categories, MAX_CATEGORIES) {
        cut.push("categories");
    }
    cut
}

/// Keeps at most `max` entries, each cut to [`MAX_AUTHOR_BYTES`]; returns whether any was cut.
fn cut_list(list: &mut Vec<String>, max: usize) -> bool {
    let mut cut = list.len() > max;
    list.truncate(max);
    for entry in list.iter_mut() {
        cut |= cut_text(entry, MAX_AUTHOR_BYTES);
    }
    cut
}

/// Cuts `text` to at most `max` bytes at a character boundary, marking the cut with `…`.
/// Returns whether it was cut.
pub fn cut_text(text: &mut String, max: usize) -> bool {
    if text.len() <= max {
        return false;
    }
    let ellipsis = '…';
    let mut end = max.saturating_sub(ellipsis.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push(ellipsis);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paper() -> Paper {
        Paper {
            id: "arXiv:2503.00001".into(),
            arxiv_id: Some("2503.00001".into()),
            version: None,
            doi: None,
            title: "A title".into(),
            abstract_text: "An abstract.".into(),
            authors: vec!["Ada Lovelace".into()],
            date: None,
            categories: vec!["cs.CL".into()],
            comment: None,
            links: None,
        }
    }

    #[test]
    fn a_real_paper_is_left_alone() {
        let mut ordinary = paper();
        assert!(shorten(&mut ordinary).is_empty());
        assert_eq!(ordinary, paper());
    }

    #[test]
    fn oversized_fields_are_cut_at_a_character_boundary_and_named() {
        let mut huge = paper();
        huge.title = "é".repeat(MAX_TITLE_BYTES);
        huge.abstract_text = "word ".repeat(10 * MAX_ABSTRACT_BYTES);
        huge.authors = vec!["A. Author".into(); MAX_AUTHORS + 10];
        huge.comment = Some("c".repeat(MAX_COMMENT_BYTES));
        assert_eq!(shorten(&mut huge), ["title", "abstract", "authors"]);
        assert!(huge.title.len() <= MAX_TITLE_BYTES && huge.title.ends_with('…'));
        assert!(huge.abstract_text.len() <= MAX_ABSTRACT_BYTES);
        assert_eq!(huge.authors.len(), MAX_AUTHORS);
        assert_eq!(
            huge.comment.as_deref().map(str::len),
            Some(MAX_COMMENT_BYTES)
        );
    }
}
