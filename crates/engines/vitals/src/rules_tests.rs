use super::*;

const S: i64 = 1_000_000;

fn v() -> Vitals {
    Vitals::default()
}

fn spo2(x: f64) -> Vitals {
    Vitals {
        spo2: Some(x),
        ..v()
    }
}

fn hr(x: f64) -> Vitals {
    Vitals {
        heart_rate: Some(x),
        ..v()
    }
}

/// A rule set of the given rules (JSON array text) with default settings.
fn set_of(rules: &str) -> RuleSet {
    RuleSet::from_json(&format!(r#"{{"version":"t1","rules":{rules}}}"#)).unwrap()
}

fn subject(set: &RuleSet) -> SubjectState {
    set.subject(Profile::default(), 0).unwrap()
}

fn codes(events: &[Event]) -> Vec<(&str, Transition)> {
    events
        .iter()
        .map(|e| (e.code.as_str(), e.transition))
        .collect()
}

#[test]
fn the_default_set_is_valid_and_round_trips() {
    let set = RuleSet::default_set();
    assert_eq!(set.version(), "2026.1");
    let codes: Vec<_> = set.rules().iter().map(|r| r.code.as_str()).collect();
    for want in [
        "spo2_low",
        "heart_rate_abnormal",
        "blood_pressure_abnormal",
        "temperature_high",
        "news2_high",
        "news2_medium",
        "device_offline",
    ] {
        assert!(codes.contains(&want), "{want}");
    }
    let again = RuleSet::from_json(&set.to_json()).unwrap();
    assert_eq!(again.spec(), set.spec());
    let spo2 = &set.rules()[set.index_of("spo2_low").unwrap()];
    assert_eq!((spo2.priority, spo2.for_seconds), (Priority::High, 30));
    let off = &set.rules()[set.index_of("device_offline").unwrap()];
    assert_eq!((off.priority, off.kind), (Priority::Low, RuleKind::Offline));
}

/// Both sides of every threshold of the default set: (rule, reading, holds).
#[test]
fn default_rules_hold_exactly_at_their_edges() {
    let set = RuleSet::default_set();
    let full = |rr: f64, spo2: f64, sbp: f64, pulse: f64, t: f64| Vitals {
        respiration: Some(rr),
        spo2: Some(spo2),
        on_oxygen: Some(false),
        systolic: Some(sbp),
        heart_rate: Some(pulse),
        consciousness: Some(Avpu::Alert),
        temperature: Some(t),
        ..v()
    };
    let rows: Vec<(&str, Vitals, bool)> = vec![
        ("spo2_low", spo2(89.9), true),
        ("spo2_low", spo2(90.0), false),
        ("heart_rate_abnormal", hr(131.0), true),
        ("heart_rate_abnormal", hr(130.5), true),
        ("heart_rate_abnormal", hr(130.0), false),
        ("heart_rate_abnormal", hr(40.0), false),
        ("heart_rate_abnormal", hr(39.5), true),
        (
            "blood_pressure_abnormal",
            Vitals {
                systolic: Some(180.0),
                ..v()
            },
            true,
        ),
        (
            "blood_pressure_abnormal",
            Vitals {
                systolic: Some(179.0),
                ..v()
            },
            false,
        ),
        (
            "blood_pressure_abnormal",
            Vitals {
                systolic: Some(91.0),
                ..v()
            },
            false,
        ),
        (
            "blood_pressure_abnormal",
            Vitals {
                systolic: Some(90.0),
                ..v()
            },
            true,
        ),
        (
            "temperature_high",
            Vitals {
                temperature: Some(39.1),
                ..v()
            },
            true,
        ),
        (
            "temperature_high",
            Vitals {
                temperature: Some(39.0),
                ..v()
            },
            false,
        ),
        (
            "glucose_low",
            Vitals {
                glucose: Some(3.8),
                ..v()
            },
            true,
        ),
        (
            "glucose_low",
            Vitals {
                glucose: Some(3.9),
                ..v()
            },
            false,
        ),
        (
            "glucose_high",
            Vitals {
                glucose: Some(16.7),
                ..v()
            },
            true,
        ),
        (
            "glucose_high",
            Vitals {
                glucose: Some(16.6),
                ..v()
            },
            false,
        ),
        // NEWS2 6: rr 21 (2) + spo2 93 (2) + sbp 100 (2)
        ("news2_high", full(21.0, 93.0, 100.0, 70.0, 37.0), false),
        ("news2_medium", full(21.0, 93.0, 100.0, 70.0, 37.0), true),
        // NEWS2 7: + pulse 91 (1)
        ("news2_high", full(21.0, 93.0, 100.0, 91.0, 37.0), true),
        ("news2_medium", full(21.0, 93.0, 100.0, 91.0, 37.0), false),
        // NEWS2 5: rr 21 (2) + spo2 93 (2) + sbp 105 (1)
        ("news2_medium", full(21.0, 93.0, 105.0, 70.0, 37.0), true),
        // NEWS2 4
        ("news2_medium", full(21.0, 94.0, 105.0, 70.0, 37.0), false),
        // partial NEWS2 from a band: pulse 131 (3) + spo2 91 (3) + temp 39.1 (2) = 8
        (
            "news2_high",
            Vitals {
                heart_rate: Some(131.0),
                spo2: Some(91.0),
                temperature: Some(39.1),
                ..v()
            },
            true,
        ),
        // qSOFA 2 and 1
        (
            "qsofa_high",
            Vitals {
                respiration: Some(22.0),
                systolic: Some(100.0),
                ..v()
            },
            true,
        ),
        (
            "qsofa_high",
            Vitals {
                respiration: Some(22.0),
                systolic: Some(101.0),
                ..v()
            },
            false,
        ),
    ];
    for (code, reading, want) in rows {
        let mut s = subject(&set);
        set.evaluate(&mut s, 10 * S, &reading);
        let i = set.index_of(code).unwrap();
        assert_eq!(set.holds(&s, i, 10 * S), Some(want), "{code} {reading:?}");
    }
}

#[test]
fn an_unmeasured_metric_is_unknown_not_false() {
    let set = RuleSet::default_set();
    let mut s = subject(&set);
    set.evaluate(&mut s, 0, &hr(72.0));
    assert_eq!(set.holds(&s, set.index_of("spo2_low").unwrap(), 0), None);
    assert_eq!(
        set.holds(&s, set.index_of("heart_rate_abnormal").unwrap(), 0),
        Some(false)
    );
}

#[test]
fn for_seconds_waits_and_resets() {
    let set = RuleSet::default_set();
    let mut s = subject(&set);
    for t in [0, 10, 29] {
        assert!(set.evaluate(&mut s, t * S, &spo2(85.0)).is_empty(), "t={t}");
    }
    let e = set.evaluate(&mut s, 30 * S, &spo2(85.0));
    assert_eq!(codes(&e), vec![("spo2_low", Transition::Raise)]);
    assert_eq!((e[0].since_micros, e[0].at_micros), (0, 30 * S));
    assert_eq!(e[0].priority, Priority::High);
    assert!(
        set.evaluate(&mut s, 35 * S, &spo2(86.0)).is_empty(),
        "raised once"
    );
    // hysteresis-free clear at the first reading that does not hold
    let e = set.evaluate(&mut s, 40 * S, &spo2(90.0));
    assert_eq!(codes(&e), vec![("spo2_low", Transition::Clear)]);
    assert_eq!(
        e[0].since_micros,
        30 * S,
        "a clear names when the alarm was raised"
    );
    // a break restarts the wait
    let mut s = subject(&set);
    set.evaluate(&mut s, 0, &spo2(85.0));
    set.evaluate(&mut s, 20 * S, &spo2(92.0));
    set.evaluate(&mut s, 25 * S, &spo2(85.0));
    assert!(set.evaluate(&mut s, 54 * S, &spo2(85.0)).is_empty());
    assert_eq!(
        codes(&set.evaluate(&mut s, 55 * S, &spo2(85.0))),
        vec![("spo2_low", Transition::Raise)]
    );
}

#[test]
fn rules_without_a_wait_raise_on_the_first_reading() {
    let set = RuleSet::default_set();
    let mut s = subject(&set);
    let e = set.evaluate(&mut s, 5 * S, &hr(135.0));
    assert_eq!(codes(&e), vec![("heart_rate_abnormal", Transition::Raise)]);
    assert_eq!(e[0].detail, "心率 135次/分");
    assert_eq!(e[0].values.heart_rate, Some(135.0));
}

#[test]
fn readings_of_other_metrics_do_not_hide_current_values() {
    let set = RuleSet::default_set();
    let mut s = subject(&set);
    set.evaluate(&mut s, 0, &spo2(85.0));
    let bp = Vitals {
        systolic: Some(120.0),
        diastolic: Some(80.0),
        ..v()
    };
    assert!(set.evaluate(&mut s, 10 * S, &bp).is_empty());
    let e = set.evaluate(&mut s, 30 * S, &hr(80.0));
    assert_eq!(codes(&e), vec![("spo2_low", Transition::Raise)]);
    assert_eq!(e[0].values.systolic, Some(120.0));
}

#[test]
fn tick_completes_waits_and_notices_silence() {
    let set = RuleSet::default_set();
    let mut s = subject(&set);
    set.evaluate(&mut s, 0, &spo2(85.0));
    assert!(set.tick(&mut s, 29 * S).is_empty());
    assert_eq!(
        codes(&set.tick(&mut s, 30 * S)),
        vec![("spo2_low", Transition::Raise)]
    );
    // device offline: 600 s after the last reading, not 599
    assert!(set.tick(&mut s, 599 * S).is_empty());
    let e = set.tick(&mut s, 600 * S);
    assert_eq!(codes(&e), vec![("device_offline", Transition::Raise)]);
    assert_eq!(e[0].detail, "已10分钟无数据");
    assert_eq!(e[0].kind, RuleKind::Offline);
    // SpO2 went stale (900 s): unknown keeps the alarm raised
    assert!(set.tick(&mut s, 2000 * S).is_empty());
    assert_eq!(set.raised(&s).len(), 2);
    // data again: offline clears, SpO2 clears on a normal value
    let e = set.evaluate(&mut s, 2001 * S, &spo2(97.0));
    let mut got = codes(&e);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("device_offline", Transition::Clear),
            ("spo2_low", Transition::Clear)
        ]
    );
    assert!(set.raised(&s).is_empty());
}

