//! Blocking: several passes, each on one or more (transformed) keys; the union
//! of the pairs that agree on a pass's keys are the candidate pairs.

use std::collections::{HashMap, HashSet};

use crate::config::{BlockingRule, Field};
use crate::error::{Error, Result};
use crate::record::{Person, Schema, slot, text_initials, text_pinyin};

/// How a key is derived from a field value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transform {
    Value,
    Pinyin,
    Initials,
    Prefix(usize),
    Suffix(usize),
    Year,
    Digits,
}

/// A parsed blocking key such as `pinyin(surname)` or `prefix3(postcode)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    pub field: Field,
    pub transform: Transform,
}

impl KeySpec {
    pub fn parse(s: &str) -> Result<KeySpec> {
        let s = s.trim();
        let Some(open) = s.find('(') else {
            return Ok(KeySpec {
                field: Field::try_from(s.to_string()).map_err(Error::Config)?,
                transform: Transform::Value,
            });
        };
        let inner = s[open + 1..]
            .strip_suffix(')')
            .ok_or_else(|| Error::Config(format!("bad blocking key `{s}`")))?;
        let field = Field::try_from(inner.to_string()).map_err(Error::Config)?;
        let t = &s[..open];
        let num = |p: &str| -> Result<usize> {
            t[p.len()..]
                .parse()
                .map_err(|_| Error::Config(format!("bad blocking key `{s}`")))
        };
        let transform = match t {
            "pinyin" => Transform::Pinyin,
            "initials" => Transform::Initials,
            "year" => Transform::Year,
            "digits" => Transform::Digits,
            _ if t.starts_with("prefix") => Transform::Prefix(num("prefix")?),
            _ if t.starts_with("suffix") => Transform::Suffix(num("suffix")?),
            _ => return Err(Error::Config(format!("unknown key transform `{t}`"))),
        };
        Ok(KeySpec { field, transform })
    }
}

/// A blocking pass compiled against a schema.
#[derive(Debug, Clone)]
pub struct CompiledBlock {
    pub name: String,
    keys: Vec<(usize, Transform)>,
    pub max_block_size: usize,
}

impl CompiledBlock {
    pub fn compile(rule: &BlockingRule, schema: &Schema) -> Result<Self> {
        let mut keys = Vec::new();
        for k in &rule.keys {
            let spec = KeySpec::parse(k)?;
            let s = schema
                .slot(&spec.field)
                .ok_or_else(|| Error::Config(format!("unknown field in blocking key `{k}`")))?;
            keys.push((s, spec.transform));
        }
        Ok(CompiledBlock {
            name: rule.name.clone(),
            keys,
            max_block_size: rule.max_block_size.unwrap_or(usize::MAX),
        })
    }

    /// Hash of the record's key for this pass, `None` if any part is missing.
    pub fn key(&self, p: &Person, pass: usize) -> Option<u64> {
        let mut h = Fnv::new();
        h.write(&(pass as u64).to_le_bytes());
        for (s, t) in &self.keys {
            let v = p.value(*s)?;
            h.write(&[0xff]);
            match t {
                Transform::Value => h.write(v.as_bytes()),
                Transform::Pinyin => match name_index(*s) {
                    Some(i) => h.write(p.pinyin[i].as_deref()?.as_bytes()),
                    None => h.write(text_pinyin(v).as_bytes()),
                },
                Transform::Initials => match name_index(*s) {
                    Some(i) => h.write(p.initials[i].as_deref()?.as_bytes()),
                    None => h.write(text_initials(v).as_bytes()),
                },
                Transform::Prefix(n) => {
                    let end = v.char_indices().nth(*n).map(|(i, _)| i).unwrap_or(v.len());
                    h.write(&v.as_bytes()[..end])
                }
                Transform::Suffix(n) => {
                    let c = v.chars().count();
                    let start = v
                        .char_indices()
                        .nth(c.saturating_sub(*n))
                        .map(|(i, _)| i)
                        .unwrap_or(0);
                    h.write(&v.as_bytes()[start..])
                }
                Transform::Year => match (s, p.birth) {
                    (&slot::BIRTH_DATE, Some(d)) => h.write(&d.year.to_le_bytes()),
                    _ => h.write(v.get(..4)?.as_bytes()),
                },
                Transform::Digits => {
                    let d: String = v.chars().filter(|c| c.is_ascii_digit()).collect();
                    if d.is_empty() {
                        return None;
                    }
                    h.write(d.as_bytes())
                }
            }
        }
        Some(h.finish())
    }
}

