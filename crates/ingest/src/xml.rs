//! A streaming reader that hands over one small element tree per record.
//!
//! Feeds are flat lists of records (Atom `entry`, RSS `item`, OAI-PMH `record`), each a few
//! kilobytes, in documents of any length. [`XmlRecords`] reads events with quick-xml and builds
//! a tree only for the element being captured, so memory stays bounded by one record. Names are
//! local names (namespace prefixes dropped): `arxiv:doi` is `doi`, `dc:creator` is `creator`.
//!
//! A syntax error inside a record costs that record: it is reported, and reading goes on from
//! the next record the parser can find. So does a record nested deeper than
//! [`MAX_XML_DEPTH`] or bigger than [`MAX_RECORD_BYTES`]: its tree is dropped as soon as it
//! crosses the line and the rest of it is skipped, so neither memory nor the (recursive) walks
//! and drops of a tree grow with what a file holds. A single token (a text, a tag, a comment)
//! longer than [`MAX_RECORD_BYTES`] stops the document, since no reader can resync inside it. Bytes that are not UTF-8 would stop quick-xml for good,
//! so [`LossyUtf8`] replaces them with U+FFFD on the way in, and the record holding one is
//! reported as not valid UTF-8 (see [`Element::has_replacement_character`]).

use std::io::BufRead;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::limits::{MAX_RECORD_BYTES, MAX_XML_DEPTH};
use crate::text::normalise_space;

/// What a record's element costs against [`MAX_RECORD_BYTES`] besides its name and text.
const ELEMENT_OVERHEAD: usize = 64;

/// An element with its attributes, its own text and its children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// The local name.
    pub name: String,
    /// Attributes by local name.
    pub attributes: Vec<(String, String)>,
    /// The text directly inside it, entities resolved.
    pub text: String,
    /// Child elements in document order.
    pub children: Vec<Element>,
}

impl Element {
    /// The first child of this name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|child| child.name == name)
    }

    /// Every child of this name.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |child| child.name == name)
    }

    /// The whitespace-normalised text of the first child of this name, if not empty.
    pub fn text_of(&self, name: &str) -> Option<String> {
        self.child(name)
            .map(|child| normalise_space(&child.text))
            .filter(|text| !text.is_empty())
    }

    /// Whether any text or attribute in the tree holds U+FFFD: where [`LossyUtf8`] replaced
    /// bytes that were not UTF-8.
    pub fn has_replacement_character(&self) -> bool {
        self.text.contains(char::REPLACEMENT_CHARACTER)
            || self
                .attributes
                .iter()
                .any(|(_, value)| value.contains(char::REPLACEMENT_CHARACTER))
            || self.children.iter().any(Element::has_replacement_character)
    }

    /// An attribute's value.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// What the reader hands over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XmlItem {
    /// The document's root element name: comes first, and tells the format.
    Root(String),
    /// A complete record element (or another captured element, such as `resumptionToken`).
    Element(Element),
    /// A record the parser could not read: its number among records and what was wrong.
    Broken {
        /// The record's number, from 1, counting every captured element.
        record: usize,
        /// The parser's complaint and where.
        reason: String,
    },
}

/// Reads the elements named in `capture` wherever they appear outside another captured one.
pub struct XmlRecords<R: BufRead> {
    reader: Reader<TokenLimit<R>>,
    capture: &'static [&'static str],
    buffer: Vec<u8>,
    /// The captured element being built, innermost last.
    open: Vec<Element>,
    /// Bytes the record being built holds, against [`MAX_RECORD_BYTES`].
    record_bytes: usize,
    /// A record over a limit being skipped: how deep inside it the reader is, and why.
    skipping: Option<(usize, String)>,
    root_seen: bool,
    captured: usize,
    last_error_at: Option<u64>,
    done: bool,
}

