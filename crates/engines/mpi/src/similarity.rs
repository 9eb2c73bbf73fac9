//! String similarity: Jaro, Jaro–Winkler and (restricted) Damerau–Levenshtein,
//! on slices of any comparable unit (bytes for ASCII, `char`s otherwise).

/// Jaro similarity in [0, 1].
pub fn jaro<T: PartialEq + Copy>(a: &[T], b: &[T]) -> f64 {
    let (la, lb) = (a.len(), b.len());
    if la == 0 && lb == 0 {
        return 1.0;
    }
    if la == 0 || lb == 0 {
        return 0.0;
    }
    if la <= 64 && lb <= 64 {
        return jaro_small(a, b);
    }
    let window = (la.max(lb) / 2).saturating_sub(1);
    let mut af = vec![false; la];
    let mut bf = vec![false; lb];
    let mut matches = 0usize;
    for i in 0..la {
        let lo = i.saturating_sub(window);
        let hi = (i + window + 1).min(lb);
        for j in lo..hi {
            if !bf[j] && a[i] == b[j] {
                af[i] = true;
                bf[j] = true;
                matches += 1;
                break;
            }
        }
    }
    if matches == 0 {
        return 0.0;
    }
    let mut transpositions = 0usize;
    let mut k = 0usize;
    for i in 0..la {
        if af[i] {
            while !bf[k] {
                k += 1;
            }
            if a[i] != b[k] {
                transpositions += 1;
            }
            k += 1;
        }
    }
    jaro_value(matches, transpositions, la, lb)
}

#[inline]
fn jaro_value(matches: usize, transpositions: usize, la: usize, lb: usize) -> f64 {
    let m = matches as f64;
    (m / la as f64 + m / lb as f64 + (m - (transpositions / 2) as f64) / m) / 3.0
}

/// Jaro for strings of at most 64 units, with bit masks as match flags.
#[inline]
fn jaro_small<T: PartialEq + Copy>(a: &[T], b: &[T]) -> f64 {
    let (la, lb) = (a.len(), b.len());
    let window = (la.max(lb) / 2).saturating_sub(1);
    let mut af: u64 = 0;
    let mut bf: u64 = 0;
    let mut matches = 0usize;
    for (i, &x) in a.iter().enumerate() {
        let lo = i.saturating_sub(window);
        let hi = (i + window + 1).min(lb);
        for (j, &y) in b.iter().enumerate().take(hi).skip(lo) {
            if bf & (1u64 << j) == 0 && x == y {
                af |= 1u64 << i;
                bf |= 1u64 << j;
                matches += 1;
                break;
            }
        }
    }
    if matches == 0 {
        return 0.0;
    }
    let mut transpositions = 0usize;
    let (mut am, mut bm) = (af, bf);
    while am != 0 {
        let i = am.trailing_zeros() as usize;
        let j = bm.trailing_zeros() as usize;
        if a[i] != b[j] {
            transpositions += 1;
        }
        am &= am - 1;
        bm &= bm - 1;
    }
    jaro_value(matches, transpositions, la, lb)
}

/// Jaro–Winkler similarity (prefix scale 0.1, prefix of at most 4 units).
pub fn jaro_winkler<T: PartialEq + Copy>(a: &[T], b: &[T]) -> f64 {
    let j = jaro(a, b);
    let prefix = a
        .iter()
        .zip(b.iter())
        .take(4)
        .take_while(|(x, y)| x == y)
        .count();
    j + prefix as f64 * 0.1 * (1.0 - j)
}

/// Jaro–Winkler on strings: bytes when both are ASCII, chars otherwise.
pub fn jaro_winkler_str(a: &str, b: &str) -> f64 {
    if a.is_ascii() && b.is_ascii() {
        jaro_winkler(a.as_bytes(), b.as_bytes())
    } else {
        let ac: Vec<char> = a.chars().collect();
        let bc: Vec<char> = b.chars().collect();
        jaro_winkler(&ac, &bc)
    }
}

/// Optimal string alignment distance (Damerau–Levenshtein with adjacent
/// transpositions, each substring edited at most once).
pub fn osa_distance<T: PartialEq + Copy>(a: &[T], b: &[T]) -> usize {
    let (la, lb) = (a.len(), b.len());
    if la == 0 {
        return lb;
    }
    if lb == 0 {
        return la;
    }
    let w = lb + 1;
    let mut d = vec![0usize; (la + 1) * w];
    for i in 0..=la {
        d[i * w] = i;
    }
    for (j, v) in d.iter_mut().enumerate().take(lb + 1) {
        *v = j;
    }
    for i in 1..=la {
        for j in 1..=lb {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
        }
    }
    d[la * w + lb]
}

