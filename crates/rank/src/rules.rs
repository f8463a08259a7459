//! A user's hard rules applied to one candidate: ruled out (and by which rule), lifted (and
//! by which rules), or left to the ranking. Matching is on normalised text: lower case, every
//! run of characters that are neither letters nor digits one space, so a rule matches whole
//! words and phrases whatever the punctuation.

use paperscout_types::Rules;

/// What the rules look at in a candidate, normalised once and shared by every user.
#[derive(Debug, Clone)]
pub struct PaperFacts {
    /// Title and abstract, normalised and padded with a space at each end.
    text: String,
    /// Each author's name, normalised and padded.
    authors: Vec<String>,
    /// Categories as given (`cs.LG`).
    categories: Vec<String>,
}

impl PaperFacts {
    /// The facts of one paper.
    pub fn new(
        title: &str,
        abstract_text: &str,
        authors: &[String],
        categories: &[String],
    ) -> Self {
        Self {
            text: padded(&format!("{title} {abstract_text}")),
            authors: authors.iter().map(|a| padded(a)).collect(),
            categories: categories.to_vec(),
        }
    }
}

/// What the rules say of a candidate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    /// The rule that rules it out, in words.
    pub muted_by: Option<String>,
    /// The rules that lift it, in words.
    pub boosted_by: Vec<String>,
}

/// A user's rules, normalised once for many candidates.
#[derive(Debug, Clone, Default)]
pub struct CompiledRules {
    only: Vec<String>,
    mute_categories: Vec<String>,
    boost_keywords: Vec<(String, String)>,
    mute_keywords: Vec<(String, String)>,
    boost_authors: Vec<(String, String)>,
    mute_authors: Vec<(String, String)>,
}

impl CompiledRules {
    /// Normalises the rules' words; rules that normalise to nothing are dropped.
    pub fn new(rules: &Rules) -> Self {
        let words = |list: &[String]| -> Vec<(String, String)> {
            list.iter()
                .map(|raw| (padded(raw), raw.trim().to_owned()))
                .filter(|(pattern, _)| !pattern.trim().is_empty())
                .collect()
        };
        let categories = |list: &[String]| -> Vec<String> {
            list.iter()
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
                .collect()
        };
        Self {
            only: categories(&rules.categories),
            mute_categories: categories(&rules.mute_categories),
            boost_keywords: words(&rules.boost_keywords),
            mute_keywords: words(&rules.mute_keywords),
            boost_authors: words(&rules.boost_authors),
            mute_authors: words(&rules.mute_authors),
        }
    }

    /// Whether no rule looks at candidates.
    pub fn is_empty(&self) -> bool {
        self.only.is_empty()
            && self.mute_categories.is_empty()
            && self.boost_keywords.is_empty()
            && self.mute_keywords.is_empty()
            && self.boost_authors.is_empty()
            && self.mute_authors.is_empty()
    }

    /// Judges one candidate. A mute beats a boost.
    pub fn judge(&self, paper: &PaperFacts) -> Verdict {
        let mut verdict = Verdict::default();
        if !self.only.is_empty()
            && !paper
                .categories
                .iter()
                .any(|c| self.only.iter().any(|rule| in_category(c, rule)))
        {
            verdict.muted_by = Some(format!("not in {}", self.only.join(", ")));
            return verdict;
        }
        if let Some(rule) = self
            .mute_categories
            .iter()
            .find(|rule| paper.categories.iter().any(|c| in_category(c, rule)))
        {
            verdict.muted_by = Some(format!("muted category {rule}"));
            return verdict;
        }
        if let Some((_, raw)) = self
            .mute_keywords
            .iter()
            .find(|(pattern, _)| paper.text.contains(pattern.as_str()))
        {
            verdict.muted_by = Some(format!("muted keyword \"{raw}\""));
            return verdict;
        }
        if let Some((_, raw)) = self.mute_authors.iter().find(|(pattern, _)| {
            paper
                .authors
                .iter()
                .any(|author| author.contains(pattern.as_str()))
        }) {
            verdict.muted_by = Some(format!("muted author {raw}"));
            return verdict;
        }
        for (pattern, raw) in &self.boost_keywords {
            if paper.text.contains(pattern.as_str()) {
                verdict.boosted_by.push(format!("keyword \"{raw}\""));
            }
        }
        for (pattern, raw) in &self.boost_authors {
            if paper.authors.iter().any(|a| a.contains(pattern.as_str())) {
                verdict.boosted_by.push(format!("author {raw}"));
            }
        }
        verdict
    }
}

