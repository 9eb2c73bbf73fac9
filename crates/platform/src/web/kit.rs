//! The admin UI kit every list uses: server-side paging with a page-size choice, sorting by
//! whitelisted columns, a filter bar, a column chooser (remembered per list in the browser),
//! batch selection with batch actions, empty and loading states, and Excel export of the
//! whole filtered set.
//!
//! A list page parses [`ListQuery`] from its query string, asks its service for one
//! [`Window`] (`lq.window(SORTS)`; the service appends `window.tail(&mut filter, "id")`
//! and counts the filtered rows into a [`Paged`]), then describes its columns once:
//!
//! ```ignore
//! let table = Table::new("orgs", "/orgs", &params, &lq)
//!     .col(Col::new("code", "编码", |o: &Org| o.code.clone()).sort().class("mono"))
//!     .col(Col::new("name", "名称", |o: &Org| o.name.clone()).cell(|o| html! { a href=… { (o.name) } }));
//! if lq.export { return table.export(&st, &a.ctx, "机构信息", "orgs", &page).await; }
//! table.render(&page, &a)
//! ```
//!
//! The same columns draw the table and fill the spreadsheet, so an export always has the
//! columns, labels and masking the screen has.

use super::{Authed, PageError};
use crate::audit::AuditEntry;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use std::collections::HashMap;
use yiyang_core::{AppError, RequestContext};
pub use yiyang_store::{Paged, Sort, Window};

pub type Params = HashMap<String, String>;

/// Page sizes a user can choose.
pub const PAGE_SIZES: [i64; 4] = [20, 50, 100, 200];
pub const DEFAULT_PAGE_SIZE: i64 = 20;
/// The most rows one export writes (a spreadsheet, built in memory). When more rows match,
/// the list says so beside the export button and the file's last row says so too.
pub const EXPORT_CAP: i64 = 50_000;

/// Paging, sorting and export as asked in the query string:
/// `page`, `size` (one of [`PAGE_SIZES`]), `sort` (a column key), `dir=desc`, `export=xlsx`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub page: i64,
    pub size: i64,
    pub sort: String,
    pub desc: bool,
    pub export: bool,
}

impl ListQuery {
    pub fn from_params(q: &Params) -> Self {
        let num = |k: &str| q.get(k).and_then(|v| v.trim().parse::<i64>().ok());
        Self {
            page: num("page").unwrap_or(1).clamp(1, 1_000_000),
            size: num("size")
                .filter(|s| PAGE_SIZES.contains(s))
                .unwrap_or(DEFAULT_PAGE_SIZE),
            sort: q.get("sort").cloned().unwrap_or_default(),
            desc: q.get("dir").is_some_and(|d| d == "desc"),
            export: q.get("export").is_some_and(|e| e == "xlsx"),
        }
    }

    /// The rows to fetch: this page, or for an export everything up to [`EXPORT_CAP`].
    pub fn window(&self, sorts: &[Sort]) -> Window {
        if self.export {
            Window::new(sorts, &self.sort, self.desc, EXPORT_CAP, 0)
        } else {
            Window::new(
                sorts,
                &self.sort,
                self.desc,
                self.size,
                (self.page - 1) * self.size,
            )
        }
    }

    fn pages(&self, total: i64) -> i64 {
        ((total + self.size - 1) / self.size).max(1)
    }
}

/// A small list held whole in memory (a few dozen channels or clients), paged the same way:
/// this page of it, or all of it for an export. Not for lists that grow with use.
pub fn page_in_memory<T>(rows: Vec<T>, q: &ListQuery) -> Paged<T> {
    let total = rows.len() as i64;
    if q.export {
        return Paged::exact(rows, total);
    }
    let from = ((q.page - 1) * q.size).min(total) as usize;
    let rows = rows.into_iter().skip(from).take(q.size as usize).collect();
    Paged::exact(rows, total)
}

/// The ids ticked in a batch form (`ids=1&ids=2…`), in order, without repeats or junk.
pub fn ids(form: &[(String, String)]) -> Vec<i64> {
    let mut out: Vec<i64> = Vec::new();
    for (k, v) in form {
        if k == "ids"
            && let Ok(id) = v.trim().parse::<i64>()
            && !out.contains(&id)
        {
            out.push(id);
        }
    }
    out
}

type TextFn<'a, T> = Box<dyn Fn(&T) -> String + Send + Sync + 'a>;
type CellFn<'a, T> = Box<dyn Fn(&T) -> Markup + Send + Sync + 'a>;
type IdFn<'a, T> = Box<dyn Fn(&T) -> i64 + Send + Sync + 'a>;
type ClassFn<'a, T> = Box<dyn Fn(&T) -> Option<&'static str> + Send + Sync + 'a>;

/// One column: a stable key (sorting, the column chooser), a Chinese label, the value as
/// text (the cell and the export) and optionally a richer cell.
pub struct Col<'a, T> {
    key: &'static str,
    label: &'static str,
    sortable: bool,
    hidden: bool,
    export: bool,
    numeric: bool,
    class: Option<&'static str>,
    text: TextFn<'a, T>,
    cell: Option<CellFn<'a, T>>,
}

impl<'a, T> Col<'a, T> {
    pub fn new(
        key: &'static str,
        label: &'static str,
        text: impl Fn(&T) -> String + Send + Sync + 'a,
    ) -> Self {
        Self {
            key,
            label,
            sortable: false,
            hidden: false,
            export: true,
            numeric: false,
            class: None,
            text: Box::new(text),
            cell: None,
        }
    }

