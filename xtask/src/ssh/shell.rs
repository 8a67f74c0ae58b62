//! Quoting for POSIX shell command lines sent to hosts.

/// Quotes `word` for a POSIX shell (shlex: as is when it only has safe characters, else
/// quoted). A NUL byte, which no shell can pass on, is kept (the command fails on the host).
pub fn quote(word: &str) -> String {
    match shlex::Quoter::new().allow_nul(true).quote(word) {
        Ok(quoted) => quoted.into_owned(),
        // With NUL bytes allowed shlex has no error left; quote in single quotes anyway.
        Err(_) => format!("'{}'", word.replace('\'', r"'\''")),
    }
}

/// Quotes every word and joins them with spaces.
pub fn join<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|w| quote(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A string usable as one path component: anything but letters, digits, `.`, `-` and `_`
/// becomes `_`.
pub fn path_component(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(quote("consensus-bench/a.b"), "consensus-bench/a.b");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r#""it's""#);
        assert_eq!(quote(""), "''");
        assert_eq!(quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(join(&["echo", "a b"]), "echo 'a b'");
        assert_eq!(path_component("::1/x"), "__1_x");
    }
}
