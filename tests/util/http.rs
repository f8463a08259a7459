//! A plain HTTP/1.1 client over a TCP stream, so that every header (`Host`, `Cookie`) is the
//! caller's to choose: the web tests' and the web bench's (`benches/web_load.rs` includes
//! this file by its path).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// An HTTP answer.
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The headers, in order, as sent.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: String,
}

impl Answer {
    /// A header's value (the first, by a name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The session cookie it sets, as a `Cookie` header's value.
    pub fn session(&self) -> String {
        let set = self.header("set-cookie").expect("a cookie is set");
        set.split(';').next().unwrap().to_owned()
    }

    /// Every value of `name="…" value="…"` inputs, in page order.
    pub fn inputs(&self, name: &str) -> Vec<String> {
        let needle = format!("name=\"{name}\" value=\"");
        self.body
            .match_indices(&needle)
            .map(|(at, _)| {
                let rest = &self.body[at + needle.len()..];
                unescape(&rest[..rest.find('"').unwrap()])
            })
            .collect()
    }
}

/// Undoes the page's HTML escaping of an attribute value.
pub fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The page of a daemon on `port`.
pub struct Page {
    /// The port on 127.0.0.1.
    pub port: u16,
}

impl Page {
    /// The `Host` the page answers to.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Sends one request on a new connection (`Host` is this page's unless `headers` name
    /// one) and reads the whole answer.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Answer {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(120)))
            .unwrap();
        let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            head += &format!("Host: {}\r\n", self.host());
        }
        for (key, value) in headers {
            head += &format!("{key}: {value}\r\n");
        }
        if method == "POST" {
            head += &format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
                body.len()
            );
        }
        stream
            .write_all(format!("{head}\r\n{body}").as_bytes())
            .unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let text = String::from_utf8(raw).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let mut lines = head.lines();
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let chunked = headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v == "chunked");
        Answer {
            status,
            body: if chunked {
                dechunk(body)
            } else {
                body.to_owned()
            },
            headers,
        }
    }

    /// `GET path`, with the session cookie if given.
    pub fn get(&self, path: &str, cookie: Option<&str>) -> Answer {
        match cookie {
            Some(cookie) => self.request("GET", path, &[("Cookie", cookie)], ""),
            None => self.request("GET", path, &[], ""),
        }
    }

    /// `POST path` of a form, with the session cookie if given.
    pub fn post(&self, path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Answer {
        let body: Vec<String> = form
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        match cookie {
            Some(cookie) => self.request("POST", path, &[("Cookie", cookie)], &body.join("&")),
            None => self.request("POST", path, &[], &body.join("&")),
        }
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out += &rest[..size];
        body = &rest[size + 2..];
    }
    out
}

/// Percent-encodes a form or path value.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
