//! Deterministic generator of a fictional Chinese population (Meizhou area) with
//! realistic duplicates: homophone characters, traditional characters, swapped
//! day/month, year slips, old 15-digit ID numbers, typos, reformatted phones,
//! missing fields. All data is fictional.

use std::io::Write;

use crate::config::{ColumnMap, Field};
use crate::error::Result;
use crate::normalize::{Date, days_in_month, make_id_number};
use crate::record::RawRecord;
use crate::rng::Rng;

/// Surnames with approximate relative frequencies (national ranking, with the
/// Hakka surnames common in Meizhou boosted; rare polyphonic and compound
/// surnames included).
pub const SURNAMES: &[(&str, f64)] = &[
    ("王", 7.1),
    ("李", 7.0),
    ("张", 6.5),
    ("刘", 5.4),
    ("陈", 4.6),
    ("杨", 3.1),
    ("黄", 2.4),
    ("赵", 2.3),
    ("吴", 2.0),
    ("周", 1.9),
    ("徐", 1.5),
    ("孙", 1.5),
    ("马", 1.4),
    ("朱", 1.3),
    ("胡", 1.2),
    ("郭", 1.1),
    ("何", 1.1),
    ("林", 1.1),
    ("高", 1.0),
    ("罗", 1.0),
    ("郑", 0.9),
    ("梁", 0.9),
    ("谢", 0.8),
    ("宋", 0.8),
    ("唐", 0.7),
    ("许", 0.7),
    ("韩", 0.7),
    ("冯", 0.7),
    ("邓", 0.7),
    ("曹", 0.6),
    ("彭", 0.6),
    ("曾", 0.7),
    ("肖", 0.6),
    ("田", 0.5),
    ("董", 0.5),
    ("袁", 0.5),
    ("潘", 0.5),
    ("于", 0.5),
    ("蒋", 0.5),
    ("蔡", 0.5),
    ("余", 0.5),
    ("杜", 0.4),
    ("叶", 0.5),
    ("程", 0.4),
    ("苏", 0.4),
    ("魏", 0.4),
    ("吕", 0.4),
    ("丁", 0.4),
    ("任", 0.4),
    ("沈", 0.3),
    ("姚", 0.3),
    ("卢", 0.3),
    ("姜", 0.3),
    ("崔", 0.3),
    ("钟", 0.6),
    ("谭", 0.3),
    ("陆", 0.3),
    ("汪", 0.3),
    ("范", 0.3),
    ("金", 0.3),
    ("石", 0.3),
    ("廖", 0.4),
    ("贾", 0.3),
    ("夏", 0.3),
    ("韦", 0.3),
    ("付", 0.3),
    ("方", 0.2),
    ("白", 0.2),
    ("邹", 0.2),
    ("孟", 0.2),
    ("熊", 0.2),
    ("秦", 0.2),
    ("邱", 0.3),
    ("江", 0.2),
    ("尹", 0.2),
    ("薛", 0.2),
    ("段", 0.2),
    ("雷", 0.2),
    ("侯", 0.2),
    ("龙", 0.2),
    ("史", 0.2),
    ("陶", 0.2),
    ("黎", 0.2),
    ("贺", 0.2),
    ("顾", 0.2),
    ("毛", 0.2),
    ("郝", 0.2),
    ("龚", 0.2),
    ("邵", 0.2),
    ("万", 0.2),
    ("钱", 0.2),
    ("严", 0.2),
    ("覃", 0.1),
    ("武", 0.1),
    ("戴", 0.1),
    ("莫", 0.1),
    ("古", 0.3),
    ("温", 0.3),
    ("丘", 0.1),
    ("巫", 0.1),
    ("饶", 0.1),
    ("凌", 0.1),
    ("单", 0.02),
    ("解", 0.02),
    ("区", 0.02),
    ("仇", 0.02),
    ("查", 0.02),
    ("盖", 0.02),
    ("朴", 0.01),
    ("欧阳", 0.03),
    ("司马", 0.01),
    ("诸葛", 0.005),
    ("尉迟", 0.003),
    ("上官", 0.01),
    ("司徒", 0.01),
];

