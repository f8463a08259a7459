//! Every source format, read from hand-written fixtures of the real schemas, from files made
//! out of the shared arXiv sample in each format, and over HTTP from a server on 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;

use paperscout_ingest::{Format, IngestError, Item, Options, Records, ingest, open};
use paperscout_store::{MemoryStore, SqliteStore, Store};
use paperscout_types::Paper;

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

fn read_all(source: &str) -> (Option<Format>, Vec<Item>) {
    let records = Records::new(open(source).expect("open")).expect("a known format");
    let format = records.format();
    let items = records
        .collect::<Result<Vec<_>, _>>()
        .expect("readable to the end");
    (format, items)
}

fn papers(items: &[Item]) -> Vec<&Paper> {
    items
        .iter()
        .filter_map(|item| match item {
            Item::Paper(paper) => Some(paper),
            _ => None,
        })
        .collect()
}

fn bad_messages(items: &[Item]) -> Vec<String> {
    items
        .iter()
        .filter_map(|item| match item {
            Item::Bad(bad) => Some(bad.to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn an_arxiv_api_feed() {
    let (format, items) = read_all(&fixture("arxiv-api.atom"));
    assert_eq!(format, Some(Format::Atom));
    let papers = papers(&items);
    assert_eq!(papers.len(), 2);
    let first = papers[0];
    assert_eq!(first.id, "arXiv:2503.00101");
    assert_eq!(first.version, Some(2));
    assert_eq!(first.doi.as_deref(), Some("10.1000/fixture.1"));
    assert_eq!(
        first.title,
        "Counting Tokens by Hand: A Fixture for Parsers"
    );
    assert_eq!(
        first.abstract_text,
        "We describe a hand-written feed entry used to test paperscout. It wraps over lines, \
         uses an ampersand & a less-than sign < and keeps $\\alpha$ LaTeX."
    );
    assert_eq!(first.authors, ["Ada Lovelace", "Charles Babbage"]);
    assert_eq!(first.categories, ["cs.CL", "cs.LG"]);
    assert_eq!(first.date.as_deref(), Some("2025-03-14"));
    assert_eq!(first.comment.as_deref(), Some("12 pages, 3 figures"));
    let links = first.links.as_ref().expect("links");
    assert_eq!(
        links.pdf.as_deref(),
        Some("http://arxiv.org/pdf/2503.00101v2")
    );
    assert_eq!(
        links.abs.as_deref(),
        Some("http://arxiv.org/abs/2503.00101v2")
    );
    assert_eq!(papers[1].id, "arXiv:hep-th/9901001");
    assert_eq!(papers[1].categories, ["hep-th"]);
}

#[test]
fn an_rss_2_listing() {
    let (format, items) = read_all(&fixture("rss2.xml"));
    assert_eq!(format, Some(Format::Rss));
    let papers = papers(&items);
    assert_eq!(papers.len(), 2);
    assert_eq!(papers[0].id, "arXiv:2503.00201");
    assert_eq!(papers[0].version, Some(1));
    assert_eq!(papers[0].title, "Listing Papers by Day: A Fixture");
    assert_eq!(
        papers[0].abstract_text,
        "A hand-written RSS item in the format of arXiv's daily listings, with its abstract \
         after the announce type."
    );
    assert_eq!(
        papers[0].authors,
        ["Ada Lovelace", "Charles Babbage", "Grace Hopper"]
    );
    assert_eq!(papers[0].categories, ["cs.CL", "cs.AI"]);
    assert_eq!(papers[0].date.as_deref(), Some("2025-03-18"));
    assert_eq!(papers[1].version, Some(3));
    assert_eq!(papers[1].authors, ["Alan Turing"]);
}

#[test]
fn an_rss_1_listing() {
    let (format, items) = read_all(&fixture("rss1.rdf"));
    assert_eq!(format, Some(Format::Rss));
    let papers = papers(&items);
    assert_eq!(papers.len(), 1);
    assert_eq!(papers[0].id, "arXiv:2306.00301");
    assert_eq!(papers[0].version, Some(1));
    assert_eq!(papers[0].title, "An Older Listing Format");
    assert_eq!(
        papers[0].abstract_text,
        "The RSS 1.0 listings carried the abstract as HTML and the identifier in the title."
    );
    assert_eq!(papers[0].authors, ["Ada Lovelace", "Grace Hopper"]);
}

#[test]
fn an_oai_pmh_page_read_from_a_file_stops_at_its_token() {
    let (format, items) = read_all(&fixture("oai-page1.xml"));
    assert_eq!(format, Some(Format::Oai));
    assert!(items.contains(&Item::Deleted), "{items:?}");
    let papers = papers(&items);
    assert_eq!(papers.len(), 1);
    let paper = papers[0];
    assert_eq!(paper.id, "arXiv:2503.00401");
    assert_eq!(paper.title, "Harvesting Metadata One Page at a Time");
    assert_eq!(
        paper.abstract_text,
        "A hand-written OAI-PMH record in arXiv's metadata format, with an abstract that wraps."
    );
    assert_eq!(paper.authors, ["Ada Lovelace", "Charles Babbage Jr"]);
    assert_eq!(paper.categories, ["cs.DL", "cs.IR"]);
    assert_eq!(paper.date.as_deref(), Some("2025-03-17"));
    assert_eq!(paper.doi.as_deref(), Some("10.1000/oai.1"));
    assert_eq!(paper.comment.as_deref(), Some("8 pages"));
}

#[test]
fn an_arxiv_snapshot() {
    let (format, items) = read_all(&fixture("snapshot.json"));
    assert_eq!(format, Some(Format::JsonLines));
    let papers = papers(&items);
    assert_eq!(papers.len(), 2);
    assert_eq!(papers[0].id, "arXiv:2503.00501");
    assert_eq!(papers[0].version, Some(2));
    assert_eq!(papers[0].title, "A Snapshot Record Wrapped Over Two Lines");
    assert_eq!(
        papers[0].authors,
        ["Ada Lovelace", "Charles Babbage", "Grace Hopper"]
    );
    assert_eq!(papers[0].categories, ["cs.LG", "stat.ML"]);
    assert_eq!(papers[0].date.as_deref(), Some("2025-03-17"));
    assert_eq!(papers[0].doi.as_deref(), Some("10.1000/snap.1"));
    assert_eq!(papers[1].id, "arXiv:math/0601001");
    assert_eq!(papers[1].date.as_deref(), Some("2006-01-01"));
}

// --- Every format, built from the shared sample -----------------------------------------

fn shared_sample(count: usize) -> Option<Vec<Paper>> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/arxiv-cs/sample-2k.jsonl");
    let Ok(file) = std::fs::File::open(&path) else {
        eprintln!(
            "\n!!! SKIPPED: {} is missing; the round-trip tests need the shared data beside the repository !!!\n",
            path.display()
        );
        return None;
    };
    Some(
        BufReader::new(file)
            .lines()
            .take(count)
            .map(|line| serde_json::from_str(&line.expect("readable")).expect("a paper"))
            .collect(),
    )
}

fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

fn base(paper: &Paper) -> &str {
    paper
        .arxiv_id
        .as_deref()
        .expect("shared papers have arXiv ids")
}

fn as_atom(papers: &[Paper]) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n",
    );
    for paper in papers {
        xml += &format!(
            "<entry><id>http://arxiv.org/abs/{}v1</id><published>{}T17:00:00Z</published><title>{}</title><summary>{}</summary>{}{}</entry>\n",
            base(paper),
            paper.date.as_deref().expect("dated"),
            escape(&paper.title),
            escape(&paper.abstract_text),
            paper
                .authors
                .iter()
                .map(|a| format!("<author><name>{}</name></author>", escape(a)))
                .collect::<String>(),
            paper
                .categories
                .iter()
                .map(|c| format!("<category term=\"{c}\"/>"))
                .collect::<String>(),
        );
    }
    xml + "</feed>\n"
}

fn as_rss(papers: &[Paper]) -> String {
    let mut xml = String::from(
        "<?xml version='1.0' encoding='UTF-8'?>\n<rss xmlns:dc=\"http://purl.org/dc/elements/1.1/\" version=\"2.0\"><channel><title>t</title>\n",
    );
    for paper in papers {
        let day =
            chrono::NaiveDate::parse_from_str(paper.date.as_deref().expect("dated"), "%Y-%m-%d")
                .expect("a day");
        xml += &format!(
            "<item><title>{}</title><link>https://arxiv.org/abs/{}</link><description>arXiv:{}v1 Announce Type: new \nAbstract: {}</description>{}<pubDate>{}</pubDate><dc:creator>{}</dc:creator></item>\n",
            escape(&paper.title),
            base(paper),
            base(paper),
            escape(&paper.abstract_text),
            paper
                .categories
                .iter()
                .map(|c| format!("<category>{c}</category>"))
                .collect::<String>(),
            day.format("%a, %d %b %Y 00:00:00 -0400"),
            escape(&paper.authors.join(", ")),
        );
    }
    xml + "</channel></rss>\n"
}

fn as_oai(papers: &[Paper]) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\"><ListRecords>\n",
    );
    for paper in papers {
        xml += &format!(
            "<record><header><identifier>oai:arXiv.org:{}</identifier></header><metadata><arXiv xmlns=\"http://arxiv.org/OAI/arXiv/\"><id>{}</id><created>{}</created><authors>{}</authors><title>{}</title><categories>{}</categories><abstract>{}</abstract></arXiv></metadata></record>\n",
            base(paper),
            base(paper),
            paper.date.as_deref().expect("dated"),
            paper
                .authors
                .iter()
                .map(|a| format!(
                    "<author><forenames></forenames><keyname>{}</keyname></author>",
                    escape(a)
                ))
                .collect::<String>(),
            escape(&paper.title),
            paper.categories.join(" "),
            escape(&paper.abstract_text),
        );
    }
    xml + "<resumptionToken cursor=\"0\"></resumptionToken></ListRecords></OAI-PMH>\n"
}