#[test]
fn a_subject_never_heard_of_goes_offline_from_its_creation() {
    let set = RuleSet::default_set();
    let mut s = set.subject(Profile::default(), 100 * S).unwrap();
    assert!(set.tick(&mut s, 699 * S).is_empty());
    assert_eq!(
        codes(&set.tick(&mut s, 700 * S)),
        vec![("device_offline", Transition::Raise)]
    );
}

#[test]
fn time_going_backwards_changes_nothing() {
    let set = RuleSet::default_set();
    let mut s = subject(&set);
    set.evaluate(&mut s, 100 * S, &hr(80.0));
    // a late reading is recorded (newest SpO2) but steps no rule
    assert!(set.evaluate(&mut s, 50 * S, &hr(150.0)).is_empty());
    assert_eq!(s.history().latest(Metric::HeartRate), Some((100 * S, 80.0)));
    assert!(set.evaluate(&mut s, 60 * S, &spo2(85.0)).is_empty());
    assert_eq!(s.history().latest(Metric::Spo2), Some((60 * S, 85.0)));
    assert!(set.tick(&mut s, 99 * S).is_empty());
    assert_eq!(s.clock(), Some(100 * S));
}

#[test]
fn implausible_values_are_ignored() {
    let set = RuleSet::default_set();
    let mut s = subject(&set);
    // an SpO2 of 0 (band off the wrist) is no desaturation
    for t in 0..40 {
        assert!(set.evaluate(&mut s, t * S, &spo2(0.0)).is_empty());
    }
    assert_eq!(s.history().latest(Metric::Spo2), None);
    assert!(set.evaluate(&mut s, 41 * S, &hr(400.0)).is_empty());
}

