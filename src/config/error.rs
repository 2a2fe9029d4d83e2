//! Config problems: each names the key it is about (`clients[1].window`) and says why.

use std::fmt;
use std::ops::Range;

/// One problem in a config: the key path it is about and why it is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted key path with array indexes, e.g. `clients[1].window`; empty when the problem is
    /// not about one key (an unreadable file, a TOML syntax error outside any key).
    pub key: String,
    /// What is wrong, for an operator to read.
    pub reason: String,
}

impl ConfigError {
    /// A problem with `key`.
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.key, self.reason)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in a config (never empty when returned as an error).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// A single problem.
    pub fn one(error: ConfigError) -> Self {
        Self(vec![error])
    }

    /// A TOML syntax or type error, without the source text: the key path comes from toml's
    /// own context where it gives one, the line and column from its message.
    /// [`ConfigErrors::from_toml_in`] finds the full key path (with array indexes).
    pub fn from_toml(error: toml::de::Error) -> Self {
        let rendered = error.to_string();
        // toml renders "in `a.b`" when it knows the key but has no source to quote.
        let key = rendered
            .lines()
            .find_map(|line| line.strip_prefix("in `")?.strip_suffix('`'))
            .unwrap_or_default()
            .to_owned();
        // … and "TOML parse error at line 3, column 1" when it has the source.
        let at = rendered
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("TOML parse error at "))
            .map(str::to_owned);
        Self::one(ConfigError::new(key, toml_reason(error.message(), at)))
    }

    /// A TOML syntax or type error in `source`: the key path (`clients[1].window`) is found
    /// from the error's position in the document, the reason ends with line and column.
    pub fn from_toml_in(error: toml::de::Error, source: &str) -> Self {
        let Some(span) = error.span() else {
            return Self::from_toml(error);
        };
        let key = key_at(source, span.clone()).unwrap_or_default();
        let at = line_column(source, span.start)
            .map(|(line, column)| format!("line {line}, column {column}"));
        Self::one(ConfigError::new(key, toml_reason(error.message(), at)))
    }

    /// The problems.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }

    /// How many problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        Self::one(error)
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// One problem per line.
impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// toml's message, reworded where the key path already says it, plus where it is.
fn toml_reason(message: &str, at: Option<String>) -> String {
    // serde says "unknown field `foo`, expected one of …"; the key path names `foo` already.
    let message = match message.strip_prefix("unknown field `") {
        Some(rest) => match rest.split_once("`, ") {
            Some((_, expected)) => format!("unknown key, {expected}"),
            None => "unknown key".to_owned(),
        },
        None => message.to_owned(),
    };
    match at {
        Some(at) => format!("{message} ({at})"),
        None => message,
    }
}

/// 1-based line and column (in characters) of byte offset `at`.
fn line_column(source: &str, at: usize) -> Option<(usize, usize)> {
    let before = source.get(..at.min(source.len()))?;
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |nl| nl + 1);
    let column = before.get(line_start..)?.chars().count() + 1;
    Some((line, column))
}

/// The key path of the key or value at `span` in `source`, e.g. `clients[1].window`.
fn key_at(source: &str, span: Range<usize>) -> Option<String> {
    // Recoverable: a document with a syntax error still yields the keys before it.
    let (table, _) = toml::de::DeTable::parse_recoverable(source);
    let mut path = Vec::new();
    if find_in_table(table.get_ref(), span.start, &mut path) {
        Some(path.concat())
    } else {
        None
    }
}

/// Depth-first search for the key or value that covers byte offset `at`; on success `path`
/// holds the segments (`server`, `.session`, `[1]`).
fn find_in_table(table: &toml::de::DeTable<'_>, at: usize, path: &mut Vec<String>) -> bool {
    for (key, value) in table {
        let segment = if path.is_empty() {
            key.get_ref().to_string()
        } else {
            format!(".{}", key.get_ref())
        };
        path.push(segment);
        if find_in_value(value, at, path) || key.span().contains(&at) {
            return true;
        }
        path.pop();
    }
    false
}

