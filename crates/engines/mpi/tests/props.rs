//! Property tests.

use proptest::prelude::*;
use yiyang_mpi::normalize::{
    id_check_char, normalize_id_number, normalize_name, normalize_phone, normalize_text,
    parse_id_number,
};
use yiyang_mpi::similarity::{jaro_winkler_str, osa_distance_str};

proptest! {
    #[test]
    fn normalize_text_idempotent(s in "\\PC{0,30}") {
        let once = normalize_text(&s);
        prop_assert_eq!(normalize_text(&once), once);
    }

    #[test]
    fn normalize_name_idempotent(s in "[张王李歐陽單 ·ａ-ｚA-Za-z,.\\-]{0,12}") {
        let once = normalize_name(&s);
        prop_assert_eq!(normalize_name(&once), once);
    }

    #[test]
    fn phone_idempotent(s in "[+0-9 ()\\-]{0,20}") {
        if let Some(p) = normalize_phone(&s) {
            prop_assert_eq!(normalize_phone(&p), Some(p.clone()));
        }
    }

    #[test]
    fn id_upgrade_yields_valid_checksum(region in 110000u32..660000, y in 0u32..100, m in 1u32..13, d in 1u32..29, seq in 0u32..1000) {
        let old = format!("{region:06}{y:02}{m:02}{d:02}{seq:03}");
        let new = normalize_id_number(&old).unwrap();
        prop_assert_eq!(new.len(), 18);
        prop_assert_eq!(id_check_char(&new[..17]), new.chars().last());
        let info = parse_id_number(&old).unwrap();
        prop_assert!(info.valid);
        prop_assert_eq!(info.birth_date.unwrap().year as u32, 1900 + y);
        // idempotent
        prop_assert_eq!(normalize_id_number(&new), Some(new.clone()));
    }

    #[test]
    fn jaro_winkler_bounded_symmetric(a in "\\PC{0,15}", b in "\\PC{0,15}") {
        let x = jaro_winkler_str(&a, &b);
        prop_assert!((0.0..=1.0 + 1e-12).contains(&x));
        prop_assert!((x - jaro_winkler_str(&b, &a)).abs() < 1e-9);
        if a == b { prop_assert!((x - 1.0).abs() < 1e-12); }
    }

    #[test]
    fn osa_symmetric_and_bounded(a in "[a-d]{0,8}", b in "[a-d]{0,8}") {
        let d = osa_distance_str(&a, &b);
        prop_assert_eq!(d, osa_distance_str(&b, &a));
        prop_assert!(d <= a.len().max(b.len()));
    }
}