#[test]
fn three_valued_any_and_all() {
    let set = set_of(
        r#"[
        {"code":"any","name":"任一","priority":"high","condition":{"any":[
            {"reading":{"metric":"spo2","op":"<","value":90}},
            {"reading":{"metric":"heart_rate","op":">","value":130}}]}},
        {"code":"all","name":"全部","priority":"high","condition":{"all":[
            {"reading":{"metric":"spo2","op":"<","value":90}},
            {"reading":{"metric":"heart_rate","op":">","value":130}}]}}
    ]"#,
    );
    let mut s = subject(&set);
    set.evaluate(&mut s, 0, &hr(140.0));
    assert_eq!(
        set.holds(&s, 0, 0),
        Some(true),
        "any: true despite unknown SpO2"
    );
    assert_eq!(set.holds(&s, 1, 0), None, "all: unknown");
    set.evaluate(&mut s, 1, &hr(80.0));
    assert_eq!(
        set.holds(&s, 0, 1),
        None,
        "any: false or unknown is unknown"
    );
    assert_eq!(set.holds(&s, 1, 1), Some(false), "all: one false is false");
    set.evaluate(&mut s, 2, &spo2(95.0));
    assert_eq!(set.holds(&s, 0, 2), Some(false));
    set.evaluate(
        &mut s,
        3,
        &Vitals {
            spo2: Some(85.0),
            heart_rate: Some(140.0),
            ..v()
        },
    );
    assert_eq!(set.holds(&s, 1, 3), Some(true));
}

#[test]
fn unknown_resets_a_pending_wait_but_keeps_a_raised_alarm() {
    let mut st = RuleState::default();
    assert_eq!(st.observe(0, Some(true), 30), Transition::None);
    assert_eq!(st.holding_since(), Some(0));
    assert_eq!(st.observe(10 * S, None, 30), Transition::None);
    assert_eq!(st.holding_since(), None);
    assert_eq!(st.observe(20 * S, Some(true), 30), Transition::None);
    assert_eq!(st.observe(49 * S, Some(true), 30), Transition::None);
    assert_eq!(st.observe(50 * S, Some(true), 30), Transition::Raise);
    assert_eq!(st.raised_at(), Some(50 * S));
    assert_eq!(st.observe(60 * S, None, 30), Transition::None);
    assert!(st.is_raised());
    assert_eq!(st.observe(70 * S, Some(false), 30), Transition::Clear);
    assert!(!st.is_raised());
    assert_eq!(st.observe(80 * S, Some(false), 30), Transition::None);
}

#[test]
fn score_rules_escalate_between_levels() {
    let set = RuleSet::default_set();
    let mut s = subject(&set);
    let band = |pulse: f64, sat: f64, t: f64| Vitals {
        heart_rate: Some(pulse),
        spo2: Some(sat),
        temperature: Some(t),
        ..v()
    };
    // partial NEWS2 5: pulse 111 (2) + spo2 93 (2) + temp 38.1 (1)
    let e = set.evaluate(&mut s, 0, &band(111.0, 93.0, 38.1));
    assert_eq!(codes(&e), vec![("news2_medium", Transition::Raise)]);
    assert_eq!(
        e[0].detail,
        "NEWS2部分评分 5分 · 中风险（紧急）（仅依据血氧饱和度、心率、体温；缺少呼吸频率、吸氧、收缩压、意识水平）"
    );
    assert_eq!(e[0].kind, RuleKind::Score);
    // 8 (pulse 120: 2, SpO2 91: 3, 35.0 ℃: 3), no single-vital rule: medium clears, high raises
    let e = set.evaluate(&mut s, 60 * S, &band(120.0, 91.0, 35.0));
    let mut got = codes(&e);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("news2_high", Transition::Raise),
            ("news2_medium", Transition::Clear)
        ]
    );
}

