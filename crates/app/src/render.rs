//! A digest as people and programs read it: Markdown, JSON, an e-mail-safe HTML page, and an
//! Atom feed.

use serde::{Deserialize, Serialize};

use crate::choose::{Because, Digest, Reason};

/// The formats a digest is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Markdown, for people.
    #[default]
    Markdown,
    /// JSON, for scripts.
    Json,
    /// An e-mail-safe HTML page.
    Html,
    /// An Atom feed for feed readers.
    Atom,
}

impl Format {
    /// Every format, in the order help texts list them.
    pub const ALL: [Self; 4] = [Self::Markdown, Self::Json, Self::Html, Self::Atom];

    /// The format's name in config files, flags and requests.
    pub fn name(self) -> &'static str {
        match self {
            Self::Markdown => "markdown",
            Self::Json => "json",
            Self::Html => "html",
            Self::Atom => "atom",
        }
    }
}

/// What a one-click link in a digest does with its paper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkAction {
    /// Open the paper's page.
    Open,
    /// More like this.
    Like,
    /// Keep it for later.
    Save,
    /// Not for me.
    Dislike,
    /// Seen, not interested.
    Dismiss,
}

impl LinkAction {
    /// The ratings, in the order a digest shows them.
    pub const RATINGS: [Self; 4] = [Self::Like, Self::Save, Self::Dislike, Self::Dismiss];

    /// How the link reads.
    pub fn label(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Like => "more like this",
            Self::Save => "save",
            Self::Dislike => "not for me",
            Self::Dismiss => "dismiss",
        }
    }
}

/// Makes the one-click links of a digest's picks (the web page signs them); without one, a
/// digest has none.
pub trait PickLinks: Send + Sync {
    /// The URL that does `action` on `paper_id` for `user`.
    fn link(&self, user: &str, paper_id: &str, action: LinkAction) -> String;
}

/// The digest in `format`; `now` dates the Atom feed.
pub fn render(digest: &Digest, format: Format, now: i64) -> String {
    render_linked(digest, format, now, None)
}

/// [`render`], with one-click links on every pick of the Markdown and HTML forms.
pub fn render_linked(
    digest: &Digest,
    format: Format,
    now: i64,
    links: Option<&dyn PickLinks>,
) -> String {
    match format {
        Format::Markdown => markdown_linked(digest, links),
        Format::Json => serde_json::to_string_pretty(digest).unwrap_or_default() + "\n",
        Format::Html => html_linked(digest, links),
        Format::Atom => atom(digest, now),
    }
}

/// The digest as Markdown, the plain-text part of its e-mail too.
pub fn markdown(digest: &Digest) -> String {
    markdown_linked(digest, None)
}

/// [`markdown`], with a line of one-click links under each pick.
pub fn markdown_linked(digest: &Digest, links: Option<&dyn PickLinks>) -> String {
    let mut out = format!(
        "# paperscout digest for {} — {}\n\n{} of {} papers announced {} … {}\n",
        &digest.user,
        digest.to,
        digest.papers.len(),
        digest.candidates,
        digest.from,
        digest.to
    );
    let sectioned = !digest.sections.is_empty();
    for (n, entry) in digest.papers.iter().enumerate() {
        let paper = &entry.paper;
        if let Some(section) = digest.section_starting(n) {
            out += &format!("\n## {section}\n");
        }
        let level = if sectioned { "###" } else { "##" };
        out += &format!("\n{level} {}. {}\n\n", n + 1, paper.title);
        let mut line = paper.authors.join(", ");
        if !paper.categories.is_empty() {
            line += &format!(" · {}", paper.categories.join(" "));
        }
        if let Some(links) = &paper.links {
            if let Some(abs) = &links.abs {
                line += &format!(" · [abs]({abs})");
            }
            if let Some(pdf) = &links.pdf {
                line += &format!(" · [pdf]({pdf})");
            }
        }
        out += &format!("{line}\n\n> {}\n\n", snippet(&paper.abstract_text, 320));
        out += &because_line(&entry.because);
        out += "\n";
        if let Some(links) = links {
            let line: Vec<String> = std::iter::once(LinkAction::Open)
                .chain(LinkAction::RATINGS)
                .map(|action| {
                    format!(
                        "[{}]({})",
                        action.label(),
                        links.link(&digest.user, &paper.id, action)
                    )
                })
                .collect();
            out += &format!("\n{}\n", line.join(" · "));
        }
    }
    out
}

/// The line that explains a pick.
pub fn because_line(because: &Because) -> String {
    let reason = match because.reason {
        Reason::Added => "you follow",
        Reason::Interest => "you are interested in",
        Reason::Liked => "you liked",
        Reason::Saved => "you saved",
    };
    let mut line = format!(
        "Because {reason} “{}” (similarity {:.2}",
        because.item, because.similarity
    );
    if !because.shared_terms.is_empty() {
        line += &format!("; shared terms: {}", because.shared_terms.join(", "));
    }
    if !because.rules.is_empty() {
        line += &format!("; your rules: {}", because.rules.join(", "));
    }
    line + ")"
}

fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

/// An e-mail-safe page: tables and inline styles only, no scripts or external resources.
pub fn html(digest: &Digest) -> String {
    html_linked(digest, None)
}