const MALE_CHARS: &str = "伟强军磊洋勇杰涛明超辉华平刚建文斌鹏宇浩俊峰志国东海波林龙坤健毅晨翔博凯亮飞鑫宏锋森松旭彬荣发家振兴永德";
const FEMALE_CHARS: &str =
    "芳娜敏静丽艳娟霞秀玲桂英梅燕红兰琳婷雪慧颖倩欣洁佳琪薇蓉萍丹莉月晶璐婕妍怡雯瑶凤春玉珍";
const COMMON_CHARS: &str = "小子嘉思晓文雨天春金玉立永德海锦秋冬";

/// Groups of characters with the same reading, for homophone typos.
const HOMOPHONES: &[&str] = &[
    "伟玮炜维卫",
    "丽莉俐利立",
    "敏闵",
    "芳方",
    "静靖婧敬",
    "华桦",
    "明铭鸣",
    "军君钧",
    "杰洁",
    "玲琳灵凌",
    "红宏鸿虹",
    "平萍",
    "英瑛",
    "辉晖",
    "娟鹃",
    "霞侠",
    "峰锋丰",
    "燕艳雁",
    "建健剑",
    "文雯",
    "斌彬",
    "涛韬",
    "浩昊",
    "宇雨语羽",
    "欣新馨心鑫",
    "婷亭",
    "俊骏",
    "嘉佳家",
    "琪琦淇",
    "慧惠",
    "晨辰",
    "翔祥",
    "凯恺",
    "飞菲",
    "志智",
    "东冬",
    "林霖",
    "龙隆",
    "梅玫",
    "兰岚",
    "颖莹",
    "薇微",
    "蓉荣容",
    "月悦",
    "瑶遥",
    "怡宜",
    "永勇",
    "张章",
    "王汪",
    "李黎",
    "刘柳",
    "杨阳",
    "吴伍武",
    "徐许",
    "邱丘",
    "钟忠",
];

/// Simplified → traditional pairs used to inject traditional characters.
const TRADITIONAL: &[(char, char)] = &[
    ('张', '張'),
    ('刘', '劉'),
    ('陈', '陳'),
    ('杨', '楊'),
    ('黄', '黃'),
    ('赵', '趙'),
    ('吴', '吳'),
    ('郑', '鄭'),
    ('谢', '謝'),
    ('罗', '羅'),
    ('钟', '鍾'),
    ('叶', '葉'),
    ('邓', '鄧'),
    ('冯', '馮'),
    ('许', '許'),
    ('韩', '韓'),
    ('苏', '蘇'),
    ('吕', '呂'),
    ('卢', '盧'),
    ('龙', '龍'),
    ('伟', '偉'),
    ('丽', '麗'),
    ('华', '華'),
    ('军', '軍'),
    ('红', '紅'),
    ('国', '國'),
    ('东', '東'),
    ('兰', '蘭'),
    ('凤', '鳳'),
    ('强', '強'),
    ('辉', '輝'),
    ('艳', '艷'),
    ('杰', '傑'),
    ('涛', '濤'),
    ('鹏', '鵬'),
    ('锋', '鋒'),
    ('飞', '飛'),
    ('颖', '穎'),
    ('洁', '潔'),
    ('晓', '曉'),
    ('凯', '凱'),
    ('宁', '寧'),
    ('兴', '興'),
    ('县', '縣'),
    ('区', '區'),
    ('镇', '鎮'),
    ('顺', '順'),
    ('岭', '嶺'),
    ('远', '遠'),
    ('丰', '豐'),
    ('阳', '陽'),
    ('乡', '鄉'),
    ('号', '號'),
    ('园', '園'),
    ('门', '門'),
    ('荣', '榮'),
    ('发', '發'),
    ('振', '振'),
    ('宝', '寶'),
    ('贵', '貴'),
    ('庆', '慶'),
    ('进', '進'),
    ('欧', '歐'),
    ('马', '馬'),
    ('单', '單'),
    ('尉', '尉'),
];

