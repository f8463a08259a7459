//! Turns an opened source into a stream of [`Item`]s: detects the format from the content,
//! dispatches each record to its format's reader, and follows OAI-PMH resumption tokens.

use std::io::BufRead;

use paperscout_types::Paper;

use crate::error::{IngestError, Result};
use crate::input::{self, Input};
use crate::limits::{self, MAX_RECORD_BYTES};
use crate::record::{BadRecord, Item, Location};
use crate::xml::{LossyUtf8, XmlItem, XmlRecords};
use crate::{atom, jsonl, oai, rss};

/// The elements the XML reader captures, across every XML format.
const CAPTURED: &[&str] = &["entry", "item", "record", "resumptionToken", "error"];

/// A source's formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON lines: paperscout's paper format or the arXiv snapshot.
    JsonLines,
    /// An arXiv API Atom feed.
    Atom,
    /// An arXiv RSS listing.
    Rss,
    /// An OAI-PMH ListRecords response.
    Oai,
}

type Boxed = Box<dyn BufRead + Send>;
type XmlInput = LossyUtf8<Boxed>;

enum State {
    Json {
        reader: Boxed,
        line: Vec<u8>,
        number: usize,
    },
    Xml {
        records: Box<XmlRecords<XmlInput>>,
        format: Format,
        token: Option<String>,
        number: usize,
    },
    Done,
}

/// The items of one source, in order.
pub struct Records {
    name: String,
    state: State,
}

impl Records {
    /// Detects the source's format and gets ready to read it.
    pub fn new(input: Input) -> Result<Self> {
        let Input {
            name, mut reader, ..
        } = input;
        let (first, skipped_lines) =
            first_significant_byte(&mut reader).map_err(|error| IngestError::Read {
                source_name: name.clone(),
                error,
            })?;
        let state = match first {
            None | Some(b'{') => State::Json {
                reader,
                line: Vec::new(),
                number: skipped_lines,
            },
            Some(b'<') => open_xml(&name, reader)?,
            Some(other) => {
                return Err(IngestError::UnknownFormat {
                    source_name: name,
                    detail: format!("it starts with {:?}", char::from(other)),
                });
            }
        };
        Ok(Self { name, state })
    }

    /// The source's format, while it is being read.
    pub fn format(&self) -> Option<Format> {
        match &self.state {
            State::Json { .. } => Some(Format::JsonLines),
            State::Xml { format, .. } => Some(*format),
            State::Done => None,
        }
    }

    fn bad(&self, location: Location, reason: String) -> Item {
        Item::Bad(BadRecord {
            source: self.name.clone(),
            location,
            reason,
        })
    }

    /// A paper read, its fields cut to [`limits::shorten`]'s sizes, saying so if they were.
    fn checked(&self, mut paper: Paper, location: Location) -> Item {
        let cut = limits::shorten(&mut paper);
        if cut.is_empty() {
            return Item::Paper(paper);
        }
        Item::Shortened {
            paper,
            note: BadRecord {
                source: self.name.clone(),
                location,
                reason: format!(
                    "{} cut to the longest paperscout keeps (a title {} KiB, an abstract {} KiB)",
                    cut.join(", "),
                    limits::MAX_TITLE_BYTES >> 10,
                    limits::MAX_ABSTRACT_BYTES >> 10
                ),
            },
        }
    }

