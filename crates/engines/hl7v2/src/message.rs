//! Zero-copy ER7 parser: a single pass over the text builds compact index
//! tables (u32 offsets) locating every segment, field, repetition, component
//! and subcomponent. Values are sliced from the input on access; escape
//! sequences are decoded on access ([`Element::value`]).

use std::borrow::Cow;
use std::fmt;

use crate::error::{Error, Result};
use crate::escape::{Delimiters, unescape};
use crate::value::{FieldValue, MessageValue, SegmentValue};

/// Span of one element: bytes `start..end`, and the delimiter tokens strictly
/// inside it (`tok_lo..tok_hi`, indices into the token table).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Node {
    pub(crate) start: u32,
    pub(crate) end: u32,
    pub(crate) tok_lo: u32,
    pub(crate) tok_hi: u32,
}

const ABSENT: u32 = u32::MAX;

impl Node {
    const EMPTY: Node = Node {
        start: ABSENT,
        end: ABSENT,
        tok_lo: 0,
        tok_hi: 0,
    };
}

/// Index entry of one segment.
#[derive(Debug, Clone, Copy, Default)]
struct Seg {
    start: u32,
    end: u32,
    /// end of the segment's tokens (component/repetition/subcomponent/field delimiters)
    tok_hi: u32,
    /// entries in the field-separator table
    sep_lo: u32,
    sep_hi: u32,
    header: bool,
}

/// Reusable index storage. Keep one per thread/connection and pass it to
/// [`Message::parse_reusing`] to avoid allocating for every message.
///
/// The index consists of a token table (position and kind of every
/// delimiter, as `pos << 3 | kind`), a table of the field separators (token
/// indices) and a segment table. Every element is located from these tables
/// without touching the text again.
#[derive(Debug, Clone, Default)]
pub struct ParseBuffers {
    segs: Vec<Seg>,
    toks: Vec<u32>,
    seps: Vec<u32>,
}

impl ParseBuffers {
    /// Empty buffers (no allocation until first use).
    pub fn new() -> Self {
        Self::default()
    }

    fn prepare(&mut self, len: usize) {
        self.segs.clear();
        if self.toks.len() < len + 1 {
            self.toks = vec![0; len + 1];
            self.seps = vec![0; len + 1];
        }
    }
}

const C_FIELD: u32 = 1;
const C_REP: u32 = 2;
const C_COMP: u32 = 3;
const C_SUB: u32 = 4;

static DEFAULT_CLASSES: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'|' as usize] = C_FIELD as u8;
    t[b'~' as usize] = C_REP as u8;
    t[b'^' as usize] = C_COMP as u8;
    t[b'&' as usize] = C_SUB as u8;
    t
};

fn class_table(d: &Delimiters) -> Cow<'static, [u8; 256]> {
    if d.field == b'|' && d.component == b'^' && d.repetition == b'~' && d.subcomponent == b'&' {
        return Cow::Borrowed(&DEFAULT_CLASSES);
    }
    let mut t = [0u8; 256];
    t[d.field as usize] = C_FIELD as u8;
    t[d.repetition as usize] = C_REP as u8;
    t[d.component as usize] = C_COMP as u8;
    t[d.subcomponent as usize] = C_SUB as u8;
    Cow::Owned(t)
}

#[inline(always)]
fn tok_pos(t: u32) -> u32 {
    t >> 3
}

#[inline(always)]
fn tok_kind(t: u32) -> u32 {
    t & 7
}

/// Iterator over the non-blank lines of `text[from..to]` (CR, LF or CRLF ends).
pub(crate) struct Lines<'t> {
    bytes: &'t [u8],
    pos: usize,
    end: usize,
}

impl<'t> Lines<'t> {
    pub(crate) fn new(bytes: &'t [u8], from: usize, to: usize) -> Self {
        Lines {
            bytes,
            pos: from,
            end: to,
        }
    }
}

impl Iterator for Lines<'_> {
    type Item = (usize, usize);
    #[inline]
    fn next(&mut self) -> Option<(usize, usize)> {
        while self.pos < self.end {
            let start = self.pos;
            let hay = &self.bytes[start..self.end];
            let stop = match memchr::memchr2(b'\r', b'\n', hay) {
                Some(n) => start + n,
                None => self.end,
            };
            self.pos = stop + 1;
            if stop > start && !is_blank(&self.bytes[start..stop]) {
                return Some((start, stop));
            }
        }
        None
    }
}

#[inline]
fn is_blank(line: &[u8]) -> bool {
    // cheap test first: real segments start with a letter/digit
    !line[0].is_ascii_alphanumeric() && line.iter().all(|b| matches!(b, b' ' | b'\t' | 0x0c))
}