/// Meizhou districts: code, name, towns.
pub const DISTRICTS: &[(&str, &str, &[&str])] = &[
    (
        "441402",
        "梅江区",
        &[
            "西郊街道",
            "金山街道",
            "江南街道",
            "三角镇",
            "城北镇",
            "长沙镇",
            "西阳镇",
        ],
    ),
    (
        "441403",
        "梅县区",
        &[
            "新城街道",
            "程江镇",
            "畲江镇",
            "南口镇",
            "雁洋镇",
            "松口镇",
            "丙村镇",
            "白渡镇",
        ],
    ),
    (
        "441422",
        "大埔县",
        &["湖寮镇", "茶阳镇", "三河镇", "高陂镇", "百侯镇", "大麻镇"],
    ),
    (
        "441423",
        "丰顺县",
        &["汤坑镇", "丰良镇", "留隍镇", "汤西镇", "八乡山镇"],
    ),
    (
        "441424",
        "五华县",
        &["水寨镇", "华城镇", "安流镇", "横陂镇", "河东镇", "岐岭镇"],
    ),
    (
        "441426",
        "平远县",
        &["大柘镇", "仁居镇", "石正镇", "东石镇"],
    ),
    (
        "441427",
        "蕉岭县",
        &["蕉城镇", "新铺镇", "长潭镇", "三圳镇"],
    ),
    (
        "441481",
        "兴宁市",
        &[
            "兴田街道",
            "宁新街道",
            "福兴街道",
            "刁坊镇",
            "坭陂镇",
            "叶塘镇",
        ],
    ),
];

const VILLAGE_CHARS: &str = "东南西北上下新老石塘坑岭坪田湖溪龙凤岗寨围楼径口背尾";
const ROADS: &[&str] = &[
    "梅江路",
    "江南路",
    "嘉应路",
    "梅州大道",
    "彬芳大道",
    "新中路",
    "文化路",
    "人民路",
    "宁江路",
    "兴宁大道",
];

/// Probabilities of the corruptions applied to a duplicate.
#[derive(Debug, Clone, Copy)]
pub struct DuplicateProfile {
    pub homophone: f64,
    pub traditional: f64,
    pub name_format: f64,
    pub swap_day_month: f64,
    pub year_slip: f64,
    pub missing_id: f64,
    pub old_id_15: f64,
    pub id_typo: f64,
    pub missing_phone: f64,
    pub new_phone: f64,
    pub phone_format: f64,
    pub missing_town: f64,
    pub new_address: f64,
    pub missing_sex: f64,
    pub missing_birth: f64,
}

impl Default for DuplicateProfile {
    fn default() -> Self {
        DuplicateProfile {
            homophone: 0.15,
            traditional: 0.1,
            name_format: 0.05,
            swap_day_month: 0.05,
            year_slip: 0.03,
            missing_id: 0.25,
            old_id_15: 0.03,
            id_typo: 0.05,
            missing_phone: 0.2,
            new_phone: 0.1,
            phone_format: 0.2,
            missing_town: 0.2,
            new_address: 0.15,
            missing_sex: 0.1,
            missing_birth: 0.1,
        }
    }
}

impl DuplicateProfile {
    /// Heavier corruption: most duplicates lack the ID number, many have moved
    /// or changed phone, names are often misspelt.
    pub fn hard() -> Self {
        DuplicateProfile {
            homophone: 0.4,
            traditional: 0.3,
            name_format: 0.1,
            swap_day_month: 0.1,
            year_slip: 0.08,
            missing_id: 0.6,
            old_id_15: 0.05,
            id_typo: 0.1,
            missing_phone: 0.4,
            new_phone: 0.3,
            phone_format: 0.3,
            missing_town: 0.4,
            new_address: 0.4,
            missing_sex: 0.2,
            missing_birth: 0.2,
        }
    }
}

