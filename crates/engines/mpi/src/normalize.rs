//! Normalisers: full-width → half-width, punctuation and whitespace,
//! traditional → simplified Chinese, pinyin keys with surname readings,
//! phone numbers, Chinese resident ID numbers, sex and dates.
//!
//! Every text normaliser here is idempotent: `f(f(x)) == f(x)`.

use pinyin::ToPinyin;
use serde::{Deserialize, Serialize};
use std::fmt;

// ---------------------------------------------------------------------------
// Characters
// ---------------------------------------------------------------------------

/// Is `c` a CJK ideograph (the ranges used by personal names and addresses)?
#[inline]
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2EBEF | 0x3007)
}

/// Convert full-width ASCII variants (U+FF01..U+FF5E) and the ideographic
/// space (U+3000) to their half-width forms.
pub fn to_halfwidth(s: &str) -> String {
    s.chars().map(halfwidth_char).collect()
}

#[inline]
fn halfwidth_char(c: char) -> char {
    match c as u32 {
        0x3000 => ' ',
        u @ 0xFF01..=0xFF5E => char::from_u32(u - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

/// Traditional → simplified Chinese (character level).
pub fn to_simplified(s: &str) -> String {
    if s.chars().any(|c| c as u32 >= 0x3400) {
        fast2s::convert(s)
    } else {
        s.to_string()
    }
}

/// Punctuation and separators that are turned into a single space.
#[inline]
fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || (c.is_ascii_punctuation())
        || matches!(
            c,
            '，' | '。'
                | '、'
                | '·'
                | '•'
                | '・'
                | '‧'
                | '－'
                | '—'
                | '–'
                | '（'
                | '）'
                | '【'
                | '】'
                | '《'
                | '》'
                | '「'
                | '」'
                | '『'
                | '』'
                | '“'
                | '”'
                | '‘'
                | '’'
                | '：'
                | '；'
                | '！'
                | '？'
                | '〔'
                | '〕'
                | '…'
                | '\u{00A0}'
                | '\u{200B}'
                | '\u{FEFF}'
        )
}

/// General text normalisation: half-width, traditional → simplified,
/// lowercase, punctuation → space, whitespace collapsed and trimmed.
/// Spaces between two CJK characters are dropped (`"张 三"` → `"张三"`).
pub fn normalize_text(s: &str) -> String {
    let hw = to_halfwidth(s);
    let simp = to_simplified(&hw);
    let mut out = String::with_capacity(simp.len());
    let mut pending_space = false;
    let mut last: Option<char> = None;
    for c in simp.chars() {
        if is_separator(c) {
            pending_space = last.is_some();
            continue;
        }
        if pending_space {
            let drop = last.is_some_and(is_cjk) && is_cjk(c);
            if !drop {
                out.push(' ');
            }
            pending_space = false;
        }
        for lc in c.to_lowercase() {
            out.push(lc);
        }
        last = Some(c);
    }
    out
}

/// Normalise a personal name: like [`normalize_text`], and a name that is all
/// CJK loses every space and separator (`"欧阳 娜娜"`, `"阿卜杜·热合曼"`).
pub fn normalize_name(s: &str) -> String {
    let t = normalize_text(s);
    if t.chars().any(is_cjk) && t.chars().all(|c| is_cjk(c) || c == ' ') {
        t.replace(' ', "")
    } else {
        t
    }
}

/// Keep only ASCII letters and digits, upper-cased (for codes such as postcodes or
/// insurance numbers).
pub fn normalize_code(s: &str) -> String {
    to_halfwidth(s)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

// ---------------------------------------------------------------------------
// Pinyin
// ---------------------------------------------------------------------------

/// Compound surnames (复姓) with their surname readings.
pub const COMPOUND_SURNAMES: &[(&str, &str)] = &[
    ("欧阳", "ouyang"),
    ("司马", "sima"),
    ("诸葛", "zhuge"),
    ("上官", "shangguan"),
    ("东方", "dongfang"),
    ("皇甫", "huangfu"),
    ("尉迟", "yuchi"),
    ("公孙", "gongsun"),
    ("慕容", "murong"),
    ("长孙", "zhangsun"),
    ("宇文", "yuwen"),
    ("司徒", "situ"),
    ("司空", "sikong"),
    ("夏侯", "xiahou"),
    ("令狐", "linghu"),
    ("端木", "duanmu"),
    ("万俟", "moqi"),
    ("澹台", "tantai"),
    ("轩辕", "xuanyuan"),
    ("呼延", "huyan"),
    ("南宫", "nangong"),
    ("西门", "ximen"),
    ("独孤", "dugu"),
    ("申屠", "shentu"),
    ("钟离", "zhongli"),
    ("闻人", "wenren"),
    ("赫连", "helian"),
    ("太史", "taishi"),
    ("公羊", "gongyang"),
    ("濮阳", "puyang"),
    ("淳于", "chunyu"),
    ("单于", "chanyu"),
    ("百里", "baili"),
    ("东郭", "dongguo"),
    ("拓跋", "tuoba"),
    ("第五", "diwu"),
    ("梁丘", "liangqiu"),
    ("左丘", "zuoqiu"),
    ("谷梁", "guliang"),
    ("亓官", "qiguan"),
    ("公冶", "gongye"),
    ("宗政", "zongzheng"),
    ("羊舌", "yangshe"),
    ("微生", "weisheng"),
    ("仲孙", "zhongsun"),
    ("叔孙", "shusun"),
    ("漆雕", "qidiao"),
    ("乐正", "yuezheng"),
    ("公良", "gongliang"),
    ("巫马", "wuma"),
    ("公西", "gongxi"),
    ("段干", "duangan"),
    ("司寇", "sikou"),
    ("颛孙", "zhuansun"),
    ("东门", "dongmen"),
];

/// Single-character surnames whose surname reading differs from the most common
/// reading of the character (polyphonic surnames, 多音字姓氏).
pub const SURNAME_READINGS: &[(char, &str)] = &[
    ('单', "shan"),
    ('曾', "zeng"),
    ('解', "xie"),
    ('朴', "piao"),
    ('区', "ou"),
    ('仇', "qiu"),
    ('查', "zha"),
    ('盖', "ge"),
    ('乐', "yue"),
    ('种', "chong"),
    ('繁', "po"),
    ('员', "yun"),
    ('缪', "miao"),
    ('翟', "zhai"),
    ('秘', "bi"),
    ('覃', "qin"),
    ('莘', "shen"),
    ('尉', "wei"),
    ('黑', "he"),
    ('重', "chong"),
    ('召', "shao"),
    ('句', "gou"),
    ('长', "chang"),
    ('沈', "shen"),
    ('参', "can"),
    ('宿', "su"),
    ('薄', "bo"),
    ('纪', "ji"),
    ('任', "ren"),
    ('华', "hua"),
    ('葛', "ge"),
    ('陆', "lu"),
    ('折', "she"),
    ('贾', "jia"),
    ('藏', "zang"),
    ('能', "nai"),
    ('隗', "wei"),
    ('冼', "xian"),
    ('洗', "xian"),
    ('过', "guo"),
    ('蕃', "pi"),
    ('率', "shuai"),
    ('柏', "bai"),
    ('褚', "chu"),
    ('厍', "she"),
    ('都', "du"),
    ('乜', "nie"),
    ('缴', "zhuo"),
    ('行', "hang"),
    ('牟', "mou"),
    ('谌', "chen"),
    ('费', "fei"),
    ('瞿', "qu"),
    ('阚', "kan"),
    ('万', "wan"),
    ('石', "shi"),
    ('车', "che"),
    ('曲', "qu"),
    ('相', "xiang"),
    ('朝', "chao"),
    ('燕', "yan"),
    ('应', "ying"),
    ('齐', "qi"),
    ('曹', "cao"),
    ('传', "chuan"),
    ('佘', "she"),
    ('祭', "zhai"),
    ('扁', "pian"),
    ('哈', "ha"),
    ('卜', "bu"),
    ('那', "na"),
    ('眭', "sui"),
];

/// Split a Chinese full name into (surname, given name). Compound surnames are
/// recognised; otherwise the first character is the surname. Returns `None` for
/// names that are not all CJK or have fewer than two characters.
pub fn split_chinese_name(full: &str) -> Option<(String, String)> {
    let n = normalize_name(full);
    let count = n.chars().count();
    if count < 2 || !n.chars().all(is_cjk) {
        return None;
    }
    if count >= 3 {
        for (cs, _) in COMPOUND_SURNAMES {
            if let Some(rest) = n.strip_prefix(cs) {
                return Some((cs.to_string(), rest.to_string()));
            }
        }
    }
    let mut it = n.chars();
    let first = it.next()?;
    Some((first.to_string(), it.collect()))
}

fn char_pinyin(c: char) -> Option<&'static str> {
    c.to_pinyin().map(|p| p.plain())
}

/// Pinyin syllables of a text, one per CJK character; non-CJK runs (latin words,
/// digits) are kept as lower-case words.
pub fn pinyin_syllables(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in s.chars() {
        if let Some(p) = if is_cjk(c) { char_pinyin(c) } else { None } {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            out.push(p.replace('ü', "v"));
        } else if c.is_alphanumeric() {
            for lc in c.to_lowercase() {
                word.push(lc);
            }
        } else if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Pinyin syllables of a surname, using surname readings (单 → shan, 尉迟 → yuchi).
pub fn surname_syllables(surname: &str) -> Vec<String> {
    let s = normalize_name(surname);
    for (cs, py) in COMPOUND_SURNAMES {
        if s == *cs {
            // split the reading in two syllables by the pinyin of the second char
            let second = s.chars().nth(1).and_then(char_pinyin).unwrap_or("");
            return match py.strip_suffix(second) {
                Some(first) if !first.is_empty() && !second.is_empty() => {
                    vec![first.to_string(), second.to_string()]
                }
                _ => vec![py.to_string()],
            };
        }
    }
    let mut chars = s.chars();
    if let (Some(c), None) = (chars.next(), chars.next())
        && let Some((_, py)) = SURNAME_READINGS.iter().find(|(k, _)| *k == c)
    {
        return vec![py.to_string()];
    }
    pinyin_syllables(&s)
}

/// Pinyin syllables for a full name: the surname part (compound surnames
/// recognised) is read with surname readings, the rest with common readings.
pub fn name_syllables(full: &str) -> Vec<String> {
    match split_chinese_name(full) {
        Some((sn, gn)) => {
            let mut v = surname_syllables(&sn);
            v.extend(pinyin_syllables(&gn));
            v
        }
        None => pinyin_syllables(&normalize_name(full)),
    }
}

/// Concatenated pinyin key (no spaces), e.g. `"单田芳"` → `"shantianfang"`.
pub fn pinyin_key(syllables: &[String]) -> String {
    syllables.concat()
}

/// Initials key: first letter of every syllable/word, e.g. `"shan tian fang"` → `"stf"`.
pub fn initials_key(syllables: &[String]) -> String {
    syllables.iter().filter_map(|s| s.chars().next()).collect()
}

// ---------------------------------------------------------------------------
// Sex
// ---------------------------------------------------------------------------

/// Administrative sex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    pub fn code(self) -> &'static str {
        match self {
            Sex::Male => "M",
            Sex::Female => "F",
        }
    }
}

/// Parse sex from the usual encodings: 男/女, M/F, male/female, 1/2 (GB/T 2261.1).
pub fn parse_sex(s: &str) -> Option<Sex> {
    let t = normalize_text(s);
    match t.as_str() {
        "男" | "男性" | "m" | "male" | "1" | "man" => Some(Sex::Male),
        "女" | "女性" | "f" | "female" | "2" | "woman" => Some(Sex::Female),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Dates
// ---------------------------------------------------------------------------

/// A (possibly not calendar-valid) date as recorded. Invalid dates such as
/// month 13 are kept so that comparisons can still detect transpositions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl Date {
    pub fn new(year: u16, month: u8, day: u8) -> Self {
        Date { year, month, day }
    }
    /// Calendar validity (Gregorian).
    pub fn is_valid(&self) -> bool {
        if self.month == 0 || self.month > 12 || self.day == 0 {
            return false;
        }
        self.day <= days_in_month(self.year, self.month)
    }
    /// Days since 0000-03-01 (proleptic Gregorian), for day differences.
    pub fn day_number(&self) -> i64 {
        let (y, m) = if self.month <= 2 {
            (self.year as i64 - 1, self.month as i64 + 12)
        } else {
            (self.year as i64, self.month as i64)
        };
        365 * y + y / 4 - y / 100 + y / 400 + (153 * (m - 3) + 2) / 5 + self.day as i64 - 1
    }
    /// `YYYYMMDD`.
    pub fn compact(&self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

pub fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 => {
            let y = year as u32;
            if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) {
                29
            } else {
                28
            }
        }
        _ => 0,
    }
}

/// Parse a date. With a `format` (`%Y` 4-digit year, `%m` month, `%d` day,
/// `%y` 2-digit year taken as 19yy, any other character literal) the value must
/// follow it; without one, common layouts are detected: `YYYYMMDD`,
/// `YYYY-MM-DD`, `YYYY/M/D`, `YYYY.M.D`, `YYYY年M月D日`, `DD/MM/YYYY`.
pub fn parse_date(s: &str, format: Option<&str>) -> Option<Date> {
    let t = to_halfwidth(s);
    let t = t.trim();
    if t.is_empty() {
        return None;
    }
    if let Some(f) = format
        && let Some(d) = parse_with_format(t, f)
    {
        return Some(d);
    }
    parse_date_auto(t)
}

fn parse_with_format(s: &str, fmt: &str) -> Option<Date> {
    let sb: Vec<char> = s.chars().collect();
    let fb: Vec<char> = fmt.chars().collect();
    let (mut i, mut j) = (0usize, 0usize);
    let (mut y, mut m, mut d) = (None, None, None);
    let read_num = |i: &mut usize, maxlen: usize| -> Option<u32> {
        let start = *i;
        while *i < sb.len() && *i - start < maxlen && sb[*i].is_ascii_digit() {
            *i += 1;
        }
        if *i == start {
            return None;
        }
        sb[start..*i].iter().collect::<String>().parse().ok()
    };
    while j < fb.len() {
        if fb[j] == '%' && j + 1 < fb.len() {
            let v = match fb[j + 1] {
                'Y' => read_num(&mut i, 4),
                'y' => read_num(&mut i, 2).map(|v| 1900 + v),
                'm' | 'd' => read_num(&mut i, 2),
                _ => None,
            }?;
            match fb[j + 1] {
                'Y' | 'y' => y = Some(v),
                'm' => m = Some(v),
                _ => d = Some(v),
            }
            j += 2;
        } else {
            if i >= sb.len() || sb[i] != fb[j] {
                return None;
            }
            i += 1;
            j += 1;
        }
    }
    if i != sb.len() {
        return None;
    }
    Some(Date::new(y? as u16, m? as u8, d? as u8))
}

fn parse_date_auto(s: &str) -> Option<Date> {
    // ISO timestamps: keep the date part
    let s = s.split(['T', ' ']).next().unwrap_or(s);
    if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        let y = s[0..4].parse().ok()?;
        let m = s[4..6].parse().ok()?;
        let d = s[6..8].parse().ok()?;
        return Some(Date::new(y, m, d));
    }
    let parts: Vec<&str> = s
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .collect();
    if parts.len() != 3 {
        return None;
    }
    let nums: Vec<u32> = parts
        .iter()
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    if parts[0].len() == 4 {
        Some(Date::new(nums[0] as u16, nums[1] as u8, nums[2] as u8))
    } else if parts[2].len() == 4 {
        Some(Date::new(nums[2] as u16, nums[1] as u8, nums[0] as u8))
    } else {
        None
    }
}

// ---------------------------------------------------------------------------
// Phone
// ---------------------------------------------------------------------------

/// Normalise a Chinese phone number to digits: country code (+86 / 0086 / 86)
/// removed, spaces, dashes and brackets dropped. Mobile numbers become 11
/// digits (`13812345678`), landlines keep their area code with the leading 0
/// (`07532212345`). Returns `None` when fewer than 5 digits remain.
pub fn normalize_phone(s: &str) -> Option<String> {
    let t = to_halfwidth(s);
    let t = t.trim();
    let plus = t.starts_with('+');
    let mut digits: String = t.chars().filter(|c| c.is_ascii_digit()).collect();
    let mut had_cc = false;
    if let Some(rest) = digits.strip_prefix("0086") {
        digits = rest.to_string();
        had_cc = true;
    } else if (plus || digits.len() == 13 || digits.len() >= 12) && digits.starts_with("86") {
        digits = digits[2..].to_string();
        had_cc = true;
    }
    if had_cc && !digits.starts_with('1') && !digits.starts_with('0') && digits.len() >= 9 {
        digits.insert(0, '0');
    }
    if digits.len() < 5 { None } else { Some(digits) }
}

// ---------------------------------------------------------------------------
// Chinese resident identity card number (GB 11643)
// ---------------------------------------------------------------------------

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK: &[u8; 11] = b"10X98765432";

/// ISO 7064 MOD 11-2 check character for the first 17 digits.
pub fn id_check_char(first17: &str) -> Option<char> {
    let b = first17.as_bytes();
    if b.len() != 17 || !b.iter().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = b
        .iter()
        .zip(ID_WEIGHTS.iter())
        .map(|(c, w)| (c - b'0') as u32 * w)
        .sum();
    Some(ID_CHECK[(sum % 11) as usize] as char)
}

/// Normalise an ID number: half-width, separators removed, trailing `x` → `X`,
/// 15-digit (first generation) numbers upgraded to 18 characters by inserting
/// `19` before the year and appending the check character. Anything that is not
/// 15 digits or 17 digits + [0-9X] is returned cleaned but otherwise unchanged.
pub fn normalize_id_number(s: &str) -> Option<String> {
    let t: String = to_halfwidth(s)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if t.is_empty() {
        return None;
    }
    if t.len() == 15 && t.bytes().all(|b| b.is_ascii_digit()) {
        let first17 = format!("{}19{}", &t[..6], &t[6..]);
        let c = id_check_char(&first17)?;
        return Some(format!("{first17}{c}"));
    }
    Some(t)
}

/// What an ID number tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdInfo {
    pub normalized: String,
    /// 18 characters, correct check character and a calendar-valid birth date.
    pub valid: bool,
    /// Administrative division code (first 6 digits).
    pub region: Option<String>,
    pub birth_date: Option<Date>,
    /// Odd sequence digit (17th) = male, even = female.
    pub sex: Option<Sex>,
}