#[test]
fn complete_score_rules_ignore_partial_scores() {
    let set = set_of(
        r#"[{"code":"n","name":"完整NEWS2≥3","priority":"medium","condition":
            {"score":{"kind":"news2","min":3,"complete":true}}}]"#,
    );
    let mut s = subject(&set);
    set.evaluate(&mut s, 0, &hr(140.0));
    assert_eq!(set.holds(&s, 0, 0), Some(false));
    let all = Vitals {
        respiration: Some(16.0),
        spo2: Some(97.0),
        on_oxygen: Some(false),
        systolic: Some(120.0),
        heart_rate: Some(140.0),
        consciousness: Some(Avpu::Alert),
        temperature: Some(37.0),
        ..v()
    };
    set.evaluate(&mut s, S, &all);
    assert_eq!(set.holds(&s, 0, S), Some(true));
}

#[test]
fn staff_assessments_stay_current_longer_than_measurements() {
    let set = RuleSet::default_set();
    let mut s = subject(&set);
    set.evaluate(
        &mut s,
        0,
        &Vitals {
            on_oxygen: Some(true),
            consciousness: Some(Avpu::Voice),
            ..v()
        },
    );
    let now = 3 * 3600 * S;
    set.evaluate(&mut s, now, &hr(80.0));
    let cur = s.history().current(now, &set.spec().settings);
    assert_eq!(
        (cur.on_oxygen, cur.consciousness),
        (Some(true), Some(Avpu::Voice))
    );
    let later = 13 * 3600 * S;
    let cur = s.history().current(later, &set.spec().settings);
    assert_eq!(
        (cur.on_oxygen, cur.consciousness, cur.heart_rate),
        (None, None, None)
    );
}

#[test]
fn scale2_from_the_profile_changes_news2() {
    let set = set_of(
        r#"[{"code":"n","name":"NEWS2≥3","priority":"medium","condition":{"score":{"kind":"news2","min":3}}}]"#,
    );
    let r = Vitals {
        spo2: Some(89.0),
        on_oxygen: Some(false),
        ..v()
    };
    let mut one = subject(&set);
    set.evaluate(&mut one, 0, &r);
    assert_eq!(
        set.holds(&one, 0, 0),
        Some(true),
        "89 % is 3 points on scale 1"
    );
    let mut two = set
        .subject(
            Profile {
                scale: Spo2Scale::Scale2,
                ..Profile::default()
            },
            0,
        )
        .unwrap();
    set.evaluate(&mut two, 0, &r);
    assert_eq!(
        set.holds(&two, 0, 0),
        Some(false),
        "89 % is the target on scale 2"
    );
}

fn trend_set(direction: &str, delta: f64, window: u32) -> RuleSet {
    set_of(&format!(
        r#"[{{"code":"t","name":"趋势","priority":"low","condition":
            {{"trend":{{"metric":"heart_rate","direction":"{direction}","delta":{delta},"window_seconds":{window}}}}}}}]"#
    ))
}

#[test]
fn trends_rise_and_fall_by_delta_within_the_window() {
    // (readings (seconds, bpm), direction, delta, holds at the last reading)
    type Row<'a> = (&'a [(i64, f64)], &'a str, f64, bool);
    let rows: &[Row] = &[
        (&[(0, 70.0), (300, 85.0), (590, 100.0)], "rise", 30.0, true),
        (&[(0, 70.0), (300, 85.0), (590, 99.0)], "rise", 30.0, false),
        (&[(0, 70.0), (590, 100.5)], "rise", 30.0, true),
        // the low value left the window (bucket 0–30 s ends before 700 − 600)
        (&[(0, 70.0), (700, 100.0)], "rise", 30.0, false),
        // the low is inside the window but the value came back down
        (&[(0, 70.0), (100, 110.0), (200, 75.0)], "rise", 30.0, false),
        (&[(0, 110.0), (200, 80.0)], "fall", 30.0, true),
        (&[(0, 110.0), (200, 81.0)], "fall", 30.0, false),
        // a rise is no fall
        (&[(0, 70.0), (200, 110.0)], "fall", 30.0, false),
        // within one bucket
        (&[(0, 70.0), (10, 100.0)], "rise", 30.0, true),
    ];
    for (readings, dir, delta, want) in rows {
        let set = trend_set(dir, *delta, 600);
        let mut s = subject(&set);
        for (t, bpm) in readings.iter() {
            set.evaluate(&mut s, t * S, &hr(*bpm));
        }
        let last = readings.last().unwrap().0 * S;
        assert_eq!(
            set.holds(&s, 0, last),
            Some(*want),
            "{readings:?} {dir} {delta}"
        );
    }
    let set = trend_set("rise", 30.0, 600);
    let mut s = subject(&set);
    set.evaluate(&mut s, 0, &hr(70.0));
    let e = set.evaluate(&mut s, 300 * S, &hr(105.0));
    assert_eq!(e[0].detail, "心率10分钟内上升35次/分");
}