fn as_snapshot(papers: &[Paper]) -> String {
    papers
        .iter()
        .map(|paper| {
            let day = chrono::NaiveDate::parse_from_str(paper.date.as_deref().expect("dated"), "%Y-%m-%d").expect("a day");
            serde_json::json!({
                "id": base(paper),
                "authors": paper.authors.join(", "),
                "title": paper.title,
                "categories": paper.categories.join(" "),
                "abstract": paper.abstract_text,
                "doi": null,
                "versions": [{"version": "v1", "created": day.format("%a, %-d %b %Y 12:00:00 GMT").to_string()}],
                "update_date": paper.date,
                "authors_parsed": paper.authors.iter().map(|a| [a.as_str(), "", ""]).collect::<Vec<_>>(),
            })
            .to_string()
                + "\n"
        })
        .collect()
}

fn as_jsonl(papers: &[Paper]) -> String {
    papers
        .iter()
        .map(|p| serde_json::to_string(p).expect("serialisable") + "\n")
        .collect()
}

fn gzip(text: &str) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(text.as_bytes()).expect("compress");
    encoder.finish().expect("compress")
}

#[test]
fn every_format_carries_the_shared_papers_into_the_store() {
    let Some(mut sample) = shared_sample(300) else {
        return;
    };
    // A few papers list MSC or ACM classes among their categories ("94A29, 94A08"); the
    // snapshot's space-separated string cannot carry those, and real snapshots do not.
    for paper in &mut sample {
        paper
            .categories
            .retain(|category| !category.contains([' ', ',', ';']));
    }
    let dir = tempfile::tempdir().expect("temporary folder");
    // Names that do not tell the format: the content does.
    let files: Vec<(&str, Vec<u8>, bool)> = vec![
        ("jsonl.txt", as_jsonl(&sample).into_bytes(), true),
        ("jsonl-gz.data", gzip(&as_jsonl(&sample)), true),
        ("snapshot.data", as_snapshot(&sample).into_bytes(), false),
        ("atom.data", as_atom(&sample).into_bytes(), false),
        ("rss.data", as_rss(&sample).into_bytes(), false),
        ("oai.data", gzip(&as_oai(&sample)), false),
    ];
    for (name, bytes, exact) in files {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        let mut store =
            SqliteStore::open(&dir.path().join(format!("{name}.sqlite3"))).expect("store");
        let records =
            Records::new(open(&path.display().to_string()).expect("open")).expect("format");
        let report = ingest(
            &mut store,
            records,
            name,
            None,
            Options {
                strict: true,
                batch_size: 64,
                ..Options::default()
            },
            1,
            &mut |_| (),
        )
        .expect("ingest");
        assert_eq!(
            (report.read, report.bad, report.written.added),
            (300, 0, 300),
            "{name}"
        );
        for original in &sample {
            let stored = store
                .paper(&original.id)
                .expect("read")
                .unwrap_or_else(|| panic!("{name}: {} missing", original.id))
                .paper;
            let normalise = paperscout_ingest::text::normalise_space;
            if exact {
                assert_eq!(&stored, original, "{name}");
            } else {
                assert_eq!(
                    stored.title,
                    normalise(&original.title),
                    "{name}: {}",
                    original.id
                );
                assert_eq!(
                    stored.abstract_text,
                    normalise(&original.abstract_text),
                    "{name}: {}",
                    original.id
                );
                assert_eq!(stored.date, original.date, "{name}: {}", original.id);
                assert_eq!(
                    stored.categories, original.categories,
                    "{name}: {}",
                    original.id
                );
                assert_eq!(
                    stored.authors.len(),
                    original.authors.len(),
                    "{name}: {}",
                    original.id
                );
            }
        }
        // Ingesting the same file again changes nothing.
        let records =
            Records::new(open(&path.display().to_string()).expect("open")).expect("format");
        let again = ingest(
            &mut store,
            records,
            name,
            None,
            Options::default(),
            2,
            &mut |_| (),
        )
        .expect("ingest again");
        assert_eq!(
            (
                again.written.added,
                again.written.updated,
                again.written.unchanged
            ),
            (0, 0, 300),
            "{name}"
        );
    }
}