impl<R: BufRead> XmlRecords<R> {
    /// A reader over `input` that captures the elements with these local names.
    pub fn new(input: R, capture: &'static [&'static str]) -> Self {
        let mut reader = Reader::from_reader(TokenLimit {
            inner: input,
            since_event: 0,
            tripped: false,
        });
        reader.config_mut().check_end_names = true;
        Self {
            reader,
            capture,
            buffer: Vec::with_capacity(16 * 1024),
            open: Vec::new(),
            record_bytes: 0,
            skipping: None,
            root_seen: false,
            captured: 0,
            last_error_at: None,
            done: false,
        }
    }

    /// An element opens (and, when `empty`, closes at once).
    fn start(&mut self, start: &BytesStart<'_>, empty: bool) -> Result<Option<XmlItem>, String> {
        if let Some((depth, _)) = &mut self.skipping {
            *depth += usize::from(!empty);
            return Ok(None);
        }
        let name = start.local_name().as_ref().to_owned();
        if !self.root_seen {
            self.root_seen = true;
            return Ok(Some(XmlItem::Root(name)));
        }
        if self.open.is_empty() && !self.capture.contains(&name.as_str()) {
            return Ok(None);
        }
        if self.open.is_empty() {
            self.captured += 1;
            self.record_bytes = 0;
        }
        if self.open.len() >= MAX_XML_DEPTH {
            let reason = format!("nested more than {MAX_XML_DEPTH} elements deep");
            return Ok(self.skip(usize::from(!empty), reason));
        }
        let mut attributes = Vec::new();
        for attribute in start.attributes() {
            let attribute = attribute.map_err(|err| err.to_string())?;
            let value = attribute
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|err| err.to_string())?;
            attributes.push((
                attribute.key.local_name().as_ref().to_owned(),
                value.into_owned(),
            ));
        }
        self.record_bytes += ELEMENT_OVERHEAD
            + name.len()
            + attributes
                .iter()
                .map(|(key, value)| key.len() + value.len())
                .sum::<usize>();
        if self.record_bytes > MAX_RECORD_BYTES {
            return Ok(self.skip(usize::from(!empty), too_big()));
        }
        self.open.push(Element {
            name,
            attributes,
            ..Element::default()
        });
        if empty {
            return Ok(self.end());
        }
        Ok(None)
    }

    /// Drops the record being built and skips the rest of it: `inside` more elements are
    /// open than the tree holds. Reports it at once when nothing of it is left open.
    fn skip(&mut self, inside: usize, reason: String) -> Option<XmlItem> {
        let depth = self.open.len() + inside;
        // Dropped innermost first, so no drop recurses deeper than one element.
        while let Some(element) = self.open.pop() {
            drop(element);
        }
        if depth == 0 {
            return Some(self.broken(reason));
        }
        self.skipping = Some((depth, reason));
        None
    }

    fn broken(&self, reason: String) -> XmlItem {
        XmlItem::Broken {
            record: self.captured,
            reason,
        }
    }

    fn end(&mut self) -> Option<XmlItem> {
        if let Some((depth, _)) = &mut self.skipping {
            *depth -= 1;
            if *depth == 0 {
                let (_, reason) = self.skipping.take()?;
                return Some(self.broken(reason));
            }
            return None;
        }
        let finished = self.open.pop()?;
        match self.open.last_mut() {
            Some(parent) => {
                parent.children.push(finished);
                None
            }
            None => Some(XmlItem::Element(finished)),
        }
    }

    fn text(&mut self, text: &str) -> Option<XmlItem> {
        if self.skipping.is_some() || self.open.is_empty() {
            return None;
        }
        self.record_bytes += text.len();
        if self.record_bytes > MAX_RECORD_BYTES {
            return self.skip(0, too_big());
        }
        if let Some(element) = self.open.last_mut() {
            element.text.push_str(text);
        }
        None
    }

    fn read(&mut self) -> Result<Option<XmlItem>, quick_xml::Error> {
        self.buffer.clear();
        let event = self.reader.read_event_into(&mut self.buffer)?.into_owned();
        self.reader.get_mut().since_event = 0;
        let item = match event {
            Event::Start(start) => self.start(&start, false).map_err(attribute_error)?,
            Event::Empty(start) => self.start(&start, true).map_err(attribute_error)?,
            Event::End(_) => self.end(),
            Event::Text(text) => self.text(&text.xml10_content()),
            Event::CData(data) => {
                let text = data.xml10_content().into_owned();
                self.text(&text)
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref()? {
                    Some(character) => character.to_string(),
                    None => {
                        let name = reference.xml10_content();
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .map_or_else(|| format!("&{name};"), str::to_owned)
                    }
                };
                self.text(&resolved)
            }
            Event::Eof => {
                self.done = true;
                if self.open.is_empty() && self.skipping.take().is_none() {
                    None
                } else {
                    self.open.clear();
                    return Ok(Some(XmlItem::Broken {
                        record: self.captured,
                        reason: "the document ends inside this record".to_owned(),
                    }));
                }
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => None,
        };
        Ok(item)
    }
}

