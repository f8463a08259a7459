//! What the daemon keeps in memory about every paper to answer `similar` without touching the
//! store: titles (to show hits and to find a paper by its title), announcement days and
//! categories (to show with hits; the index filters on its own payloads).

use std::collections::HashMap;

use paperscout_types::Paper;

/// A paper's metadata as searches use it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Title.
    pub title: String,
    /// Announcement day (YYYY-MM-DD), when known.
    pub date: Option<String>,
    /// arXiv categories.
    pub categories: Vec<String>,
}

/// Every paper's [`Entry`], and a title lookup.
#[derive(Debug, Default)]
pub struct Catalog {
    papers: HashMap<String, Entry>,
    by_title: HashMap<String, String>,
    newest: Option<String>,
}

/// A title with case, punctuation and spacing ignored, so "Attention is all you need." and
/// "attention  is all you need" meet.
pub fn title_key(title: &str) -> String {
    let mut key = String::with_capacity(title.len());
    for word in title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !key.is_empty() {
            key.push(' ');
        }
        key.extend(word.chars().flat_map(char::to_lowercase));
    }
    key
}

impl Catalog {
    /// Adds or updates a paper.
    pub fn insert(&mut self, paper: &Paper) {
        if let Some(old) = self.papers.get(&paper.id) {
            let old_key = title_key(&old.title);
            if self.by_title.get(&old_key) == Some(&paper.id) {
                self.by_title.remove(&old_key);
            }
        }
        if paper.date > self.newest {
            self.newest.clone_from(&paper.date);
        }
        let key = title_key(&paper.title);
        if !key.is_empty() {
            self.by_title.insert(key, paper.id.clone());
        }
        self.papers.insert(
            paper.id.clone(),
            Entry {
                title: paper.title.clone(),
                date: paper.date.clone(),
                categories: paper.categories.clone(),
            },
        );
    }

    /// A paper's entry.
    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.papers.get(id)
    }

    /// The paper with this title, if one has it.
    pub fn find_title(&self, title: &str) -> Option<&str> {
        self.by_title.get(&title_key(title)).map(String::as_str)
    }

    /// The newest announcement day of any paper.
    pub fn newest_day(&self) -> Option<&str> {
        self.newest.as_deref()
    }

    /// Papers known.
    pub fn len(&self) -> usize {
        self.papers.len()
    }

    /// Whether no paper is known.
    pub fn is_empty(&self) -> bool {
        self.papers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_meet_whatever_their_case_and_punctuation() {
        assert_eq!(
            title_key("Attention Is All You Need."),
            title_key("attention  is all\nyou need")
        );
        assert_ne!(title_key("Attention"), title_key("Retention"));
    }
}
