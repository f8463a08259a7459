//! Who is on the other end of the socket, and what they may ask the daemon to read.
//!
//! With `--socket-group` other users share the socket, but the daemon reads files and fetches
//! URLs with its own rights: an `ingest` by path would let any member read any file the
//! daemon's user can (and learn its contents from what becomes searchable), an `ingest` by
//! URL fetch addresses only the daemon's machine can reach. So a peer whose uid (from
//! `SO_PEERCRED`, which the kernel fills in and a client cannot forge) is neither the daemon's
//! nor root's may ingest by path only inside `[daemon] shared_ingest_folders`, and never by
//! URL; papers sent in the request itself are anyone's to send.

use std::path::{Path, PathBuf};

use paperscout_proto::{ErrorCode, Request};

use crate::service::Failure;

/// A connected client, as the kernel vouches for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// The client's user id; `None` where the kernel would not say (never on Linux).
    pub uid: Option<u32>,
}

impl Peer {
    /// The peer of a connected stream.
    pub fn of(stream: &tokio::net::UnixStream) -> Self {
        Self {
            uid: stream.peer_cred().ok().map(|cred| cred.uid()),
        }
    }
}

/// What peers other than the daemon's own user may have it read.
#[derive(Debug, Clone)]
pub struct ReadPolicy {
    /// The daemon's effective uid.
    own_uid: u32,
    /// Canonical folders any peer may ingest files from.
    shared: Vec<PathBuf>,
}

impl ReadPolicy {
    /// The policy for this process and the configured folders; a folder that does not exist
    /// (yet) admits nothing until the next start.
    pub fn new(shared_folders: &[PathBuf]) -> Self {
        let shared = shared_folders
            .iter()
            .filter_map(|folder| match std::fs::canonicalize(folder) {
                Ok(canonical) => Some(canonical),
                Err(err) => {
                    tracing::warn!(
                        folder = %folder.display(),
                        "shared_ingest_folders names a folder that cannot be used: {err}"
                    );
                    None
                }
            })
            .collect();
        Self {
            own_uid: nix::unistd::geteuid().as_raw(),
            shared,
        }
    }

    /// Whether the peer is the daemon's own user or root, who may ask for anything.
    fn trusts(&self, peer: Peer) -> bool {
        peer.uid.is_some_and(|uid| uid == self.own_uid || uid == 0)
    }

    /// The request as the daemon may run it for this peer: unchanged, or with the file it
    /// names (an `ingest`'s path, a followed library) resolved (symbolic links followed)
    /// inside a shared folder; else the refusal.
    pub fn admit(&self, request: Request, peer: Peer) -> Result<Request, Failure> {
        match request {
            Request::Ingest(mut ingest) => {
                if let Some(path) = ingest.path.take() {
                    ingest.path = Some(self.readable(path, peer)?);
                }
                Ok(Request::Ingest(ingest))
            }
            Request::User(mut user) => {
                if let Some(path) = user.settings.follow.take() {
                    user.settings.follow = Some(self.readable(path, peer)?);
                }
                Ok(Request::User(user))
            }
            other => Ok(other),
        }
    }

    /// `path` as the daemon may read it for this peer: as given for its own user (or root),
    /// else resolved inside a shared folder.
    fn readable(&self, path: String, peer: Peer) -> Result<String, Failure> {
        if self.trusts(peer) {
            return Ok(path);
        }
        let refuse = |what: &str| Failure {
            code: ErrorCode::BadRequest,
            message: format!(
                "the daemon reads {what} only for its own user, and you are another (uid {}): \
                 send the papers in the request (\"papers\"), or ask the daemon's owner to list \
                 a folder in [daemon] shared_ingest_folders and put the file there",
                peer.uid
                    .map_or_else(|| "unknown".to_owned(), |uid| uid.to_string())
            ),
        };
        if paperscout_ingest::is_url(&path) {
            return Err(refuse("URLs"));
        }
        // Whether a path exists is itself something a peer should not learn.
        let Ok(canonical) = std::fs::canonicalize(&path) else {
            return Err(refuse("files outside the shared folders"));
        };
        if !self.allows(&canonical) {
            return Err(refuse("files outside the shared folders"));
        }
        Ok(canonical.display().to_string())
    }

    fn allows(&self, canonical: &Path) -> bool {
        self.shared
            .iter()
            .any(|folder| canonical.starts_with(folder) && canonical != folder.as_path())
    }
}

#[cfg(test)]
mod tests {
    use paperscout_proto::IngestRequest;

    use super::*;

    fn ingest(path: &str) -> Request {
        Request::Ingest(IngestRequest {
            path: Some(path.to_owned()),
            papers: Vec::new(),
            batch: None,
            ..Default::default()
        })
    }

    #[test]
    fn another_user_reads_only_inside_a_shared_folder_and_never_a_url() {
        let home = tempfile::tempdir().expect("a temp dir");
        let shared = home.path().join("shared");
        std::fs::create_dir(&shared).expect("a folder");
        std::fs::write(shared.join("papers.jsonl"), "").expect("a file");
        std::fs::write(home.path().join("secret"), "").expect("a file");
        std::os::unix::fs::symlink(home.path().join("secret"), shared.join("link"))
            .expect("a link");
        let policy = ReadPolicy::new(std::slice::from_ref(&shared));
        let stranger = Peer {
            uid: Some(policy.own_uid.wrapping_add(4242).max(1)),
        };
        let owner = Peer {
            uid: Some(policy.own_uid),
        };

        let plain = shared.join("papers.jsonl");
        let Ok(Request::Ingest(admitted)) =
            policy.admit(ingest(plain.to_str().expect("utf-8")), stranger)
        else {
            panic!("a file inside the shared folder is the stranger's to ingest");
        };
        assert_eq!(
            admitted.path.map(PathBuf::from),
            Some(std::fs::canonicalize(&plain).expect("canonical"))
        );
        for refused in [
            home.path().join("secret"),
            shared.join("link"),
            shared.join("sub/../papers.jsonl"),
            shared.join("../secret"),
            shared.clone(),
            PathBuf::from("/etc/passwd"),
            PathBuf::from("/no/such/file"),
        ] {
            let failure = policy
                .admit(ingest(refused.to_str().expect("utf-8")), stranger)
                .expect_err("outside");
            assert_eq!(failure.code, ErrorCode::BadRequest);
            assert!(
                failure.message.contains("shared_ingest_folders"),
                "{}",
                failure.message
            );
        }
        let url = policy
            .admit(ingest("http://127.0.0.1:9/secret"), stranger)
            .expect_err("a URL");
        assert!(url.message.contains("URLs"), "{}", url.message);

        assert!(
            policy
                .admit(
                    ingest(home.path().join("secret").to_str().expect("utf-8")),
                    owner
                )
                .is_ok()
        );
        assert!(
            policy
                .admit(ingest("http://127.0.0.1:9/x"), Peer { uid: Some(0) })
                .is_ok()
        );

        // A library to follow is a file the daemon reads too.
        let follow = |path: &Path| {
            Request::User(paperscout_proto::UserRequest {
                settings: Box::new(paperscout_app::users::SettingsChange {
                    follow: Some(path.display().to_string()),
                    ..Default::default()
                }),
                ..paperscout_proto::UserRequest::new(paperscout_proto::UserAction::Set, "ada")
            })
        };
        let secret = home.path().join("secret");
        assert!(policy.admit(follow(&secret), stranger).is_err());
        assert!(policy.admit(follow(&secret), owner).is_ok());
        assert!(policy.admit(follow(&plain), stranger).is_ok());
    }
}