fn attribute_error(message: String) -> quick_xml::Error {
    quick_xml::Error::Io(std::sync::Arc::new(std::io::Error::other(message)))
}

impl<R: BufRead> Iterator for XmlRecords<R> {
    type Item = XmlItem;

    fn next(&mut self) -> Option<XmlItem> {
        while !self.done {
            match self.read() {
                Ok(Some(item)) => return Some(item),
                Ok(None) => {}
                Err(err) => {
                    let at = self.reader.error_position();
                    // No progress since the last error, or inside a token too long to read:
                    // the parser cannot resync.
                    let position = self.reader.buffer_position();
                    if self.last_error_at == Some(position) || self.reader.get_ref().tripped {
                        self.done = true;
                    }
                    let in_record = !self.open.is_empty() || self.skipping.take().is_some();
                    self.last_error_at = Some(position);
                    // After a record broken by a missing end tag, the parser's expected end tags
                    // are one off, so each end tag that closes an ancestor fails too: those echo
                    // the break already reported, and lose no record.
                    if !in_record && !self.done && is_end_tag_mismatch(&err) {
                        continue;
                    }
                    let record = if in_record {
                        self.captured
                    } else {
                        self.captured + 1
                    };
                    self.open.clear();
                    let rest = if self.done {
                        "; the rest of the document is skipped"
                    } else {
                        ""
                    };
                    return Some(XmlItem::Broken {
                        record,
                        reason: format!("broken XML at byte {at}: {err}{rest}"),
                    });
                }
            }
        }
        None
    }
}

/// `Read` for a reader whose `BufRead` side does the work.
fn read_through_buffer(reader: &mut impl BufRead, buf: &mut [u8]) -> std::io::Result<usize> {
    let available = reader.fill_buf()?;
    let n = available.len().min(buf.len());
    buf[..n].copy_from_slice(&available[..n]);
    reader.consume(n);
    Ok(n)
}

/// Whether the parser failed on an end tag that does not close the element open.
fn is_end_tag_mismatch(err: &quick_xml::Error) -> bool {
    use quick_xml::errors::IllFormedError;
    matches!(
        err,
        quick_xml::Error::IllFormed(
            IllFormedError::MismatchedEndTag { .. } | IllFormedError::UnmatchedEndTag(_)
        )
    )
}

fn too_big() -> String {
    format!("bigger than {} MiB", MAX_RECORD_BYTES >> 20)
}

/// Refuses to hand the XML reader more than [`MAX_RECORD_BYTES`] for one event, since
/// quick-xml buffers a whole token (a text, a tag, a comment) before it returns it.
pub struct TokenLimit<R: BufRead> {
    inner: R,
    /// Bytes consumed since the last event was returned.
    since_event: usize,
    /// Whether the limit was hit: the document cannot be read further.
    tripped: bool,
}

impl<R: BufRead> std::io::Read for TokenLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        read_through_buffer(self, buf)
    }
}

impl<R: BufRead> BufRead for TokenLimit<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.since_event > MAX_RECORD_BYTES {
            self.tripped = true;
            return Err(std::io::Error::other(format!(
                "one XML token (a text, tag or comment) is longer than {} MiB",
                MAX_RECORD_BYTES >> 20
            )));
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.since_event += amount;
        self.inner.consume(amount);
    }
}