// --- Bad input ----------------------------------------------------------------------------

fn read_text(dir: &Path, name: &str, content: &[u8]) -> Vec<Item> {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write");
    read_all(&path.display().to_string()).1
}

#[test]
fn bad_json_lines_are_reported_with_their_line_and_the_rest_kept() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let good =
        |n: u32| format!(r#"{{"id": "arXiv:2503.{n:05}", "title": "T{n}", "abstract": "A."}}"#);
    let mut content = Vec::new();
    content.extend(format!("{}\n{{broken\n\n{}\n", good(1), good(2)).bytes());
    content
        .extend(b"{\"id\": \"arXiv:2503.00003\", \"title\": \"caf\xe9\", \"abstract\": \"A.\"}\n");
    content.extend(format!("{}\n", r#"{"id": "arXiv:2503.00004", "abstract": "A."}"#).bytes());
    content.extend(
        format!(
            "{}\n",
            r#"{"id": "arXiv:2503.00005", "title": "T", "abstract": "A.", "date": "2025-02-30"}"#
        )
        .bytes(),
    );
    content.extend(good(6).bytes());
    let items = read_text(dir.path(), "papers.jsonl", &content);
    let name = dir.path().join("papers.jsonl").display().to_string();
    assert_eq!(
        bad_messages(&items),
        [
            format!("{name} line 2: not valid JSON (key must be a string at line 1 column 2)"),
            format!("{name} line 5: not valid UTF-8 (byte 41 of the line)"),
            format!("{name} line 6: has no `title`"),
            format!("{name} line 7: bad date (expected YYYY-MM-DD)"),
        ]
    );
    let ids: Vec<&str> = papers(&items).iter().map(|p| p.id.as_str()).collect();
    assert_eq!(
        ids,
        ["arXiv:2503.00001", "arXiv:2503.00002", "arXiv:2503.00006"]
    );
}

#[test]
fn bad_xml_records_are_reported_with_their_number_and_the_rest_kept() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let entry = |n: u32, body: &str| {
        format!("<entry><id>http://arxiv.org/abs/2503.{n:05}v1</id>{body}</entry>\n")
    };
    let atom = format!(
        "<feed>\n{}{}{}{}{}</feed>\n",
        entry(1, "<title>One</title><summary>A.</summary>"),
        entry(2, "<title>Two</title>"),
        entry(
            3,
            "<title>Three</title><summary>A.</summary><published>March</published>"
        ),
        entry(4, "<title>Four</wrong><summary>A.</summary>"),
        entry(5, "<title>Five</title><summary>A.</summary>"),
    );
    let items = read_text(dir.path(), "feed.atom", atom.as_bytes());
    let name = dir.path().join("feed.atom").display().to_string();
    let messages = bad_messages(&items);
    assert_eq!(
        messages[..2],
        [
            format!("{name} record 2: has no <summary> (the abstract)"),
            format!("{name} record 3: bad date (expected an RFC 3339 time)"),
        ]
    );
    assert!(
        messages[2].starts_with(&format!("{name} record 4: broken XML at byte ")),
        "{messages:?}"
    );
    assert!(
        messages[2].contains("expected `</title>`, but `</wrong>` was found"),
        "{messages:?}"
    );
    let ids: Vec<&str> = papers(&items).iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["arXiv:2503.00001", "arXiv:2503.00005"]);

    let rss = "<rss><channel><item><title>No id</title><description>Abstract: A.</description></item></channel></rss>";
    let items = read_text(dir.path(), "listing.rss", rss.as_bytes());
    assert_eq!(
        bad_messages(&items),
        [format!(
            "{} record 1: names no arXiv id in <link>, <guid>, <title> or <description>",
            dir.path().join("listing.rss").display()
        )]
    );

    let oai = "<OAI-PMH><ListRecords><record><header/><metadata><oai_dc/></metadata></record></ListRecords></OAI-PMH>";
    let items = read_text(dir.path(), "oai.xml", oai.as_bytes());
    assert_eq!(
        bad_messages(&items),
        [format!(
            "{} record 1: has no <metadata><arXiv> (ask the server for metadataPrefix=arXiv)",
            dir.path().join("oai.xml").display()
        )]
    );

    let truncated = "<feed><entry><id>http://arxiv.org/abs/2503.00001</id><title>Cut";
    let items = read_text(dir.path(), "cut.atom", truncated.as_bytes());
    assert_eq!(
        bad_messages(&items),
        [format!(
            "{} record 1: the document ends inside this record",
            dir.path().join("cut.atom").display()
        )]
    );
}

