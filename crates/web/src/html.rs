//! HTML made by hand, escaped everywhere: the page frame (style sheet and script inlined, so
//! nothing is fetched from another host), and the pieces the pages share.

use std::fmt::Write as _;

/// Text made safe for an element or a quoted attribute: `& < > " '` escaped. Every value from
/// the store passes through here (abstracts hold `<`, `&` and LaTeX; titles hold quotes).
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A value for a URL's path or query: everything but unreserved characters percent-encoded.
pub fn url_part(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

const STYLE: &str = r#"
:root { --bg:#fbfaf7; --fg:#1d1d1f; --muted:#62636a; --line:#e3e1da; --card:#fff; --accent:#2f5bd3;
  --good:#1f7a4d; --bad:#b3261e; --chip:#eef0f6; }
@media (prefers-color-scheme: dark) { :root { --bg:#15161a; --fg:#e8e8ea; --muted:#a0a2ab;
  --line:#2c2e35; --card:#1d1f24; --accent:#8fb0ff; --good:#6fd39f; --bad:#ff8a80; --chip:#262a33; } }
* { box-sizing:border-box; }
body { margin:0; background:var(--bg); color:var(--fg); font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; }
header { border-bottom:1px solid var(--line); background:var(--card); }
header .bar { max-width:50rem; margin:0 auto; padding:.6rem 1rem; display:flex; gap:1rem; align-items:center; flex-wrap:wrap; }
header .brand { font-weight:700; letter-spacing:.02em; margin-right:auto; }
header nav a { color:var(--muted); text-decoration:none; margin-right:.9rem; }
header nav a.here { color:var(--fg); font-weight:600; }
main { max-width:50rem; margin:0 auto; padding:1rem; }
h1 { font-size:1.4rem; margin:.4rem 0 .2rem; } h2 { font-size:1.1rem; margin:1.4rem 0 .4rem; }
.sub { color:var(--muted); margin:0 0 1rem; }
.notice { background:var(--chip); border-left:3px solid var(--accent); padding:.5rem .8rem; margin:0 0 1rem; border-radius:4px; }
.pick { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:.8rem 1rem; margin:0 0 .8rem; }
.pick h3 { font-size:1.05rem; margin:0 0 .2rem; } .pick h3 a { color:var(--fg); text-decoration:none; }
.pick h3 a:hover { text-decoration:underline; }
.meta { color:var(--muted); font-size:.88rem; }
.chip { display:inline-block; background:var(--chip); border-radius:99px; padding:0 .5rem; font-size:.8rem; margin-right:.25rem; }
.because { font-size:.9rem; margin:.4rem 0; } .because b { font-weight:600; }
details summary { cursor:pointer; font-size:.92rem; list-style:none; }
details summary::-webkit-details-marker { display:none; }
details summary::after { content:" more"; color:var(--accent); }
details[open] summary { display:none; }
details p { margin:.4rem 0 0; }
.actions { display:flex; gap:.4rem; flex-wrap:wrap; margin-top:.5rem; }
.actions form { margin:0; }
button, .button { font:inherit; font-size:.88rem; border:1px solid var(--line); background:var(--bg); color:var(--fg);
  border-radius:6px; padding:.25rem .7rem; cursor:pointer; text-decoration:none; display:inline-block; }
button:hover, .button:hover { border-color:var(--accent); }
button.on { border-color:var(--accent); color:var(--accent); font-weight:600; }
button.primary { background:var(--accent); color:var(--bg); border-color:var(--accent); font-size:1rem; padding:.5rem 1.2rem; }
input[type=text], input[type=search], input[type=email], input[type=number], input[type=date], textarea, select {
  font:inherit; padding:.35rem .5rem; border:1px solid var(--line); border-radius:6px; background:var(--card); color:var(--fg); }
form.wide { display:flex; gap:.5rem; flex-wrap:wrap; align-items:end; margin:0 0 1rem; }
form.wide label { display:flex; flex-direction:column; font-size:.85rem; color:var(--muted); }
table { border-collapse:collapse; width:100%; } td, th { text-align:left; padding:.3rem .4rem; border-bottom:1px solid var(--line); vertical-align:top; }
.good { color:var(--good); } .bad { color:var(--bad); }
kbd { border:1px solid var(--line); border-radius:3px; padding:0 .25rem; font-size:.8rem; }
footer { max-width:50rem; margin:2rem auto; padding:0 1rem; color:var(--muted); font-size:.85rem; }
@media (max-width:32rem) { body { font-size:15px; } .pick { padding:.7rem; } }
"#;

/// Ratings without a reload, and keys j/k to move and l/s/d/x to rate; the forms work
/// without it.
const SCRIPT: &str = r#"
document.addEventListener('submit', async (e) => {
  const form = e.target; if (!form.matches('form.rate')) return;
  e.preventDefault();
  const r = await fetch(form.action, {method:'POST', body:new URLSearchParams(new FormData(form, e.submitter)),
    headers:{'Accept':'application/json'}, credentials:'same-origin'});
  if (!r.ok) { form.submit(); return; }
  const pick = form.closest('.pick'); const said = await r.json();
  pick.querySelectorAll('form.rate button').forEach(b => b.classList.remove('on'));
  if (said.kind) form.querySelector('button').classList.add('on');
  const note = pick.querySelector('.said'); if (note) note.textContent = said.message;
});
let at = -1;
document.addEventListener('keydown', (e) => {
  if (e.target.closest('input,textarea,select')) return;
  const picks = [...document.querySelectorAll('.pick')]; if (!picks.length) return;
  const keys = {l:'like', s:'save', d:'dislike', x:'dismiss'};
  if (e.key === 'j' || e.key === 'k') { at = Math.max(0, Math.min(picks.length-1, at + (e.key === 'j' ? 1 : -1)));
    picks[at].scrollIntoView({block:'center'}); picks.forEach((p,i)=>p.style.outline = i===at ? '2px solid var(--accent)' : ''); }
  else if (keys[e.key] && at >= 0) { const b = picks[at].querySelector('form.rate button[value="'+keys[e.key]+'"]'); if (b) b.click(); }
});
"#;

/// The `Content-Security-Policy` of every page: nothing from anywhere but this page's own
/// inlined style sheet and script (allowed by their hashes), forms posting only here, no
/// framing.
pub fn content_security_policy() -> String {
    use base64::Engine;
    use sha2::Digest;
    let hash = |text: &str| {
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(text.as_bytes()))
    };
    format!(
        "default-src 'none'; style-src 'sha256-{}'; script-src 'sha256-{}'; connect-src 'self'; \
         img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        hash(STYLE),
        hash(SCRIPT)
    )
}

/// Which tab a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    /// The latest digest.
    Today,
    /// Past digests and ratings.
    History,
    /// Search.
    Search,
    /// The profile and rules.
    Profile,
    /// None of them (a paper, a mail link).
    None,
}

/// A whole page: head, navigation (for a signed-in user), the body.
pub fn page(title: &str, user: Option<&str>, tab: Tab, body: &str) -> String {
    let mut nav = String::new();
    if user.is_some() {
        for (href, label, this) in [
            ("/today", "Today", Tab::Today),
            ("/history", "History", Tab::History),
            ("/search", "Search", Tab::Search),
            ("/profile", "Profile", Tab::Profile),
        ] {
            let class = if this == tab { " class=\"here\"" } else { "" };
            let _ = write!(nav, "<a href=\"{href}\"{class}>{label}</a>");
        }
    }
    let who = user.map_or_else(String::new, |u| {
        format!("<span class=\"meta\">{}</span>", esc(u))
    });
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <title>{} · paperscout</title><style>{STYLE}</style></head>\
         <body><header><div class=\"bar\"><span class=\"brand\">paperscout</span><nav>{nav}</nav>{who}</div></header>\
         <main>{body}</main>\
         <footer>Keys: <kbd>j</kbd>/<kbd>k</kbd> move, <kbd>l</kbd> like, <kbd>s</kbd> save, <kbd>d</kbd> dislike, <kbd>x</kbd> dismiss.</footer>\
         <script>{SCRIPT}</script></body></html>\n",
        esc(title)
    )
}

/// The first `limit` characters of a text, cut at a word, with an ellipsis when cut.
pub fn snippet(text: &str, limit: usize) -> (String, bool) {
    if text.chars().count() <= limit {
        return (text.to_owned(), false);
    }
    let cut: String = text.chars().take(limit).collect();
    let cut = cut
        .rsplit_once(' ')
        .map_or(cut.as_str(), |(head, _)| head)
        .to_owned();
    (cut + "…", true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_values_is_shown_not_run() {
        assert_eq!(
            esc(r#"<script>alert("x")</script> & 'q' $a<b$"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39; $a&lt;b$"
        );
        assert_eq!(url_part("arXiv:2503.1 a/b&c"), "arXiv%3A2503.1%20a%2Fb%26c");
        let page = page("<b>", Some("<ada>"), Tab::Today, "");
        assert!(page.contains("&lt;b&gt; · paperscout") && page.contains("&lt;ada&gt;"));
        assert!(!page.contains("<b>") && !page.contains("<ada>"));
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "nothing from another host"
        );
    }

    #[test]
    fn snippets_cut_at_a_word() {
        assert_eq!(snippet("short", 10), ("short".to_owned(), false));
        assert_eq!(
            snippet("one two three four", 10),
            ("one two…".to_owned(), true)
        );
    }
}