    /// A column with only a cell (actions); never exported.
    pub fn action(
        key: &'static str,
        label: &'static str,
        cell: impl Fn(&T) -> Markup + Send + Sync + 'a,
    ) -> Self {
        Self::new(key, label, |_| String::new())
            .cell(cell)
            .no_export()
    }

    /// Draws the cell with `f` instead of the plain text (links, badges).
    pub fn cell(mut self, f: impl Fn(&T) -> Markup + Send + Sync + 'a) -> Self {
        self.cell = Some(Box::new(f));
        self
    }

    /// The header sorts by this column; its key must be one of the list's [`Sort`] keys.
    pub fn sort(mut self) -> Self {
        self.sortable = true;
        self
    }

    /// Off until the user turns it on in the column chooser (still exported).
    pub fn hidden(mut self) -> Self {
        self.hidden = true;
        self
    }

    pub fn no_export(mut self) -> Self {
        self.export = false;
        self
    }

    /// Exported as a number when the text is one.
    pub fn numeric(mut self) -> Self {
        self.numeric = true;
        self
    }

    /// A class for the cells (`mono`, `nowrap`).
    pub fn class(mut self, c: &'static str) -> Self {
        self.class = Some(c);
        self
    }
}

/// A batch action: a button posting the ticked ids (`ids=…`) to `action`.
pub struct BatchAction {
    pub label: &'static str,
    pub action: String,
    pub danger: bool,
    /// Asked before sending (a browser confirmation).
    pub confirm: Option<&'static str>,
}

impl BatchAction {
    pub fn new(label: &'static str, action: impl Into<String>) -> Self {
        Self {
            label,
            action: action.into(),
            danger: false,
            confirm: None,
        }
    }

    pub fn danger(mut self, confirm: &'static str) -> Self {
        self.danger = true;
        self.confirm = Some(confirm);
        self
    }
}

/// A list: its columns, where it lives, the current query and optional batch actions.
pub struct Table<'a, T> {
    id: &'static str,
    path: &'a str,
    params: &'a Params,
    q: &'a ListQuery,
    cols: Vec<Col<'a, T>>,
    batch_id: Option<IdFn<'a, T>>,
    batch: Vec<BatchAction>,
    row_class: Option<ClassFn<'a, T>>,
    empty: &'a str,
    exportable: bool,
}

/// Query keys that never travel in the list's own links.
const TRANSIENT: [&str; 8] = [
    "ok", "err", "export", "_csrf", "page", "new", "field", "edit",
];

impl<'a, T> Table<'a, T> {
    /// `id` names the list (the column chooser's memory, element ids); `path` is the
    /// page's own path; `params` its query string (filters are carried in every link).
    pub fn new(id: &'static str, path: &'a str, params: &'a Params, q: &'a ListQuery) -> Self {
        Self {
            id,
            path,
            params,
            q,
            cols: Vec::new(),
            batch_id: None,
            batch: Vec::new(),
            row_class: None,
            empty: "没有符合条件的记录",
            exportable: true,
        }
    }

    pub fn col(mut self, c: Col<'a, T>) -> Self {
        self.cols.push(c);
        self
    }

    /// Tick boxes on every row (the row's id) and the batch actions above the table.
    pub fn batch(
        mut self,
        id: impl Fn(&T) -> i64 + Send + Sync + 'a,
        actions: Vec<BatchAction>,
    ) -> Self {
        if !actions.is_empty() {
            self.batch_id = Some(Box::new(id));
            self.batch = actions;
        }
        self
    }

    /// A class for some rows (e.g. `hl` for the row a notification pointed at).
    pub fn row_class(mut self, f: impl Fn(&T) -> Option<&'static str> + Send + Sync + 'a) -> Self {
        self.row_class = Some(Box::new(f));
        self
    }

    /// The text of the empty state.
    pub fn empty(mut self, text: &'a str) -> Self {
        self.empty = text;
        self
    }

    /// No export button (lists of secrets or of nothing worth a spreadsheet).
    pub fn no_export(mut self) -> Self {
        self.exportable = false;
        self
    }

    /// A link to this list with the current filters and `set` applied.
    pub fn href(&self, set: &[(&str, String)]) -> String {
        list_href(self.path, self.params, set)
    }

    fn sort_href(&self, key: &str) -> (String, Option<&'static str>) {
        let active = self.q.sort == key;
        let desc = active && !self.q.desc;
        let href = self.href(&[
            ("sort", key.to_string()),
            ("dir", (if desc { "desc" } else { "asc" }).to_string()),
        ]);
        let aria = active.then_some(if self.q.desc {
            "descending"
        } else {
            "ascending"
        });
        (href, aria)
    }