/// [`html`], with a row of one-click links under each pick.
pub fn html_linked(digest: &Digest, links: Option<&dyn PickLinks>) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>paperscout digest for {user} — {to}</title></head>\n\
         <body style=\"margin:0;padding:16px;background:#f6f6f6;font-family:Georgia,serif;color:#222\">\n\
         <table role=\"presentation\" width=\"100%\" style=\"max-width:720px;margin:0 auto;background:#fff;border-collapse:collapse\">\n\
         <tr><td style=\"padding:16px 20px;border-bottom:2px solid #333\"><h1 style=\"margin:0;font-size:22px\">paperscout · {to}</h1>\
         <p style=\"margin:4px 0 0;color:#666;font-size:14px\">{shown} of {count} papers announced {from} … {to}</p></td></tr>\n",
        user = escape(&digest.user),
        to = escape(&digest.to),
        from = escape(&digest.from),
        shown = digest.papers.len(),
        count = digest.candidates,
    );
    for (n, entry) in digest.papers.iter().enumerate() {
        let paper = &entry.paper;
        let abs = paper
            .links
            .as_ref()
            .and_then(|l| l.abs.clone())
            .unwrap_or_default();
        let pdf = paper
            .links
            .as_ref()
            .and_then(|l| l.pdf.clone())
            .unwrap_or_default();
        let width = (entry.because.similarity.clamp(0.0, 1.0) * 100.0).round();
        if let Some(section) = digest.section_starting(n) {
            out += &format!(
                "<tr><td style=\"padding:14px 20px 6px;background:#eef2f6;border-bottom:1px solid #ccd\">\
                 <h2 style=\"margin:0;font-size:16px;color:#334\">{}</h2></td></tr>\n",
                escape(section)
            );
        }
        out += &format!(
            "<tr><td style=\"padding:16px 20px;border-bottom:1px solid #ddd\">\n\
             <h2 style=\"margin:0 0 4px;font-size:18px\">{number}. <a href=\"{abs}\" style=\"color:#1a0dab;text-decoration:none\">{title}</a></h2>\n\
             <p style=\"margin:0 0 6px;color:#555;font-size:13px\">{authors} · {categories} · <a href=\"{pdf}\">pdf</a></p>\n\
             <p style=\"margin:0 0 8px;font-size:14px;line-height:1.4\">{snippet}</p>\n\
             <table role=\"presentation\" width=\"160\" style=\"border-collapse:collapse;margin:0 0 6px\"><tr>\
             <td width=\"{width}%\" style=\"background:#3b7;height:6px\"></td><td style=\"background:#ddd;height:6px\"></td></tr></table>\n\
             <p style=\"margin:0;color:#444;font-size:13px;font-style:italic\">{because}</p>\n{actions}</td></tr>\n",
            number = n + 1,
            abs = escape(&abs),
            title = escape(&paper.title),
            authors = escape(&paper.authors.join(", ")),
            categories = escape(&paper.categories.join(" ")),
            pdf = escape(&pdf),
            snippet = escape(&snippet(&paper.abstract_text, 400)),
            because = escape(&because_line(&entry.because)),
            actions = links.map_or_else(String::new, |links| action_row(
                links,
                &digest.user,
                &paper.id
            )),
        );
    }
    out + "</table>\n</body></html>\n"
}

/// The one-click links of a pick in the HTML mail: buttons made of links, since a mail program
/// runs no forms or scripts.
fn action_row(links: &dyn PickLinks, user: &str, paper_id: &str) -> String {
    let button = |action: LinkAction| {
        format!(
            "<a href=\"{}\" style=\"display:inline-block;margin:8px 6px 0 0;padding:3px 10px;border:1px solid #bbb;border-radius:4px;color:#1a0dab;text-decoration:none;font-size:13px\">{}</a>",
            escape(&links.link(user, paper_id, action)),
            action.label()
        )
    };
    let mut row = String::from("<p style=\"margin:0\">");
    for action in std::iter::once(LinkAction::Open).chain(LinkAction::RATINGS) {
        row += &button(action);
    }
    row + "</p>\n"
}

/// An Atom feed of the digest's papers; entry ids are the papers' pages, so a reader that
/// polls the file shows each paper once.
pub fn atom(digest: &Digest, now: i64) -> String {
    let updated = chrono::DateTime::from_timestamp(now, 0)
        .map_or_else(String::new, |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n\
         <title>paperscout digest for {user}</title>\n<id>urn:paperscout:digest:{user}</id>\n<updated>{updated}</updated>\n\
         <author><name>paperscout</name></author>\n",
        user = escape(&digest.user),
    );
    for entry in &digest.papers {
        let paper = &entry.paper;
        let abs = paper.links.as_ref().and_then(|l| l.abs.clone());
        let id = abs
            .clone()
            .unwrap_or_else(|| format!("urn:paperscout:paper:{}", paper.id));
        out += &format!(
            "<entry>\n<id>{}</id>\n<title>{}</title>\n<updated>{updated}</updated>\n",
            escape(&id),
            escape(&paper.title)
        );
        if let Some(abs) = abs {
            out += &format!("<link rel=\"alternate\" href=\"{}\"/>\n", escape(&abs));
        }
        for author in &paper.authors {
            out += &format!("<author><name>{}</name></author>\n", escape(author));
        }
        for category in &paper.categories {
            out += &format!("<category term=\"{}\"/>\n", escape(category));
        }
        if let Some(facet) = &entry.facet {
            out += &format!(
                "<category scheme=\"urn:paperscout:facet\" term=\"{0}\" label=\"{0}\"/>\n",
                escape(facet)
            );
        }
        out += &format!(
            "<summary>{}</summary>\n<content type=\"text\">{}\n\n{}</content>\n</entry>\n",
            escape(&snippet(&paper.abstract_text, 400)),
            escape(&because_line(&entry.because)),
            escape(&paper.abstract_text)
        );
    }
    out + "</feed>\n"
}

/// The start of a text, cut at a word boundary, with an ellipsis when cut.
fn snippet(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let cut: String = text.chars().take(limit).collect();
    let at = cut.rfind(' ').unwrap_or(cut.len());
    format!("{}…", &cut[..at])
}
