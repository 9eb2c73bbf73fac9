//! Owned value model and ER7 encoder.
//!
//! Values hold *decoded* text; [`MessageValue::encode`] escapes them with the
//! message's delimiters, so `Message::parse(&v.encode())?.to_value() == v`
//! for any value whose levels are non-empty (see [`MessageValue::normalized`]).

use crate::escape::{Delimiters, escape_into};
use crate::message::is_header_id;

/// A field: repetitions → components → subcomponents (decoded text).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldValue {
    /// `reps[r][c][s]` is subcomponent `s+1` of component `c+1` of repetition `r+1`.
    pub reps: Vec<Vec<Vec<String>>>,
}

impl FieldValue {
    /// An empty field.
    pub fn empty() -> Self {
        Self::from("")
    }

    /// A field with one repetition made of these components.
    pub fn components<S: AsRef<str>>(comps: &[S]) -> Self {
        FieldValue {
            reps: vec![comps.iter().map(|c| vec![c.as_ref().to_owned()]).collect()],
        }
    }

    /// A field whose repetitions are each made of components.
    pub fn repeated<S: AsRef<str>>(reps: &[&[S]]) -> Self {
        FieldValue {
            reps: reps
                .iter()
                .map(|r| r.iter().map(|c| vec![c.as_ref().to_owned()]).collect())
                .collect(),
        }
    }

    /// The first subcomponent of the first component of the first repetition.
    pub fn first(&self) -> &str {
        self.reps
            .first()
            .and_then(|r| r.first())
            .and_then(|c| c.first())
            .map_or("", String::as_str)
    }

    /// Sets component `comp` (1-based) of repetition `rep` (1-based), growing as needed.
    pub fn set_component(&mut self, rep: usize, comp: usize, value: &str) {
        let (rep, comp) = (rep.max(1), comp.max(1));
        while self.reps.len() < rep {
            self.reps.push(vec![vec![String::new()]]);
        }
        let r = &mut self.reps[rep - 1];
        while r.len() < comp {
            r.push(vec![String::new()]);
        }
        r[comp - 1] = vec![value.to_owned()];
    }

    fn normalize(&mut self) {
        if self.reps.is_empty() {
            self.reps.push(Vec::new());
        }
        for r in &mut self.reps {
            if r.is_empty() {
                r.push(Vec::new());
            }
            for c in r.iter_mut() {
                if c.is_empty() {
                    c.push(String::new());
                }
            }
        }
    }
}

impl From<&str> for FieldValue {
    fn from(s: &str) -> Self {
        FieldValue {
            reps: vec![vec![vec![s.to_owned()]]],
        }
    }
}

impl From<String> for FieldValue {
    fn from(s: String) -> Self {
        FieldValue {
            reps: vec![vec![vec![s]]],
        }
    }
}

/// A segment: id plus fields (`fields[0]` is field 1).
///
/// For header segments (`MSH`, `FHS`, `BHS`) fields 1 and 2 are the
/// separator and the encoding characters; the encoder always writes them
/// from the message's [`Delimiters`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SegmentValue {
    /// Segment id, three characters.
    pub id: String,
    /// Fields, starting with field 1.
    pub fields: Vec<FieldValue>,
}

impl SegmentValue {
    /// A segment with no fields.
    pub fn new(id: &str) -> Self {
        SegmentValue {
            id: id.to_owned(),
            fields: Vec::new(),
        }
    }

    /// Sets field `n` (1-based), growing with empty fields as needed.
    pub fn set(&mut self, n: usize, value: impl Into<FieldValue>) -> &mut Self {
        let n = n.max(1);
        while self.fields.len() < n {
            self.fields.push(FieldValue::empty());
        }
        self.fields[n - 1] = value.into();
        self
    }

    /// Builder form of [`SegmentValue::set`].
    pub fn with(mut self, n: usize, value: impl Into<FieldValue>) -> Self {
        self.set(n, value);
        self
    }

    /// Sets component `c` of the first repetition of field `n`.
    pub fn set_component(&mut self, n: usize, c: usize, value: &str) -> &mut Self {
        let n = n.max(1);
        while self.fields.len() < n {
            self.fields.push(FieldValue::empty());
        }
        self.fields[n - 1].set_component(1, c, value);
        self
    }