    /// The list: tool bar (count, batch actions, column chooser, export), table, pager.
    pub fn render(&self, page: &Paged<T>, a: &Authed) -> Markup {
        let form_id = format!("batch-{}", self.id);
        let n_cols = self.cols.len() + usize::from(self.batch_id.is_some());
        html! {
            div.kit-list data-list=(self.id) {
                div.kit-bar {
                    span.kit-count { "共 " strong { (page.total) @if page.at_least { "+" } } " 条" }
                    @if self.batch_id.is_some() {
                        form.kit-batch id=(form_id) method="post" data-batch {
                            (super::layout::csrf(a))
                            span.muted data-batch-count {}
                            @for b in &self.batch {
                                button class=(if b.danger { "danger small-btn" } else { "secondary small-btn" }) type="submit" formaction=(b.action) data-confirm=[b.confirm] { (b.label) }
                            }
                        }
                    }
                    span.kit-spacer {}
                    details.kit-cols data-cols-for=(self.id) {
                        summary { "列设置" }
                        div.kit-cols-menu {
                            @for c in &self.cols {
                                label.chk { input type="checkbox" data-col-toggle=(c.key) checked[!c.hidden]; " " (c.label) }
                            }
                            button.link type="button" data-cols-reset { "恢复默认" }
                        }
                    }
                    @if self.exportable {
                        a.btn.secondary.small-btn href=(self.href(&[("export", "xlsx".into())])) download { "导出 Excel" }
                        @if page.total > EXPORT_CAP {
                            span.kit-cap role="note" { "共 " (page.total) " 条，导出仅含按当前排序的前 " (EXPORT_CAP) " 条，请缩小筛选范围分批导出" }
                        } @else if page.at_least {
                            span.kit-cap role="note" { "记录超过 " (page.total) " 条（只计数到此），导出最多含前 " (EXPORT_CAP) " 条，可缩小筛选范围" }
                        }
                    }
                }
                div.table-wrap { table.kit data-table=(self.id) {
                    thead { tr {
                        @if self.batch_id.is_some() {
                            th.sel { input type="checkbox" data-select-all=(form_id) aria-label="全选本页"; }
                        }
                        @for c in &self.cols {
                            @if c.sortable {
                                @let (href, aria) = self.sort_href(c.key);
                                th data-col=(c.key) hidden[c.hidden] aria-sort=[aria] {
                                    a.sort href=(href) data-nav { (c.label) span.sort-mark aria-hidden="true" { (match aria { Some("ascending") => "▲", Some(_) => "▼", None => "↕" }) } }
                                }
                            } @else {
                                th data-col=(c.key) hidden[c.hidden] { (c.label) }
                            }
                        }
                    } }
                    tbody {
                        @for r in &page.rows { tr class=[self.row_class.as_ref().and_then(|f| f(r))] {
                            @if let Some(id) = &self.batch_id {
                                td.sel { input type="checkbox" name="ids" value=(id(r)) form=(form_id) aria-label="选择此行"; }
                            }
                            @for c in &self.cols {
                                td data-col=(c.key) class=[c.class] hidden[c.hidden] {
                                    @match &c.cell { Some(f) => (f(r)), None => ((c.text)(r)) }
                                }
                            }
                        } }
                        @if page.rows.is_empty() {
                            tr.kit-empty { td colspan=(n_cols) { div.empty-state { span.empty-icon aria-hidden="true" { "○" } p { (self.empty) } } } }
                        }
                    }
                } }
                (self.pager(page.total))
                div.kit-loading aria-hidden="true" { "加载中…" }
            }
        }
    }

    fn pager(&self, total: i64) -> Markup {
        let pages = self.q.pages(total);
        let page = self.q.page.min(pages);
        let at = |p: i64| self.href(&[("page", p.to_string())]);
        html! {
            nav.pager aria-label="分页" {
                @if page > 1 { a href=(at(1)) data-nav { "首页" } a href=(at(page - 1)) data-nav rel="prev" { "上一页" } }
                span { "第 " (page) " / " (pages) " 页" }
                @if page < pages { a href=(at(page + 1)) data-nav rel="next" { "下一页" } a href=(at(pages)) data-nav { "末页" } }
                span.kit-sizes { "每页 "
                    @for s in PAGE_SIZES {
                        @if s == self.q.size { strong aria-current="true" { (s) } } @else { a href=(self.href(&[("size", s.to_string())])) data-nav { (s) } }
                        " "
                    }
                    "条"
                }
            }
        }
    }

    /// The exportable columns' labels and the rows as text.
    fn sheet(&self, page: &Paged<T>) -> (Vec<&'static str>, Vec<bool>, Vec<Vec<String>>) {
        let cols: Vec<&Col<'a, T>> = self.cols.iter().filter(|c| c.export).collect();
        let heads = cols.iter().map(|c| c.label).collect();
        let numeric = cols.iter().map(|c| c.numeric).collect();
        let rows = page
            .rows
            .iter()
            .map(|r| cols.iter().map(|c| (c.text)(r)).collect())
            .collect();
        (heads, numeric, rows)
    }

    /// The filtered set as an .xlsx download, audited as `export.xlsx` on `resource`
    /// (the rows are the service's rows: masked exactly as the screen shows them).
    pub async fn export(
        &self,
        st: &super::AppState,
        ctx: &RequestContext,
        title: &str,
        resource: &str,
        page: &Paged<T>,
    ) -> Result<Response, PageError> {
        let (heads, numeric, rows) = self.sheet(page);
        let capped = rows.len() as i64 >= EXPORT_CAP && (page.at_least || page.total > EXPORT_CAP);
        let note = capped.then(|| {
            format!(
                "符合条件的记录超过 {} 条，本文件仅含前 {} 条（导出上限），请缩小筛选范围分批导出",
                rows.len(),
                rows.len()
            )
        });
        let bytes = xlsx(title, &heads, &numeric, &rows, note.as_deref())?;
        st.audit
            .record(
                AuditEntry::new(ctx, "export.xlsx", resource, "").details(serde_json::json!({
                    "list": self.id,
                    "rows": rows.len(),
                    "total": page.total,
                    "filters": export_filters(self.params),
                })),
            )
            .await;
        Ok(xlsx_response(title, bytes, ctx))
    }
}

