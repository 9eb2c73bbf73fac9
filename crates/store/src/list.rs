//! Lists: parameterised filters, whitelisted sorting, windows and counted pages.

use crate::Arg;

/// Builds a `WHERE` clause with numbered parameters, so dynamic filters stay parameterised.
#[derive(Debug, Default)]
pub struct Filter {
    clauses: Vec<String>,
    pub args: Vec<Arg>,
}

impl Filter {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next placeholder, e.g. `$3`.
    pub fn next(&self) -> String {
        format!("${}", self.args.len() + 1)
    }

    /// Adds `clause` where `?` stands for the bound value.
    pub fn add(&mut self, clause: &str, v: impl Into<Arg>) -> &mut Self {
        let ph = self.next();
        self.clauses.push(clause.replace('?', &ph));
        self.args.push(v.into());
        self
    }

    /// Adds a clause without parameters.
    pub fn raw(&mut self, clause: &str) -> &mut Self {
        self.clauses.push(clause.to_string());
        self
    }

    /// Binds `values` and returns their placeholders, e.g. `$2, $3` (`NULL` when empty).
    pub fn placeholders(&mut self, values: &[i64]) -> String {
        if values.is_empty() {
            return "NULL".into();
        }
        let mut phs = Vec::with_capacity(values.len());
        for v in values {
            phs.push(self.next());
            self.args.push(Arg::from(*v));
        }
        phs.join(", ")
    }

    /// `column IN (…)`; an empty set matches nothing.
    pub fn any_of(&mut self, column: &str, values: &[i64]) -> &mut Self {
        if values.is_empty() {
            return self.raw("1 = 0");
        }
        let list = self.placeholders(values);
        self.clauses.push(format!("{column} IN ({list})"));
        self
    }

    /// `WHERE …` or an empty string.
    pub fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// Appends `LIMIT/OFFSET` parameters and returns their SQL.
    pub fn page(&mut self, limit: i64, offset: i64) -> String {
        let l = self.next();
        self.args.push(Arg::from(limit));
        let o = self.next();
        self.args.push(Arg::from(offset));
        format!(" LIMIT {l} OFFSET {o}")
    }
}

/// A sortable column of a list: the key a page sends (`?sort=name`) and the SQL it stands
/// for. Lists declare these as constants, so `ORDER BY` is never built from input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub key: &'static str,
    pub sql: &'static str,
}

/// One page of a list: a whitelisted order, how many rows and from where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    order: Option<&'static str>,
    desc: bool,
    pub limit: i64,
    pub offset: i64,
}

impl Window {
    /// Sorted by the column `key` names when it is one of `sorts`, else by the list's default.
    pub fn new(sorts: &[Sort], key: &str, desc: bool, limit: i64, offset: i64) -> Self {
        Self {
            order: sorts.iter().find(|s| s.key == key).map(|s| s.sql),
            desc,
            limit: limit.max(1),
            offset: offset.max(0),
        }
    }

    /// The same order over every row (a list filtered row by row after reading, then paged).
    pub fn whole(&self) -> Self {
        Self {
            limit: i64::MAX / 4,
            offset: 0,
            ..*self
        }
    }

    /// The first `limit` rows in the list's default order.
    pub fn first(limit: i64) -> Self {
        Self::new(&[], "", false, limit, 0)
    }

    /// `ORDER BY <chosen column> [DESC], <default> LIMIT $n OFFSET $m`: the default order
    /// (e.g. `id DESC`) breaks ties, so pages never overlap.
    pub fn tail(&self, f: &mut Filter, default: &str) -> String {
        let order = match self.order {
            Some(col) => format!(
                " ORDER BY {col} {}, {default}",
                if self.desc { "DESC" } else { "ASC" }
            ),
            None => format!(" ORDER BY {default}"),
        };
        format!("{order}{}", f.page(self.limit, self.offset))
    }
}

/// Rows of one page and the number of rows matching the filters.
#[derive(Debug, Clone)]
pub struct Paged<T> {
    pub rows: Vec<T>,
    pub total: i64,
    /// `total` is a lower bound: counting stopped there (lists of millions of rows).
    pub at_least: bool,
}

impl<T> Paged<T> {
    pub fn exact(rows: Vec<T>, total: i64) -> Self {
        Self {
            rows,
            total,
            at_least: false,
        }
    }

    /// `counted` rows were counted with a cap of `cap`: more than `cap` means "at least".
    pub fn counted_to(rows: Vec<T>, counted: i64, cap: i64) -> Self {
        Self {
            rows,
            total: counted.min(cap),
            at_least: counted > cap,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Paged<U> {
        Paged {
            rows: self.rows.into_iter().map(f).collect(),
            total: self.total,
            at_least: self.at_least,
        }
    }
}

/// Escapes `%` and `_` for a `LIKE … ESCAPE '\'` pattern containing `needle`.
pub fn like_pattern(needle: &str) -> String {
    let mut s = String::from("%");
    for c in needle.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('%');
    s
}

#[cfg(test)]
mod tests {
    use super::{Filter, Sort, Window};

    #[test]
    fn window_orders_only_by_whitelisted_columns() {
        const SORTS: &[Sort] = &[Sort {
            key: "name",
            sql: "o.name",
        }];
        let mut f = Filter::new();
        f.add("a = ?", 1i64);
        let w = Window::new(SORTS, "name", true, 20, 40);
        assert_eq!(
            w.tail(&mut f, "o.id"),
            " ORDER BY o.name DESC, o.id LIMIT $2 OFFSET $3"
        );
        let mut f = Filter::new();
        let w = Window::new(SORTS, "name; DROP TABLE orgs", false, 0, -5);
        assert_eq!(
            w.tail(&mut f, "o.id DESC"),
            " ORDER BY o.id DESC LIMIT $1 OFFSET $2"
        );
        assert_eq!((w.limit, w.offset), (1, 0));
    }
}