/// Passes UTF-8 through and replaces every invalid sequence with U+FFFD.
pub struct LossyUtf8<R: BufRead> {
    inner: R,
    /// Bytes read but not yet decided: the tail of a sequence split across reads.
    pending: Vec<u8>,
    out: Vec<u8>,
    position: usize,
}

impl<R: BufRead> LossyUtf8<R> {
    /// Wraps a reader.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            pending: Vec::new(),
            out: Vec::new(),
            position: 0,
        }
    }

    fn refill(&mut self) -> std::io::Result<()> {
        self.out.clear();
        self.position = 0;
        while self.out.is_empty() {
            let chunk = self.inner.fill_buf()?;
            let at_end = chunk.is_empty();
            self.pending.extend_from_slice(chunk);
            let taken = chunk.len();
            self.inner.consume(taken);
            let mut start = 0;
            loop {
                match std::str::from_utf8(&self.pending[start..]) {
                    Ok(valid) => {
                        self.out.extend_from_slice(valid.as_bytes());
                        start = self.pending.len();
                        break;
                    }
                    Err(err) => {
                        let valid_end = start + err.valid_up_to();
                        self.out.extend_from_slice(&self.pending[start..valid_end]);
                        match err.error_len() {
                            Some(bad) => {
                                self.out.extend_from_slice("\u{FFFD}".as_bytes());
                                start = valid_end + bad;
                            }
                            // A sequence cut short: complete it with the next read, unless
                            // there is none.
                            None if at_end => {
                                self.out.extend_from_slice("\u{FFFD}".as_bytes());
                                start = self.pending.len();
                                break;
                            }
                            None => {
                                start = valid_end;
                                break;
                            }
                        }
                    }
                }
            }
            self.pending.drain(..start);
            if at_end {
                break;
            }
        }
        Ok(())
    }
}

impl<R: BufRead> std::io::Read for LossyUtf8<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        read_through_buffer(self, buf)
    }
}