fn export_filters(params: &Params) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    let mut keys: Vec<&String> = params.keys().collect();
    keys.sort();
    for k in keys {
        if !TRANSIENT.contains(&k.as_str()) && !params[k].is_empty() {
            m.insert(k.clone(), params[k].clone().into());
        }
    }
    m.into()
}

/// `path?…` with the list's parameters, minus transient ones, with `set` applied
/// (an empty value removes a key).
pub fn list_href(path: &str, params: &Params, set: &[(&str, String)]) -> String {
    let mut keys: Vec<&String> = params.keys().collect();
    keys.sort();
    let mut s = form_urlencoded::Serializer::new(String::new());
    for k in keys {
        if TRANSIENT.contains(&k.as_str()) || set.iter().any(|(sk, _)| sk == k) {
            continue;
        }
        if !params[k].is_empty() {
            s.append_pair(k, &params[k]);
        }
    }
    for (k, v) in set {
        if !v.is_empty() {
            s.append_pair(k, v);
        }
    }
    let qs = s.finish();
    if qs.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{qs}")
    }
}

/// The filter bar: the page's own fields, then 查询 and 重置; page size and sort survive.
pub fn filter_bar(path: &str, q: &ListQuery, fields: Markup) -> Markup {
    html! {
        form.toolbar.kit-filter method="get" action=(path) role="search" {
            (fields)
            @if q.size != DEFAULT_PAGE_SIZE { input type="hidden" name="size" value=(q.size); }
            @if !q.sort.is_empty() {
                input type="hidden" name="sort" value=(q.sort);
                input type="hidden" name="dir" value=(if q.desc { "desc" } else { "asc" });
            }
            div.kit-filter-buttons {
                button type="submit" { "查询" }
                " "
                a.btn.secondary href=(path) { "重置" }
            }
        }
    }
}

/// Tabs over lists that share a page (each tab its own address, e.g. `?tab=staff`):
/// `(href, label, count, current)`.
pub fn tabs(items: &[(String, &str, Option<i64>, bool)]) -> Markup {
    html! {
        nav.kit-tabs aria-label="分类" {
            @for (href, label, n, on) in items {
                a href=(href) aria-current=[on.then_some("page")] {
                    (label) @if let Some(n) = n { " " span.kit-tab-n { (n) } }
                }
            }
        }
    }
}

/// A button that opens the dialog of the form `form`; without script it links to `page`
/// with `?new=<form>`, which renders the dialog open.
pub fn dialog_button(form: &str, label: &str, page: &str) -> Markup {
    let sep = if page.contains('?') { '&' } else { '?' };
    html! { a.btn href=(format!("{page}{sep}new={form}")) data-dialog=(format!("dlg-{form}")) role="button" { (label) } }
}

/// 查看明文: a button opening a dialog that asks for the purpose (recorded with the read in
/// the audit log) and loads `page` again with `unmask=true&purpose=…`.
pub fn unmask_button(page: &str, example: &str, q: &Params) -> Markup {
    let f = FormError::from_params(q, "unmask");
    html! {
        (dialog_button("unmask", "查看明文", page))
        (dialog(&f, "查看明文", page, html! { form.grid method="get" action=(page) {
            input type="hidden" name="unmask" value="true";
            div {
                label for="unmask-purpose" { "查看明文的用途" span.req { "*" } }
                input #unmask-purpose type="text" name="purpose" required minlength="2" maxlength="100" placeholder=(example) aria-describedby="unmask-note";
                div.muted.small #unmask-note { "用途与本次查看一并记入审计日志。" }
            }
            div { button type="submit" { "查看明文" } }
        } }))
    }
}

/// A link that opens the dialog of the form `form` on `page` filled for one record
/// (`?new=<form>&edit=<key>`): the server draws it open with the record's values.
pub fn edit_link(form: &str, label: &str, page: &str, key: &str) -> Markup {
    let mut s = form_urlencoded::Serializer::new(String::new());
    s.append_pair("new", form);
    s.append_pair("edit", key);
    let sep = if page.contains('?') { '&' } else { '?' };
    html! { a href=(format!("{page}{sep}{}", s.finish())) { (label) } }
}

/// The dialog of a form (新增/编辑): closed until its button is pressed, open when asked
/// for (`?new=<form>`) or when the form came back with an error. `page` is where 关闭
/// leads without script (the page's own path: after a failed post the address is the
/// form's action). The message is shown at the top; each field's own problem beside it.
pub fn dialog(err: &FormError, title: &str, page: &str, content: Markup) -> Markup {
    let id = format!("dlg-{}", err.form);
    html! {
        dialog id=(id) aria-labelledby=(format!("{id}-title")) open[err.open()]
            data-error-field=[err.field.as_deref()] data-error=[err.first_message()] {
            div.dlg-head {
                h2 id=(format!("{id}-title")) { (title) }
                a.btn.secondary.small-btn href=(page) data-dialog-close { "关闭" }
            }
            div.dlg-body {
                @if let Some(m) = &err.message { div.notice.err role="alert" { (m) } }
                (content)
            }
        }
    }
}