#[test]
fn trend_history_is_a_fixed_ring() {
    let set = trend_set("rise", 30.0, 600);
    let mut s = subject(&set);
    let bytes = s.history().ring_bytes();
    // 600 s / 30 s + 1 buckets of one metric
    assert_eq!(bytes, 21 * std::mem::size_of::<Bucket>());
    for t in 0..20_000i64 {
        let bpm = 60.0 + (t % 50) as f64;
        set.evaluate(&mut s, t * 5 * S, &hr(bpm));
    }
    assert_eq!(s.history().ring_bytes(), bytes);
    let now = 19_999 * 5 * S;
    let (lo, hi) = s
        .history()
        .range_since(Metric::HeartRate, now - 600 * S)
        .unwrap();
    assert_eq!((lo, hi), (60.0, 109.0));
    // metrics without a trend rule keep no buckets
    assert_eq!(s.history().range_since(Metric::Spo2, 0), None);
}

#[test]
fn late_trend_values_fill_their_bucket_only() {
    let set = trend_set("rise", 30.0, 600);
    let mut s = subject(&set);
    set.evaluate(&mut s, 0, &hr(80.0));
    set.evaluate(&mut s, 65 * S, &hr(80.0));
    // late value in the first bucket (0–30 s) lowers its minimum
    set.evaluate(&mut s, 20 * S, &hr(60.0));
    // late value in a bucket that was never opened (30–60 s) is dropped
    set.evaluate(&mut s, 40 * S, &hr(40.0));
    assert_eq!(
        s.history().range_since(Metric::HeartRate, 0),
        Some((60.0, 80.0))
    );
}

#[test]
fn missing_of_one_metric() {
    let set = set_of(
        r#"[{"code":"m","name":"无血氧","priority":"low","condition":{"missing":{"metric":"spo2","seconds":1800}}}]"#,
    );
    let mut s = subject(&set);
    set.evaluate(&mut s, 0, &spo2(97.0));
    assert!(set.evaluate(&mut s, 1799 * S, &hr(70.0)).is_empty());
    let e = set.evaluate(&mut s, 1800 * S, &hr(70.0));
    assert_eq!(codes(&e), vec![("m", Transition::Raise)]);
    assert_eq!(e[0].detail, "血氧饱和度已30分钟无数据");
}

#[test]
fn overrides_replace_thresholds_per_person() {
    let set = RuleSet::default_set();
    let copd: Overrides = serde_json::from_str(
        r#"{"spo2_low":{"thresholds":{"spo2":88},"for_seconds":60},
            "heart_rate_abnormal":{"thresholds":{"low":35}},
            "device_offline":{"enabled":false}}"#,
    )
    .unwrap();
    let mut a = subject(&set);
    let mut b = set
        .subject(
            Profile {
                overrides: copd,
                ..Profile::default()
            },
            0,
        )
        .unwrap();
    for t in [0, 30] {
        set.evaluate(&mut a, t * S, &spo2(89.0));
        set.evaluate(&mut b, t * S, &spo2(89.0));
    }
    assert_eq!(set.raised(&a).len(), 1);
    assert!(set.raised(&b).is_empty(), "88 is this person's threshold");
    set.evaluate(&mut b, 40 * S, &spo2(87.0));
    assert!(set.evaluate(&mut b, 99 * S, &spo2(87.0)).is_empty());
    assert_eq!(
        codes(&set.evaluate(&mut b, 100 * S, &spo2(87.0))),
        vec![("spo2_low", Transition::Raise)]
    );
    // low heart rate: 38 alarms the default person only (fresh subjects: no SpO2 behind NEWS2)
    let mut a = subject(&set);
    let mut b = set.subject(b.profile().clone(), 0).unwrap();
    assert_eq!(
        codes(&set.evaluate(&mut a, 101 * S, &hr(38.0))),
        vec![("heart_rate_abnormal", Transition::Raise)]
    );
    assert!(set.evaluate(&mut b, 101 * S, &hr(38.0)).is_empty());
    // the high side keeps its default
    let mut b2 = set.subject(b.profile().clone(), 0).unwrap();
    assert_eq!(
        codes(&set.evaluate(&mut b2, 102 * S, &hr(131.0))),
        vec![("heart_rate_abnormal", Transition::Raise)]
    );
    // offline disabled for b
    assert!(set.tick(&mut b, 5000 * S).is_empty());
    assert!(codes(&set.tick(&mut a, 5000 * S)).contains(&("device_offline", Transition::Raise)));
}