pub(crate) fn is_header_id(id: &[u8]) -> bool {
    matches!(id, b"MSH" | b"FHS" | b"BHS")
}

/// Reads the delimiters of a header line (`MSH|^~\&|...`).
pub(crate) fn header_delimiters(
    bytes: &[u8],
    start: usize,
    end: usize,
    index: usize,
) -> Result<Delimiters> {
    let line = &bytes[start..end];
    let id = String::from_utf8_lossy(&line[..line.len().min(3)]).into_owned();
    let err = |reason| Error::InvalidDelimiters {
        segment: id.clone(),
        index,
        position: start,
        reason,
    };
    if line.len() < 5 {
        return Err(err("header segment too short to declare delimiters"));
    }
    let sep = line[3];
    let enc_end = memchr::memchr(sep, &line[4..]).map_or(line.len(), |n| 4 + n);
    Delimiters::from_header(sep, &line[4..enc_end]).map_err(err)
}

pub(crate) fn check_segment_id(bytes: &[u8], start: usize, end: usize, index: usize) -> Result<()> {
    let line = &bytes[start..end];
    let ok = line.len() >= 3
        && line[..3].iter().all(|b| b.is_ascii_alphanumeric())
        && (line.len() == 3 || !line[3].is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        let shown = &line[..line.len().min(8)];
        Err(Error::InvalidSegmentId {
            index,
            position: start,
            found: String::from_utf8_lossy(shown).into_owned(),
        })
    }
}

/// Bitmask of the bytes of `chunk` equal to one of `d` (written so that the
/// compiler turns it into SIMD compares + movemask).
#[inline(always)]
fn delimiter_mask(chunk: &[u8; 32], d: [u8; 4]) -> u32 {
    let mut m = 0u32;
    for (j, &c) in chunk.iter().enumerate() {
        let hit = (c == d[0]) | (c == d[1]) | (c == d[2]) | (c == d[3]);
        m |= u32::from(hit) << j;
    }
    m
}

/// Records every delimiter of `bytes[from..to]` into the token table
/// (starting at `*k`) and the token index of every field separator into the
/// separator table (starting at `*f`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn scan_tokens(
    bytes: &[u8],
    from: usize,
    to: usize,
    d: [u8; 4],
    classes: &[u8; 256],
    toks: &mut [u32],
    seps: &mut [u32],
    k: &mut usize,
    f: &mut usize,
) {
    let (mut kk, mut ff) = (*k, *f);
    let hay = &bytes[from..to];
    let mut chunks = hay.chunks_exact(32);
    let mut base = from as u32;
    for ch in &mut chunks {
        let ch: &[u8; 32] = ch.try_into().unwrap_or(&[0; 32]);
        let mut m = delimiter_mask(ch, d);
        while m != 0 {
            let j = m.trailing_zeros();
            m &= m - 1;
            let cl = u32::from(classes[ch[j as usize] as usize]);
            toks[kk] = ((base + j) << 3) | cl;
            seps[ff] = kk as u32;
            ff += usize::from(cl == C_FIELD);
            kk += 1;
        }
        base += 32;
    }
    for &c in chunks.remainder() {
        let cl = u32::from(classes[c as usize]);
        toks[kk] = (base << 3) | cl;
        seps[ff] = kk as u32;
        ff += usize::from(cl == C_FIELD);
        kk += usize::from(cl != 0);
        base += 1;
    }
    *k = kk;
    *f = ff;
}

/// Indexes one segment line `bytes[start..end]` (no terminator inside).
#[inline]
#[allow(clippy::too_many_arguments)]
fn index_segment(
    b: &mut ParseBuffers,
    ntok: &mut usize,
    nsep: &mut usize,
    bytes: &[u8],
    start: usize,
    end: usize,
    d: &Delimiters,
    classes: &[u8; 256],
) {
    let id_end = (start + 3).min(end);
    let header = id_end < end && is_header_id(&bytes[start..id_end]);
    let scan_from = if header {
        // MSH-1 and MSH-2 are not tokenized: scanning starts at the
        // separator that ends MSH-2 (if any)
        memchr::memchr(d.field, &bytes[start + 4..end]).map_or(end, |n| start + 4 + n)
    } else {
        id_end
    };
    let sep_lo = *nsep;
    let dl = [d.field, d.repetition, d.component, d.subcomponent];
    scan_tokens(
        bytes,
        scan_from,
        end,
        dl,
        classes,
        &mut b.toks,
        &mut b.seps,
        ntok,
        nsep,
    );
    let (k, f) = (*ntok, *nsep);
    b.segs.push(Seg {
        start: start as u32,
        end: end as u32,
        tok_hi: k as u32,
        sep_lo: sep_lo as u32,
        sep_hi: f as u32,
        header,
    });
}