/// Column names of generated CSV files and their mapping.
pub const CSV_COLUMNS: [&str; 9] = [
    "record_id",
    "姓名",
    "性别",
    "出生日期",
    "身份证号",
    "手机",
    "区县",
    "镇街",
    "详细地址",
];

/// The column mapping for CSV files written by [`write_csv`].
pub fn column_map() -> ColumnMap {
    ColumnMap {
        record_id: Some("record_id".into()),
        full_name: Some("姓名".into()),
        sex: Some("性别".into()),
        birth_date: Some("出生日期".into()),
        id_number: Some("身份证号".into()),
        phone: Some("手机".into()),
        district: Some("区县".into()),
        town: Some("镇街".into()),
        address_detail: Some("详细地址".into()),
        derive_from_id_number: true,
        ..Default::default()
    }
}

/// Synthetic population generator.
#[derive(Debug, Clone)]
pub struct Generator {
    rng: Rng,
    male: Vec<char>,
    female: Vec<char>,
    common: Vec<char>,
    village: Vec<char>,
    used_ids: std::collections::HashSet<u64>,
    pub profile: DuplicateProfile,
}

impl Generator {
    pub fn new(seed: u64) -> Self {
        Generator {
            rng: Rng::new(seed),
            male: MALE_CHARS.chars().collect(),
            female: FEMALE_CHARS.chars().collect(),
            common: COMMON_CHARS.chars().collect(),
            village: VILLAGE_CHARS.chars().collect(),
            used_ids: std::collections::HashSet::new(),
            profile: DuplicateProfile::default(),
        }
    }

    fn given(&mut self, male: bool) -> String {
        let pool = if male {
            self.male.clone()
        } else {
            self.female.clone()
        };
        let n = if self.rng.chance(0.8) { 2 } else { 1 };
        let mut s = String::new();
        for k in 0..n {
            let c = if k == 0 && n == 2 && self.rng.chance(0.25) {
                *self.rng.pick(&self.common)
            } else {
                *self.rng.pick(&pool)
            };
            s.push(c);
        }
        s
    }

    fn phone(&mut self) -> String {
        let prefixes = ["13", "15", "18"];
        let p = self.rng.pick(&prefixes);
        let third = self.rng.below(10);
        format!("{p}{third}{:08}", self.rng.below(100_000_000))
    }

    fn detail(&mut self) -> String {
        if self.rng.chance(0.6) {
            let a = *self.rng.pick(&self.village);
            let b = *self.rng.pick(&self.village);
            format!("{a}{b}村{}号", 1 + self.rng.below(300))
        } else {
            format!("{}{}号", self.rng.pick(ROADS), 1 + self.rng.below(500))
        }
    }

    /// One fictional person.
    pub fn person(&mut self, id: impl Into<String>) -> RawRecord {
        let surname = *self.rng.pick_weighted(SURNAMES);
        let male = self.rng.chance(0.5);
        let given = self.given(male);
        let year = 1930 + self.rng.below(94) as u16;
        let month = 1 + self.rng.below(12) as u8;
        let day = 1 + self.rng.below(days_in_month(year, month) as u64) as u8;
        let birth = Date::new(year, month, day);
        let (code, dname, towns) = *self.rng.pick(DISTRICTS);
        // ID numbers are unique: draw sequence numbers until unused
        let mut seq;
        loop {
            seq = (self.rng.below(500) * 2 + u64::from(male)) as u16;
            let key = (code.parse::<u64>().unwrap_or(0) * 100_000_000 + birth.day_number() as u64)
                * 1000
                + seq as u64;
            if self.used_ids.insert(key) {
                break;
            }
        }
        let id_number = make_id_number(code, birth, seq);
        let mut r = RawRecord::new(id)
            .with(Field::FullName, format!("{surname}{given}"))
            .with(Field::Sex, if male { "男" } else { "女" })
            .with(Field::BirthDate, birth.to_string())
            .with(Field::IdNumber, id_number)
            .with(Field::District, dname)
            .with(Field::Town, *self.rng.pick(towns));
        if self.rng.chance(0.85) {
            let ph = self.phone();
            r.set(Field::Phone, ph);
        }
        let d = self.detail();
        r.set(Field::AddressDetail, d);
        r
    }