/// Whether the OSA distance is at most `max` (early exit; no allocation for
/// strings up to 32 units).
pub fn osa_within<T: PartialEq + Copy>(a: &[T], b: &[T], max: usize) -> bool {
    let (la, lb) = (a.len(), b.len());
    if la.abs_diff(lb) > max {
        return false;
    }
    if a == b {
        return true;
    }
    if la > 32 || lb > 32 {
        return osa_distance(a, b) <= max;
    }
    // three rolling rows (i-2, i-1, i), rotated by index
    let mut rows = [[0u8; 33]; 3];
    for (j, v) in rows[1].iter_mut().enumerate().take(lb + 1) {
        *v = j as u8;
    }
    let (mut p2, mut p1, mut cur) = (0usize, 1usize, 2usize);
    for i in 1..=la {
        rows[cur][0] = i as u8;
        let mut row_min = i as u8;
        for j in 1..=lb {
            let cost = u8::from(a[i - 1] != b[j - 1]);
            let mut v = (rows[p1][j] + 1)
                .min(rows[cur][j - 1] + 1)
                .min(rows[p1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(rows[p2][j - 2] + 1);
            }
            rows[cur][j] = v;
            row_min = row_min.min(v);
        }
        if row_min as usize > max {
            return false;
        }
        (p2, p1, cur) = (p1, cur, p2);
    }
    rows[p1][lb] as usize <= max
}

/// Upper bound of the number of characters two byte strings share (as
/// multisets); bytes are bucketed by their low 5 bits, which can only
/// over-count.
#[inline]
pub fn common_upper_bound(a: &[u8], b: &[u8]) -> usize {
    let mut counts = [0u8; 32];
    for &x in a {
        let c = &mut counts[(x & 31) as usize];
        *c = c.saturating_add(1);
    }
    let mut common = 0usize;
    for &y in b {
        let c = &mut counts[(y & 31) as usize];
        if *c > 0 {
            *c -= 1;
            common += 1;
        }
    }
    common
}

/// OSA distance if it is at most `max`, else `None`.
pub fn osa_bounded<T: PartialEq + Copy>(a: &[T], b: &[T], max: usize) -> Option<usize> {
    (0..=max).find(|&k| osa_within(a, b, k))
}

/// Cheap upper bound of Jaro–Winkler for ASCII strings, from the number of
/// characters they share (as multisets) and the common prefix.
pub fn jaro_winkler_upper_bound(a: &[u8], b: &[u8]) -> f64 {
    let (la, lb) = (a.len(), b.len());
    if la == 0 || lb == 0 {
        return if la == lb { 1.0 } else { 0.0 };
    }
    let common = common_upper_bound(a, b);
    if common == 0 {
        return 0.0;
    }
    let m = common as f64;
    let j = (m / la as f64 + m / lb as f64 + 1.0) / 3.0;
    let prefix = a
        .iter()
        .zip(b.iter())
        .take(4)
        .take_while(|(x, y)| x == y)
        .count();
    j + prefix as f64 * 0.1 * (1.0 - j)
}

/// OSA distance on strings (bytes when ASCII, chars otherwise).
pub fn osa_distance_str(a: &str, b: &str) -> usize {
    if a.is_ascii() && b.is_ascii() {
        osa_distance(a.as_bytes(), b.as_bytes())
    } else {
        let ac: Vec<char> = a.chars().collect();
        let bc: Vec<char> = b.chars().collect();
        osa_distance(&ac, &bc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-3
    }

    #[test]
    fn jaro_known_values() {
        assert!(close(jaro(b"MARTHA", b"MARHTA"), 0.944));
        assert!(close(jaro(b"DIXON", b"DICKSONX"), 0.767));
        assert!(close(jaro(b"JELLYFISH", b"SMELLYFISH"), 0.896));
        assert_eq!(jaro(b"", b""), 1.0);
        assert_eq!(jaro(b"abc", b""), 0.0);
        assert_eq!(jaro(b"abc", b"xyz"), 0.0);
    }

    #[test]
    fn jaro_winkler_known_values() {
        assert!(close(jaro_winkler(b"MARTHA", b"MARHTA"), 0.961));
        assert!(close(jaro_winkler(b"DWAYNE", b"DUANE"), 0.84));
        assert!(close(jaro_winkler(b"DIXON", b"DICKSONX"), 0.813));
        assert_eq!(jaro_winkler_str("张三丰", "张三丰"), 1.0);
        let s = jaro_winkler_str("张三丰", "张山丰");
        assert!(s > 0.79 && s < 0.81, "{s}");
        // symmetric
        assert!(close(
            jaro_winkler_str("crescent", "cresent"),
            jaro_winkler_str("cresent", "crescent")
        ));
    }

    #[test]
    fn long_strings_fallback() {
        let a = "a".repeat(100);
        let b = "a".repeat(99) + "b";
        assert!(jaro_winkler_str(&a, &b) > 0.98);
    }

    #[test]
    fn osa_within_agrees() {
        let words = [
            "", "a", "ab", "ba", "abc", "acb", "kitten", "sitting", "19800102", "19800201",
            "abcdef", "abdcef",
        ];
        for x in words {
            for y in words {
                let d = osa_distance(x.as_bytes(), y.as_bytes());
                for max in 0..4 {
                    assert_eq!(
                        osa_within(x.as_bytes(), y.as_bytes(), max),
                        d <= max,
                        "{x} {y} {max}"
                    );
                }
            }
        }
    }

    #[test]
    fn upper_bound_holds() {
        let words = [
            "martha", "marhta", "dwayne", "duane", "dixon", "dicksonx", "a", "abc", "cba",
            "crescent", "cresent", "street",
        ];
        for x in words {
            for y in words {
                let ub = jaro_winkler_upper_bound(x.as_bytes(), y.as_bytes());
                assert!(
                    ub + 1e-12 >= jaro_winkler(x.as_bytes(), y.as_bytes()),
                    "{x} {y}"
                );
            }
        }
    }

    #[test]
    fn osa() {
        assert_eq!(osa_distance_str("kitten", "sitting"), 3);
        assert_eq!(osa_distance_str("ca", "ac"), 1);
        assert_eq!(osa_distance_str("19800102", "19800201"), 2);
        assert_eq!(osa_distance_str("张伟", "张玮"), 1);
        assert_eq!(osa_distance_str("", "abc"), 3);
    }
}