fn name_index(slot: usize) -> Option<usize> {
    match slot {
        slot::FULL_NAME => Some(0),
        slot::SURNAME => Some(1),
        slot::GIVEN_NAME => Some(2),
        _ => None,
    }
}

/// FNV-1a 64-bit.
pub struct Fnv(u64);

impl Fnv {
    pub fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    #[inline]
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    pub fn finish(&self) -> u64 {
        // final avalanche (splitmix) for better bucket spread
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl Default for Fnv {
    fn default() -> Self {
        Self::new()
    }
}

/// Candidate pairs between `left` and `right` (link mode): `(left idx, right idx)`,
/// deduplicated, in a deterministic order.
pub fn link_candidates(
    blocks: &[CompiledBlock],
    left: &[Person],
    right: &[Person],
) -> Vec<(u32, u32)> {
    let mut seen: HashSet<u64> = HashSet::new();
    let mut out = Vec::new();
    for (pass, b) in blocks.iter().enumerate() {
        let mut map: HashMap<u64, Vec<u32>> = HashMap::new();
        for (i, p) in left.iter().enumerate() {
            if let Some(k) = b.key(p, pass) {
                map.entry(k).or_default().push(i as u32);
            }
        }
        let mut rkeys: HashMap<u64, u32> = HashMap::new();
        let rk: Vec<Option<u64>> = right.iter().map(|p| b.key(p, pass)).collect();
        for k in rk.iter().flatten() {
            *rkeys.entry(*k).or_default() += 1;
        }
        for (j, k) in rk.iter().enumerate() {
            let Some(k) = k else { continue };
            let Some(ls) = map.get(k) else { continue };
            if ls.len() > b.max_block_size || rkeys[k] as usize > b.max_block_size {
                continue;
            }
            for &i in ls {
                let code = ((i as u64) << 32) | j as u64;
                if seen.insert(code) {
                    out.push((i, j as u32));
                }
            }
        }
    }
    out
}

/// Candidate pairs within one set (dedupe mode): `(i, j)` with `i < j`.
pub fn dedupe_candidates(blocks: &[CompiledBlock], recs: &[Person]) -> Vec<(u32, u32)> {
    let mut seen: HashSet<u64> = HashSet::new();
    let mut out = Vec::new();
    for (pass, b) in blocks.iter().enumerate() {
        let mut map: HashMap<u64, Vec<u32>> = HashMap::new();
        for (i, p) in recs.iter().enumerate() {
            if let Some(k) = b.key(p, pass) {
                map.entry(k).or_default().push(i as u32);
            }
        }
        let mut groups: Vec<&Vec<u32>> = map.values().filter(|v| v.len() > 1).collect();
        groups.sort_by_key(|v| v[0]);
        for g in groups {
            if g.len() > b.max_block_size {
                continue;
            }
            for x in 0..g.len() {
                for y in x + 1..g.len() {
                    let (i, j) = (g[x], g[y]);
                    let code = ((i as u64) << 32) | j as u64;
                    if seen.insert(code) {
                        out.push((i, j));
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_keys() {
        assert_eq!(
            KeySpec::parse("pinyin(surname)").unwrap(),
            KeySpec {
                field: Field::Surname,
                transform: Transform::Pinyin
            }
        );
        assert_eq!(
            KeySpec::parse("prefix3(postcode)").unwrap().transform,
            Transform::Prefix(3)
        );
        assert_eq!(
            KeySpec::parse(" birth_date ").unwrap().field,
            Field::BirthDate
        );
        assert!(KeySpec::parse("wibble(surname)").is_err());
    }
}