#[test]
fn override_problems_are_reported_together() {
    let set = RuleSet::default_set();
    let bad: Overrides = serde_json::from_str(
        r#"{"nope":{"enabled":false},
            "spo2_low":{"thresholds":{"spo2":140,"sat":88},"for_seconds":100000},
            "news2_high":{"thresholds":{"min":6.5}},
            "news2_medium":{"thresholds":{"min":0}},
            "device_offline":{"thresholds":{"seconds":0}}}"#,
    )
    .unwrap();
    let p = set.check_overrides(&bad).unwrap_err();
    let got: Vec<(&str, &str)> = p
        .iter()
        .map(|p| (p.field.as_str(), p.message.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "overrides.device_offline.thresholds.seconds",
                "规则 device_offline：无数据时长应在1–604800秒之间"
            ),
            (
                "overrides.news2_high.thresholds.min",
                "规则 news2_high：阈值 min 应为不小于0的整数"
            ),
            (
                "overrides.news2_medium.thresholds.min",
                "规则 news2_medium：NEWS2下限 0 应在1–20分之间"
            ),
            ("overrides.nope", "没有代码为 nope 的规则"),
            (
                "overrides.spo2_low.for_seconds",
                "规则 spo2_low：持续时间不能超过86400秒（24小时）"
            ),
            (
                "overrides.spo2_low.thresholds.sat",
                "规则 spo2_low 没有键为 sat 的阈值（可用的键：spo2）"
            ),
            (
                "overrides.spo2_low.thresholds.spo2",
                "规则 spo2_low：血氧饱和度阈值 140% 超出可能范围（50–100%）"
            ),
        ]
    );
    assert!(
        set.subject(
            Profile {
                overrides: bad,
                ..Profile::default()
            },
            0
        )
        .is_err()
    );
}

#[test]
fn every_problem_of_a_rule_set_is_reported_at_once() {
    let text = r#"{
        "version": "",
        "settings": {"fresh_seconds": 0, "trend_step_seconds": 1},
        "rules": [
            {"code":"a","name":"甲","priority":"high","condition":{"reading":{"metric":"spo2","op":"<","value":140,"key":"x"}}},
            {"code":"a","name":" ","priority":"low","for_seconds":90000,"condition":{"any":[]}},
            {"code":"B c","name":"乙","priority":"low","condition":{"all":[
                {"score":{"kind":"qsofa","min":4}},
                {"score":{"kind":"news2","min":5,"max":4,"key":"k"}},
                {"trend":{"metric":"heart_rate","direction":"rise","delta":0,"window_seconds":600,"key":"k"}},
                {"missing":{"seconds":0,"key":"bad key"}}]}}
        ]
    }"#;
    let p = RuleSet::from_json(text).unwrap_err();
    let got: Vec<(&str, &str)> = p
        .iter()
        .map(|p| (p.field.as_str(), p.message.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("version", "规则集版本号不能为空"),
            ("settings.fresh_seconds", "测量值有效期应在1–86400秒之间"),
            (
                "rules[0].condition.reading.value",
                "规则 a：血氧饱和度阈值 140% 超出可能范围（50–100%）"
            ),
            ("rules[1].code", "规则代码 a 重复（与第1条规则相同）"),
            ("rules[1].name", "规则 a：名称不能为空"),
            (
                "rules[1].for_seconds",
                "规则 a：持续时间不能超过86400秒（24小时）"
            ),
            (
                "rules[1].condition.any",
                "规则 a：条件组（任一满足）不能为空"
            ),
            (
                "rules[2].code",
                "规则代码 B c 只能由小写字母、数字、下划线、点或连字符组成，最长64个字符"
            ),
            (
                "rules[2].condition.all[0].score.min",
                "规则 B c：qSOFA下限 4 应在1–3分之间"
            ),
            (
                "rules[2].condition.all[1].score.max",
                "规则 B c：NEWS2上限 4 应在5–20分之间"
            ),
            (
                "rules[2].condition.all[2].trend.delta",
                "规则 B c：心率变化量 0 应大于0且不超过280次/分"
            ),
            (
                "rules[2].condition.all[2].trend.window_seconds",
                "规则 B c：趋势时间窗 600 秒按 1 秒分桶超过240个桶，请缩短时间窗或增大 trend_step_seconds"
            ),
            (
                "rules[2].condition.all[3].missing.seconds",
                "规则 B c：无数据时长应在1–604800秒之间"
            ),
            ("rules[2].condition", "规则 B c：阈值键 k 重复"),
            (
                "rules[2].condition",
                "规则 B c：阈值键 bad key 只能由字母、数字和下划线组成，最长32个字符"
            ),
        ]
    );
}

#[test]
fn deep_and_wide_conditions_are_refused() {
    let mut c = r#"{"reading":{"metric":"spo2","op":"<","value":90}}"#.to_string();
    for _ in 0..6 {
        c = format!(r#"{{"all":[{c}]}}"#);
    }
    let p = RuleSet::from_json(&format!(
        r#"{{"version":"1","rules":[{{"code":"d","name":"深","priority":"low","condition":{c}}}]}}"#
    ))
    .unwrap_err();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].message, "规则 d：条件嵌套不能超过6层");
    let leaves = vec![r#"{"reading":{"metric":"spo2","op":"<","value":90}}"#; 33].join(",");
    let p = RuleSet::from_json(&format!(
        r#"{{"version":"1","rules":[{{"code":"w","name":"宽","priority":"low","condition":{{"any":[{leaves}]}}}}]}}"#
    ))
    .unwrap_err();
    assert_eq!(p[0].message, "规则 w：条件不能超过32个");
}