/// A parsed HL7 v2 message: the source text plus index tables.
///
/// Cheap to query: every accessor slices the original text. Decoding escape
/// sequences happens only when a value is requested with [`Element::value`].
#[derive(Clone)]
pub struct Message<'a> {
    text: &'a str,
    delims: Delimiters,
    idx: ParseBuffers,
}

impl fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("delimiters", &self.delims)
            .field(
                "segments",
                &self.segments().map(|s| s.id()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Largest text the parser accepts (offsets are stored in 29 bits of a `u32`).
pub const MAX_MESSAGE_LEN: usize = (1 << 29) - 2;

impl<'a> Message<'a> {
    /// Parses one message. The first non-blank segment must be `MSH`.
    ///
    /// ```
    /// let m = yiyang_hl7v2::Message::parse("MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\rPID|1||123^^^H^MR").unwrap();
    /// assert_eq!(m.segment("PID").unwrap().field(3).component(1).value(), "123");
    /// ```
    pub fn parse(text: &'a str) -> Result<Self> {
        Self::parse_into(text, ParseBuffers::default()).map_err(|(e, _)| e)
    }

    /// Parses bytes that must be UTF-8 (see [`crate::decode_message`] for other charsets).
    pub fn parse_bytes(bytes: &'a [u8]) -> Result<Self> {
        let text = std::str::from_utf8(bytes).map_err(|e| Error::InvalidEncoding {
            charset: "UTF-8",
            position: e.valid_up_to(),
        })?;
        Self::parse(text)
    }

    /// Parses using (and taking) the storage in `bufs`; on error the storage
    /// is put back. Give it back after use with [`Message::recycle`].
    pub fn parse_reusing(text: &'a str, bufs: &mut ParseBuffers) -> Result<Self> {
        let b = std::mem::take(bufs);
        match Self::parse_into(text, b) {
            Ok(m) => Ok(m),
            Err((e, b)) => {
                *bufs = b;
                Err(e)
            }
        }
    }

    /// Returns this message's index storage to `bufs` for reuse.
    pub fn recycle(self, bufs: &mut ParseBuffers) {
        *bufs = self.idx;
    }

    #[allow(clippy::result_large_err)]
    fn parse_into(
        text: &'a str,
        mut b: ParseBuffers,
    ) -> std::result::Result<Self, (Error, ParseBuffers)> {
        b.segs.clear();
        if text.len() > MAX_MESSAGE_LEN {
            return Err((
                Error::TooLarge {
                    len: text.len(),
                    max: MAX_MESSAGE_LEN,
                },
                b,
            ));
        }
        let bytes = text.as_bytes();
        let from = if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
            3
        } else {
            0
        };
        let mut lines = Lines::new(bytes, from, bytes.len());
        let Some((s0, e0)) = lines.next() else {
            return Err((Error::Empty, b));
        };
        if !(bytes[s0..e0].starts_with(b"MSH") && e0 - s0 > 3) {
            let found = String::from_utf8_lossy(&bytes[s0..e0.min(s0 + 16)]).into_owned();
            return Err((
                Error::MissingHeader {
                    expected: "MSH",
                    found,
                    position: s0,
                },
                b,
            ));
        }
        let delims = match header_delimiters(bytes, s0, e0, 0) {
            Ok(d) => d,
            Err(e) => return Err((e, b)),
        };
        let classes = class_table(&delims);
        b.prepare(bytes.len());
        let (mut ntok, mut nsep) = (0, 0);
        index_segment(
            &mut b, &mut ntok, &mut nsep, bytes, s0, e0, &delims, &classes,
        );
        for (n, (s, e)) in lines.enumerate() {
            let index = n + 1;
            if let Err(err) = check_segment_id(bytes, s, e, index) {
                return Err((err, b));
            }
            let id = &bytes[s..s + 3];
            if is_header_id(id) || id == b"BTS" || id == b"FTS" {
                return Err((
                    Error::UnexpectedSegment {
                        segment: String::from_utf8_lossy(id).into_owned(),
                        index,
                        position: s,
                        reason: "batch/header segment inside a message (use Batch::parse)",
                    },
                    b,
                ));
            }
            if bytes[s + 3..e].first().is_some_and(|&c| c != delims.field) {
                return Err((
                    Error::InvalidSegmentId {
                        index,
                        position: s,
                        found: String::from_utf8_lossy(&bytes[s..e.min(s + 8)]).into_owned(),
                    },
                    b,
                ));
            }
            index_segment(&mut b, &mut ntok, &mut nsep, bytes, s, e, &delims, &classes);
        }
        Ok(Message {
            text,
            delims,
            idx: b,
        })
    }

    /// Builds a message from given segment lines of `text` (used by batches).
    pub(crate) fn from_lines(
        text: &'a str,
        lines: &[(usize, usize)],
        delims: Delimiters,
    ) -> Result<Self> {
        let bytes = text.as_bytes();
        let classes = class_table(&delims);
        let mut b = ParseBuffers::default();
        let total: usize = lines.iter().map(|(s, e)| e - s).sum();
        b.prepare(total);
        let (mut ntok, mut nsep) = (0, 0);
        for (index, &(s, e)) in lines.iter().enumerate() {
            check_segment_id(bytes, s, e, index)?;
            if !is_header_id(&bytes[s..s + 3])
                && bytes[s + 3..e].first().is_some_and(|&c| c != delims.field)
            {
                return Err(Error::InvalidSegmentId {
                    index,
                    position: s,
                    found: String::from_utf8_lossy(&bytes[s..e.min(s + 8)]).into_owned(),
                });
            }
            index_segment(&mut b, &mut ntok, &mut nsep, bytes, s, e, &delims, &classes);
        }
        Ok(Message {
            text,
            delims,
            idx: b,
        })
    }

    /// The delimiters declared in MSH.
    #[inline]
    pub fn delimiters(&self) -> &Delimiters {
        &self.delims
    }

    /// The message text (from the start of MSH to the end of the last segment).
    pub fn as_str(&self) -> &'a str {
        match (self.idx.segs.first(), self.idx.segs.last()) {
            (Some(f), Some(l)) => &self.text[f.start as usize..l.end as usize],
            _ => "",
        }
    }

    /// Number of segments.
    #[inline]
    pub fn segment_count(&self) -> usize {
        self.idx.segs.len()
    }

    /// The segment at `index` (0-based; 0 is MSH).
    #[inline]
    pub fn segment_at(&self, index: usize) -> Option<Segment<'_, 'a>> {
        self.idx.segs.get(index).map(|&seg| Segment {
            msg: self,
            index: index as u32,
            seg,
        })
    }

    /// All segments in order.
    pub fn segments(&self) -> impl Iterator<Item = Segment<'_, 'a>> + '_ {
        (0..self.idx.segs.len()).filter_map(move |i| self.segment_at(i))
    }

    /// The first segment with this id.
    pub fn segment(&self, id: &str) -> Option<Segment<'_, 'a>> {
        self.segments().find(|s| s.id() == id)
    }

    /// All segments with this id.
    pub fn segments_named<'s>(&'s self, id: &'s str) -> impl Iterator<Item = Segment<'s, 'a>> + 's {
        self.segments().filter(move |s| s.id() == id)
    }

    /// Resolves a path like `PID-5`, `PID-3(2)-4-1`, `OBX(3)-5` or `MSH-9-2`.
    ///
    /// Segment occurrence and repetition numbers in parentheses are 1-based
    /// (default 1). Returns `None` for a malformed path or an absent segment.
    pub fn query(&self, path: &str) -> Option<Element<'_, 'a>> {
        let mut parts = path.split(['-', '.']);
        let (seg_id, occ) = split_occurrence(parts.next()?)?;
        let seg = self
            .segments()
            .filter(|s| s.id() == seg_id)
            .nth(occ.unwrap_or(1).checked_sub(1)?)?;
        let f = parts.next()?;
        let (f, rep) = split_occurrence(f)?;
        let field: usize = f.parse().ok()?;
        let mut el = seg.field(field);
        if let Some(r) = rep {
            el = el.rep(r);
        }
        if let Some(c) = parts.next() {
            el = el.component(c.parse().ok()?);
            if let Some(s) = parts.next() {
                el = el.sub(s.parse().ok()?);
            }
        }
        if parts.next().is_some() {
            return None;
        }
        Some(el)
    }

    /// Converts to the owned value model (escape sequences decoded).
    pub fn to_value(&self) -> MessageValue {
        MessageValue {
            delimiters: self.delims,
            segments: self.segments().map(|s| s.to_value()).collect(),
        }
    }

    #[inline]
    fn slice(&self, start: u32, end: u32) -> &'a str {
        if start == ABSENT {
            return "";
        }
        // offsets always sit on ASCII delimiters, so they are char boundaries
        &self.text[start as usize..end as usize]
    }
}