impl<R: BufRead> BufRead for LossyUtf8<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.position >= self.out.len() {
            self.refill()?;
        }
        Ok(&self.out[self.position..])
    }

    fn consume(&mut self, amount: usize) {
        self.position = (self.position + amount).min(self.out.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(xml: &str) -> Vec<XmlItem> {
        XmlRecords::new(xml.as_bytes(), &["entry"]).collect()
    }

    #[test]
    fn captures_records_with_names_attributes_and_entities() {
        let xml = r#"<?xml version="1.0"?>
            <feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom">
              <title>ignored</title>
              <entry><title>Q &amp; A &#946;</title><arxiv:doi>10.1/x</arxiv:doi>
                <link href="https://arxiv.org/pdf/1" title="pdf"/></entry>
              <entry><title><![CDATA[<raw>]]></title></entry>
            </feed>"#;
        let items = items(xml);
        assert_eq!(items[0], XmlItem::Root("feed".into()));
        let XmlItem::Element(first) = &items[1] else {
            panic!("{items:?}")
        };
        assert_eq!(first.text_of("title").as_deref(), Some("Q & A β"));
        assert_eq!(first.text_of("doi").as_deref(), Some("10.1/x"));
        assert_eq!(
            first.child("link").and_then(|link| link.attribute("title")),
            Some("pdf")
        );
        let XmlItem::Element(second) = &items[2] else {
            panic!("{items:?}")
        };
        assert_eq!(second.text_of("title").as_deref(), Some("<raw>"));
        assert_eq!(items.len(), 3);
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters_even_across_reads() {
        // "é" split across two one-byte reads, then a lone Latin-1 byte, then a cut-off tail.
        let input: &[u8] = b"caf\xc3\xa9 caf\xe9 end\xe2\x82";
        let reader = std::io::BufReader::with_capacity(1, input);
        let mut text = String::new();
        std::io::Read::read_to_string(&mut LossyUtf8::new(reader), &mut text).expect("read");
        assert_eq!(text, "café caf\u{FFFD} end\u{FFFD}");
    }

    /// Issue 25, defect 14: an element left open inside one record made every end tag after
    /// it fail too (the parser's expected tags were one off), so one broken record counted as
    /// three.
    #[test]
    fn an_element_left_open_breaks_one_record_not_three() {
        let xml = "<feed><entry><title>one</title><author><unclosed></author></entry>\
                   <entry><title>two</title></entry></feed>";
        let items = items(xml);
        let broken = items
            .iter()
            .filter(|item| matches!(item, XmlItem::Broken { .. }))
            .count();
        assert_eq!(broken, 1, "{items:?}");
        assert!(
            items.iter().any(|item| matches!(item, XmlItem::Element(e) if e.text_of("title").as_deref() == Some("two"))),
            "{items:?}"
        );
    }

    #[test]
    fn a_broken_record_is_reported_and_the_next_one_read() {
        let xml = "<feed><entry><title>one</title></entry>\
                   <entry><title>two</wrong></entry>\
                   <entry><title>three</title></entry></feed>";
        let items = items(xml);
        assert!(
            matches!(&items[2], XmlItem::Broken { record: 2, reason } if reason.contains("broken XML")),
            "{items:?}"
        );
        let titles: Vec<String> = items
            .iter()
            .filter_map(|item| match item {
                XmlItem::Element(element) => element.text_of("title"),
                _ => None,
            })
            .collect();
        assert!(
            titles.contains(&"one".to_owned()) && titles.contains(&"three".to_owned()),
            "{items:?}"
        );
    }

    /// Issue 25, defect 1: an entry nested 40,000 levels deep overflowed the stack when its
    /// tree was dropped or walked. Now it is reported, and the next entry read.
    #[test]
    fn a_record_nested_too_deep_is_reported_and_the_next_one_read() {
        let depth = 40_000;
        let xml = format!(
            "<feed><entry>{}deep{}</entry><entry><title>next</title></entry></feed>",
            "<x>".repeat(depth),
            "</x>".repeat(depth)
        );
        let items = items(&xml);
        assert!(
            matches!(&items[1], XmlItem::Broken { record: 1, reason } if reason.contains("nested more than 64")),
            "{:?}",
            &items[1]
        );
        assert!(
            matches!(&items[2], XmlItem::Element(e) if e.text_of("title").as_deref() == Some("next")),
            "{:?}",
            &items[2..]
        );
        assert_eq!(items.len(), 3);
        // Deep, but not too deep, reads.
        let fine = format!(
            "<feed><entry>{}ok{}</entry></feed>",
            "<x>".repeat(60),
            "</x>".repeat(60)
        );
        assert!(matches!(&self::items(&fine)[1], XmlItem::Element(_)));
    }

    /// Issue 25, defect 4: a record's tree and a single token are bounded, whatever the file.
    #[test]
    fn a_record_or_token_over_the_limit_is_reported_not_held() {
        let many = format!(
            "<feed><entry>{}</entry><entry><title>next</title></entry></feed>",
            "<author><name>A. Author</name></author>".repeat(20_000)
        );
        let items = items(&many);
        assert!(
            matches!(&items[1], XmlItem::Broken { record: 1, reason } if reason.contains("bigger than 1 MiB")),
            "{:?}",
            &items[1]
        );
        assert!(
            matches!(&items[2], XmlItem::Element(_)),
            "{:?}",
            &items[2..]
        );

        let long_text = format!(
            "<feed><entry><title>{}</title></entry><entry><title>next</title></entry></feed>",
            "a".repeat(3 << 20)
        );
        // As files are read: through a buffer, so the token arrives in pieces.
        let buffered = std::io::BufReader::with_capacity(64 * 1024, long_text.as_bytes());
        let items: Vec<XmlItem> = XmlRecords::new(buffered, &["entry"]).collect();
        assert_eq!(
            items.len(),
            2,
            "the rest of the document is skipped: {:?}",
            items.len()
        );
        assert!(
            matches!(&items[1], XmlItem::Broken { record: 1, reason } if reason.contains("longer than 1 MiB") && reason.contains("rest of the document")),
            "{:?}",
            &items[1]
        );
    }
}