#[test]
fn malformed_json_is_reported_in_chinese() {
    let p = RuleSet::from_json("{\"version\": \"1\",\n \"rules\": [}").unwrap_err();
    assert_eq!(p.len(), 1);
    assert!(
        p[0].message.starts_with("规则集不是有效的JSON（第2行第"),
        "{}",
        p[0].message
    );

    let text = r#"{"version": 3, "extra": 1, "rules": [
        {"code":"a","name":"甲","priority":"high","condition":{"reading":{"metric":"spo3","op":"<","value":90}}},
        {"code":"ok","name":"好","priority":"low","condition":{"missing":{"seconds":60}}},
        {"name":"乙","priority":"urgent","condition":{"missing":{"seconds":60}}},
        {"code":"c","name":"丙","priority":"low","condition":{"reading":{"metric":"spo2","op":"=<","value":90}}}
    ]}"#;
    let p = RuleSet::from_json(text).unwrap_err();
    let got: Vec<(&str, &str)> = p
        .iter()
        .map(|p| (p.field.as_str(), p.message.as_str()))
        .collect();
    assert_eq!(got.len(), 5, "{got:#?}");
    assert_eq!(got[0], ("extra", "规则集中有未知字段 extra"));
    assert_eq!(got[1], ("version", "规则集版本号应为文本"));
    assert_eq!(got[2].0, "rules[0]");
    assert!(
        got[2]
            .1
            .starts_with("第1条规则（a）格式错误：未知取值 spo3（可用：heart_rate、spo2、systolic"),
        "{}",
        got[2].1
    );
    assert_eq!(got[3].0, "rules[2]");
    assert!(got[3].1.starts_with("第3条规则格式错误："), "{}", got[3].1);
    assert_eq!(got[4].0, "rules[3]");
    assert!(got[4].1.contains("未知取值 =<"), "{}", got[4].1);
}

#[test]
fn serde_messages_in_chinese() {
    for (en, zh) in [
        ("missing field `code`", "缺少字段 code"),
        (
            "unknown field `for_second`, expected one of `code`, `name`",
            "未知字段 for_second（可用：code、name）",
        ),
        ("unknown field `x`, there are no fields", "未知字段 x"),
        (
            "duplicate field `code` at line 1 column 9",
            "字段 code 重复",
        ),
    ] {
        assert_eq!(zh_serde(en), zh);
    }
    assert!(zh_serde("invalid type: string \"a\", expected u32").starts_with("类型或取值不符"));
}

#[test]
fn operators_are_read_in_both_spellings() {
    let set = set_of(
        r#"[{"code":"a","name":"甲","priority":"high","condition":{"any":[
            {"reading":{"metric":"heart_rate","op":"≥","value":130}},
            {"reading":{"metric":"heart_rate","op":"≤","value":40}}]}}]"#,
    );
    let json = set.to_json();
    assert!(
        json.contains(r#""op": ">=""#) && json.contains(r#""op": "<=""#),
        "{json}"
    );
    for (x, want) in [(130.0, true), (129.0, false), (40.0, true), (41.0, false)] {
        let mut s = subject(&set);
        set.evaluate(&mut s, 0, &hr(x));
        assert_eq!(set.holds(&s, 0, 0), Some(want), "{x}");
    }
    for (op, a, b, want) in [
        (Op::Lt, 1.0, 2.0, true),
        (Op::Lt, 2.0, 2.0, false),
        (Op::Le, 2.0, 2.0, true),
        (Op::Le, 2.1, 2.0, false),
        (Op::Gt, 2.0, 2.0, false),
        (Op::Gt, 2.1, 2.0, true),
        (Op::Ge, 2.0, 2.0, true),
        (Op::Ge, 1.9, 2.0, false),
    ] {
        assert_eq!(op.test(a, b), want, "{a} {} {b}", op.symbol());
    }
}

#[test]
fn a_new_rule_set_version_takes_over_subjects() {
    let old = RuleSet::default_set();
    let mut s = subject(&old);
    set_raised_spo2(&old, &mut s);
    // version 2: SpO2 threshold 92, a new rule, device_offline removed
    let mut spec = old.spec().clone();
    spec.version = "2026.2".into();
    spec.rules.retain(|r| r.code != "device_offline");
    let i = spec
        .rules
        .iter()
        .position(|r| r.code == "spo2_low")
        .unwrap();
    if let Condition::Reading(r) = &mut spec.rules[i].condition {
        r.value = 92.0;
    }
    spec.rules.insert(
        0,
        serde_json::from_str(
            r#"{"code":"rr_high","name":"呼吸过快","priority":"medium","condition":{"reading":{"metric":"respiration","op":">=","value":25}}}"#,
        )
        .unwrap(),
    );
    let new = RuleSet::new(spec).unwrap();
    // 91 holds under the new threshold: still raised, no new raise
    assert!(new.evaluate(&mut s, 100 * S, &spo2(91.0)).is_empty());
    assert_eq!(new.raised(&s), vec![("spo2_low", 30 * S)]);
    // and clears under the new rules
    assert_eq!(
        codes(&new.evaluate(&mut s, 110 * S, &spo2(93.0))),
        vec![("spo2_low", Transition::Clear)]
    );
    assert_eq!(s.rule_state(0), Some(&RuleState::default()));
}