    fn homophone(&mut self, s: &str) -> String {
        let chars: Vec<char> = s.chars().collect();
        let idx: Vec<usize> = (0..chars.len())
            .filter(|&i| i > 0 && HOMOPHONES.iter().any(|g| g.contains(chars[i])))
            .collect();
        if idx.is_empty() {
            return s.to_string();
        }
        let i = *self.rng.pick(&idx);
        let group: Vec<char> = HOMOPHONES
            .iter()
            .find(|g| g.contains(chars[i]))
            .map(|g| g.chars().filter(|&c| c != chars[i]).collect())
            .unwrap_or_default();
        let mut out = chars.clone();
        out[i] = *self.rng.pick(&group);
        out.into_iter().collect()
    }

    fn traditional(s: &str) -> String {
        s.chars()
            .map(|c| {
                TRADITIONAL
                    .iter()
                    .find(|(a, _)| *a == c)
                    .map_or(c, |(_, t)| *t)
            })
            .collect()
    }

    /// A corrupted copy of `r` with a new record id.
    pub fn duplicate(&mut self, r: &RawRecord, id: impl Into<String>) -> RawRecord {
        let p = self.profile;
        let mut d = r.clone();
        d.id = id.into();
        if let Some(name) = r.get(&Field::FullName) {
            let mut n = name.to_string();
            if self.rng.chance(p.homophone) {
                n = self.homophone(&n);
            }
            if self.rng.chance(p.traditional) {
                n = Self::traditional(&n);
            }
            if self.rng.chance(p.name_format) {
                let mut it = n.chars();
                let first: String = it.next().into_iter().collect();
                n = format!("{first} {}", it.collect::<String>());
            }
            d.set(Field::FullName, n);
        }
        if let Some(b) = r.get(&Field::BirthDate) {
            let parts: Vec<u32> = b.split('-').filter_map(|x| x.parse().ok()).collect();
            if parts.len() == 3 {
                let (mut y, mut m, mut dd) = (parts[0], parts[1], parts[2]);
                if dd <= 12 && dd != m && self.rng.chance(p.swap_day_month) {
                    std::mem::swap(&mut m, &mut dd);
                } else if self.rng.chance(p.year_slip) {
                    y = if self.rng.chance(0.5) { y + 1 } else { y - 1 };
                }
                let fmt = self.rng.below(3);
                let s = match fmt {
                    0 => format!("{y:04}-{m:02}-{dd:02}"),
                    1 => format!("{y:04}{m:02}{dd:02}"),
                    _ => format!("{y}年{m}月{dd}日"),
                };
                d.set(Field::BirthDate, s);
            }
            if self.rng.chance(p.missing_birth) {
                d.remove(&Field::BirthDate);
            }
        }
        if let Some(idn) = r.get(&Field::IdNumber) {
            if self.rng.chance(p.missing_id) {
                d.remove(&Field::IdNumber);
            } else if self.rng.chance(p.old_id_15) && idn.len() == 18 {
                d.set(Field::IdNumber, format!("{}{}", &idn[..6], &idn[8..17]));
            } else if self.rng.chance(p.id_typo) {
                let mut b: Vec<u8> = idn.as_bytes().to_vec();
                let i = 6 + self.rng.below(11) as usize;
                b[i] = b'0' + ((b[i] - b'0' + 1 + self.rng.below(8) as u8) % 10);
                d.set(Field::IdNumber, String::from_utf8(b).unwrap_or_default());
            } else if idn.ends_with('X') && self.rng.chance(0.5) {
                d.set(Field::IdNumber, idn.to_lowercase());
            }
        }
        if self.rng.chance(p.missing_phone) {
            d.remove(&Field::Phone);
        } else if self.rng.chance(p.new_phone) {
            let ph = self.phone();
            d.set(Field::Phone, ph);
        } else if let Some(ph) = r.get(&Field::Phone)
            && self.rng.chance(p.phone_format)
            && ph.len() == 11
        {
            d.set(
                Field::Phone,
                format!("+86 {}-{}-{}", &ph[..3], &ph[3..7], &ph[7..]),
            );
        }
        if self.rng.chance(p.missing_town) {
            d.remove(&Field::Town);
        }
        if self.rng.chance(p.new_address) {
            let det = self.detail();
            d.set(Field::AddressDetail, det);
        }
        if self.rng.chance(p.traditional) {
            for f in [Field::District, Field::Town, Field::AddressDetail] {
                if let Some(v) = d.get(&f) {
                    let t = Self::traditional(v);
                    d.set(f, t);
                }
            }
        }
        if self.rng.chance(p.missing_sex) {
            d.remove(&Field::Sex);
        }
        d
    }

