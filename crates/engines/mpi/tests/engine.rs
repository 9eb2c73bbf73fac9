//! End-to-end behaviour: explanations, outcomes, rules, CSV API.

use yiyang_mpi::synth::{Generator, column_map, write_csv};
use yiyang_mpi::{
    ColumnMap, Decision, Field, MappingConfig, Matcher, RawRecord, dedupe, dedupe_csv, link_csv,
};

fn trained() -> (Matcher, Vec<yiyang_mpi::Person>) {
    let cfg = MappingConfig::with_columns("t", column_map());
    let mut g = Generator::new(5);
    let (recs, _) = g.dataset(3000, 0.2);
    let n = yiyang_mpi::Normalizer::new(&cfg);
    let persons: Vec<_> = recs.iter().map(|r| n.normalize(r)).collect();
    let run = dedupe(&cfg, &persons).unwrap();
    (run.matcher, persons)
}

#[test]
fn explanation_contributions_sum_to_total() {
    let (m, persons) = trained();
    for w in persons.windows(2).take(300) {
        let e = m.explain(&w[0], &w[1]);
        let sum: f64 = e.prior_weight + e.fields.iter().map(|f| f.weight).sum::<f64>();
        assert!((sum - e.match_weight).abs() < 1e-9);
        let s = m.score(&w[0], &w[1]);
        assert!((s.match_weight - e.match_weight).abs() < 1e-9);
        assert_eq!(s.decision, e.decision);
        for f in &e.fields {
            if f.level == "null" {
                assert_eq!(f.weight, 0.0);
            } else {
                assert!((f.weight - (f.m / f.u).log2()).abs() < 1e-9);
            }
        }
    }
}

#[test]
fn three_outcomes() {
    let (m, _) = trained();
    let n = &m.normalizer;
    let base = RawRecord::new("a")
        .with(Field::FullName, "钟伟明")
        .with(Field::Sex, "男")
        .with(Field::BirthDate, "1975-06-03")
        .with(Field::Phone, "13812345678")
        .with(Field::District, "梅江区")
        .with(Field::Town, "西郊街道")
        .with(Field::AddressDetail, "东岭村12号");
    // same person: traditional + homophone + reformatted phone, no ID
    let dup = RawRecord::new("b")
        .with(Field::FullName, "鍾偉明")
        .with(Field::Sex, "男")
        .with(Field::BirthDate, "19750603")
        .with(Field::Phone, "+86 138-1234-5678")
        .with(Field::District, "梅江區")
        .with(Field::Town, "西郊街道")
        .with(Field::AddressDetail, "东岭村12号");
    // possible duplicate: same name and birth date, other district, nothing else
    let maybe = RawRecord::new("c")
        .with(Field::FullName, "钟伟明")
        .with(Field::BirthDate, "1975-06-03")
        .with(Field::District, "兴宁市");
    // different person
    let other = RawRecord::new("d")
        .with(Field::FullName, "李秀英")
        .with(Field::Sex, "女")
        .with(Field::BirthDate, "1990-01-20")
        .with(Field::Phone, "15900001111");
    let a = n.normalize(&base);
    let link = m.explain(&a, &n.normalize(&dup));
    let review = m.explain(&a, &n.normalize(&maybe));
    let none = m.explain(&a, &n.normalize(&other));
    println!(
        "{}\n{}\n{}",
        link.compact(),
        review.compact(),
        none.compact()
    );
    assert_eq!(link.decision, Decision::Link);
    assert_eq!(
        review.decision,
        Decision::Review,
        "p = {}",
        review.match_probability
    );
    assert_eq!(none.decision, Decision::NoMatch);
}