fn set_raised_spo2(set: &RuleSet, s: &mut SubjectState) {
    set.evaluate(s, 0, &spo2(85.0));
    assert_eq!(
        codes(&set.evaluate(s, 30 * S, &spo2(85.0))),
        vec![("spo2_low", Transition::Raise)]
    );
}

#[test]
fn rebinding_keeps_trend_buckets_and_reports_stale_overrides() {
    let old = trend_set("rise", 30.0, 600);
    let mut s = old
        .subject(
            Profile {
                overrides: serde_json::from_str(r#"{"t":{"for_seconds":10}}"#).unwrap(),
                ..Profile::default()
            },
            0,
        )
        .unwrap();
    old.evaluate(&mut s, 0, &hr(70.0));
    old.evaluate(&mut s, 100 * S, &hr(80.0));
    let new = set_of(
        r#"[{"code":"u","name":"新","priority":"low","condition":
            {"trend":{"metric":"heart_rate","direction":"rise","delta":20,"window_seconds":1200}}}]"#,
    );
    let ignored = new.rebind(&mut s);
    assert_eq!(ignored.len(), 1);
    assert_eq!(ignored[0].message, "没有代码为 t 的规则");
    assert_eq!(
        s.history().range_since(Metric::HeartRate, 0),
        Some((70.0, 80.0))
    );
    assert_eq!(s.history().ring_bytes(), 41 * std::mem::size_of::<Bucket>());
    assert_eq!(
        codes(&new.evaluate(&mut s, 200 * S, &hr(90.0))),
        vec![("u", Transition::Raise)]
    );
}

#[test]
fn restored_alarms_clear_when_their_condition_stops() {
    let set = RuleSet::default_set();
    let mut s = subject(&set);
    assert!(set.mark_raised(&mut s, "temperature_high", 5 * S));
    assert!(!set.mark_raised(&mut s, "nope", 5 * S));
    let e = set.evaluate(
        &mut s,
        60 * S,
        &Vitals {
            temperature: Some(37.0),
            ..v()
        },
    );
    assert_eq!(codes(&e), vec![("temperature_high", Transition::Clear)]);
    assert_eq!(e[0].since_micros, 5 * S);
}

#[test]
fn disabled_rules_never_hold() {
    let set = set_of(
        r#"[{"code":"a","name":"甲","priority":"high","enabled":false,"condition":{"reading":{"metric":"spo2","op":"<","value":90}}}]"#,
    );
    let mut s = subject(&set);
    assert!(set.evaluate(&mut s, 0, &spo2(80.0)).is_empty());
    assert_eq!(set.holds(&s, 0, 0), Some(false));
    let on: Overrides = serde_json::from_str(r#"{"a":{"enabled":true}}"#).unwrap();
    let mut s = set
        .subject(
            Profile {
                overrides: on,
                ..Profile::default()
            },
            0,
        )
        .unwrap();
    assert_eq!(
        codes(&set.evaluate(&mut s, 0, &spo2(80.0))),
        vec![("a", Transition::Raise)]
    );
}

#[test]
fn codes_and_labels() {
    for (p, code, label) in [
        (Priority::High, "high", "高"),
        (Priority::Medium, "medium", "中"),
        (Priority::Low, "low", "低"),
    ] {
        assert_eq!((p.code(), p.label()), (code, label));
        assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{code}\""));
    }
    assert!(Priority::High < Priority::Medium && Priority::Medium < Priority::Low);
    for (k, code, label) in [
        (RuleKind::Vital, "vital", "体征异常"),
        (RuleKind::Score, "score", "早期预警评分"),
        (RuleKind::Offline, "offline", "设备离线"),
    ] {
        assert_eq!((k.code(), k.label()), (code, label));
        assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{code}\""));
    }
    assert_eq!(
        (Op::Le.label(), Direction::Fall.label()),
        ("不高于", "下降")
    );
}

#[test]
fn staff_assessments_score_but_do_not_count_as_device_data() {
    let set = RuleSet::default_set();
    let mut s = subject(&set);
    set.evaluate(&mut s, 0, &hr(72.0));
    // a heartbeat without measurements keeps the device online
    assert!(set.evaluate(&mut s, 500 * S, &v()).is_empty());
    assert_eq!(s.history().last_seen(), Some(500 * S));
    assert!(set.tick(&mut s, 1099 * S).is_empty());
    // a nurse's assessment does not
    let e = set.assess(&mut s, 1100 * S, Some(true), Some(Avpu::Alert));
    assert_eq!(codes(&e), vec![("device_offline", Transition::Raise)]);
    assert_eq!(s.history().last_seen(), Some(500 * S));
    let cur = s.history().current(1100 * S, &set.spec().settings);
    assert_eq!(
        (cur.on_oxygen, cur.consciousness),
        (Some(true), Some(Avpu::Alert))
    );
    // and it feeds NEWS2: oxygen (2) + SpO2 91 (3) = 5 with a fresh reading
    let e = set.evaluate(&mut s, 1110 * S, &spo2(91.0));
    let mut got = codes(&e);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("device_offline", Transition::Clear),
            ("news2_medium", Transition::Raise)
        ]
    );
}