fn split_occurrence(s: &str) -> Option<(&str, Option<usize>)> {
    match s.find('(') {
        None => Some((s, None)),
        Some(p) => {
            let n = s[p + 1..].strip_suffix(')')?.parse().ok()?;
            Some((&s[..p], Some(n)))
        }
    }
}

/// A segment of a parsed [`Message`].
#[derive(Clone, Copy)]
pub struct Segment<'m, 'a> {
    msg: &'m Message<'a>,
    index: u32,
    seg: Seg,
}

impl fmt::Debug for Segment<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Segment").field(&self.raw()).finish()
    }
}

impl<'m, 'a> Segment<'m, 'a> {
    /// The segment id (`PID`, `ZPI`, ...).
    #[inline]
    pub fn id(&self) -> &'a str {
        let end = (self.seg.start + 3).min(self.seg.end);
        self.msg.slice(self.seg.start, end)
    }

    /// 0-based index of the segment in its message.
    #[inline]
    pub fn index(&self) -> usize {
        self.index as usize
    }

    /// Byte position of the segment in the parsed text.
    #[inline]
    pub fn position(&self) -> usize {
        self.seg.start as usize
    }

    /// The raw segment text (without terminator).
    pub fn raw(&self) -> &'a str {
        self.msg.slice(self.seg.start, self.seg.end)
    }

    /// The message this segment belongs to.
    pub fn message(&self) -> &'m Message<'a> {
        self.msg
    }

    /// Highest field number present (`PID|1|2` has 2).
    #[inline]
    pub fn field_count(&self) -> usize {
        let n = (self.seg.sep_hi - self.seg.sep_lo) as usize;
        if self.seg.header { n + 2 } else { n }
    }

    /// Field `n` (1-based, HL7 numbering; 0 is the segment id). Absent fields
    /// are returned as empty elements.
    #[inline]
    pub fn field(&self, n: usize) -> Element<'m, 'a> {
        Element {
            msg: self.msg,
            level: Level::Field,
            node: self.field_node(n),
        }
    }

    #[inline]
    fn field_node(&self, n: usize) -> Node {
        let sg = &self.seg;
        let idx = &self.msg.idx;
        let k = if sg.header {
            match n {
                0 => return self.leaf(sg.start, sg.start + 3),
                1 => return self.leaf(sg.start + 3, sg.start + 4),
                2 => {
                    let end = if sg.sep_hi > sg.sep_lo {
                        tok_pos(idx.toks[idx.seps[sg.sep_lo as usize] as usize])
                    } else {
                        sg.end
                    };
                    return self.leaf(sg.start + 4, end);
                }
                _ => n - 2,
            }
        } else if n == 0 {
            return self.leaf(sg.start, (sg.start + 3).min(sg.end));
        } else {
            n
        };
        let nseps = (sg.sep_hi - sg.sep_lo) as usize;
        if k > nseps {
            return Node::EMPTY;
        }
        let lo_tok = idx.seps[sg.sep_lo as usize + k - 1];
        let start = tok_pos(idx.toks[lo_tok as usize]) + 1;
        let (end, tok_hi) = if k < nseps {
            let hi_tok = idx.seps[sg.sep_lo as usize + k];
            (tok_pos(idx.toks[hi_tok as usize]), hi_tok)
        } else {
            (sg.end, sg.tok_hi)
        };
        Node {
            start,
            end,
            tok_lo: lo_tok + 1,
            tok_hi,
        }
    }

    #[inline]
    fn leaf(&self, start: u32, end: u32) -> Node {
        Node {
            start,
            end,
            tok_lo: 0,
            tok_hi: 0,
        }
    }

    /// Iterates fields 1..=field_count.
    pub fn fields(&self) -> impl Iterator<Item = Element<'m, 'a>> + use<'m, 'a> {
        let s = *self;
        (1..=s.field_count()).map(move |n| s.field(n))
    }

    /// Shortcut for `field(f).component(c).value()`.
    #[inline]
    pub fn value(&self, f: usize, c: usize) -> Cow<'a, str> {
        self.field(f).component(c).value()
    }

    /// First component of the first repetition of field `n`, decoded.
    #[inline]
    pub fn text(&self, n: usize) -> Cow<'a, str> {
        self.field(n).component(1).value()
    }

    /// Like [`Segment::text`] but an empty value is a [`Error::MissingField`].
    pub fn require(&self, n: usize) -> Result<Cow<'a, str>> {
        let v = self.text(n);
        if v.is_empty() {
            return Err(Error::MissingField {
                segment: self.id().to_owned(),
                index: self.index(),
                field: n,
                position: self.field(n).position().unwrap_or(self.position()),
            });
        }
        Ok(v)
    }

    /// Field `n` (component 1) as a date/time: `Ok(None)` when empty or `""`,
    /// an [`Error::InvalidValue`] naming the location when malformed.
    pub fn timestamp(&self, n: usize) -> Result<Option<crate::types::Timestamp>> {
        self.timestamp_at(self.field(n).component(1), n)
    }

    /// Parses `el` (which belongs to field `n`) as a date/time.
    pub fn timestamp_at(
        &self,
        el: Element<'m, 'a>,
        n: usize,
    ) -> Result<Option<crate::types::Timestamp>> {
        let raw = el.raw().trim();
        if raw.is_empty() || raw == "\"\"" {
            return Ok(None);
        }
        crate::types::Timestamp::parse(raw)
            .map(Some)
            .ok_or_else(|| {
                self.invalid(
                    n,
                    raw,
                    "not an HL7 date/time (YYYY[MM[DD[HHMM[SS[.S]]]]][+/-ZZZZ])",
                )
            })
    }

    /// Builds an [`Error::InvalidValue`] for field `n` of this segment.
    pub fn invalid(&self, n: usize, value: &str, reason: &'static str) -> Error {
        Error::InvalidValue {
            segment: self.id().to_owned(),
            index: self.index(),
            field: n,
            position: self.field(n).position().unwrap_or(self.position()),
            value: value.to_owned(),
            reason,
        }
    }

    /// Converts to the owned value model.
    pub fn to_value(&self) -> SegmentValue {
        let header = self.seg.header;
        let fields = self
            .fields()
            .enumerate()
            .map(|(i, f)| {
                if header && i == 0 {
                    FieldValue::from((self.msg.delims.field as char).to_string())
                } else if header && i == 1 {
                    FieldValue::from(self.msg.delims.encoding_characters())
                } else {
                    f.to_value()
                }
            })
            .collect();
        SegmentValue {
            id: self.id().to_owned(),
            fields,
        }
    }
}

