//! Batches and files: `FHS`/`BHS` … messages … `BTS`/`FTS`.

use crate::error::{Error, Result};
use crate::escape::Delimiters;
use crate::message::{Lines, Message, Segment, check_segment_id, header_delimiters};

/// A parsed batch (or file) of messages.
///
/// Accepts any mix of `FHS`, `BHS`, `BTS`, `FTS` and messages; a bare
/// sequence of messages without envelope segments is accepted too. All
/// positions in errors and elements are offsets in the whole batch text.
#[derive(Debug, Clone)]
pub struct Batch<'a> {
    envelope: Message<'a>,
    messages: Vec<Message<'a>>,
}

impl<'a> Batch<'a> {
    /// Parses a batch/file.
    ///
    /// ```
    /// let text = "FHS|^~\\&|A\rBHS|^~\\&|A\rMSH|^~\\&|A|||||||1|P|2.5\rPID|1\rMSH|^~\\&|A|||||||2|P|2.5\rBTS|2\rFTS|1";
    /// let b = yiyang_hl7v2::Batch::parse(text).unwrap();
    /// assert_eq!(b.messages().len(), 2);
    /// assert_eq!(b.declared_message_count(), Some(2));
    /// ```
    pub fn parse(text: &'a str) -> Result<Self> {
        if text.len() > crate::MAX_MESSAGE_LEN {
            return Err(Error::TooLarge {
                len: text.len(),
                max: crate::MAX_MESSAGE_LEN,
            });
        }
        let bytes = text.as_bytes();
        let from = if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
            3
        } else {
            0
        };
        let mut env_lines: Vec<(usize, usize)> = Vec::new();
        let mut env_delims: Option<Delimiters> = None;
        let mut messages = Vec::new();
        let mut current: Vec<(usize, usize)> = Vec::new();
        let mut current_delims = Delimiters::default();

        let mut flush = |cur: &mut Vec<(usize, usize)>, d: Delimiters| -> Result<()> {
            if !cur.is_empty() {
                messages.push(Message::from_lines(text, cur, d)?);
                cur.clear();
            }
            Ok(())
        };

        for (i, (s, e)) in Lines::new(bytes, from, bytes.len()).enumerate() {
            check_segment_id(bytes, s, e, i)?;
            match &bytes[s..s + 3] {
                b"FHS" | b"BHS" => {
                    flush(&mut current, current_delims)?;
                    let d = header_delimiters(bytes, s, e, i)?;
                    env_delims.get_or_insert(d);
                    env_lines.push((s, e));
                }
                b"BTS" | b"FTS" => {
                    flush(&mut current, current_delims)?;
                    env_lines.push((s, e));
                }
                b"MSH" => {
                    flush(&mut current, current_delims)?;
                    current_delims = header_delimiters(bytes, s, e, 0)?;
                    current.push((s, e));
                }
                _ => {
                    if current.is_empty() {
                        return Err(Error::UnexpectedSegment {
                            segment: String::from_utf8_lossy(&bytes[s..s + 3]).into_owned(),
                            index: i,
                            position: s,
                            reason: "segment outside of a message (no preceding MSH)",
                        });
                    }
                    current.push((s, e));
                }
            }
        }
        flush(&mut current, current_delims)?;
        if messages.is_empty() && env_lines.is_empty() {
            return Err(Error::Empty);
        }
        let d = env_delims
            .or_else(|| messages.first().map(|m| *m.delimiters()))
            .unwrap_or_default();
        let envelope = Message::from_lines(text, &env_lines, d)?;
        Ok(Batch { envelope, messages })
    }

    /// The messages in order.
    pub fn messages(&self) -> &[Message<'a>] {
        &self.messages
    }

    /// Takes the messages out of the batch.
    pub fn into_messages(self) -> Vec<Message<'a>> {
        self.messages
    }

    /// The envelope segments (`FHS`, `BHS`, `BTS`, `FTS`) as a pseudo-message.
    pub fn envelope(&self) -> &Message<'a> {
        &self.envelope
    }

    /// The file header, if any.
    pub fn fhs(&self) -> Option<Segment<'_, 'a>> {
        self.envelope.segment("FHS")
    }

    /// The (first) batch header, if any.
    pub fn bhs(&self) -> Option<Segment<'_, 'a>> {
        self.envelope.segment("BHS")
    }

    /// The (last) batch trailer, if any.
    pub fn bts(&self) -> Option<Segment<'_, 'a>> {
        self.envelope.segments().filter(|s| s.id() == "BTS").last()
    }

    /// The file trailer, if any.
    pub fn fts(&self) -> Option<Segment<'_, 'a>> {
        self.envelope.segment("FTS")
    }

    /// BTS-1, the message count declared by the sender (not enforced).
    pub fn declared_message_count(&self) -> Option<usize> {
        self.bts()?.field(1).raw().trim().parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_messages_and_errors() {
        let b = Batch::parse("MSH|^~\\&|A\nPID|1\nMSH|^~\\&|B\n").unwrap();
        assert_eq!(b.messages().len(), 2);
        assert!(b.fhs().is_none());
        assert_eq!(b.messages()[1].segment_at(0).unwrap().field(3).raw(), "B");
        assert!(matches!(
            Batch::parse("PID|1\rMSH|^~\\&|A"),
            Err(Error::UnexpectedSegment { index: 0, .. })
        ));
        assert_eq!(Batch::parse("\r\n").unwrap_err(), Error::Empty);
    }
}
