//! Paging of the JSON lists under `/api/v1`: `?page=&size=` in, one page out as
//! `{items, total, total_at_least, page, size}`.
//!
//! A list that grows with use never stops silently at a fixed number of rows: the caller
//! asks for page after page and `total` says how many match. `size` is 1–200 (default
//! [`DEFAULT_SIZE`]); a value that is not a whole number in range is refused with
//! `filter.invalid` (400) instead of being quietly corrected. Stores of millions of rows
//! (HL7 messages, deliveries) count only up to a cap ([`Paged::counted_to`]): then
//! `total_at_least` is true and `total` is the cap.

use serde::{Deserialize, Serialize};
use serde_json::json;
use yiyang_core::{AppError, AppResult};
use yiyang_store::{Paged, Window};

/// Rows a page holds when the caller does not say.
pub const DEFAULT_SIZE: i64 = 50;
/// The largest page a caller may ask for.
pub const MAX_SIZE: i64 = 200;
/// The last page number accepted (beyond it the offset would stop meaning anything).
pub const MAX_PAGE: i64 = 1_000_000;

/// `page` and `size` as sent. Kept as text so that `size=abc` is refused with the list's
/// own zh-CN `filter.invalid` error rather than a generic query error.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 页码，从 1 开始（默认 1）。
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000000)]
    pub page: Option<String>,
    /// 每页条数，1–200（默认 50）。
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub size: Option<String>,
}

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub page: i64,
    pub size: i64,
}

impl Default for Paging {
    fn default() -> Self {
        Self {
            page: 1,
            size: DEFAULT_SIZE,
        }
    }
}

fn refuse(field: &str, label: &str, value: &str, rule: &str) -> AppError {
    AppError::new(
        "filter.invalid",
        400,
        format!("筛选条件“{label}”的取值不正确：{value}（{rule}）"),
    )
    .with_details(json!({"field": field}))
}

fn number(field: &str, label: &str, value: Option<&str>, default: i64, max: i64) -> AppResult<i64> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(default);
    };
    let rule = format!("须为 1–{max} 的整数");
    match v.parse::<i64>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(refuse(field, label, v, &rule)),
    }
}

impl PageQuery {
    /// The page asked for, or `filter.invalid` naming the bad parameter.
    pub fn paging(&self) -> AppResult<Paging> {
        Ok(Paging {
            page: number("page", "页码", self.page.as_deref(), 1, MAX_PAGE)?,
            size: number(
                "size",
                "每页条数",
                self.size.as_deref(),
                DEFAULT_SIZE,
                MAX_SIZE,
            )?,
        })
    }
}

impl Paging {
    /// The rows of this page in the list's default order.
    pub fn window(&self) -> Window {
        Window::new(&[], "", false, self.size, (self.page - 1) * self.size)
    }

    /// The answer for this page of `rows`.
    pub fn answer<T>(&self, rows: Paged<T>) -> ApiPage<T> {
        ApiPage {
            items: rows.rows,
            total: rows.total,
            total_at_least: rows.at_least,
            page: self.page,
            size: self.size,
        }
    }
}

/// One page of a JSON list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiPage<T> {
    /// 本页的记录。
    pub items: Vec<T>,
    /// 符合条件的记录数（`total_at_least` 为真时只计到此数，实际更多）。
    pub total: i64,
    /// 计数在上限处停止：符合条件的记录至少有 `total` 条。
    pub total_at_least: bool,
    /// 页码，从 1 开始。
    pub page: i64,
    /// 每页条数。
    pub size: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(page: Option<&str>, size: Option<&str>) -> PageQuery {
        PageQuery {
            page: page.map(str::to_string),
            size: size.map(str::to_string),
        }
    }

    #[test]
    fn defaults_bounds_and_refusals() {
        assert_eq!(
            q(None, None).paging().unwrap(),
            Paging { page: 1, size: 50 }
        );
        assert_eq!(
            q(Some("3"), Some("200")).paging().unwrap(),
            Paging { page: 3, size: 200 }
        );
        assert_eq!(q(Some(""), Some(" ")).paging().unwrap(), Paging::default());
        for (page, size, field) in [
            (None, Some("201"), "size"),
            (None, Some("0"), "size"),
            (None, Some("abc"), "size"),
            (None, Some("-5"), "size"),
            (Some("0"), None, "page"),
            (Some("1.5"), None, "page"),
            (Some("1000001"), None, "page"),
        ] {
            let e = q(page, size).paging().unwrap_err();
            assert_eq!(
                (e.code, e.status),
                ("filter.invalid", 400),
                "{page:?} {size:?}"
            );
            assert_eq!(e.details["field"], field);
        }
        let p = Paging { page: 3, size: 20 };
        let w = p.window();
        assert_eq!((w.limit, w.offset), (20, 40));
        let a = p.answer(Paged::counted_to(vec![1, 2], 10_001, 10_000));
        assert_eq!(
            (a.total, a.total_at_least, a.page, a.size),
            (10_000, true, 3, 20)
        );
    }
}
