//! The web page's secret: 32 random bytes made at first start and kept in the data directory
//! (mode 0600), the key of every signed link, session and form token. Deleting the file ends
//! every link and session at once.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{Result, WebError};

/// Bytes of the key.
const KEY_BYTES: usize = 32;

/// Where the secret lives.
pub fn file_in(data_dir: &Path) -> PathBuf {
    data_dir.join("web.secret")
}

/// Signs and checks with the secret.
#[derive(Clone)]
pub struct Signer {
    key: [u8; KEY_BYTES],
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(…)")
    }
}

impl Signer {
    /// A signer with this key (tests).
    pub fn with_key(key: [u8; KEY_BYTES]) -> Self {
        Self { key }
    }

    /// Reads the secret of `data_dir`, making it first if there is none. A secret readable by
    /// others is refused, since anyone who reads it can sign in as every user.
    pub fn load_or_create(data_dir: &Path) -> Result<Self> {
        let path = file_in(data_dir);
        match fs_read(&path)? {
            Some(bytes) => {
                let mode = std::fs::metadata(&path)
                    .map_err(|err| WebError::io(&path, err))?
                    .permissions()
                    .mode();
                if mode & 0o077 != 0 {
                    return Err(WebError::Secret(format!(
                        "{} is readable by others (mode {:o}): run `chmod 600 {}`, or delete it to sign everyone out",
                        path.display(),
                        mode & 0o777,
                        path.display()
                    )));
                }
                let key: [u8; KEY_BYTES] = bytes.try_into().map_err(|_| {
                    WebError::Secret(format!(
                        "{} is damaged (not {KEY_BYTES} bytes): delete it; every link and session then ends",
                        path.display()
                    ))
                })?;
                Ok(Self { key })
            }
            None => {
                let mut key = [0u8; KEY_BYTES];
                getrandom::fill(&mut key).map_err(|err| {
                    WebError::Secret(format!("the system gave no random bytes: {err}"))
                })?;
                std::fs::create_dir_all(data_dir).map_err(|err| WebError::io(data_dir, err))?;
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(|err| WebError::io(&path, err))?;
                file.write_all(&key)
                    .and_then(|()| file.sync_all())
                    .map_err(|err| WebError::io(&path, err))?;
                tracing::info!(path = %path.display(), "made the web page's secret");
                Ok(Self { key })
            }
        }
    }

    /// The MAC of `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let mut mac = self.mac();
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }

    /// Whether `tag` is the leading bytes of the MAC of `message`, compared in constant time
    /// (by the HMAC crate).
    pub fn verify(&self, message: &[u8], tag: &[u8]) -> bool {
        let mut mac = self.mac();
        mac.update(message);
        mac.verify_truncated_left(tag).is_ok()
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes a key of any length.
        Hmac::<Sha256>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!())
    }
}

fn fs_read(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(WebError::io(path, err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_made_once_private_and_kept() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = Signer::load_or_create(dir.path()).expect("made");
        let mode = std::fs::metadata(file_in(dir.path()))
            .expect("file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = Signer::load_or_create(dir.path()).expect("read");
        assert_eq!(first.sign(b"x"), again.sign(b"x"));
        assert!(again.verify(b"x", &first.sign(b"x")));
        assert!(!again.verify(b"y", &first.sign(b"x")));
        assert!(
            again.verify(b"x", &first.sign(b"x")[..16]),
            "a truncated tag checks"
        );

        std::fs::set_permissions(file_in(dir.path()), std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
        let refused = Signer::load_or_create(dir.path()).expect_err("readable by others");
        assert!(refused.to_string().contains("chmod 600"), "{refused}");
    }
}