/// The state of one form of a page: blank, asked for (`?new=<form>`), or back with an
/// error — its message, every field's own problem (all of a `Checks` error's
/// `details.fields`, or the one `details.field`) and what was typed, so nothing is lost.
#[derive(Debug, Clone, Default)]
pub struct FormError {
    /// The form's name (`new=<form>`, the dialog `dlg-<form>`, input ids `<form>-<field>`).
    pub form: String,
    pub message: Option<String>,
    /// The first field named by the error.
    pub field: Option<String>,
    /// Every field's problem, in the order found.
    pub fields: Vec<(String, String)>,
    requested: bool,
    /// What was typed (never passwords or the CSRF token), when the form came back.
    values: Option<Vec<(String, String)>>,
}

impl FormError {
    /// A form nobody asked for yet.
    pub fn blank(form: &str) -> Self {
        Self {
            form: form.to_string(),
            ..Self::default()
        }
    }

    /// A form drawn open (its own markup shows what went wrong).
    pub fn opened(form: &str) -> Self {
        Self {
            requested: true,
            ..Self::blank(form)
        }
    }

    /// The form as the query string asks: open when `new=<form>`, with the error of a
    /// redirect (`err`, `field`) when it belongs to this form.
    pub fn from_params(q: &Params, form: &str) -> Self {
        let mut f = Self::blank(form);
        if q.get("new").map(String::as_str) != Some(form) {
            return f;
        }
        f.requested = true;
        f.message = q.get("err").filter(|m| !m.is_empty()).cloned();
        f.field = q.get("field").filter(|m| !m.is_empty()).cloned();
        if let (Some(field), Some(m)) = (&f.field, &f.message) {
            f.fields.push((field.clone(), m.clone()));
        }
        f
    }

    /// The form `form` came back with `e`: every field the error names, and `values` as
    /// typed (passwords and the CSRF token are dropped, never sent back).
    pub fn from_error(
        form: &str,
        e: &AppError,
        values: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        let mut fields = Vec::new();
        if let Some(list) = e.details.get("fields").and_then(|f| f.as_array()) {
            for x in list {
                if let (Some(f), Some(m)) = (x["field"].as_str(), x["message"].as_str()) {
                    fields.push((f.to_string(), m.to_string()));
                }
            }
        } else if let Some(f) = e.details.get("field").and_then(|f| f.as_str()) {
            fields.push((f.to_string(), e.message.clone()));
        }
        let values = values
            .into_iter()
            .filter(|(k, _)| k != "_csrf" && !k.contains("password"))
            .collect();
        Self {
            form: form.to_string(),
            message: Some(e.message.clone()),
            field: fields.first().map(|f| f.0.clone()),
            fields,
            requested: true,
            values: Some(values),
        }
    }

    /// This form's state on a page that may have come back with `failed` (another form's
    /// failure leaves this one as the query string asks).
    pub fn pick(form: &str, q: &Params, failed: Option<&FormError>) -> Self {
        match failed {
            Some(f) if f.form == form => f.clone(),
            _ => Self::from_params(q, form),
        }
    }

    pub fn is_some(&self) -> bool {
        self.message.is_some()
    }

    /// Whether the dialog is drawn open.
    pub fn open(&self) -> bool {
        self.requested || self.is_some()
    }

    /// Whether the form came back with what was typed.
    pub fn kept(&self) -> bool {
        self.values.is_some()
    }

    fn first_message(&self) -> Option<&str> {
        self.fields.first().map(|f| f.1.as_str())
    }

    /// The input id of `name` in this form (unique on a page with several forms).
    pub fn id(&self, name: &str) -> String {
        format!("{}-{name}", self.form)
    }

    /// The typed value of `name` when the form came back, else `default`.
    pub fn value(&self, name: &str, default: &str) -> String {
        match &self.values {
            Some(v) => v
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, x)| x.clone())
                .unwrap_or_default(),
            None => default.to_string(),
        }
    }

    /// Whether the checkbox `name` = `value` is ticked: as sent when the form came back,
    /// else `default`.
    pub fn checked(&self, name: &str, value: &str, default: bool) -> bool {
        match &self.values {
            Some(v) => v.iter().any(|(k, x)| k == name && x == value),
            None => default,
        }
    }

    /// The problem of the field `name`, if the error names it.
    pub fn problem(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(f, _)| f == name)
            .map(|(_, m)| m.as_str())
    }

    /// `aria-invalid` for the input named `name`.
    pub fn invalid(&self, name: &str) -> Option<&'static str> {
        self.problem(name).map(|_| "true")
    }

    /// `aria-describedby` for the input named `name` (its error beside it).
    pub fn described(&self, name: &str) -> Option<String> {
        self.problem(name).map(|_| format!("err-{}", self.id(name)))
    }

    /// The problem beside the input named `name`.
    pub fn beside(&self, name: &str) -> Markup {
        html! {
            @if let Some(m) = self.problem(name) {
                div.field-error id=(format!("err-{}", self.id(name))) { (m) }
            }
        }
    }

    /// A labelled input of this form (`type=text` unless [`Input::kind`] says otherwise):
    /// the typed value kept after an error, the problem beside it.
    pub fn input<'a>(&'a self, name: &'a str, label: &'a str, default: &str) -> Input<'a> {
        Input {
            err: self,
            name,
            label,
            value: self.value(name, default),
            kind: "text",
            required: false,
            readonly: false,
            placeholder: None,
            min: None,
            max: None,
            step: None,
            maxlength: None,
            autocomplete: None,
        }
    }

    /// A labelled select of this form; `blank` adds a first empty option.
    pub fn select<'a, K: ToString, L: ToString>(
        &'a self,
        name: &'a str,
        label: &'a str,
        options: impl IntoIterator<Item = (K, L)>,
        default: &str,
        blank: Option<&'a str>,
    ) -> Select<'a> {
        Select {
            err: self,
            name,
            label,
            value: self.value(name, default),
            options: options
                .into_iter()
                .map(|(k, l)| (k.to_string(), l.to_string()))
                .collect(),
            blank,
            required: false,
        }
    }

    /// A labelled checkbox (`name=value`), ticked by `default` until the form came back.
    pub fn check(&self, name: &str, value: &str, label: &str, default: bool) -> Markup {
        let id = format!("{}-{value}", self.id(name));
        html! {
            label.chk for=(id) { input id=(id) type="checkbox" name=(name) value=(value) checked[self.checked(name, value, default)]; " " (label) }
        }
    }
}