/// Parse (and normalise) a resident ID number.
pub fn parse_id_number(s: &str) -> Option<IdInfo> {
    let n = normalize_id_number(s)?;
    let b = n.as_bytes();
    let shape_ok = b.len() == 18
        && b[..17].iter().all(|c| c.is_ascii_digit())
        && (b[17].is_ascii_digit() || b[17] == b'X');
    if !shape_ok {
        return Some(IdInfo {
            normalized: n,
            valid: false,
            region: None,
            birth_date: None,
            sex: None,
        });
    }
    let check_ok = id_check_char(&n[..17]) == Some(b[17] as char);
    let date = Date::new(
        n[6..10].parse().unwrap_or(0),
        n[10..12].parse().unwrap_or(0),
        n[12..14].parse().unwrap_or(0),
    );
    let sex = if (b[16] - b'0') % 2 == 1 {
        Sex::Male
    } else {
        Sex::Female
    };
    let date_ok = date.is_valid() && (1850..=2100).contains(&date.year);
    Some(IdInfo {
        region: Some(n[..6].to_string()),
        valid: check_ok && date_ok,
        birth_date: Some(date),
        sex: Some(sex),
        normalized: n,
    })
}

/// Build a valid 18-character ID number from region, birth date and 3-digit
/// sequence number (used by the synthetic generator and tests).
pub fn make_id_number(region: &str, birth: Date, seq: u16) -> String {
    let first17 = format!("{region}{}{:03}", birth.compact(), seq % 1000);
    let c = id_check_char(&first17).expect("17 digits");
    format!("{first17}{c}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halfwidth_and_text() {
        assert_eq!(to_halfwidth("ＡＢＣ１２３　！"), "ABC123 !");
        assert_eq!(normalize_text("  Hello,   WORLD!! "), "hello world");
        assert_eq!(normalize_text("张 三"), "张三");
        assert_eq!(normalize_text("梅州市，梅江区（西郊）"), "梅州市梅江区西郊");
        assert_eq!(normalize_text("梅州 Meizhou"), "梅州 meizhou");
        assert_eq!(normalize_name("欧阳 娜娜"), "欧阳娜娜");
        assert_eq!(normalize_name("阿卜杜·热合曼"), "阿卜杜热合曼");
        assert_eq!(normalize_name(" Mary-Ann  SMITH "), "mary ann smith");
    }

    #[test]
    fn traditional_to_simplified() {
        assert_eq!(to_simplified("張偉"), "张伟");
        assert_eq!(normalize_name("劉德華"), "刘德华");
        assert_eq!(normalize_text("梅縣區"), "梅县区");
        assert_eq!(to_simplified("abc"), "abc");
    }

    #[test]
    fn surname_readings() {
        let cases = [
            ("单", "shan"),
            ("曾", "zeng"),
            ("解", "xie"),
            ("朴", "piao"),
            ("区", "ou"),
            ("仇", "qiu"),
            ("查", "zha"),
            ("盖", "ge"),
        ];
        for (s, py) in cases {
            assert_eq!(surname_syllables(s), vec![py.to_string()], "{s}");
        }
        assert_eq!(surname_syllables("尉迟"), vec!["yu", "chi"]);
        assert_eq!(pinyin_key(&surname_syllables("欧阳")), "ouyang");
        assert_eq!(pinyin_key(&surname_syllables("诸葛")), "zhuge");
        assert_eq!(pinyin_key(&surname_syllables("司马")), "sima");
    }

    #[test]
    fn polyphonic_surname_in_surname_position_only() {
        assert_eq!(pinyin_key(&name_syllables("单田芳")), "shantianfang");
        assert_eq!(pinyin_key(&name_syllables("曾志伟")), "zengzhiwei");
        assert_eq!(pinyin_key(&name_syllables("解缙")), "xiejin");
        assert_eq!(pinyin_key(&name_syllables("尉迟恭")), "yuchigong");
        assert_eq!(pinyin_key(&name_syllables("区小华")), "ouxiaohua");
        // 单 in given-name position keeps its common reading
        assert_eq!(pinyin_key(&name_syllables("王单")), "wangdan");
        assert_eq!(initials_key(&name_syllables("欧阳娜娜")), "oynn");
        // homophones share a key
        assert_eq!(
            pinyin_key(&name_syllables("张伟")),
            pinyin_key(&name_syllables("张玮"))
        );
    }

    #[test]
    fn split_names() {
        assert_eq!(
            split_chinese_name("欧阳修"),
            Some(("欧阳".into(), "修".into()))
        );
        assert_eq!(
            split_chinese_name("诸葛亮"),
            Some(("诸葛".into(), "亮".into()))
        );
        assert_eq!(split_chinese_name("王五"), Some(("王".into(), "五".into())));
        assert_eq!(split_chinese_name("john smith"), None);
    }

    #[test]
    fn phones() {
        assert_eq!(
            normalize_phone("+86 138-1234-5678").as_deref(),
            Some("13812345678")
        );
        assert_eq!(
            normalize_phone("0086 13812345678").as_deref(),
            Some("13812345678")
        );
        assert_eq!(
            normalize_phone("8613812345678").as_deref(),
            Some("13812345678")
        );
        assert_eq!(
            normalize_phone("138 1234 5678").as_deref(),
            Some("13812345678")
        );
        assert_eq!(
            normalize_phone("（0753）2212345").as_deref(),
            Some("07532212345")
        );
        assert_eq!(
            normalize_phone("+86 753 2212345").as_deref(),
            Some("07532212345")
        );
        assert_eq!(normalize_phone("n/a"), None);
    }

    #[test]
    fn id_numbers() {
        // GB 11643 example
        assert_eq!(id_check_char("11010519491231002"), Some('X'));
        let n = normalize_id_number("11010519491231002x").unwrap();
        assert_eq!(n, "11010519491231002X");
        let info = parse_id_number(" 110105 19491231 002X ").unwrap();
        assert!(info.valid);
        assert_eq!(info.birth_date, Some(Date::new(1949, 12, 31)));
        assert_eq!(info.sex, Some(Sex::Female)); // 2 even → female
        // 15-digit upgrade
        let up = normalize_id_number("441402800101123").unwrap();
        assert_eq!(up.len(), 18);
        assert_eq!(&up[..17], "44140219800101123");
        let info = parse_id_number("441402800101123").unwrap();
        assert!(info.valid);
        assert_eq!(info.sex, Some(Sex::Male));
        assert_eq!(info.birth_date, Some(Date::new(1980, 1, 1)));
        // wrong check char
        assert!(!parse_id_number("110105194912310021").unwrap().valid);
        let made = make_id_number("441481", Date::new(1990, 2, 28), 37);
        assert!(parse_id_number(&made).unwrap().valid);
    }

    #[test]
    fn sex_and_dates() {
        assert_eq!(parse_sex("男"), Some(Sex::Male));
        assert_eq!(parse_sex(" F "), Some(Sex::Female));
        assert_eq!(parse_sex("2"), Some(Sex::Female));
        assert_eq!(parse_sex("未知"), None);
        assert_eq!(parse_date("19800102", None), Some(Date::new(1980, 1, 2)));
        assert_eq!(parse_date("1980-1-2", None), Some(Date::new(1980, 1, 2)));
        assert_eq!(
            parse_date("1980年1月2日", None),
            Some(Date::new(1980, 1, 2))
        );
        assert_eq!(
            parse_date("02/01/1980", Some("%d/%m/%Y")),
            Some(Date::new(1980, 1, 2))
        );
        assert_eq!(
            parse_date("１９８０-０１-０２", None),
            Some(Date::new(1980, 1, 2))
        );
        assert_eq!(
            parse_date("19451340", Some("%Y%m%d")),
            Some(Date::new(1945, 13, 40))
        );
        assert!(!Date::new(1945, 13, 40).is_valid());
        assert!(Date::new(2000, 2, 29).is_valid());
        assert!(!Date::new(1900, 2, 29).is_valid());
        assert_eq!(
            Date::new(2000, 3, 1).day_number() - Date::new(2000, 2, 28).day_number(),
            2
        );
    }
}