    /// Field `n` (1-based) if present.
    pub fn field(&self, n: usize) -> Option<&FieldValue> {
        n.checked_sub(1).and_then(|i| self.fields.get(i))
    }
}

/// An owned message: delimiters and segments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageValue {
    /// Delimiters to encode with.
    pub delimiters: Delimiters,
    /// Segments in order; the first should be `MSH`.
    pub segments: Vec<SegmentValue>,
}

impl MessageValue {
    /// An empty message with the given delimiters.
    pub fn new(delimiters: Delimiters) -> Self {
        MessageValue {
            delimiters,
            segments: Vec::new(),
        }
    }

    /// Starts a message with an `MSH` segment whose fields 1 and 2 are set from
    /// the delimiters; further MSH fields can be set on the returned value.
    pub fn with_msh(delimiters: Delimiters) -> Self {
        let mut msh = SegmentValue::new("MSH");
        msh.set(1, (delimiters.field as char).to_string());
        msh.set(2, delimiters.encoding_characters());
        MessageValue {
            delimiters,
            segments: vec![msh],
        }
    }

    /// Appends a segment.
    pub fn push(&mut self, seg: SegmentValue) -> &mut Self {
        self.segments.push(seg);
        self
    }

    /// Mutable access to the first segment with this id.
    pub fn segment_mut(&mut self, id: &str) -> Option<&mut SegmentValue> {
        self.segments.iter_mut().find(|s| s.id == id)
    }

    /// First segment with this id.
    pub fn segment(&self, id: &str) -> Option<&SegmentValue> {
        self.segments.iter().find(|s| s.id == id)
    }

    /// Encodes to ER7 with `\r` segment terminators (none after the last).
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(256);
        self.encode_into(&mut out);
        out
    }

    /// Appends the ER7 encoding to `out`.
    pub fn encode_into(&self, out: &mut String) {
        let d = &self.delimiters;
        let fs = d.field as char;
        for (i, seg) in self.segments.iter().enumerate() {
            if i > 0 {
                out.push('\r');
            }
            out.push_str(&seg.id);
            let header = is_header_id(seg.id.as_bytes());
            for (n, f) in seg.fields.iter().enumerate() {
                if header && n == 0 {
                    out.push(fs);
                    continue;
                }
                if header && n == 1 {
                    out.push_str(&d.encoding_characters());
                    continue;
                }
                out.push(fs);
                encode_field(f, d, out);
            }
            if header && seg.fields.len() < 2 {
                if seg.fields.is_empty() {
                    out.push(fs);
                }
                out.push_str(&d.encoding_characters());
            }
        }
    }

    /// Replaces empty vectors at any level with one empty element, which is
    /// how such values come back from parsing.
    pub fn normalized(mut self) -> Self {
        for s in &mut self.segments {
            for f in &mut s.fields {
                f.normalize();
            }
        }
        self
    }
}

fn encode_field(f: &FieldValue, d: &Delimiters, out: &mut String) {
    for (ri, r) in f.reps.iter().enumerate() {
        if ri > 0 {
            out.push(d.repetition as char);
        }
        for (ci, c) in r.iter().enumerate() {
            if ci > 0 {
                out.push(d.component as char);
            }
            for (si, s) in c.iter().enumerate() {
                if si > 0 {
                    out.push(d.subcomponent as char);
                }
                escape_into(s, d, out);
            }
        }
    }
}

impl std::fmt::Display for MessageValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Message;

    #[test]
    fn build_and_roundtrip() {
        let mut m = MessageValue::with_msh(Delimiters::default());
        m.segment_mut("MSH")
            .unwrap()
            .set(3, "HIS")
            .set(9, FieldValue::components(&["ADT", "A01", "ADT_A01"]))
            .set(10, "C1")
            .set(12, "2.5.1");
        m.push(
            SegmentValue::new("PID")
                .with(3, FieldValue::repeated(&[&["1", "", "", "H&S"], &["2"]]))
                .with(5, FieldValue::components(&["李", "四|^~\\&"])),
        );
        let text = m.encode();
        assert_eq!(
            text,
            "MSH|^~\\&|HIS||||||ADT^A01^ADT_A01|C1||2.5.1\rPID|||1^^^H\\T\\S~2||李^四\\F\\\\S\\\\R\\\\E\\\\T\\"
        );
        let parsed = Message::parse(&text).unwrap();
        assert_eq!(parsed.to_value(), m);
    }
}