/// A labelled `<input>` of a form (see [`FormError::input`]).
pub struct Input<'a> {
    err: &'a FormError,
    name: &'a str,
    label: &'a str,
    value: String,
    kind: &'static str,
    required: bool,
    readonly: bool,
    placeholder: Option<&'a str>,
    min: Option<&'a str>,
    max: Option<&'a str>,
    step: Option<&'a str>,
    maxlength: Option<u32>,
    autocomplete: Option<&'static str>,
}

impl<'a> Input<'a> {
    /// `number`, `date`, `datetime-local`, `password` (never filled in), `search`.
    pub fn kind(mut self, kind: &'static str) -> Self {
        self.kind = kind;
        if kind == "password" {
            self.value.clear();
            self.autocomplete = Some("new-password");
        }
        self
    }
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub fn readonly(mut self, on: bool) -> Self {
        self.readonly = on;
        self
    }
    pub fn placeholder(mut self, p: &'a str) -> Self {
        self.placeholder = Some(p);
        self
    }
    pub fn range(mut self, min: &'a str, max: &'a str) -> Self {
        self.min = Some(min);
        self.max = Some(max);
        self
    }
    pub fn step(mut self, s: &'a str) -> Self {
        self.step = Some(s);
        self
    }
    pub fn maxlength(mut self, n: u32) -> Self {
        self.maxlength = Some(n);
        self
    }
    pub fn autocomplete(mut self, a: &'static str) -> Self {
        self.autocomplete = Some(a);
        self
    }
}

impl maud::Render for Input<'_> {
    fn render(&self) -> Markup {
        let e = self.err;
        let id = e.id(self.name);
        html! {
            div {
                label for=(id) { (self.label) @if self.required { span.req { "*" } } }
                input id=(id) type=(self.kind) name=(self.name) value=(self.value)
                    required[self.required] readonly[self.readonly] placeholder=[self.placeholder]
                    min=[self.min] max=[self.max] step=[self.step] maxlength=[self.maxlength]
                    autocomplete=[self.autocomplete]
                    aria-invalid=[e.invalid(self.name)] aria-describedby=[e.described(self.name)];
                (e.beside(self.name))
            }
        }
    }
}

/// A labelled `<select>` of a form (see [`FormError::select`]).
pub struct Select<'a> {
    err: &'a FormError,
    name: &'a str,
    label: &'a str,
    value: String,
    options: Vec<(String, String)>,
    blank: Option<&'a str>,
    required: bool,
}

impl Select<'_> {
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
}

impl maud::Render for Select<'_> {
    fn render(&self) -> Markup {
        let e = self.err;
        let id = e.id(self.name);
        html! {
            div {
                label for=(id) { (self.label) @if self.required { span.req { "*" } } }
                select id=(id) name=(self.name) aria-invalid=[e.invalid(self.name)] aria-describedby=[e.described(self.name)] {
                    @if let Some(b) = self.blank { option value="" { (b) } }
                    @for (k, l) in &self.options { option value=(k) selected[*k == self.value] { (l) } }
                }
                (e.beside(self.name))
            }
        }
    }
}

/// The page of a form that came back with `e`, drawn again with the dialog open and what
/// was typed (status 4xx, so nothing is cached as success); a server fault stays an error,
/// and so does a record that is missing or out of the caller's reach (401/403/404: the
/// error page, never the form's page with its data).
pub fn form_failed(e: &AppError, page: Result<impl IntoResponse, PageError>) -> Response {
    if e.status >= 500 || matches!(e.status, 401 | 403 | 404) {
        return PageError(e.clone()).into_response();
    }
    match page {
        Ok(m) => {
            let mut r = m.into_response();
            *r.status_mut() = axum::http::StatusCode::from_u16(e.status)
                .unwrap_or(axum::http::StatusCode::BAD_REQUEST);
            r
        }
        Err(pe) => pe.into_response(),
    }
}

/// After a failed form post that cannot be drawn again (an upload): back to `to` with the
/// message, the field it names (from `AppError::field` details) and the dialog `form`
/// open again.
pub fn back_to_form(to: &str, form: &str, e: &AppError) -> Response {
    let field = e
        .details
        .get("field")
        .and_then(|f| f.as_str())
        .unwrap_or("");
    let mut s = form_urlencoded::Serializer::new(String::new());
    s.append_pair("new", form);
    s.append_pair("err", &e.message);
    if !field.is_empty() {
        s.append_pair("field", field);
    }
    let sep = if to.contains('?') { '&' } else { '?' };
    axum::response::Redirect::to(&format!("{to}{sep}{}", s.finish())).into_response()
}