    fn next_json(&mut self) -> Option<Result<Item>> {
        loop {
            let State::Json {
                reader,
                line,
                number,
            } = &mut self.state
            else {
                return None;
            };
            line.clear();
            let too_long = match read_line_within(reader, line, MAX_RECORD_BYTES) {
                Ok(LineRead::End) => {
                    self.state = State::Done;
                    return None;
                }
                Ok(LineRead::Line) => None,
                Ok(LineRead::TooLong(length)) => Some(length),
                Err(error) => {
                    self.state = State::Done;
                    return Some(Err(IngestError::Read {
                        source_name: self.name.clone(),
                        error,
                    }));
                }
            };
            *number += 1;
            let at = Location::Line(*number);
            if let Some(length) = too_long {
                let reason = format!(
                    "{length} bytes long, more than a record may be ({} MiB): skipped unread",
                    MAX_RECORD_BYTES >> 20
                );
                return Some(Ok(self.bad(at, reason)));
            }
            let bytes = if *number == 1 {
                line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line)
            } else {
                line
            };
            let parsed = std::str::from_utf8(bytes)
                .map_err(|err| {
                    format!(
                        "not valid UTF-8 (byte {} of the line)",
                        err.valid_up_to() + 1
                    )
                })
                .and_then(jsonl::parse_line);
            match parsed {
                Ok(Some(paper)) => return Some(Ok(self.checked(paper, at))),
                Ok(None) => {}
                Err(reason) => return Some(Ok(self.bad(at, reason))),
            }
        }
    }

    fn next_xml(&mut self) -> Option<Result<Item>> {
        loop {
            let State::Xml {
                records,
                format,
                token,
                number,
            } = &mut self.state
            else {
                return None;
            };
            let format = *format;
            let Some(item) = records.next() else {
                return self.follow_resumption_token();
            };
            match item {
                XmlItem::Root(_) => {}
                XmlItem::Broken { reason, .. } => {
                    *number += 1;
                    let at = Location::Record(*number);
                    return Some(Ok(self.bad(at, reason)));
                }
                XmlItem::Element(element)
                    if matches!(element.name.as_str(), "entry" | "item" | "record")
                        && element.has_replacement_character() =>
                {
                    *number += 1;
                    let at = Location::Record(*number);
                    let reason = "not valid UTF-8 (or holds U+FFFD, the mark of a broken encoding)";
                    return Some(Ok(self.bad(at, reason.to_owned())));
                }
                XmlItem::Element(element) => {
                    let parsed = match (format, element.name.as_str()) {
                        (Format::Atom, "entry") => atom::paper(&element).map(Item::Paper),
                        (Format::Rss, "item") => rss::paper(&element).map(Item::Paper),
                        (Format::Oai, "record") => oai::record(&element)
                            .map(|record| record.map_or(Item::Deleted, Item::Paper)),
                        (Format::Oai, "resumptionToken") => {
                            *token = Some(element.text.trim().to_owned()).filter(|t| !t.is_empty());
                            continue;
                        }
                        (Format::Oai, "error") => {
                            let code = element.attribute("code").unwrap_or("error").to_owned();
                            if code == "noRecordsMatch" {
                                continue;
                            }
                            self.state = State::Done;
                            return Some(Err(IngestError::Oai {
                                source_name: self.name.clone(),
                                code,
                                message: crate::text::normalise_space(&element.text),
                            }));
                        }
                        _ => continue,
                    };
                    *number += 1;
                    let at = Location::Record(*number);
                    return Some(Ok(match parsed {
                        Ok(Item::Paper(paper)) => self.checked(paper, at),
                        Ok(item) => item,
                        Err(reason) => self.bad(at, reason),
                    }));
                }
            }
        }
    }

    /// At the end of an OAI-PMH page: fetch the next one if the page gave a token.
    fn follow_resumption_token(&mut self) -> Option<Result<Item>> {
        let State::Xml { token, number, .. } = &mut self.state else {
            return None;
        };
        let (Some(token), number) = (token.take(), *number) else {
            self.state = State::Done;
            return None;
        };
        if !input::is_url(&self.name) {
            tracing::warn!(
                source = %self.name,
                token,
                "the listing continues on another page; ingest its URL to follow the resumption token"
            );
            self.state = State::Done;
            return None;
        }
        let base = self.name.split('?').next().unwrap_or(&self.name);
        let next = format!(
            "{base}?verb=ListRecords&resumptionToken={}",
            percent_encode(&token)
        );
        tracing::info!(url = %next, "following the OAI-PMH resumption token");
        let opened = input::open(&next).and_then(|input| open_xml(&self.name, input.reader));
        match opened {
            Ok(State::Xml {
                records, format, ..
            }) => {
                self.state = State::Xml {
                    records,
                    format,
                    token: None,
                    number,
                };
                self.next_xml()
            }
            Ok(_) => None,
            Err(err) => {
                self.state = State::Done;
                Some(Err(err))
            }
        }
    }
}

impl Iterator for Records {
    type Item = Result<Item>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.state {
            State::Json { .. } => self.next_json(),
            State::Xml { .. } => self.next_xml(),
            State::Done => None,
        }
    }
}

fn open_xml(name: &str, reader: Boxed) -> Result<State> {
    let mut records = XmlRecords::new(LossyUtf8::new(reader), CAPTURED);
    let unknown = |detail: String| IngestError::UnknownFormat {
        source_name: name.to_owned(),
        detail,
    };
    let format = match records.next() {
        Some(XmlItem::Root(root)) => match root.as_str() {
            "feed" => Format::Atom,
            "rss" | "RDF" => Format::Rss,
            "OAI-PMH" => Format::Oai,
            other => return Err(unknown(format!("an XML document of <{other}>"))),
        },
        Some(XmlItem::Broken { reason, .. }) => return Err(unknown(reason)),
        _ => return Err(unknown("an XML document without a root element".to_owned())),
    };
    Ok(State::Xml {
        records: Box::new(records),
        format,
        token: None,
        number: 0,
    })
}

/// The first byte that is not whitespace or a byte-order mark, without consuming it, and how
/// many whole lines of whitespace had to be consumed to find it.
fn first_significant_byte(reader: &mut Boxed) -> std::io::Result<(Option<u8>, usize)> {
    let mut lines = 0;
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok((None, lines));
        }
        let skip = buffer
            .iter()
            .take_while(|byte| byte.is_ascii_whitespace() || [0xEF, 0xBB, 0xBF].contains(*byte))
            .count();
        if skip < buffer.len() {
            return Ok((Some(buffer[skip]), lines));
        }
        // A buffer of nothing but whitespace goes, its lines counted for the line numbers.
        lines += buffer.iter().filter(|byte| **byte == b'\n').count();
        let all = buffer.len();
        reader.consume(all);
    }
}

/// How a bounded line read ended.
#[derive(Debug, PartialEq, Eq)]
enum LineRead {
    /// No more input.
    End,
    /// A line, in the buffer (with its newline, unless it is the last).
    Line,
    /// A line longer than the limit, of this many bytes, consumed but not kept.
    TooLong(usize),
}

/// Reads one line into `line`, keeping at most `limit` bytes of it: a longer line is read to
/// its end and dropped, so memory never grows with the line.
fn read_line_within(
    reader: &mut Boxed,
    line: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<LineRead> {
    let mut length = 0usize;
    loop {
        let buffer = match reader.fill_buf() {
            Ok(buffer) => buffer,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        if buffer.is_empty() {
            return Ok(match length {
                0 => LineRead::End,
                n if n > limit => LineRead::TooLong(n),
                _ => LineRead::Line,
            });
        }
        let (taken, ended) = match buffer.iter().position(|byte| *byte == b'\n') {
            Some(at) => (at + 1, true),
            None => (buffer.len(), false),
        };
        if length + taken <= limit {
            line.extend_from_slice(&buffer[..taken]);
        } else {
            line.clear();
        }
        length += taken;
        reader.consume(taken);
        if ended {
            return Ok(if length > limit {
                LineRead::TooLong(length)
            } else {
                LineRead::Line
            });
        }
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