#[test]
fn an_unknown_format_says_which_formats_are_read() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("papers.csv");
    std::fs::write(&path, "id,title\n1,x\n").expect("write");
    let err = Records::new(open(&path.display().to_string()).expect("open"))
        .err()
        .expect("not a format");
    assert_eq!(
        err.to_string(),
        format!(
            "{} is not in a format paperscout reads (it starts with 'i'). It reads JSON lines (paperscout's paper format or the arXiv metadata snapshot, optionally gzipped), arXiv API Atom feeds, arXiv RSS listings and OAI-PMH ListRecords responses",
            path.display()
        )
    );
    std::fs::write(&path, "<html><body/></html>").expect("write");
    let err = Records::new(open(&path.display().to_string()).expect("open"))
        .err()
        .expect("not a format");
    assert!(
        err.to_string().contains("(an XML document of <html>)"),
        "{err}"
    );
}

#[test]
fn strict_mode_stops_at_the_first_bad_record_and_writes_nothing_of_its_batch() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("papers.jsonl");
    let lines: Vec<String> = (1..=5)
        .map(|n| format!(r#"{{"id": "arXiv:2503.{n:05}", "title": "T{n}", "abstract": "A."}}"#))
        .collect();
    std::fs::write(
        &path,
        format!(
            "{}\n{}\n{}\nnot json\n{}\n",
            lines[0], lines[1], lines[2], lines[3]
        ),
    )
    .expect("write");
    let mut store = MemoryStore::new();
    let records = Records::new(open(&path.display().to_string()).expect("open")).expect("format");
    let err = ingest(
        &mut store,
        records,
        "test",
        None,
        Options {
            strict: true,
            batch_size: 2,
            ..Options::default()
        },
        1,
        &mut |_| (),
    )
    .expect_err("strict");
    assert!(matches!(err, IngestError::Strict(_)));
    assert!(err.to_string().ends_with("line 4: not valid JSON (expected ident at line 1 column 2); stopped because of --strict, and nothing of its batch was written"), "{err}");
    // The first batch (lines 1-2) was committed; line 3's batch was not.
    assert_eq!(store.stats().expect("stats").papers, 2);
}

// --- Over HTTP ------------------------------------------------------------------------------

/// Serves canned answers on 127.0.0.1: the first request for the listing gets "503, retry
/// after 1 s", the next gets page 1, and the resumption token gets page 2.
fn serve_oai() -> (String, std::thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let page1 = std::fs::read_to_string(fixture("oai-page1.xml")).expect("fixture");
    let page2 = std::fs::read_to_string(fixture("oai-page2.xml")).expect("fixture");
    let handle = std::thread::spawn(move || {
        let mut requests = Vec::new();
        for stream in listener.incoming().take(3) {
            let mut stream = stream.expect("connection");
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut request_line = String::new();
            reader.read_line(&mut request_line).expect("request");
            let mut header = String::new();
            while reader.read_line(&mut header).expect("header") > 2 {
                header.clear();
            }
            let path = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_owned();
            let (status, body) = if path.contains("resumptionToken=7654321%7C1001") {
                ("200 OK", page2.as_str())
            } else if requests.is_empty() {
                ("503 Service Unavailable\r\nRetry-After: 1", "busy")
            } else {
                ("200 OK", page1.as_str())
            };
            requests.push(path);
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(response.as_bytes()).expect("respond");
            let _ = stream.read(&mut [0u8; 1]);
        }
        requests
    });
    (
        format!("http://{address}/oai2?verb=ListRecords&metadataPrefix=arXiv&set=cs"),
        handle,
    )
}

#[test]
fn an_oai_pmh_listing_over_http_follows_its_resumption_token() {
    let (url, server) = serve_oai();
    let (format, items) = read_all(&url);
    assert_eq!(format, Some(Format::Oai));
    let ids: Vec<&str> = papers(&items).iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["arXiv:2503.00401", "arXiv:2503.00403"]);
    assert!(items.contains(&Item::Deleted));
    let requests = server.join().expect("server");
    assert_eq!(requests.len(), 3, "one refused, two pages: {requests:?}");
    assert_eq!(
        requests[2],
        "/oai2?verb=ListRecords&resumptionToken=7654321%7C1001"
    );
}

