//! What a user may be called.
//!
//! A user's name becomes a folder of the outbox, a field of log lines, part of URLs and of
//! e-mail headers, so it is checked once, where a user is created: 1 to 64 ASCII letters,
//! digits and `.` `_` `-` `@` `+`, starting with a letter or digit. That rules out `.`, `..`,
//! hidden files, names that read as flags, separators, control characters and spaces.
//! [`folder_name`] still names a folder safely for a user created before the check existed.

use std::fmt::Write as _;

use crate::fnv1a;

/// The longest name accepted, in bytes.
pub const MAX_USER_NAME: usize = 64;

/// Why a name was refused, in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{reason}: a user's name is 1 to {MAX_USER_NAME} ASCII letters, digits and . _ - @ +, \
     starting with a letter or digit (for example ada or ada.lovelace)"
)]
pub struct BadUserName {
    /// What is wrong with it.
    pub reason: String,
}

/// Checks a new user's name against the rule of this module.
pub fn check_user_name(name: &str) -> Result<(), BadUserName> {
    let refuse = |reason: String| Err(BadUserName { reason });
    if name.is_empty() {
        return refuse("the name is empty".to_owned());
    }
    if name.len() > MAX_USER_NAME {
        return refuse(format!("the name is {} bytes long", name.len()));
    }
    if let Some(bad) = name.chars().find(|c| !is_name_char(*c)) {
        return refuse(format!("the name holds {bad:?}"));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return refuse(format!(
            "the name {name:?} does not start with a letter or digit"
        ));
    }
    Ok(())
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+')
}

/// The folder that holds a user's files: the name itself when it passes
/// [`check_user_name`], else `_` and the name's bytes in hex, which no valid name can be (none
/// starts with `_`), so two users never share a folder and none escapes its parent.
pub fn folder_name(name: &str) -> String {
    if check_user_name(name).is_ok() {
        return name.to_owned();
    }
    let mut folder = String::with_capacity(1 + 2 * name.len().min(MAX_USER_NAME));
    folder.push('_');
    // A long name is cut, and its length keeps cut names of different lengths apart.
    for byte in name.bytes().take(MAX_USER_NAME) {
        let _ = write!(folder, "{byte:02x}");
    }
    if name.len() > MAX_USER_NAME {
        // A stable hash, so that long names that share their first bytes stay apart.
        let _ = write!(folder, "-{}-{:016x}", name.len(), fnv1a(name.as_bytes()));
    }
    folder
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_pass_and_are_their_own_folders() {
        for name in [
            "ada",
            "Ada.Lovelace",
            "ada_2",
            "a",
            "ada@uni.example",
            "ada+ml",
            "7up",
        ] {
            assert_eq!(check_user_name(name), Ok(()), "{name}");
            assert_eq!(folder_name(name), name);
        }
        assert_eq!(check_user_name(&"a".repeat(MAX_USER_NAME)), Ok(()));
    }

    #[test]
    fn names_that_are_paths_controls_or_flags_are_refused_with_the_rule() {
        for name in [
            "",
            ".",
            "..",
            "/abs/dir",
            "../../x",
            "a/b",
            "a\\b",
            "nul\0",
            "new\nline",
            "esc\x1b[31m",
            " ada",
            "ada ",
            "-rf",
            ".hidden",
            "_x",
            "zoë",
            &"a".repeat(MAX_USER_NAME + 1),
        ] {
            let err = check_user_name(name).expect_err(name);
            assert!(err.to_string().contains("ASCII letters"), "{err}");
        }
    }

    #[test]
    fn a_refused_name_still_gets_a_safe_folder_of_its_own() {
        let names = ["", ".", "..", "/abs/dir", "../../x", "new\nline"];
        let folders: Vec<String> = names.iter().map(|name| folder_name(name)).collect();
        for folder in &folders {
            assert!(folder.starts_with('_'), "{folder}");
            assert!(folder.chars().all(is_name_char), "{folder}");
        }
        let distinct: std::collections::BTreeSet<&String> = folders.iter().collect();
        assert_eq!(distinct.len(), names.len(), "{folders:?}");
        let long_a = format!("{}a", "x".repeat(100));
        let long_b = format!("{}b", "x".repeat(100));
        assert_ne!(folder_name(&long_a), folder_name(&long_b));
        assert!(folder_name(&"x".repeat(10_000)).len() < 200);
    }
}
