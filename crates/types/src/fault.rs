//! Whose fault a failure is. Every library error of paperscout sorts itself into one of these,
//! and both the command line's exit status and the socket protocol's error code are read off
//! it, so the two can never disagree about the same failure.

use serde::{Deserialize, Serialize};

/// Whose fault an error is, and so what the person who sees it should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// The request or the configuration is wrong (a bad flag, a bad date, an empty profile):
    /// fix it and ask again.
    User,
    /// Something the request names does not exist (a user, a paper): a user's mistake too,
    /// told apart so that scripts can react to it.
    Missing,
    /// A limit was reached (connections, the model's queue): the same request may succeed in
    /// a moment.
    Busy,
    /// A server paperscout depends on is down or unreachable (the PostgreSQL store): nothing
    /// of the request was done, and the same request succeeds once the server is back.
    Unavailable,
    /// The machine, a file on it or a server it talks to (a missing model, a full disk, an
    /// unreachable SMTP server).
    Environment,
    /// A bug in paperscout or one of its dependencies.
    Bug,
}

impl Fault {
    /// The exit status of a command that failed this way: 2 for a request to fix (as clap's
    /// usage errors), 3 for something missing, 4 for a busy daemon or a server that is down
    /// (retry), 1 otherwise.
    pub fn exit_code(self) -> u8 {
        match self {
            Self::User => 2,
            Self::Missing => 3,
            Self::Busy | Self::Unavailable => 4,
            Self::Environment | Self::Bug => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_has_its_own_exit_code_but_the_two_not_the_users() {
        let codes: Vec<u8> = [Fault::User, Fault::Missing, Fault::Busy, Fault::Environment]
            .iter()
            .map(|fault| fault.exit_code())
            .collect();
        assert_eq!(codes, [2, 3, 4, 1]);
        assert_eq!(Fault::Bug.exit_code(), Fault::Environment.exit_code());
    }
}
