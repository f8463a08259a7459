//! The plain-text side of the socket, for people with `nc -U` or `socat`: a line that does not
//! start with `{` is a command such as `similar 2503.11677 k=5`, and the answer is a table.

use paperscout_proto::tables::{facets_text, recommendations, similar_table, why_not_text};
use paperscout_proto::{
    Answer, FacetsRequest, HealthRequest, RecommendRequest, Request, SimilarRequest, StatsRequest,
    WhyNotRequest,
};

use crate::service::Failure;

/// A parsed text command.
#[derive(Debug, Clone)]
pub struct Command {
    /// The request it stands for.
    pub request: Request,
}

const HELP: &str = "\
paperscout answers one command a line (or one JSON request a line, see docs/protocol.md):
  similar QUERY [k=N] [since=YYYY-MM-DD] [until=YYYY-MM-DD] [cat=CATEGORY]...
      papers like a stored paper (arXiv id, DOI or exact title) or like free text
  recommend USER [n=N] [days=N]
      the user's current top papers, explained
  why-not USER PAPER [days=N]
      why a paper is, or is not, in the user's next digest
  facets USER
      the facets the user's profile falls into (a digest's sections)
  stats      what the store and the index hold
  health     whether the daemon is up, and how busy
  help       this text
";

/// Reads a command line; the help text when it is not one.
pub fn parse(line: &str) -> Result<Command, String> {
    let mut words = line.split_whitespace();
    let verb = words.next().unwrap_or_default().to_ascii_lowercase();
    let mut options = Vec::new();
    let mut rest = Vec::new();
    for word in words {
        match word.split_once('=') {
            Some((key, value)) if ["k", "n", "days", "since", "until", "cat"].contains(&key) => {
                options.push((key, value));
            }
            _ => rest.push(word),
        }
    }
    let number = |key: &str, default: usize| -> Result<usize, String> {
        options
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map_or(Ok(default), |(_, v)| {
                v.parse()
                    .map_err(|_| format!("error (bad_request): {key}={v} is not a number\n"))
            })
    };
    let text = |key: &str| {
        options
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| (*v).to_owned())
    };
    let request = match verb.as_str() {
        "similar" if !rest.is_empty() => Request::Similar(SimilarRequest {
            query: rest.join(" "),
            by: Default::default(),
            k: number("k", 10)?,
            since: text("since"),
            until: text("until"),
            categories: options
                .iter()
                .filter(|(k, _)| *k == "cat")
                .map(|(_, v)| (*v).to_owned())
                .collect(),
        }),
        "recommend" if rest.len() == 1 => Request::Recommend(RecommendRequest {
            user: rest[0].to_owned(),
            n: number("n", 10)?,
            date: None,
            days: u32::try_from(number("days", 7)?).unwrap_or(7),
            mmr_lambda: None,
            flat: false,
        }),
        "why-not" | "why_not" if rest.len() == 2 => Request::WhyNot(WhyNotRequest {
            user: rest[0].to_owned(),
            paper: rest[1].to_owned(),
            date: None,
            days: u32::try_from(number("days", 1)?).unwrap_or(1),
        }),
        "facets" if rest.len() == 1 => Request::Facets(FacetsRequest {
            user: rest[0].to_owned(),
        }),
        "stats" => Request::Stats(StatsRequest {}),
        "health" => Request::Health(HealthRequest {}),
        "help" => return Err(HELP.to_owned()),
        _ => {
            return Err(format!(
                "error (bad_request): not a command: {line:?}\n{HELP}"
            ));
        }
    };
    Ok(Command { request })
}

/// The answer as text: a table for `similar`, `recommend`, `why-not` and `facets`, JSON for
/// the rest.
pub fn render(answer: Result<Answer, Failure>) -> String {
    match answer {
        Ok(Answer::Similar(result)) => similar_table(&result),
        Ok(Answer::Recommend(digest)) => recommendations(&digest),
        Ok(Answer::WhyNot(answer)) => why_not_text(&answer),
        Ok(Answer::Facets(list)) => facets_text(&list),
        Ok(other) => serde_json::to_string_pretty(&other).unwrap_or_default() + "\n",
        Err(failure) => format!("error ({}): {}\n", failure.code.name(), failure.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_take_options_anywhere_and_the_rest_is_the_query() {
        let command = parse("similar k=3 graph neural networks cat=cs.LG cat=stat").unwrap();
        let Request::Similar(similar) = command.request else {
            panic!()
        };
        assert_eq!(similar.query, "graph neural networks");
        assert_eq!(similar.k, 3);
        assert_eq!(similar.categories, ["cs.LG", "stat"]);
        assert!(parse("similar").is_err());
        assert!(parse("similar x k=many").unwrap_err().contains("k=many"));
        let Request::WhyNot(why) = parse("why-not ada 2503.11677 days=3").unwrap().request else {
            panic!()
        };
        assert_eq!(
            (why.user.as_str(), why.paper.as_str(), why.days),
            ("ada", "2503.11677", 3)
        );
        assert!(parse("fly away").unwrap_err().contains("not a command"));
        assert!(matches!(
            parse("HEALTH").unwrap().request,
            Request::Health(_)
        ));
    }
}