/// Whether a category (`cs.LG`) falls under a rule's category or archive (`cs.LG`, `cs`).
fn in_category(category: &str, rule: &str) -> bool {
    category.eq_ignore_ascii_case(rule)
        || category
            .split_once('.')
            .is_some_and(|(archive, _)| archive.eq_ignore_ascii_case(rule))
}

/// Lower case, every run of non-alphanumeric characters one space, a space at each end.
fn padded(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push(' ');
    for c in text.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with(' ') {
            out.push(' ');
        }
    }
    if !out.ends_with(' ') {
        out.push(' ');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paper(title: &str, authors: &[&str], categories: &[&str]) -> PaperFacts {
        let owned = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        PaperFacts::new(
            title,
            "We study it at length.",
            &owned(authors),
            &owned(categories),
        )
    }

    #[test]
    fn keywords_and_authors_match_whole_words_whatever_the_case() {
        let rules = CompiledRules::new(&Rules {
            boost_keywords: vec!["Graph neural".into(), "ode".into()],
            boost_authors: vec!["hinton".into()],
            ..Rules::default()
        });
        let hit = rules.judge(&paper(
            "Graph-Neural networks, revisited",
            &["Geoffrey E. Hinton"],
            &["cs.LG"],
        ));
        assert_eq!(
            hit.boosted_by,
            vec![
                "keyword \"Graph neural\"".to_owned(),
                "author hinton".into()
            ]
        );
        assert_eq!(hit.muted_by, None);
        // "ode" is not a word of "models", nor "hinton" of "Hintonson".
        let miss = rules.judge(&paper("Diffusion models", &["Ada Hintonson"], &["cs.LG"]));
        assert_eq!(miss, Verdict::default());
    }

    #[test]
    fn category_filters_take_archives_and_mutes_beat_boosts() {
        let only = CompiledRules::new(&Rules {
            categories: vec!["cs".into(), "stat.ML".into()],
            ..Rules::default()
        });
        assert_eq!(only.judge(&paper("x", &[], &["cs.CV"])).muted_by, None);
        assert_eq!(only.judge(&paper("x", &[], &["stat.ML"])).muted_by, None);
        assert_eq!(
            only.judge(&paper("x", &[], &["math.OC", "stat.TH"]))
                .muted_by
                .as_deref(),
            Some("not in cs, stat.ML")
        );
        let rules = CompiledRules::new(&Rules {
            mute_categories: vec!["cs.CR".into()],
            boost_keywords: vec!["privacy".into()],
            mute_authors: vec!["Mallory".into()],
            ..Rules::default()
        });
        let muted = rules.judge(&paper("Differential privacy", &[], &["cs.LG", "cs.CR"]));
        assert_eq!(muted.muted_by.as_deref(), Some("muted category cs.CR"));
        assert!(muted.boosted_by.is_empty());
        let by_author = rules.judge(&paper(
            "Differential privacy",
            &["Mallory Smith"],
            &["cs.LG"],
        ));
        assert_eq!(by_author.muted_by.as_deref(), Some("muted author Mallory"));
        assert!(CompiledRules::new(&Rules::default()).is_empty());
        assert!(
            CompiledRules::new(&Rules {
                boost_keywords: vec!["  ".into()],
                ..Rules::default()
            })
            .is_empty()
        );
    }
}
