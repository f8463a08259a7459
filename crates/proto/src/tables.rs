//! Answers as people read them: the tables the command line prints and the text protocol
//! answers with, the same for a local and a remote answer.

use paperscout_app::choose::Digest;

use crate::answers::SimilarAnswer;

/// `similar`'s answer as a table, for people.
pub fn similar_table(result: &SimilarAnswer) -> String {
    let query = &result.query;
    let mut out = match &query.id {
        Some(id) => format!("papers like {id}  {}\n", query.text),
        None => format!("papers like the text {:?}\n", query.text),
    };
    out += &format!(
        "{:>3}  {:>5}  {:<20}  {:<10}  {}\n",
        "#", "score", "id", "date", "title"
    );
    for (n, hit) in result.hits.iter().enumerate() {
        out += &format!(
            "{:>3}  {:>5.3}  {:<20}  {:<10}  {}\n",
            n + 1,
            hit.score,
            hit.id,
            hit.date.as_deref().unwrap_or("-"),
            clip(&hit.title, 90)
        );
    }
    out
}

/// A recommendation as a numbered list with reasons, for people.
pub fn recommendations(digest: &Digest) -> String {
    let mut out = format!(
        "{} of {} papers announced {} … {} for {}\n",
        digest.papers.len(),
        digest.candidates,
        digest.from,
        digest.to,
        digest.user
    );
    for (n, entry) in digest.papers.iter().enumerate() {
        out += &format!(
            "{:>3}. {:>6.2}  {}  {}\n       because of “{}” (similarity {:.2})\n",
            n + 1,
            entry.score,
            entry.paper.id,
            clip(&entry.paper.title, 80),
            clip(&entry.because.item, 70),
            entry.because.similarity
        );
    }
    out
}

fn clip(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        text.to_owned()
    } else {
        text.chars().take(limit - 1).collect::<String>() + "…"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_title_is_clipped_with_an_ellipsis_and_a_short_one_kept() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("a longer title", 6), "a lon…");
    }
}