#[test]
fn a_missing_file_and_an_unreachable_url_are_explained() {
    let err = open("/nonexistent/papers.jsonl").expect_err("no such file");
    assert!(
        err.to_string()
            .starts_with("cannot read /nonexistent/papers.jsonl: failed to open file"),
        "{err}"
    );
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/feed", listener.local_addr().expect("address"));
    drop(listener);
    let err = open(&url).expect_err("nobody listens");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot fetch {url}: ")),
        "{err}"
    );
    assert!(
        err.to_string()
            .ends_with("Check the address and the network, or download the file and ingest it"),
        "{err}"
    );
}

#[test]
fn non_utf8_inside_an_xml_record_costs_that_record_only() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let mut atom = b"<feed><entry><id>http://arxiv.org/abs/2503.00001v1</id><title>One</title><summary>A.</summary></entry>\n".to_vec();
    atom.extend(b"<entry><id>http://arxiv.org/abs/2503.00002v1</id><title>caf\xe9</title><summary>A.</summary></entry>\n");
    atom.extend(b"<entry><id>http://arxiv.org/abs/2503.00003v1</id><title>Three</title><summary>A.</summary></entry></feed>\n");
    let items = read_text(dir.path(), "latin1.atom", &atom);
    let messages = bad_messages(&items);
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(
        messages[0],
        format!(
            "{} record 2: not valid UTF-8 (or holds U+FFFD, the mark of a broken encoding)",
            dir.path().join("latin1.atom").display()
        )
    );
    let ids: Vec<&str> = papers(&items).iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["arXiv:2503.00001", "arXiv:2503.00003"]);
}