fn find_in_value(
    value: &toml::Spanned<toml::de::DeValue<'_>>,
    at: usize,
    path: &mut Vec<String>,
) -> bool {
    // Table spans cover only their header, so children are searched whatever the span says.
    let inside = match value.get_ref() {
        toml::de::DeValue::Table(table) => find_in_table(table, at, path),
        toml::de::DeValue::Array(array) => array.iter().enumerate().any(|(i, item)| {
            path.push(format!("[{i}]"));
            let found = find_in_value(item, at, path);
            if !found {
                path.pop();
            }
            found
        }),
        _ => false,
    };
    inside || value.span().contains(&at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toml_error(source: &str) -> toml::de::Error {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)] // only deserialized, to provoke errors
        struct Doc {
            a: Option<u32>,
            t: Option<Inner>,
            list: Option<Vec<Inner>>,
        }
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Inner {
            n: Option<u32>,
        }
        toml::from_str::<Doc>(source).expect_err("the test document is bad")
    }

    #[test]
    fn display_is_key_colon_reason() {
        let e = ConfigError::new("clients[1].window", "must be 1–1024, not 0");
        assert_eq!(e.to_string(), "clients[1].window: must be 1–1024, not 0");
        assert_eq!(
            ConfigError::new("", "cannot read").to_string(),
            "cannot read"
        );
    }

    #[test]
    fn errors_display_one_per_line() {
        let errors = ConfigErrors(vec![
            ConfigError::new("a", "x"),
            ConfigError::new("b.c", "y"),
        ]);
        assert_eq!(errors.to_string(), "a: x\nb.c: y");
        assert_eq!(errors.len(), 2);
    }

    #[test]
    fn toml_unknown_key_top_level() {
        let source = "a = 1\nbogus = 2\n";
        let errors = ConfigErrors::from_toml_in(toml_error(source), source);
        assert_eq!(errors.0[0].key, "bogus");
        assert!(
            errors.0[0].reason.starts_with("unknown key, expected"),
            "{errors}"
        );
        assert!(
            errors.0[0].reason.ends_with("(line 2, column 1)"),
            "{errors}"
        );
    }

    #[test]
    fn toml_key_path_has_array_indexes() {
        let source = "[[list]]\nn = 1\n[[list]]\nn = 'x'\n";
        let errors = ConfigErrors::from_toml_in(toml_error(source), source);
        assert_eq!(errors.0[0].key, "list[1].n");
        assert!(errors.0[0].reason.contains("invalid type"), "{errors}");
        assert!(errors.0[0].reason.contains("line 4, column 5"), "{errors}");

        let source = "[[list]]\nn = 1\n[[list]]\nzz = 3\n";
        let errors = ConfigErrors::from_toml_in(toml_error(source), source);
        assert_eq!(errors.0[0].key, "list[1].zz");
    }

    #[test]
    fn toml_key_path_in_nested_and_inline_tables() {
        let source = "[t]\nn = 1\nextra = true\n";
        let errors = ConfigErrors::from_toml_in(toml_error(source), source);
        assert_eq!(errors.0[0].key, "t.extra");

        let source = "t = { n = -1 }\n";
        let errors = ConfigErrors::from_toml_in(toml_error(source), source);
        assert_eq!(errors.0[0].key, "t.n");
    }

    #[test]
    fn toml_syntax_error_has_line_and_column() {
        let source = "a = 1\n[t\n";
        let errors = ConfigErrors::from_toml_in(toml_error(source), source);
        assert!(errors.0[0].reason.contains("line 2"), "{errors}");
    }

    #[test]
    fn toml_without_source_keeps_line_and_column() {
        let errors = ConfigErrors::from_toml(toml_error("a = 1\nbogus = 2\n"));
        assert_eq!(errors.0[0].reason.lines().count(), 1, "{errors}");
        assert!(errors.0[0].reason.contains("line 2, column 1"), "{errors}");
    }
}
