//! Why a record cannot become a measurement.

/// Why a record cannot become a measurement row (the `rejects/` of a run).
///
/// [`RecordError::reason`] is stable: it is the `reason` column of the rejects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The bytes are not UTF-8.
    #[error("not UTF-8 (first bad byte at offset {valid_up_to})")]
    InvalidUtf8 {
        /// Offset of the first invalid byte.
        valid_up_to: usize,
    },
    /// The bytes are not JSON.
    #[error("not valid JSON: {0}")]
    InvalidJson(String),
    /// Valid JSON, but not an object.
    #[error("the JSON value is not an object")]
    NotAnObject,
    /// A zero-length postcan member.
    #[error("empty .post member")]
    EmptyPost,
    /// A field the tables need is absent or null.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// A field has the wrong JSON type.
    #[error("field `{field}` should be {expected}, found `{found}`")]
    WrongType {
        /// The field.
        field: &'static str,
        /// What it should be.
        expected: &'static str,
        /// The start of what it is.
        found: String,
    },
    /// A field's value is not in the expected form.
    #[error("field `{field}` has an invalid value `{value}`: {why}")]
    InvalidValue {
        /// The field.
        field: &'static str,
        /// The value (truncated).
        value: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

impl RecordError {
    /// A stable, machine-readable reason (the `reason` column of `rejects/`).
    pub fn reason(&self) -> &'static str {
        match self {
            RecordError::InvalidUtf8 { .. } => "invalid_utf8",
            RecordError::InvalidJson(_) => "invalid_json",
            RecordError::NotAnObject => "not_an_object",
            RecordError::EmptyPost => "empty_post",
            RecordError::MissingField(_) => "missing_field",
            RecordError::WrongType { .. } => "wrong_type",
            RecordError::InvalidValue { .. } => "invalid_value",
        }
    }

    /// An [`RecordError::InvalidValue`] quoting the start of `value`.
    pub fn invalid_value(field: &'static str, value: &str, why: &'static str) -> RecordError {
        RecordError::InvalidValue {
            field,
            value: preview(value),
            why,
        }
    }

    /// A [`RecordError::WrongType`] quoting the start of the JSON text `found`.
    pub fn wrong_type(field: &'static str, expected: &'static str, found: &str) -> RecordError {
        RecordError::WrongType {
            field,
            expected,
            found: preview(found),
        }
    }
}

/// Up to 80 bytes of a value (cut at a character boundary), for error messages.
pub(crate) fn preview(text: &str) -> String {
    let mut end = text.len().min(80);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// Why a text is not a measurement object ([`crate::Measurement::parse`]).
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The text is not JSON.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Valid JSON, but not an object.
    #[error("the JSON value is not an object")]
    NotAnObject,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_stable() {
        let cases = [
            (RecordError::InvalidUtf8 { valid_up_to: 1 }, "invalid_utf8"),
            (RecordError::InvalidJson(String::new()), "invalid_json"),
            (RecordError::NotAnObject, "not_an_object"),
            (RecordError::EmptyPost, "empty_post"),
            (RecordError::MissingField("x"), "missing_field"),
            (RecordError::wrong_type("x", "a string", "1"), "wrong_type"),
            (RecordError::invalid_value("x", "y", "z"), "invalid_value"),
        ];
        for (err, reason) in cases {
            assert_eq!(err.reason(), reason);
        }
    }

    #[test]
    fn previews_cut_at_a_character_boundary() {
        let long = "é".repeat(50);
        let p = preview(&long);
        assert_eq!(p.len(), 80);
        assert!(long.starts_with(&p));
    }
}