// --- Limits (issue 25, defect 4) ------------------------------------------------------------

#[test]
fn a_line_longer_than_a_record_may_be_is_skipped_unread() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let good = |n: u32| {
        format!(r#"{{"id": "arXiv:2503.{n:05}", "title": "T{n}", "abstract": "A."}}"#) + "\n"
    };
    let huge = format!(
        r#"{{"id": "arXiv:2503.00002", "title": "{}"}}"#,
        "x".repeat(3 << 20)
    );
    let content = good(1) + &huge + "\n" + &good(3);
    let items = read_text(dir.path(), "huge-line.jsonl", content.as_bytes());
    assert_eq!(papers(&items).len(), 2);
    let bad = bad_messages(&items);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(
        bad[0].contains("line 2: 3145") && bad[0].contains("skipped unread"),
        "{bad:?}"
    );

    // A file that is one enormous line (as a sparse file starting with `{`): one bad record.
    let mut endless = b"{".to_vec();
    endless.resize(5 << 20, 0);
    let items = read_text(dir.path(), "sparse.jsonl", &endless);
    assert_eq!(bad_messages(&items).len(), 1);
    assert!(papers(&items).is_empty());
}

#[test]
fn over_long_fields_are_cut_and_the_record_says_so() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let line = format!(
        r#"{{"id": "arXiv:2503.00001", "title": "T", "abstract": "{}"}}"#,
        "words and more words ".repeat(10_000)
    );
    let items = read_text(dir.path(), "long.jsonl", line.as_bytes());
    let [Item::Shortened { paper, note }] = items.as_slice() else {
        panic!("{items:?}")
    };
    assert!(paper.abstract_text.len() <= paperscout_ingest::limits::MAX_ABSTRACT_BYTES);
    assert!(note.to_string().contains("line 1: abstract cut"), "{note}");

    let mut store = MemoryStore::new();
    let records =
        Records::new(open(&dir.path().join("long.jsonl").display().to_string()).expect("open"))
            .expect("known");
    let report = ingest(
        &mut store,
        records,
        "long",
        None,
        Options::default(),
        1,
        &mut |_| {},
    )
    .expect("ingested");
    assert_eq!((report.read, report.shortened, report.bad), (1, 1, 0));
}

#[test]
fn a_decompression_bomb_is_refused_without_holding_it() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("bomb.jsonl.gz");
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).expect("create"),
        flate2::Compression::best(),
    );
    // One line of 100 MiB, which the line limit would skip: only the bomb check stops it.
    encoder.write_all(b"{").expect("compress");
    let zeros = vec![b' '; 1 << 20];
    for _ in 0..100 {
        encoder.write_all(&zeros).expect("compress");
    }
    encoder.finish().expect("compress");
    let records = Records::new(open(&path.display().to_string()).expect("open")).expect("known");
    let err = records.collect::<Result<Vec<_>, _>>().expect_err("refused");
    assert!(err.to_string().contains("decompression bomb"), "{err}");

    // A real listing, gzipped, reads whole.
    let lines: String = (0..20_000)
        .map(|n| {
            format!(r#"{{"id": "arXiv:2503.{n:05}", "title": "T{n}", "abstract": "A."}}"#) + "\n"
        })
        .collect();
    let listing = dir.path().join("listing.jsonl.gz");
    std::fs::write(&listing, gzip(&lines)).expect("write");
    let (_, items) = read_all(&listing.display().to_string());
    assert_eq!(papers(&items).len(), 20_000);
}