    /// `n` distinct persons plus duplicates of a `dup_rate` share of them.
    /// Returns the records (shuffled) and the true duplicate pairs (record ids).
    pub fn dataset(&mut self, n: usize, dup_rate: f64) -> (Vec<RawRecord>, Vec<(String, String)>) {
        let mut recs = Vec::with_capacity(n + (n as f64 * dup_rate) as usize);
        let mut truth = Vec::new();
        for i in 0..n {
            let r = self.person(format!("P{i:07}"));
            if self.rng.chance(dup_rate) {
                let d = self.duplicate(&r, format!("D{i:07}"));
                truth.push((r.id.clone(), d.id.clone()));
                recs.push(d);
            }
            recs.push(r);
        }
        // shuffle (Fisher–Yates)
        for i in (1..recs.len()).rev() {
            let j = self.rng.below(i as u64 + 1) as usize;
            recs.swap(i, j);
        }
        (recs, truth)
    }
}

/// Write records as CSV with [`CSV_COLUMNS`].
pub fn write_csv(recs: &[RawRecord], out: impl Write) -> Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(CSV_COLUMNS)?;
    let fields = [
        Field::FullName,
        Field::Sex,
        Field::BirthDate,
        Field::IdNumber,
        Field::Phone,
        Field::District,
        Field::Town,
        Field::AddressDetail,
    ];
    for r in recs {
        let mut row = vec![r.id.as_str()];
        row.extend(fields.iter().map(|f| r.get(f).unwrap_or("")));
        w.write_record(&row)?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::parse_id_number;

    #[test]
    fn deterministic_and_valid() {
        let mut g1 = Generator::new(1);
        let mut g2 = Generator::new(1);
        for i in 0..200 {
            let a = g1.person(format!("{i}"));
            let b = g2.person(format!("{i}"));
            assert_eq!(a, b);
            let info = parse_id_number(a.get(&Field::IdNumber).unwrap()).unwrap();
            assert!(info.valid);
            let male = a.get(&Field::Sex) == Some("男");
            assert_eq!(info.sex == Some(crate::normalize::Sex::Male), male);
            assert!(
                DISTRICTS
                    .iter()
                    .any(|d| d.0 == info.region.as_deref().unwrap())
            );
        }
    }

    #[test]
    fn dataset_has_truth() {
        let mut g = Generator::new(3);
        let (recs, truth) = g.dataset(1000, 0.2);
        assert!(truth.len() > 150 && truth.len() < 250);
        assert_eq!(recs.len(), 1000 + truth.len());
    }
}