/// Nesting level of an [`Element`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// A whole field (all repetitions).
    Field,
    /// One repetition of a field.
    Repetition,
    /// A component.
    Component,
    /// A subcomponent.
    Subcomponent,
}

/// A field, repetition, component or subcomponent of a parsed message.
///
/// Navigation methods never fail: asking for something absent yields an empty
/// element (HL7 treats absent and empty alike). Numbers are 1-based.
#[derive(Clone, Copy)]
pub struct Element<'m, 'a> {
    msg: &'m Message<'a>,
    level: Level,
    node: Node,
}

impl fmt::Debug for Element<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}({:?})", self.level, self.raw())
    }
}

impl<'m, 'a> Element<'m, 'a> {
    /// The raw ER7 text (escape sequences and nested delimiters kept).
    #[inline]
    pub fn raw(&self) -> &'a str {
        self.msg.slice(self.node.start, self.node.end)
    }

    /// The value with escape sequences decoded. Borrowed unless an escape
    /// sequence had to be decoded. For a non-leaf element the nested
    /// delimiters are kept as they are.
    #[inline]
    pub fn value(&self) -> Cow<'a, str> {
        unescape(self.raw(), &self.msg.delims)
    }

    /// Level of this element.
    pub fn level(&self) -> Level {
        self.level
    }

    /// True when the element is absent or empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.node.start == self.node.end
    }

    /// True when the element is present in the message (possibly empty).
    pub fn is_present(&self) -> bool {
        self.node.start != ABSENT
    }

    /// True for the explicit HL7 null `""`.
    pub fn is_null(&self) -> bool {
        self.raw() == "\"\""
    }

    /// Byte position in the parsed text (`None` when absent).
    pub fn position(&self) -> Option<usize> {
        (self.node.start != ABSENT).then_some(self.node.start as usize)
    }

    #[inline]
    fn child_kind(&self) -> u32 {
        match self.level {
            Level::Field => C_REP,
            Level::Repetition => C_COMP,
            Level::Component => C_SUB,
            Level::Subcomponent => 0,
        }
    }

    #[inline]
    fn child_level(&self) -> Level {
        match self.level {
            Level::Field => Level::Repetition,
            Level::Repetition => Level::Component,
            _ => Level::Subcomponent,
        }
    }

    /// Number of children at the next level (1 for a present leaf, 0 when absent).
    #[inline]
    pub fn child_count(&self) -> usize {
        if self.node.start == ABSENT {
            return 0;
        }
        let want = self.child_kind();
        let toks = &self.msg.idx.toks[self.node.tok_lo as usize..self.node.tok_hi as usize];
        1 + toks.iter().filter(|&&t| tok_kind(t) == want).count()
    }

    /// Child `n` (1-based) at the next level.
    #[inline]
    pub fn child(&self, n: usize) -> Element<'m, 'a> {
        let level = self.child_level();
        let node = if self.node.start == ABSENT || n == 0 {
            Node::EMPTY
        } else if self.level == Level::Subcomponent {
            if n == 1 { self.node } else { Node::EMPTY }
        } else {
            let want = self.child_kind();
            let toks = &self.msg.idx.toks;
            let mut seen = 1;
            let mut start = self.node.start;
            let mut tok_lo = self.node.tok_lo;
            let mut found = None;
            for t in self.node.tok_lo..self.node.tok_hi {
                let tok = toks[t as usize];
                if tok_kind(tok) == want {
                    if seen == n {
                        found = Some(Node {
                            start,
                            end: tok_pos(tok),
                            tok_lo,
                            tok_hi: t,
                        });
                        break;
                    }
                    seen += 1;
                    start = tok_pos(tok) + 1;
                    tok_lo = t + 1;
                }
            }
            match found {
                Some(node) => node,
                None if seen == n => Node {
                    start,
                    end: self.node.end,
                    tok_lo,
                    tok_hi: self.node.tok_hi,
                },
                None => Node::EMPTY,
            }
        };
        Element {
            msg: self.msg,
            level,
            node,
        }
    }

    /// Iterates all children at the next level in one linear pass.
    fn children(&self) -> Children<'m, 'a> {
        Children {
            msg: self.msg,
            level: self.child_level(),
            want: self.child_kind(),
            start: self.node.start,
            tok: self.node.tok_lo,
            end: self.node.end,
            tok_hi: self.node.tok_hi,
            done: self.node.start == ABSENT,
            leaf_self: self.level == Level::Subcomponent,
        }
    }

    /// Repetition `n` of a field (1-based). On lower levels `rep(1)` is self.
    #[inline]
    pub fn rep(&self, n: usize) -> Element<'m, 'a> {
        match self.level {
            Level::Field => self.child(n),
            _ if n == 1 => *self,
            _ => self.empty_like(),
        }
    }

    /// Component `n` (1-based). On a field this reads the first repetition.
    #[inline]
    pub fn component(&self, n: usize) -> Element<'m, 'a> {
        match self.level {
            Level::Field => self.child(1).child(n),
            Level::Repetition => self.child(n),
            _ if n == 1 => *self,
            _ => self.empty_like(),
        }
    }

    /// Subcomponent `n` (1-based). On a field/repetition this reads the first
    /// component.
    #[inline]
    pub fn sub(&self, n: usize) -> Element<'m, 'a> {
        match self.level {
            Level::Field | Level::Repetition => self.component(1).child(n),
            Level::Component => self.child(n),
            Level::Subcomponent if n == 1 => *self,
            Level::Subcomponent => self.empty_like(),
        }
    }

    fn empty_like(&self) -> Element<'m, 'a> {
        Element {
            msg: self.msg,
            level: self.level,
            node: Node::EMPTY,
        }
    }

    /// Iterates the repetitions of a field (an empty field yields one empty repetition).
    pub fn repetitions(&self) -> impl Iterator<Item = Element<'m, 'a>> + use<'m, 'a> {
        let f = if self.level == Level::Field {
            *self
        } else {
            self.empty_like()
        };
        f.children()
    }

    /// Iterates the non-empty repetitions of a field.
    pub fn non_empty_repetitions(&self) -> impl Iterator<Item = Element<'m, 'a>> + use<'m, 'a> {
        self.repetitions().filter(|r| !r.is_empty())
    }

    /// Iterates the components (of the first repetition, for a field).
    pub fn components(&self) -> impl Iterator<Item = Element<'m, 'a>> + use<'m, 'a> {
        let r = if self.level == Level::Field {
            self.child(1)
        } else {
            *self
        };
        if r.level == Level::Repetition {
            r.children()
        } else {
            Children::single(r)
        }
    }

    /// Iterates the subcomponents of a component.
    pub fn subcomponents(&self) -> impl Iterator<Item = Element<'m, 'a>> + use<'m, 'a> {
        let c = match self.level {
            Level::Field | Level::Repetition => self.component(1),
            _ => *self,
        };
        if c.level == Level::Component {
            c.children()
        } else {
            Children::single(c)
        }
    }

    /// Converts a field to the owned value model.
    pub fn to_value(&self) -> FieldValue {
        let d = &self.msg.delims;
        let reps = self
            .repetitions()
            .map(|r| {
                r.components()
                    .map(|c| {
                        c.subcomponents()
                            .map(|s| unescape(s.raw(), d).into_owned())
                            .collect()
                    })
                    .collect()
            })
            .collect();
        FieldValue { reps }
    }
}

