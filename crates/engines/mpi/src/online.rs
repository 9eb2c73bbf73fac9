//! Online matching: an in-memory candidate index of persons; one new person is
//! matched against it through the blocking keys, then scored like in batch.

use std::collections::HashMap;

use crate::config::MappingConfig;
use crate::engine::{Decision, Explanation, Matcher, TfTable, weight_to_probability};
use crate::error::Result;
use crate::model::TrainedModel;
use crate::record::{Person, RawRecord};

/// Default cap on the postings of one key read at query time (keys shared by
/// more persons, such as a very common surname alone, are skipped).
pub const DEFAULT_MAX_POSTINGS: usize = 2_000;

/// A match found by [`OnlineIndex::query`].
#[derive(Debug, Clone, PartialEq)]
pub struct OnlineMatch {
    /// Position in the index.
    pub index: u32,
    /// Record id of the indexed person.
    pub id: String,
    pub match_weight: f64,
    pub match_probability: f64,
    pub decision: Decision,
    pub rule: Option<String>,
}

/// In-memory candidate index.
#[derive(Debug, Clone)]
pub struct OnlineIndex {
    matcher: Matcher,
    persons: Vec<Person>,
    postings: HashMap<u64, Vec<u32>>,
    /// Keys with more postings than this are not read at query time.
    pub max_postings: usize,
}

impl OnlineIndex {
    /// An empty index using a compiled matcher (with trained parameters).
    pub fn new(mut matcher: Matcher) -> Self {
        let tf: Vec<Option<TfTable>> = matcher
            .comparisons()
            .iter()
            .map(|c| (c.tf_adjust && c.exact_level().is_some()).then(TfTable::default))
            .collect();
        matcher.set_tf_tables(tf);
        OnlineIndex {
            matcher,
            persons: Vec::new(),
            postings: HashMap::new(),
            max_postings: DEFAULT_MAX_POSTINGS,
        }
    }

    /// An empty index from a configuration and optional trained parameters.
    pub fn from_config(cfg: &MappingConfig, model: Option<TrainedModel>) -> Result<Self> {
        let mut m = Matcher::new(cfg)?;
        if let Some(model) = model {
            m.set_model(model)?;
        }
        Ok(Self::new(m))
    }

    pub fn matcher(&self) -> &Matcher {
        &self.matcher
    }

    pub fn len(&self) -> usize {
        self.persons.len()
    }

    pub fn is_empty(&self) -> bool {
        self.persons.is_empty()
    }

    pub fn person(&self, index: u32) -> &Person {
        &self.persons[index as usize]
    }

    /// Add a normalised person; returns its index.
    pub fn add(&mut self, p: Person) -> u32 {
        let idx = self.persons.len() as u32;
        for (pass, b) in self.matcher.blocks().iter().enumerate() {
            if let Some(k) = b.key(&p, pass) {
                self.postings.entry(k).or_default().push(idx);
            }
        }
        let slots: Vec<usize> = self.matcher.comparisons().iter().map(|c| c.slot).collect();
        for (t, s) in self.matcher.tf_tables_mut().iter_mut().zip(slots) {
            if let (Some(t), Some(v)) = (t.as_mut(), p.value(s)) {
                t.add(v);
            }
        }
        self.persons.push(p);
        idx
    }

    /// Normalise and add a raw record.
    pub fn add_raw(&mut self, raw: &RawRecord) -> u32 {
        let p = self.matcher.normalizer.normalize(raw);
        self.add(p)
    }

    /// log2 prior odds that a given indexed person is the query's match.
    fn prior_weight(&self) -> f64 {
        let n = self.persons.len().max(1) as f64;
        let r = self.matcher.model.matches_per_record.clamp(1e-6, 1.0);
        let p = (r / n).min(0.5);
        (p / (1.0 - p)).log2()
    }

    /// Candidate indices for a query person (deduplicated, ascending).
    pub fn candidates(&self, p: &Person) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        for (pass, b) in self.matcher.blocks().iter().enumerate() {
            let Some(k) = b.key(p, pass) else { continue };
            if let Some(list) = self.postings.get(&k)
                && list.len() <= self.max_postings.min(b.max_block_size)
            {
                out.extend_from_slice(list);
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Match a person against the index: Link and Review matches, best first,
    /// at most `limit`.
    pub fn query(&self, p: &Person, limit: usize) -> Vec<OnlineMatch> {
        let prior = self.prior_weight();
        let mut g = Vec::with_capacity(self.matcher.comparisons().len());
        let mut res: Vec<OnlineMatch> = Vec::new();
        for idx in self.candidates(p) {
            let q = &self.persons[idx as usize];
            g.clear();
            self.matcher.gamma(p, q, &mut g);
            let w = self.matcher.weight_from_gamma(&g, p) - self.matcher.prior_weight() + prior;
            let prob = weight_to_probability(w);
            let rule = self.matcher.rule_fired(p, q);
            let decision = if rule.is_some() {
                Decision::Link
            } else {
                self.matcher.decide(prob)
            };
            if decision == Decision::NoMatch {
                continue;
            }
            res.push(OnlineMatch {
                index: idx,
                id: q.id.clone(),
                match_weight: w,
                match_probability: prob,
                decision,
                rule: rule.map(|r| self.matcher.rule_name(r).to_string()),
            });
        }
        res.sort_by(|a, b| {
            (b.decision == Decision::Link)
                .cmp(&(a.decision == Decision::Link))
                .then(b.match_weight.total_cmp(&a.match_weight))
        });
        res.truncate(limit);
        res
    }

    /// Normalise a raw record and query.
    pub fn query_raw(&self, raw: &RawRecord, limit: usize) -> Vec<OnlineMatch> {
        let p = self.matcher.normalizer.normalize(raw);
        self.query(&p, limit)
    }

    /// Explain the comparison of a query person with an indexed person (with
    /// the index's prior).
    pub fn explain(&self, p: &Person, index: u32) -> Explanation {
        self.matcher
            .explain_with_prior(p, &self.persons[index as usize], self.prior_weight())
    }
}
