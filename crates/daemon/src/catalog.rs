//! What the daemon keeps in memory about every paper to answer `similar` without touching the
//! store: titles (to show hits and to find a paper by its title), announcement days and
//! categories (for filters).

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

/// Which papers a `similar` request admits.
#[derive(Debug, Default, Clone)]
pub struct Admit {
    /// On or after this day.
    pub since: Option<String>,
    /// On or before this day.
    pub until: Option<String>,
    /// In one of these categories (`cs` admits every `cs.*`); empty admits all.
    pub categories: Vec<String>,
}

impl Admit {
    /// Whether nothing is filtered.
    pub fn is_everything(&self) -> bool {
        self.since.is_none() && self.until.is_none() && self.categories.is_empty()
    }

    /// Whether the paper passes. A paper with no known day fails any day bound.
    pub fn admits(&self, entry: Option<&Entry>) -> bool {
        if self.is_everything() {
            return true;
        }
        let Some(entry) = entry else {
            return false;
        };
        let date = entry.date.as_deref();
        if let Some(since) = &self.since
            && date.is_none_or(|d| d < since.as_str())
        {
            return false;
        }
        if let Some(until) = &self.until
            && date.is_none_or(|d| d > until.as_str())
        {
            return false;
        }
        self.categories.is_empty()
            || entry.categories.iter().any(|have| {
                self.categories.iter().any(|want| {
                    have == want
                        || (have.starts_with(want.as_str())
                            && have.as_bytes().get(want.len()) == Some(&b'.'))
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(date: &str, categories: &[&str]) -> Entry {
        Entry {
            title: String::new(),
            date: Some(date.to_owned()),
            categories: categories.iter().map(|c| (*c).to_owned()).collect(),
        }
    }

    #[test]
    fn titles_meet_whatever_their_case_and_punctuation() {
        assert_eq!(
            title_key("Attention Is All You Need."),
            title_key("attention  is all\nyou need")
        );
        assert_ne!(title_key("Attention"), title_key("Retention"));
    }

    #[test]
    fn filters_bound_days_and_match_category_prefixes_at_a_dot() {
        let admit = Admit {
            since: Some("2025-03-01".to_owned()),
            until: Some("2025-03-31".to_owned()),
            categories: vec!["cs".to_owned(), "stat.ML".to_owned()],
        };
        assert!(admit.admits(Some(&entry("2025-03-01", &["cs.LG"]))));
        assert!(admit.admits(Some(&entry("2025-03-31", &["math.OC", "stat.ML"]))));
        assert!(!admit.admits(Some(&entry("2025-02-28", &["cs.LG"]))));
        assert!(!admit.admits(Some(&entry("2025-04-01", &["cs.LG"]))));
        assert!(!admit.admits(Some(&entry("2025-03-10", &["csx.XX", "stat.ME"]))));
        assert!(!admit.admits(None));
        assert!(Admit::default().admits(None));
    }
}
