//! The sources of `[sources]` fetched from a server on 127.0.0.1 that plays arXiv (RSS, and
//! OAI-PMH with a resumption token) and bioRxiv (its JSON API, two pages), on a fake clock:
//! after each announcement and never on a quiet day, `Retry-After` obeyed, 3 s between
//! requests, a catch-up after three missed announcements.

use std::time::Duration;

use chrono::NaiveDate;
use paperscout_app::settings::ScheduleConfig;
use paperscout_app::sources::SourcesConfig;

use crate::schedule::tests::{Answer, scheduled, serve, utc};

fn rss(items: &[(&str, &str)]) -> String {
    let mut out = String::from(
        "<?xml version='1.0' encoding='UTF-8'?>\n<rss xmlns:arxiv=\"http://arxiv.org/schemas/atom\" \
         xmlns:dc=\"http://purl.org/dc/elements/1.1/\" version=\"2.0\"><channel>\
         <title>cs.CL updates on arXiv.org</title><link>http://rss.arxiv.org/rss/cs.CL</link>\
         <pubDate>Wed, 04 Mar 2026 00:00:00 -0500</pubDate>",
    );
    for (id, title) in items {
        out += &format!(
            "<item><title>{title}</title><link>https://arxiv.org/abs/{id}</link>\
             <description>arXiv:{id}v1 Announce Type: new \nAbstract: A listing of {title}.</description>\
             <guid isPermaLink=\"false\">oai:arXiv.org:{id}v1</guid><category>cs.CL</category>\
             <pubDate>Wed, 04 Mar 2026 00:00:00 -0500</pubDate>\
             <arxiv:announce_type>new</arxiv:announce_type><dc:creator>Ada Lovelace</dc:creator></item>"
        );
    }
    out + "</channel></rss>\n"
}

fn oai_record(id: &str, categories: &str, title: &str) -> String {
    format!(
        "<record><header><identifier>oai:arXiv.org:{id}</identifier><datestamp>2026-03-10</datestamp>\
         <setSpec>cs</setSpec></header><metadata><arXiv xmlns=\"http://arxiv.org/OAI/arXiv/\">\
         <id>{id}</id><created>2026-03-09</created><authors><author><keyname>Hopper</keyname>\
         <forenames>Grace</forenames></author></authors><title>{title}</title>\
         <categories>{categories}</categories><abstract>Harvested: {title}.</abstract></arXiv>\
         </metadata></record>"
    )
}

fn oai(records: &[String], token: Option<&str>) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\">\
         <responseDate>2026-03-12T01:30:00Z</responseDate><request verb=\"ListRecords\">x</request>\
         <ListRecords>{}{}</ListRecords></OAI-PMH>\n",
        records.concat(),
        token.map_or_else(String::new, |t| format!(
            "<resumptionToken cursor=\"0\">{t}</resumptionToken>"
        ))
    )
}

fn biorxiv(cursor: usize, total: usize, dois: &[&str]) -> String {
    let collection: Vec<String> = dois
        .iter()
        .map(|doi| {
            format!(
                r#"{{"doi": "{doi}", "title": "Preprint {doi}", "authors": "Moser, E.; Moser, M.-B.",
                "date": "2026-03-04", "version": "1", "type": "new results", "license": "cc_by",
                "category": "neuroscience", "abstract": "Grid cells in preprint {doi}.",
                "published": "NA", "server": "bioRxiv"}}"#
            )
        })
        .collect();
    format!(
        r#"{{"messages": [{{"status": "ok", "cursor": {cursor}, "count": {}, "total": {total}}}],
            "collection": [{}]}}"#,
        dois.len(),
        collection.join(",")
    )
}

/// The fake arXiv and bioRxiv: the first listing request is refused with `Retry-After: 1`.
fn answer(target: &str, refused_once: &std::sync::atomic::AtomicBool) -> Answer {
    use std::sync::atomic::Ordering;
    let ok = |body: String| (200, Vec::new(), body);
    if target.starts_with("/rss/cs.CL") {
        if !refused_once.swap(true, Ordering::SeqCst) {
            return (503, vec![("retry-after", "1".to_owned())], String::new());
        }
        return ok(rss(&[
            ("2603.00101", "Listed first"),
            ("2603.00102", "Listed second"),
        ]));
    }
    if target.starts_with("/oai?verb=ListRecords&resumptionToken=page2") {
        return ok(oai(
            &[oai_record("2603.00303", "cs.CL cs.LG", "Caught up second")],
            None,
        ));
    }
    if target.starts_with("/oai?verb=ListRecords&metadataPrefix=arXiv&set=cs&from=2026-03-05") {
        let records = [
            oai_record("2603.00301", "cs.CL", "Caught up first"),
            oai_record("2603.00302", "cs.DL", "Another category"),
        ];
        return ok(oai(&records, Some("page2")));
    }
    if let Some(rest) = target.strip_prefix("/details/biorxiv/") {
        if !rest.ends_with("?category=neuroscience") {
            return (400, Vec::new(), "unexpected".into());
        }
        return ok(if rest.contains("/0?") {
            biorxiv(
                0,
                3,
                &["10.1101/2026.03.04.000001", "10.1101/2026.03.04.000002"],
            )
        } else {
            biorxiv(2, 3, &["10.1101/2026.03.04.000003"])
        });
    }
    (404, Vec::new(), format!("no such page: {target}"))
}