/// The outcome of a batch action, every failure named: "已处理 3 条；2 条未处理：…".
pub fn batch_summary(done: usize, failures: &[(i64, AppError)]) -> Result<String, AppError> {
    if failures.is_empty() {
        return Ok(format!("已处理 {done} 条"));
    }
    let why: Vec<String> = failures
        .iter()
        .map(|(id, e)| format!("编号 {id}：{}", e.message))
        .collect();
    Err(AppError::new(
        "common.batch_partial",
        409,
        format!(
            "已处理 {done} 条；{} 条未处理：{}",
            failures.len(),
            why.join("；")
        ),
    ))
}

/// A cell Excel could read as a formula (or a DDE command) starts with one of these.
fn looks_like_formula(s: &str) -> bool {
    s.starts_with(['=', '+', '-', '@', '\t', '\r', '\n'])
}

/// Builds the workbook: one sheet, bold frozen header with a filter, every value written as
/// text (numbers as numbers only in numeric columns), formula-looking text quote-prefixed.
pub fn xlsx(
    title: &str,
    heads: &[&str],
    numeric: &[bool],
    rows: &[Vec<String>],
    note: Option<&str>,
) -> Result<Vec<u8>, AppError> {
    use rust_xlsxwriter::{Format, Workbook};
    let err = |e: rust_xlsxwriter::XlsxError| AppError::internal(e);
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name(sheet_name(title)).map_err(err)?;
    let bold = Format::new().set_bold();
    let quoted = Format::new().set_quote_prefix();
    for (c, h) in heads.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, &bold)
            .map_err(err)?;
        let width = rows
            .iter()
            .take(200)
            .map(|r| display_width(&r[c]))
            .chain([display_width(h)])
            .max()
            .unwrap_or(8)
            .clamp(6, 60);
        ws.set_column_width(c as u16, width as f64 + 2.0)
            .map_err(err)?;
    }
    for (i, r) in rows.iter().enumerate() {
        let row = i as u32 + 1;
        for (c, v) in r.iter().enumerate() {
            let col = c as u16;
            let num = numeric
                .get(c)
                .copied()
                .unwrap_or(false)
                .then(|| v.trim().parse::<f64>().ok())
                .flatten()
                .filter(|n| n.is_finite());
            match num {
                Some(n) => ws.write_number(row, col, n).map(|_| ()),
                None if looks_like_formula(v) => ws
                    .write_string_with_format(row, col, v, &quoted)
                    .map(|_| ()),
                None => ws.write_string(row, col, v).map(|_| ()),
            }
            .map_err(err)?;
        }
    }
    if !heads.is_empty() {
        ws.set_freeze_panes(1, 0).map_err(err)?;
        ws.autofilter(0, 0, rows.len() as u32, heads.len() as u16 - 1)
            .map_err(err)?;
    }
    if let Some(n) = note {
        ws.write_string_with_format(rows.len() as u32 + 2, 0, n, &bold)
            .map_err(err)?;
    }
    wb.save_to_buffer().map_err(err)
}

/// Excel's sheet names: at most 31 characters, none of `[]:*?/\`.
fn sheet_name(title: &str) -> String {
    let s: String = title
        .chars()
        .filter(|c| !"[]:*?/\\".contains(*c))
        .take(31)
        .collect();
    if s.trim().is_empty() {
        "数据".into()
    } else {
        s
    }
}

/// Column width in Excel units: CJK characters count double.
fn display_width(s: &str) -> usize {
    s.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum()
}