#[test]
fn same_valid_id_rule_and_veto() {
    let cols = ColumnMap {
        record_id: Some("id".into()),
        full_name: Some("name".into()),
        sex: Some("sex".into()),
        birth_date: Some("dob".into()),
        id_number: Some("idno".into()),
        ..Default::default()
    };
    let cfg = MappingConfig::with_columns("r", cols);
    let m = Matcher::new(&cfg).unwrap();
    let n = &m.normalizer;
    let id = yiyang_mpi::normalize::make_id_number(
        "441481",
        yiyang_mpi::normalize::Date::new(1960, 5, 6),
        13,
    );
    let a = n.normalize(
        &RawRecord::new("1")
            .with(Field::FullName, "王五")
            .with(Field::IdNumber, &id),
    );
    // different name, same ID (typed by another clerk) → rule links
    let b = n.normalize(
        &RawRecord::new("2")
            .with(Field::FullName, "黄六")
            .with(Field::IdNumber, id.to_lowercase()),
    );
    let e = m.explain(&a, &b);
    assert_eq!(e.rule.as_deref(), Some("same_valid_id_number"));
    assert_eq!(e.decision, Decision::Link);
    // sex and birth date disagree → veto
    let c = n.normalize(
        &RawRecord::new("3")
            .with(Field::IdNumber, &id)
            .with(Field::Sex, "女")
            .with(Field::BirthDate, "1999-09-09"),
    );
    let ec = m.explain(&a, &c);
    assert!(
        ec.rule.is_none(),
        "{:?} {:?} {}",
        a.values,
        c.values,
        ec.compact()
    );
    // one of them disagrees → veto in the default mode "any" …
    let d = n.normalize(
        &RawRecord::new("4")
            .with(Field::IdNumber, &id)
            .with(Field::Sex, "女"),
    );
    assert!(m.explain(&a, &d).rule.is_none());
    // … but not in mode "all"
    let mut cfg_all = cfg.clone();
    let mut rules = cfg_all.effective_rules();
    rules[0].veto_mode = yiyang_mpi::VetoMode::All;
    cfg_all.rules = Some(rules);
    let m_all = Matcher::new(&cfg_all).unwrap();
    assert!(m_all.explain(&a, &d).rule.is_some());
    assert!(m_all.explain(&a, &c).rule.is_none());
    // invalid check char → no rule
    let bad = format!("{}0", &id[..17]);
    let bad = if bad == id {
        format!("{}1", &id[..17])
    } else {
        bad
    };
    let x = n.normalize(&RawRecord::new("5").with(Field::IdNumber, &bad));
    let y = n.normalize(&RawRecord::new("6").with(Field::IdNumber, &bad));
    assert!(m.explain(&x, &y).rule.is_none());
}

#[test]
fn dedupe_csv_on_synthetic_population() {
    let mut g = Generator::new(9);
    let (recs, truth) = g.dataset(4000, 0.15);
    let mut input = Vec::new();
    write_csv(&recs, &mut input).unwrap();
    let cfg = MappingConfig::with_columns("synth", column_map());
    let mut out = Vec::new();
    let stats = dedupe_csv(&input[..], &cfg, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let truth: std::collections::HashSet<(String, String)> = truth
        .into_iter()
        .flat_map(|(a, b)| [(a.clone(), b.clone()), (b, a)])
        .collect();
    let mut tp = 0;
    let mut links = 0;
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f[4] == "link" {
            links += 1;
            tp += usize::from(truth.contains(&(f[0].to_string(), f[1].to_string())));
        }
    }
    let p = tp as f64 / links as f64;
    let r = tp as f64 / (truth.len() / 2) as f64;
    println!("{stats:?} precision {p} recall {r}");
    assert!(p > 0.99 && r > 0.98, "precision {p} recall {r}");
}

#[test]
fn record_ids_are_not_used_and_spaces_are_trimmed() {
    let cfg = MappingConfig::with_columns(
        "s",
        ColumnMap {
            record_id: Some("rid".into()),
            full_name: Some("name".into()),
            birth_date: Some("dob".into()),
            phone: Some("tel".into()),
            ..Default::default()
        },
    );
    let left = " rid , name , dob , tel \n a1 , 张三 , 1980-01-02 , 13800001111 \n a2 , 李四 , 1970-03-04 , 13900002222 \n";
    let right_1 =
        "rid,name,dob,tel\nb1,張三,19800102,+86 138 0000 1111\nb2,王五,1960-05-06,13700003333\n";
    // same rows with record ids that look alike across files
    let right_2 =
        "rid,name,dob,tel\na2,張三,19800102,+86 138 0000 1111\na1,王五,1960-05-06,13700003333\n";
    let mut o1 = Vec::new();
    let mut o2 = Vec::new();
    link_csv(left.as_bytes(), right_1.as_bytes(), &cfg, &mut o1).unwrap();
    link_csv(left.as_bytes(), right_2.as_bytes(), &cfg, &mut o2).unwrap();
    let strip = |o: &[u8]| -> Vec<String> {
        String::from_utf8(o.to_vec())
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split(',').skip(2).collect::<Vec<_>>().join(","))
            .collect()
    };
    assert_eq!(strip(&o1), strip(&o2));
    let t1 = String::from_utf8(o1).unwrap();
    assert!(t1.lines().any(|l| l.starts_with("a1,b1,")), "{t1}");
}

#[test]
fn config_toml_roundtrip_of_febrl_example() {
    let cfg =
        MappingConfig::from_toml(include_str!("../../../../examples/mpi/febrl.toml")).unwrap();
    let back = MappingConfig::from_toml(&cfg.to_toml().unwrap()).unwrap();
    assert_eq!(cfg, back);
    assert_eq!(cfg.version, "febrl-1");
}

#[test]
fn readme_config_example_parses() {
    let readme = include_str!("../README.md");
    let start = readme.find("```toml\n").expect("toml block") + 8;
    let end = start + readme[start..].find("```").unwrap();
    let cfg = MappingConfig::from_toml(&readme[start..end]).unwrap();
    assert_eq!(cfg.version, "meizhou-2024-06");
    Matcher::new(&cfg).unwrap();
}