#[test]
fn sources_are_fetched_by_name_on_arxivs_calendar_and_politely() {
    let refused_once = std::sync::atomic::AtomicBool::new(false);
    let (base, asked) = serve(move |target, _| answer(target, &refused_once));
    let home = tempfile::tempdir().expect("a temp dir");
    let config = ScheduleConfig {
        sources: SourcesConfig {
            arxiv: vec!["cs.CL".into()],
            biorxiv: vec!["neuroscience".into()],
            arxiv_rss: Some(format!("{base}/rss/")),
            arxiv_oai: Some(format!("{base}/oai")),
            biorxiv_api: Some(base.clone()),
            preprint_every_hours: Some(100),
            ..SourcesConfig::default()
        },
        ..ScheduleConfig::default()
    };
    let day = NaiveDate::from_ymd_opt(2026, 3, 2).expect("a day");
    let Some((service, scheduler, now, _)) = scheduled(home.path(), day, 1, 1, config) else {
        return;
    };
    let targets = || -> Vec<String> {
        asked
            .lock()
            .expect("the log")
            .iter()
            .map(|(_, target, ..)| target.clone())
            .collect()
    };
    let stored = |id: &str| {
        service
            .read_store(|store| Ok(store.paper(id)?.is_some()))
            .expect("read")
    };

    // Wednesday evening in New York, after the announcement: the listing (refused once, then
    // fetched after the server's pause) and both pages of bioRxiv.
    *now.lock().expect("the clock") = utc("2026-03-05T02:00:00Z");
    scheduler.round();
    assert_eq!(
        targets(),
        [
            "/rss/cs.CL",
            "/rss/cs.CL",
            "/details/biorxiv/2026-03-04/2026-03-05/0?category=neuroscience",
            "/details/biorxiv/2026-03-04/2026-03-05/2?category=neuroscience",
        ]
    );
    for id in [
        "arXiv:2603.00101",
        "arXiv:2603.00102",
        "doi:10.1101/2026.03.04.000001",
        "doi:10.1101/2026.03.04.000003",
    ] {
        assert!(stored(id), "{id} is stored");
    }
    // Nothing more until the next announcement; none on Friday or Saturday.
    scheduler.round();
    *now.lock().expect("the clock") = utc("2026-03-05T22:00:00Z");
    scheduler.round();
    assert_eq!(targets().len(), 4);
    *now.lock().expect("the clock") = utc("2026-03-06T01:30:00Z");
    scheduler.round();
    assert_eq!(targets().len(), 5, "Thursday's listing");
    for quiet in ["2026-03-07T01:30:00Z", "2026-03-08T01:30:00Z"] {
        *now.lock().expect("the clock") = utc(quiet);
        scheduler.round();
    }
    assert_eq!(
        targets().len(),
        5,
        "no fetch on a quiet day: {:?}",
        targets()
    );

    // Down from Friday to Wednesday: Sunday's to Tuesday's announcements are caught up by
    // OAI-PMH from the day before the last fetch, through its resumption token, narrowed to
    // cs.CL; bioRxiv from its last fetch.
    *now.lock().expect("the clock") = utc("2026-03-11T01:30:00Z");
    scheduler.round();
    let all = targets();
    assert_eq!(
        all[5..],
        [
            "/oai?verb=ListRecords&metadataPrefix=arXiv&set=cs&from=2026-03-05",
            "/oai?verb=ListRecords&resumptionToken=page2",
            "/details/biorxiv/2026-03-04/2026-03-11/0?category=neuroscience",
            "/details/biorxiv/2026-03-04/2026-03-11/2?category=neuroscience",
        ]
    );
    assert!(stored("arXiv:2603.00301") && stored("arXiv:2603.00303"));
    assert!(
        !stored("arXiv:2603.00302"),
        "outside the categories asked for"
    );

    // Politeness, from the server's log: every request at least 3 s after the one before
    // (the refused one included), each naming paperscout and its version.
    let times: Vec<std::time::Instant> = asked
        .lock()
        .expect("the log")
        .iter()
        .map(|(at, ..)| *at)
        .collect();
    for pair in times.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(2900),
            "{:?} apart",
            pair[1] - pair[0]
        );
    }
    let agents: Vec<String> = asked
        .lock()
        .expect("the log")
        .iter()
        .map(|(.., agent)| agent.clone())
        .collect();
    let ours = concat!("paperscout/", env!("CARGO_PKG_VERSION"));
    assert!(agents.iter().all(|agent| agent == ours), "{agents:?}");
    let states = paperscout_app::sources::saved_states(home.path());
    assert_eq!(states["arxiv"].fetched, 2 + 2 + 2, "{states:?}");
    assert_eq!(states["biorxiv"].fetched, 3 + 3);
    assert_eq!(states["arxiv"].last_error, None);
}
