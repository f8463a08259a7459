//! sha256 manifests in `sha256sum` format, to tell a model folder is the one we expect.
//!
//! `models/all-MiniLM-L6-v2.sha256` is one: it names the wheel the model came from (checked by
//! `models/fetch`) and the files inside the folder (checked by both the script and [`Manifest::verify`]).

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{EmbedError, Result};

/// Expected sha256 digests of files, by file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    entries: Vec<(String, String)>,
}

impl Manifest {
    /// Parses `sha256sum` output: `<64 hex digits>  <file>` a line; `#` starts a comment.
    pub fn parse(text: &str) -> Result<Self> {
        let mut entries = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || EmbedError::BadManifest {
                line: index + 1,
                text: raw.to_owned(),
            };
            let (digest, file) = line.split_once(char::is_whitespace).ok_or_else(bad)?;
            // sha256sum marks binary mode with a '*' before the name.
            let file = file.trim_start().trim_start_matches('*');
            if digest.len() != 64
                || !digest.bytes().all(|b| b.is_ascii_hexdigit())
                || file.is_empty()
            {
                return Err(bad());
            }
            entries.push((file.to_owned(), digest.to_ascii_lowercase()));
        }
        Ok(Self { entries })
    }

    /// The expected digest of `file`, if the manifest names it.
    pub fn expected(&self, file: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(name, _)| name == file)
            .map(|(_, digest)| digest.as_str())
    }

    /// Checks every file of a model folder that the manifest names.
    ///
    /// Lines naming a `.whl` describe the package the folder was unpacked from, not a file in
    /// it: `models/fetch` checks those.
    pub fn verify(&self, dir: &Path) -> Result<()> {
        for (file, expected) in &self.entries {
            if file.ends_with(".whl") {
                continue;
            }
            let path = dir.join(file);
            let actual = sha256_file(&path)?;
            if &actual != expected {
                return Err(EmbedError::HashMismatch {
                    path,
                    expected: expected.clone(),
                    actual,
                });
            }
        }
        Ok(())
    }
}

/// The sha256 of a file, as lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let io_error = |source| EmbedError::Io {
        path: PathBuf::from(path),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io_error)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer).map_err(io_error)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_sha256sum_format() {
        let text = format!(
            "# comment\n{EMPTY_SHA}  a.txt\n{}  *b.whl\n",
            "A".repeat(64)
        );
        let manifest = Manifest::parse(&text).expect("valid manifest");
        assert_eq!(manifest.expected("a.txt"), Some(EMPTY_SHA));
        assert_eq!(manifest.expected("b.whl"), Some("a".repeat(64).as_str()));
        assert_eq!(manifest.expected("c"), None);
    }

    #[test]
    fn rejects_malformed_lines_with_their_number() {
        let err = Manifest::parse("\nnot-a-hash  file\n").expect_err("malformed");
        assert!(
            matches!(err, EmbedError::BadManifest { line: 2, .. }),
            "{err}"
        );
    }

    #[test]
    fn verifies_files_and_reports_mismatches() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("a.txt"), b"").expect("write");
        let good =
            Manifest::parse(&format!("{EMPTY_SHA}  a.txt\n{EMPTY_SHA}  pkg.whl\n")).expect("valid");
        good.verify(dir.path()).expect("matching hash");

        std::fs::write(dir.path().join("a.txt"), b"changed").expect("write");
        let err = good.verify(dir.path()).expect_err("hash differs");
        assert!(matches!(err, EmbedError::HashMismatch { .. }), "{err}");
        assert!(err.to_string().contains("models/fetch"), "{err}");
    }
}