/// Linear iterator over the children of an element.
struct Children<'m, 'a> {
    msg: &'m Message<'a>,
    level: Level,
    want: u32,
    start: u32,
    tok: u32,
    end: u32,
    tok_hi: u32,
    done: bool,
    leaf_self: bool,
}

impl<'m, 'a> Children<'m, 'a> {
    fn single(e: Element<'m, 'a>) -> Self {
        Children {
            msg: e.msg,
            level: e.level,
            want: 0,
            start: e.node.start,
            tok: e.node.tok_lo,
            end: e.node.end,
            tok_hi: e.node.tok_hi,
            done: e.node.start == ABSENT,
            leaf_self: true,
        }
    }
}

impl<'m, 'a> Iterator for Children<'m, 'a> {
    type Item = Element<'m, 'a>;

    fn next(&mut self) -> Option<Element<'m, 'a>> {
        if self.done {
            return None;
        }
        let toks = &self.msg.idx.toks;
        let (start, tok_lo) = (self.start, self.tok);
        if !self.leaf_self {
            while self.tok < self.tok_hi {
                let t = self.tok;
                let tok = toks[t as usize];
                self.tok += 1;
                if tok_kind(tok) == self.want {
                    self.start = tok_pos(tok) + 1;
                    return Some(Element {
                        msg: self.msg,
                        level: self.level,
                        node: Node {
                            start,
                            end: tok_pos(tok),
                            tok_lo,
                            tok_hi: t,
                        },
                    });
                }
            }
        }
        self.done = true;
        Some(Element {
            msg: self.msg,
            level: self.level,
            node: Node {
                start,
                end: self.end,
                tok_lo,
                tok_hi: self.tok_hi,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &str = "MSH|^~\\&|SEND|FAC|RECV|RFAC|20240101120000||ADT^A01^ADT_A01|MSG001|P|2.5\r\
PID|1||123^^^HOSP^MR~456^^^GOV^NI||张^三||19800101|M|||中山路1号^^梅州^广东^514000^CHN\r\
ZXX|a&b^c~d|\\F\\x|";

    #[test]
    fn structure() {
        let m = Message::parse(MSG).unwrap();
        assert_eq!(m.segment_count(), 3);
        let msh = m.segment_at(0).unwrap();
        assert_eq!(msh.id(), "MSH");
        assert_eq!(msh.field(1).raw(), "|");
        assert_eq!(msh.field(2).raw(), "^~\\&");
        assert_eq!(msh.field(3).raw(), "SEND");
        assert_eq!(msh.field(9).component(2).raw(), "A01");
        assert_eq!(msh.field(12).raw(), "2.5");
        let pid = m.segment("PID").unwrap();
        assert_eq!(pid.field(3).child_count(), 2);
        assert_eq!(pid.field(3).rep(2).component(4).raw(), "GOV");
        assert_eq!(pid.field(5).component(1).value(), "张");
        assert_eq!(pid.field(5).component(2).value(), "三");
        assert_eq!(pid.field(11).component(3).value(), "梅州");
        assert_eq!(pid.field(99).raw(), "");
        assert!(!pid.field(99).is_present());
        let z = m.segment("ZXX").unwrap();
        assert_eq!(z.field_count(), 3);
        let f1 = z.field(1);
        assert_eq!(f1.rep(1).component(1).sub(1).raw(), "a");
        assert_eq!(f1.rep(1).component(1).sub(2).raw(), "b");
        assert_eq!(f1.rep(1).component(2).raw(), "c");
        assert_eq!(f1.rep(2).raw(), "d");
        assert_eq!(f1.rep(2).component(1).sub(1).raw(), "d");
        assert_eq!(z.field(2).value(), "|x");
        assert_eq!(z.field(3).raw(), "");
        assert!(z.field(3).is_present());
    }

    #[test]
    fn query_paths() {
        let m = Message::parse(MSG).unwrap();
        assert_eq!(m.query("PID-3(2)-4").unwrap().raw(), "GOV");
        assert_eq!(m.query("PID-3-1").unwrap().raw(), "123");
        assert_eq!(m.query("MSH-9-3").unwrap().raw(), "ADT_A01");
        assert_eq!(m.query("ZXX-1-1-2").unwrap().raw(), "b");
        assert!(m.query("OBX-1").is_none());
        assert!(m.query("PID").is_none());
        assert!(m.query("PID-x").is_none());
    }

    #[test]
    fn line_endings() {
        for sep in ["\r", "\n", "\r\n", "\r\r\n\n"] {
            let t = format!("MSH|^~\\&|A{sep}PID|1{sep}PV1|1|I{sep}");
            let m = Message::parse(&t).unwrap();
            assert_eq!(m.segment_count(), 3, "{sep:?}");
            assert_eq!(m.segment("PV1").unwrap().field(2).raw(), "I");
        }
    }

    #[test]
    fn custom_delimiters() {
        let m = Message::parse("MSH#*@!$#A*B@C#x\rPID#1#a*b$c").unwrap();
        assert_eq!(m.segment_at(0).unwrap().field(3).component(2).raw(), "B");
        assert_eq!(m.segment_at(0).unwrap().field(3).rep(2).raw(), "C");
        let pid = m.segment("PID").unwrap();
        assert_eq!(pid.field(2).component(2).sub(2).raw(), "c");
    }
}
