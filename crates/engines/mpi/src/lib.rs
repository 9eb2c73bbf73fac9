//! # yiyang-mpi — patient master index (患者主索引) matching engine
//!
//! Pipeline: CSV / raw records → [`normalize`] (full-width, punctuation,
//! traditional → simplified, pinyin with surname readings, phone, resident ID
//! number) → [`blocking`] (several passes) → deterministic rules → Fellegi–Sunter
//! scoring ([`compare`] levels, m from EM, u from random pairs, term-frequency
//! adjustment) → [`Decision`] (Link / Review / NoMatch) with an [`Explanation`].
//!
//! Entry points: [`link_csv`], [`dedupe_csv`], [`link`], [`dedupe`],
//! [`Matcher`], [`OnlineIndex`], [`synth::Generator`].

pub mod batch;
pub mod blocking;
pub mod compare;
pub mod config;
pub mod engine;
pub mod error;
pub mod model;
pub mod normalize;
pub mod online;
pub mod record;
pub mod rng;
pub mod similarity;
pub mod synth;

pub use batch::{dedupe_csv, link_csv, read_persons, read_records};
pub use config::{
    BlockingRule, ColumnMap, Comparison, DeterministicRule, Field, Level, MappingConfig,
    Thresholds, Training, VetoMode,
};
pub use engine::{
    Decision, Explanation, FieldContribution, MatchRun, Matcher, ScoredPair, Stats, dedupe, link,
    weight_to_probability,
};
pub use error::{Error, Result};
pub use model::TrainedModel;
pub use online::{OnlineIndex, OnlineMatch};
pub use record::{Normalizer, Person, RawRecord};
