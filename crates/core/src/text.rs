//! Limits for text typed by people: a length per field, and no invisible characters that
//! change how text reads (bidi overrides, zero-width characters) or break storage and files
//! (NUL and other control characters).
//!
//! [`Checks`] gathers every problem of one record, so a form or an import row reports them
//! all at once: `details = {"fields": [{"field", "message"}, …]}` and `details.field` of the
//! first.

use crate::AppError;
use serde_json::json;

/// What a field may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A name of a person, institution or thing: one line, no format characters at all.
    Name,
    /// One line of text (address, title, number): no control or bidi characters.
    Line,
    /// Several lines (notes, descriptions): line breaks and tabs allowed.
    Text,
}

/// Bidirectional controls: they make `exe.txt` look like `txt.exe`.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Zero-width and other invisible formatting characters.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{034F}' | '\u{180E}' | '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}'
    )
}

/// The first character `kind` does not allow, if any.
pub fn forbidden_char(value: &str, kind: Kind) -> Option<char> {
    value.chars().find(|&c| {
        let control = c.is_control() && !(kind == Kind::Text && matches!(c, '\n' | '\r' | '\t'));
        control || is_bidi_control(c) || (kind != Kind::Text && is_invisible(c))
    })
}

/// Checks one field; `label` is its Chinese name for the message.
pub fn check(
    field: &str,
    label: &str,
    value: &str,
    max_chars: usize,
    kind: Kind,
) -> Result<(), AppError> {
    let mut c = Checks::new();
    c.text(field, label, value, max_chars, kind);
    c.finish()
}

/// Problems of one record, gathered.
#[derive(Debug, Default)]
pub struct Checks {
    fields: Vec<(String, String)>,
    /// The error itself when it came from a check that returns one: a record with one
    /// problem answers with that problem's own code.
    errors: Vec<Option<AppError>>,
}

impl Checks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Length and characters of a text field.
    pub fn text(
        &mut self,
        field: &str,
        label: &str,
        value: &str,
        max_chars: usize,
        kind: Kind,
    ) -> &mut Self {
        if value.chars().count() > max_chars {
            self.add(field, format!("{label}不能超过{max_chars}个字"));
        } else if let Some(c) = forbidden_char(value, kind) {
            self.add(
                field,
                format!(
                    "{label}含有不可见字符或控制字符（U+{:04X}），请删除后重试",
                    c as u32
                ),
            );
        }
        self
    }

    /// Records a problem found by other means.
    pub fn add(&mut self, field: &str, message: impl Into<String>) -> &mut Self {
        if !self.fields.iter().any(|f| f.0 == field) {
            self.fields.push((field.to_string(), message.into()));
            self.errors.push(None);
        }
        self
    }

    /// Records the error of a check that returns one (its `details.field` names the field).
    pub fn result<T>(&mut self, r: Result<T, AppError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                let field = e.details["field"].as_str().unwrap_or("").to_string();
                if !self.fields.iter().any(|f| f.0 == field) {
                    self.fields.push((field, e.message.clone()));
                    self.errors.push(Some(e));
                }
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// `Ok` when nothing was wrong, else one 400 error listing every field.
    pub fn finish(&self) -> Result<(), AppError> {
        let Some((first_field, first)) = self.fields.first() else {
            return Ok(());
        };
        if let [Some(e)] = self.errors.as_slice() {
            return Err(e.clone());
        }
        let message = if self.fields.len() == 1 {
            first.clone()
        } else {
            format!(
                "共{}处需要修改：{}",
                self.fields.len(),
                self.fields
                    .iter()
                    .map(|f| f.1.as_str())
                    .collect::<Vec<_>>()
                    .join("；")
            )
        };
        Err(AppError::new("input.invalid", 400, message).with_details(json!({
            "field": first_field,
            "fields": self.fields.iter().map(|(f, m)| json!({"field": f, "message": m})).collect::<Vec<_>>(),
        })))
    }
}

/// A list filter must be one of the values the list knows: a typo answers 400 instead of
/// quietly showing nothing (or everything).
pub fn one_of(field: &str, label: &str, value: &str, allowed: &[&str]) -> Result<(), AppError> {
    if allowed.contains(&value) {
        return Ok(());
    }
    Err(AppError::new(
        "filter.invalid",
        400,
        format!("筛选条件“{label}”的取值不正确：{value}"),
    )
    .with_details(json!({"field": field, "allowed": allowed})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_control_bidi_and_zero_width_characters() {
        for bad in [
            "张\u{0}三",
            "张\u{202E}三",
            "张\u{200B}三",
            "张\u{2066}三",
            "张\u{FEFF}",
            "a\nb",
            "a\tb",
        ] {
            assert!(
                check("name", "姓名", bad, 50, Kind::Name).is_err(),
                "{bad:?}"
            );
        }
        for ok in ["张三", "阿依古丽·买买提", "O'Brien", "李 明"] {
            assert!(check("name", "姓名", ok, 50, Kind::Name).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn text_allows_line_breaks_but_not_nul_or_bidi() {
        assert!(check("note", "备注", "第一行\n第二行\t完", 500, Kind::Text).is_ok());
        assert!(check("note", "备注", "a\u{0}b", 500, Kind::Text).is_err());
        assert!(check("note", "备注", "a\u{202E}b", 500, Kind::Text).is_err());
        assert!(check("addr", "地址", "a\nb", 500, Kind::Line).is_err());
    }

    #[test]
    fn length_is_counted_in_characters_and_every_problem_is_reported() {
        assert!(check("name", "姓名", &"张".repeat(50), 50, Kind::Name).is_ok());
        let mut c = Checks::new();
        c.text("name", "姓名", &"张".repeat(51), 50, Kind::Name);
        c.text("address", "地址", &"路".repeat(300_000), 200, Kind::Line);
        c.text("phone", "电话", "138", 20, Kind::Line);
        let e = c.finish().unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(e.details["field"], "name");
        assert_eq!(e.details["fields"].as_array().unwrap().len(), 2);
        assert!(e.message.contains("姓名不能超过50个字"), "{}", e.message);
        assert!(e.message.contains("地址不能超过200个字"), "{}", e.message);
    }

    #[test]
    fn filters_outside_their_values_are_refused() {
        assert!(one_of("status", "状态", "open", &["open", "acknowledged"]).is_ok());
        let e = one_of("status", "状态", "opne", &["open", "acknowledged"]).unwrap_err();
        assert_eq!((e.code, e.status), ("filter.invalid", 400));
        assert_eq!(e.details["field"], "status");
    }
}