/// The download: `<title>-<date>.xlsx`, never cached.
pub fn xlsx_response(title: &str, bytes: Vec<u8>, ctx: &RequestContext) -> Response {
    let date = yiyang_core::clock::today_cst(ctx.clock.as_ref()).format("%Y%m%d");
    let name = format!("{}-{date}.xlsx", sheet_name(title));
    let enc: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
    (
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"export-{date}.xlsx\"; filename*=UTF-8''{enc}"),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use maud::Render;

    fn params(kv: &[(&str, &str)]) -> Params {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn query_keeps_sizes_to_the_offered_ones() {
        let q = ListQuery::from_params(&params(&[("size", "100000"), ("page", "-3")]));
        assert_eq!((q.page, q.size), (1, DEFAULT_PAGE_SIZE));
        let q = ListQuery::from_params(&params(&[("size", "50"), ("page", "3"), ("dir", "desc")]));
        let w = q.window(&[]);
        assert_eq!((w.limit, w.offset), (50, 100));
        let q = ListQuery::from_params(&params(&[("export", "xlsx"), ("page", "7")]));
        let w = q.window(&[]);
        assert_eq!((w.limit, w.offset), (EXPORT_CAP, 0));
    }

    #[test]
    fn links_carry_filters_but_not_messages() {
        let p = params(&[("q", "梅州 医院"), ("ok", "已保存"), ("page", "4")]);
        assert_eq!(
            list_href("/orgs", &p, &[("page", "2".into())]),
            "/orgs?q=%E6%A2%85%E5%B7%9E+%E5%8C%BB%E9%99%A2&page=2"
        );
        assert_eq!(list_href("/orgs", &params(&[]), &[]), "/orgs");
    }

    #[test]
    fn batch_ids_are_numbers_once_each() {
        let f = vec![
            ("ids".to_string(), "3".to_string()),
            ("ids".to_string(), "x".to_string()),
            ("_csrf".to_string(), "7".to_string()),
            ("ids".to_string(), "3".to_string()),
            ("ids".to_string(), "5".to_string()),
        ];
        assert_eq!(ids(&f), vec![3, 5]);
    }

    #[test]
    fn formula_looking_cells_are_detected() {
        for s in ["=HYPERLINK(\"x\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            assert!(looks_like_formula(s), "{s}");
        }
        for s in ["张三", "13800000000", "a=b", ""] {
            assert!(!looks_like_formula(s), "{s}");
        }
    }

    /// The sheet XML inside the .xlsx: the formula-looking name is a string cell with the
    /// quote prefix, never a `<f>` formula.
    #[test]
    fn export_writes_formulas_as_text() {
        let rows = vec![vec![
            "=HYPERLINK(\"http://evil\",\"x\")".to_string(),
            "12".to_string(),
        ]];
        let bytes = xlsx(
            "人员",
            &["姓名", "床位"],
            &[false, true],
            &rows,
            Some("共 9 条"),
        )
        .unwrap();
        assert!(bytes.starts_with(b"PK"));
        let sheet = unzip_entry(&bytes, "xl/worksheets/sheet1.xml");
        assert!(!sheet.contains("<f>"), "{sheet}");
        assert!(sheet.contains("<v>12</v>"), "{sheet}");
        let strings = unzip_entry(&bytes, "xl/sharedStrings.xml");
        assert!(strings.contains("=HYPERLINK"), "{strings}");
        assert!(strings.contains("姓名") && strings.contains("共 9 条"));
        let styles = unzip_entry(&bytes, "xl/styles.xml");
        assert!(styles.contains("quotePrefix=\"1\""), "{styles}");
    }

    fn unzip_entry(bytes: &[u8], name: &str) -> String {
        use std::io::Read;
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut s = String::new();
        z.by_name(name).unwrap().read_to_string(&mut s).unwrap();
        s
    }

    #[test]
    fn a_failed_form_keeps_what_was_typed_and_every_problem_but_no_password() {
        let mut c = yiyang_core::text::Checks::new();
        c.add("name", "请填写姓名");
        c.add("phone", "手机号格式不正确");
        let e = c.finish().unwrap_err();
        let typed = vec![
            ("name".to_string(), String::new()),
            ("phone".to_string(), "12".to_string()),
            ("password".to_string(), "Secret#2026x".to_string()),
            ("_csrf".to_string(), "tok".to_string()),
            ("scopes".to_string(), "patient.read".to_string()),
        ];
        let f = FormError::from_error("staff", &e, typed);
        assert!(f.open() && f.kept());
        assert_eq!(f.fields.len(), 2);
        assert_eq!(f.problem("phone"), Some("手机号格式不正确"));
        assert_eq!(f.value("phone", "默认"), "12");
        assert_eq!(
            f.value("missing", "默认"),
            "",
            "a field not sent stays empty"
        );
        assert_eq!(f.value("password", "x"), "");
        assert_eq!(f.value("_csrf", "x"), "");
        assert!(f.checked("scopes", "patient.read", false));
        assert!(
            !f.checked("scopes", "staff.read", true),
            "unticked when sent without it"
        );
        let html = f.input("phone", "手机号", "").render().into_string();
        assert!(html.contains("id=\"staff-phone\"") && html.contains("value=\"12\""));
        assert!(html.contains("aria-invalid=\"true\"") && html.contains("id=\"err-staff-phone\""));
        let pw = f
            .input("password", "密码", "")
            .kind("password")
            .render()
            .into_string();
        assert!(!pw.contains("Secret"), "{pw}");
        // Another form of the page stays as the query asks.
        let q = params(&[("new", "dept")]);
        assert!(!FormError::pick("dept", &q, Some(&f)).is_some());
        assert!(FormError::pick("dept", &q, Some(&f)).open());
        assert!(FormError::pick("staff", &q, Some(&f)).is_some());
        let blank = FormError::from_params(&params(&[]), "dept");
        assert!(!blank.open() && blank.value("code", "NK") == "NK");
        assert!(blank.checked("on", "1", true));
    }

    #[test]
    fn dialogs_open_when_asked_and_close_to_the_page() {
        let f = FormError::from_params(&params(&[("new", "org")]), "org");
        let html = dialog(&f, "新增机构", "/orgs", html! { p { "x" } }).into_string();
        assert!(html.contains("<dialog id=\"dlg-org\"") && html.contains(" open"));
        assert!(html.contains("href=\"/orgs\" data-dialog-close"));
        let b = dialog_button("org", "新增机构", "/orgs?kind=hospital").into_string();
        assert!(
            b.contains("href=\"/orgs?kind=hospital&amp;new=org\"")
                && b.contains("data-dialog=\"dlg-org\"")
        );
        let closed = dialog(&FormError::blank("org"), "新增机构", "/orgs", html! {}).into_string();
        assert!(!closed.contains(" open"));
    }

    #[test]
    fn sheet_names_fit_excel() {
        assert_eq!(sheet_name("a/b[c]"), "abc");
        assert_eq!(sheet_name("::"), "数据");
        assert_eq!(sheet_name(&"字".repeat(40)).chars().count(), 31);
    }
}
