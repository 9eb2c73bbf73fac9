//! Pages: resident records (居民档案), the health 360 view (健康360视图), possible
//! duplicates (疑似重复), statistics (查询统计), rules and model management, and the
//! residents' own large-text view (我的健康档案).

use crate::record::{self, ENCOUNTER_KINDS, HealthRecord, VITALS};
use crate::service::{self, ID_TYPES, IdentifierInput, LIVING, PersonInput, PersonQuery, Unmask};
use axum::extract::{Multipart, Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{Markup, html};
use std::collections::HashMap;
use yiyang_core::{AppError, perm};
use yiyang_platform::web::chart::{self, Series};
use yiyang_platform::web::kit::{
    Col, FormError, ListQuery, Table, back_to_form, dialog, dialog_button, filter_bar, form_failed,
};
use yiyang_platform::web::labels;
use yiyang_platform::web::layout::{badge, csrf, flash, shell, ts};
use yiyang_platform::web::pages::back;
use yiyang_platform::web::{AppState, Authed, Page, PageResult};

type Params = HashMap<String, String>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/persons", get(persons_page).post(person_register))
        .route("/persons/import", post(person_import))
        .route("/persons/{id}", get(person_page))
        .route("/persons/{id}/contacts", post(contact_add))
        .route("/persons/{id}/merge", post(person_merge))
        .route("/persons/{id}/unmerge", post(person_unmerge))
        .route("/persons/{id}/records/{kind}", post(record_add))
        .route("/encounters/{id}/{action}", post(encounter_move))
        .route("/documents/{id}", get(document_get))
        .route("/persons/{id}/documents", post(document_upload))
        .route("/mpi/reviews", get(reviews_page))
        .route("/mpi/reviews/{id}", get(review_page).post(review_decide))
        .route("/mpi/stats", get(stats_page))
        .route("/mpi/config", get(config_page).post(config_save))
        .route("/mpi/config/activate", post(config_activate))
        .route("/mpi/config/train", post(config_train))
        .route("/my", get(my_page))
}

fn p<'a>(q: &'a Params, k: &str) -> &'a str {
    q.get(k).map(String::as_str).unwrap_or("")
}

fn msgs(q: &Params) -> Markup {
    flash(
        q.get("ok").map(String::as_str),
        q.get("err").map(String::as_str),
    )
}

fn sex_label(s: &str) -> &'static str {
    match s {
        "M" => "男",
        "F" => "女",
        _ => "",
    }
}

/// The Chinese name of a matching field or comparison; a name configured by hand stays a code.
fn mpi_name(name: &str) -> Markup {
    let zh = match name {
        "full_name" => "姓名",
        "surname" => "姓",
        "given_name" => "名",
        "sex" => "性别",
        "birth_date" => "出生日期",
        "id_number" => "身份证号",
        "same_valid_id_number" => "身份证号一致且有效",
        "phone" => "手机号",
        "province" => "省",
        "city" => "市",
        "district" => "区县",
        "town" => "乡镇（街道）",
        "address_detail" => "详细地址",
        "insurance_no" => "医保号",
        _ => return html! { code { (name) } },
    };
    html! { (zh) }
}

/// The Chinese reading of a comparison level label (`mpi::Level::label`, `null`, `else`).
fn mpi_level(label: &str) -> Markup {
    let fixed = match label {
        "exact" => Some("完全相同"),
        "same_pinyin" => Some("拼音相同"),
        "initials" => Some("拼音首字母相同"),
        "contains" => Some("一方包含另一方"),
        "id_typo" => Some("疑似录入错一位"),
        "day_month_transposed" => Some("月日颠倒"),
        "two_of_ymd" => Some("年月日有两项相同"),
        "null" => Some("缺失（不计分）"),
        "else" => Some("均不相符"),
        _ => None,
    };
    if let Some(zh) = fixed {
        return html! { (zh) };
    }
    let param = |prefix: &str, sep: &str| {
        label
            .strip_prefix(prefix)
            .and_then(|r| r.strip_prefix(sep))
            .map(str::to_string)
    };
    let zh = if let Some(v) = param("pinyin_jaro_winkler", ">=") {
        format!("拼音相似度 ≥ {v}")
    } else if let Some(v) = param("jaro_winkler", ">=") {
        format!("相似度 ≥ {v}")
    } else if let Some(v) = param("levenshtein", "<=") {
        format!("相差不超过 {v} 个字符")
    } else if let Some(v) = param("year_slip", "<=") {
        format!("年份相差不超过 {v} 年")
    } else if let Some(v) = param("numeric_diff", "<=") {
        format!("数值相差不超过 {v}")
    } else if let Some(v) = label
        .strip_prefix("within_")
        .and_then(|r| r.strip_suffix("_days"))
    {
        format!("相差不超过 {v} 天")
    } else if let Some(v) = label.strip_prefix("prefix") {
        format!("前 {v} 位相同")
    } else if let Some(v) = label.strip_prefix("swapped_with_") {
        return html! { "与" (mpi_name(v)) "互换" };
    } else {
        return html! { code { (label) } };
    };
    html! { (zh) }
}

fn write_orgs(st_orgs: &[(i64, String)], a: &Authed) -> Vec<(i64, String)> {
    st_orgs
        .iter()
        .filter(|(id, _)| a.ctx.has_for(perm::PATIENT_WRITE, *id))
        .cloned()
        .collect()
}

async fn orgs(st: &AppState) -> Result<Vec<(i64, String)>, AppError> {
    yiyang_basedata::service::org_choices(&st.db, true, None).await
}

fn living_label(code: &str) -> String {
    LIVING
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, l)| l.to_string())
        .unwrap_or_else(|| code.to_string())
}

async fn persons_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult {
    persons_view(&st, &a, &q, None).await
}

async fn persons_view(
    st: &AppState,
    a: &Authed,
    q: &Params,
    failed: Option<&FormError>,
) -> PageResult {
    let pq = PersonQuery {
        q: q.get("q").cloned(),
        district: q.get("district").cloned(),
        ..Default::default()
    };
    let lq = ListQuery::from_params(q);
    let list = service::search_page(st, &a.ctx, &pq, &lq.window(service::PERSON_SORTS)).await?;
    let table = Table::new("persons", "/persons", q, &lq)
        .col(Col::new("id", "ID", |x: &service::PersonView| x.id.to_string()).numeric())
        .col(
            Col::new("name", "姓名", |x: &service::PersonView| x.name.clone())
                .sort()
                .class("nowrap")
                .cell(|x| html! { a href=(format!("/persons/{}", x.id)) { (x.name) } }),
        )
        .col(Col::new("sex", "性别", |x: &service::PersonView| {
            sex_label(&x.sex).to_string()
        }))
        .col(
            Col::new("birth_date", "出生日期", |x: &service::PersonView| {
                x.birth_date.clone()
            })
            .sort()
            .class("nowrap"),
        )
        .col(
            Col::new("age", "年龄", |x: &service::PersonView| {
                x.age.map(|a| a.to_string()).unwrap_or_default()
            })
            .numeric(),
        )
        .col(
            Col::new("id_number", "身份证号", |x: &service::PersonView| {
                x.id_number.clone()
            })
            .class("mono"),
        )
        .col(
            Col::new("phone", "手机号", |x: &service::PersonView| {
                x.phone.clone()
            })
            .class("mono"),
        )
        .col(
            Col::new("district", "区县", |x: &service::PersonView| {
                x.district.clone()
            })
            .sort()
            .hidden(),
        )
        .col(Col::new("address", "地址", |x: &service::PersonView| {
            x.address.clone()
        }))
        .col(Col::new(
            "living",
            "居住状况",
            |x: &service::PersonView| living_label(&x.living_situation),
        ))
        .empty("没有符合条件的居民（仅显示您有权访问的机构登记过的居民）");
    if lq.export {
        return table.export(st, &a.ctx, "居民档案", "person", &list).await;
    }
    let mine = write_orgs(&orgs(st).await?, a);
    let err = FormError::pick("person", q, failed);
    let import = FormError::from_params(q, "import");
    Ok(shell(
        &st.nav,
        a,
        "居民档案",
        "/persons",
        html! {
            @if !err.is_some() { (msgs(q)) }
            (filter_bar("/persons", &lq, html! {
                div { label for="q" { "姓名/拼音/身份证号/手机号/院内标识" } input #q type="search" name="q" value=(p(q, "q")); }
                div { label for="d" { "区县" } select #d name="district" { option value="" { "全部" } @for d in ["梅江区", "梅县区", "兴宁市", "大埔县", "丰顺县", "五华县", "平远县", "蕉岭县"] { option value=(d) selected[p(q, "district") == d] { (d) } } } }
            }))
            p.muted.small { "仅显示您有权访问的机构登记过的居民；个人信息按脱敏规则显示，导出的表格同样脱敏。" }
            @if !mine.is_empty() {
                div.page-actions {
                    (dialog_button("person", "登记居民", "/persons"))
                    (dialog_button("import", "批量登记（CSV/XLSX）", "/persons"))
                }
                (dialog(&err, "登记居民", "/persons", html! {
                    p.muted { "登记时自动经过患者主索引：与已有居民高度匹配的自动关联，疑似重复的进入待审核队列。" }
                    form.grid method="post" action="/persons" {
                        (csrf(a))
                        (err.select("org_id", "登记机构", mine.iter().cloned(), "", None).required())
                        (err.input("name", "姓名", "").required())
                        (err.select("sex", "性别", [("M", "男"), ("F", "女")], "", Some("（按身份证）")))
                        (err.input("birth_date", "出生日期", "").kind("date"))
                        (err.input("id_number", "身份证号", "").maxlength(18).autocomplete("off"))
                        (err.input("insurance_no", "医保号", ""))
                        (err.input("phone", "手机号", ""))
                        (err.input("district", "区县", "").placeholder("如 梅江区"))
                        (err.input("town", "镇/街道", ""))
                        (err.input("village", "村/社区", ""))
                        (err.input("address_detail", "详细地址", ""))
                        (err.select("living_situation", "居住状况", LIVING.iter().copied(), "", Some("（未知）")))
                        (err.select("id_type", "院内标识类型", ID_TYPES.iter().copied(), "", None))
                        (err.input("id_value", "院内标识（门诊号/住院号等）", ""))
                        div { button type="submit" { "登记" } }
                    }
                }))
                (dialog(&import, "批量登记（CSV/XLSX）", "/persons", html! {
                    form.grid method="post" action="/persons/import" enctype="multipart/form-data" { (csrf(a))
                        (import.select("org_id", "登记机构", mine.iter().cloned(), "", None))
                        div { label for="import-file" { "文件（列：姓名、性别、出生日期、身份证号、医保号、手机号、区县、镇街、村社区、详细地址、居住状况、标识类型、院内标识）" } input #import-file type="file" name="file" accept=".csv,.xlsx" required aria-invalid=[import.invalid("file")]; (import.beside("file")) }
                        div { button type="submit" { "上传并登记" } }
                    }
                }))
            }
            (table.render(&list, a))
        },
    )
    .into_response())
}

fn person_input(f: &Params) -> PersonInput {
    let id_value = p(f, "id_value").trim().to_string();
    PersonInput {
        org_id: p(f, "org_id").parse().unwrap_or(0),
        name: p(f, "name").into(),
        sex: p(f, "sex").into(),
        birth_date: p(f, "birth_date").into(),
        id_number: p(f, "id_number").into(),
        insurance_no: p(f, "insurance_no").into(),
        phone: p(f, "phone").into(),
        district: p(f, "district").into(),
        town: p(f, "town").into(),
        village: p(f, "village").into(),
        address_detail: p(f, "address_detail").into(),
        living_situation: p(f, "living_situation").into(),
        identifiers: if id_value.is_empty() {
            vec![]
        } else {
            vec![IdentifierInput {
                id_type: p(f, "id_type").into(),
                value: id_value,
            }]
        },
        ..Default::default()
    }
}

async fn person_register(
    State(st): State<AppState>,
    Page(a): Page,
    Form(f): Form<Params>,
) -> Response {
    match service::register(&st, &a.ctx, person_input(&f)).await {
        Ok(o) => {
            let msg = match o.outcome.as_str() {
                "linked" => format!(
                    "已识别为已有居民（匹配概率 {:.1}%），登记信息已关联到该居民",
                    o.probability.unwrap_or(1.0) * 100.0
                ),
                "review" => format!(
                    "已登记为新居民；与居民 {} 疑似重复（概率 {:.1}%），已进入待审核队列",
                    o.matched_id.unwrap_or(0),
                    o.probability.unwrap_or(0.0) * 100.0
                ),
                _ => "已登记为新居民".into(),
            };
            let warn = if o.warnings.is_empty() {
                String::new()
            } else {
                format!("。提示：{}", o.warnings.join("；"))
            };
            back(&format!("/persons/{}", o.person_id), Ok(msg + &warn))
        }
        Err(e) => {
            let failed = FormError::from_error("person", &e, f);
            form_failed(
                &e,
                persons_view(&st, &a, &Params::new(), Some(&failed)).await,
            )
        }
    }
}

async fn person_import(State(st): State<AppState>, Page(a): Page, mut mp: Multipart) -> PageResult {
    let (mut org, mut name, mut bytes) = (0i64, String::new(), Vec::new());
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|e| AppError::validation("import.upload", format!("上传失败：{e}")))?
    {
        match field.name() {
            Some("org_id") => org = field.text().await.unwrap_or_default().parse().unwrap_or(0),
            Some("file") => {
                name = field.file_name().unwrap_or("").to_string();
                bytes = field
                    .bytes()
                    .await
                    .map_err(|e| AppError::validation("import.upload", format!("上传失败：{e}")))?
                    .to_vec();
            }
            _ => {}
        }
    }
    let rows = match yiyang_basedata::import::read_rows(&name, &bytes, crate::import::COLUMNS) {
        Ok(r) => r,
        Err(e) => return Ok(back_to_form("/persons", "import", &e)),
    };
    let r = crate::import::import(&st, &a.ctx, org, rows, false).await?;
    Ok(shell(&st.nav, &a, "批量登记结果", "/persons", html! {
        @if r.errors.is_empty() {
            div.notice.ok { "共 " (r.total_rows) " 行：新登记 " (r.created) " 人，关联已有居民 " (r.linked) " 人，疑似重复待审核 " (r.review) " 人。" }
        } @else {
            div.notice.err { "共 " (r.total_rows) " 行，" (r.errors.len()) " 处错误，本次未登记任何居民。" }
            div.table-wrap { table { thead { tr { th { "行号" } th { "列" } th { "说明" } } } tbody { @for e in &r.errors { tr { td { (e.row) } td { (yiyang_basedata::import::column_label(crate::import::COLUMNS, &e.column)) } td { (e.message) } } } } } }
        }
        p { a href="/persons" { "返回居民档案" } " · " a href="/mpi/reviews" { "查看疑似重复" } }
    }).into_response())
}

/// An inline SVG sparkline of values (oldest first).
fn sparkline(values: &[f64]) -> Markup {
    if values.len() < 2 {
        return html! {};
    }
    let (w, h) = (160.0, 36.0);
    let min = values.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let span = if (max - min).abs() < 1e-9 {
        1.0
    } else {
        max - min
    };
    let pts: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "{:.1},{:.1}",
                i as f64 * w / (values.len() - 1) as f64,
                h - 3.0 - (v - min) / span * (h - 6.0)
            )
        })
        .collect();
    html! { svg.spark width="160" height="36" viewBox="0 0 160 36" role="img" aria-label="趋势" {
        polyline points=(pts.join(" ")) fill="none" stroke="#0b6e4f" stroke-width="2" {}
    } }
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Latest value per code with the last 20 numeric values (oldest first) for the trend.
fn vital_series(rec: &HealthRecord) -> Vec<(&record::Observation, Vec<f64>)> {
    let mut codes: Vec<&str> = Vec::new();
    for o in &rec.observations {
        if !codes.contains(&o.code.as_str()) {
            codes.push(o.code.as_str());
        }
    }
    codes
        .into_iter()
        .map(|code| {
            let series: Vec<&record::Observation> =
                rec.observations.iter().filter(|o| o.code == code).collect();
            let mut vals: Vec<f64> = series.iter().take(20).filter_map(|o| o.value_num).collect();
            vals.reverse();
            (series[0], vals)
        })
        .collect()
}

fn vitals_block(rec: &HealthRecord) -> Markup {
    html! {
        div.table-wrap { table {
            thead { tr { th { "体征/检验" } th { "最新值" } th { "参考范围" } th { "时间" } th { "趋势（近20次）" } } }
            tbody {
                @for (latest, vals) in vital_series(rec) {
                    tr {
                        td { (latest.display) " " span.muted.small { (latest.code) } }
                        td class=(format!("flag-{}", latest.flag)) { (latest.value_num.map(fmt_num).unwrap_or_else(|| latest.value_text.clone())) " " (labels::unit(&latest.unit)) @if !labels::flag(&latest.flag).is_empty() { "（" (labels::flag(&latest.flag)) "）" } }
                        td { (latest.ref_low.map(fmt_num).unwrap_or_default()) "–" (latest.ref_high.map(fmt_num).unwrap_or_default()) }
                        td.nowrap { (ts(latest.effective_at)) }
                        td { (sparkline(&vals)) }
                    }
                }
            }
        } }
    }
}

async fn person_page(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Query(q): Query<Params>,
    Query(um): Query<Unmask>,
) -> PageResult<Markup> {
    person_view(&st, &a, id, &q, &um, None).await
}

/// The health 360 view of one person. Every form (record entries, contacts, merge,
/// unmerge, transfer) sits behind a button in a dialog; a failed one comes back open with
/// what was typed.
async fn person_view(
    st: &AppState,
    a: &Authed,
    id: i64,
    q: &Params,
    um: &Unmask,
    failed: Option<&FormError>,
) -> PageResult<Markup> {
    let person = match service::get_person(st, &a.ctx, id, um).await {
        Err(e) if um.unmask == Some(true) && e.status != 404 => {
            return Ok(yiyang_platform::web::layout::error_page(&e));
        }
        r => r?,
    };
    let (pid, ids, rec) = record::read(st, &a.ctx, id).await?;
    let idents = service::identifiers(&st.db, &ids).await?;
    let contacts = service::contacts(&st.db, &ids).await?;
    let events = service::history(&st.db, &ids).await?;
    let mine = write_orgs(&orgs(st).await?, a);
    let can_merge = service::can_see(&st.db, &a.ctx, &ids, perm::PATIENT_MERGE).await?;
    let can_unmask = service::can_see(&st.db, &a.ctx, &ids, perm::PATIENT_READ_UNMASKED).await?;
    let m = st.masking.masker(&a.ctx, !person.masked).await?;
    let merged_members: Vec<i64> = ids.iter().copied().filter(|x| *x != pid).collect();
    let panels = st.registry.person_panels(st, &a.ctx, pid).await?;
    let title = format!("健康360视图：{}", person.name);
    let here = format!("/persons/{id}");
    let form = |name: &str| FormError::pick(name, q, failed);
    let (f_enc, f_obs, f_cond, f_all, f_med, f_doc, f_con, f_merge) = (
        form("encounter"),
        form("observation"),
        form("condition"),
        form("allergy"),
        form("medication"),
        form("document"),
        form("contact"),
        form("merge"),
    );
    let vitals: Vec<(String, String)> = VITALS
        .iter()
        .map(|(c, n, u, ..)| (c.to_string(), format!("{n}（{}）", labels::unit(u))))
        .collect();
    Ok(shell(
        &st.nav,
        a,
        &title,
        "/persons",
        html! {
            @if failed.is_none() && q.get("new").is_none() { (msgs(q)) }
            @if pid != id { div.notice.ok { "记录 " (id) " 已合并到居民 " (pid) "，以下为合并后的完整档案。" } }
            @if !mine.is_empty() || can_merge {
                div.page-actions {
                    @if !mine.is_empty() {
                        (dialog_button("encounter", "新增就诊/住院", &here))
                        (dialog_button("observation", "录入体征/检验", &here))
                        (dialog_button("condition", "新增诊断", &here))
                        (dialog_button("allergy", "新增过敏", &here))
                        (dialog_button("medication", "新增用药", &here))
                        (dialog_button("document", "上传报告/影像", &here))
                        (dialog_button("contact", "添加家属/紧急联系人", &here))
                    }
                    @if can_merge { (dialog_button("merge", "合并记录到本居民", &here)) }
                }
            }
            @for panel in &panels {
                section.card {
                    h2 { (panel.title) " " a.small href=(panel.href) { "查看全部" } }
                    (panel.body)
                }
            }
            div.grid2 {
                div.card {
                    h2 { "基本信息" }
                    dl.kv {
                        dt { "姓名" } dd.big { (person.name) " " span.muted { (person.name_pinyin) } }
                        dt { "性别/年龄" } dd { (sex_label(&person.sex)) " " (person.age.map(|x| format!("{x}岁")).unwrap_or_default()) }
                        dt { "出生日期" } dd { (person.birth_date) }
                        dt { "身份证号" } dd.mono { (person.id_number) }
                        dt { "医保号" } dd.mono { (person.insurance_no) }
                        dt { "手机号" } dd.mono { (person.phone) }
                        dt { "地址" } dd { (person.address) }
                        dt { "居住状况" } dd { (living_label(&person.living_situation)) }
                        dt { "主索引号" } dd.mono { "EMPI-" (pid) }
                    }
                    @if person.masked && can_unmask {
                        div.toolbar { (yiyang_platform::web::kit::unmask_button(&format!("/persons/{id}"), "如：核对身份办理住院", q)) }
                    }
                }
                div.card {
                    h2 { "各机构标识" }
                    @if idents.is_empty() { p.muted { "暂无院内标识。" } }
                    ul { @for i in &idents { li { (i.org_name) "：" (ID_TYPES.iter().find(|(c, _)| *c == i.id_type).map(|(_, l)| *l).unwrap_or(&i.id_type)) " " code { (i.value) } } } }
                    h2 { "家庭成员与紧急联系人" }
                    ul { @for c in &contacts { li {
                        (m.mask("name", &c.name)) "（" (c.relation) "）" (m.mask("phone", &c.phone))
                        @if c.is_emergency { " " (badge("warn", "紧急联系人")) }
                        @if c.can_view { " " (badge("info", "可查看档案")) }
                    } } }
                }
            }
            div.grid2 {
                div.card { h2 { "现存问题" }
                    @let active: Vec<&record::Condition> = rec.conditions.iter().filter(|c| c.clinical_status == "active").collect();
                    @if active.is_empty() { p.muted { "无。" } }
                    ul { @for c in &active { li { (c.display) " " code { (c.code) } span.muted.small { " · " (c.org_name) } } } }
                }
                div.card { h2 { "用药" }
                    @if rec.medications.is_empty() { p.muted { "无。" } }
                    ul { @for md in &rec.medications { li { (md.name) " " (md.dose) " " (md.frequency) " " span.muted.small { (if md.kind == "prescribed" { "处方" } else { "服用记录" }) " · " (md.org_name) } } } }
                }
                div.card { h2 { "过敏" }
                    @if rec.allergies.is_empty() { p.muted { "无已知过敏。" } }
                    ul { @for al in &rec.allergies { li.error { (al.substance) " " (al.reaction) @if !al.severity.is_empty() { "（" (labels::severity(&al.severity)) "）" } } } }
                }
            }
            h2 { "最新体征与检验" }
            @if rec.observations.is_empty() { p.muted { "暂无记录。" } } @else { (vitals_block(&rec)) }
            h2 { "时间轴" }
            ul.timeline {
                @for e in &rec.encounters { li {
                    strong { (ENCOUNTER_KINDS.iter().find(|(k, _)| *k == e.kind).map(|(_, l)| *l).unwrap_or(&e.kind)) } " · " (e.org_name) " " (e.dept) " " (e.location)
                    " · " (ts(e.start_at)) @if let Some(end) = e.end_at { @if e.kind == "inpatient" { " 至 " (ts(end)) } }
                    @if e.status == "in-progress" { " " (badge("warn", "在院")) }
                    @if !e.reason.is_empty() { div.muted { (m.mask("free_text", &e.reason)) } }
                    @if e.status == "in-progress" && a.ctx.has_for(perm::PATIENT_WRITE, e.org_id) {
                        @let tf = form(&format!("transfer-{}", e.id));
                        div.toolbar {
                            (dialog_button(&tf.form, "转科/转床", &here))
                            form.inline method="post" action=(format!("/encounters/{}/discharge", e.id)) { (csrf(a)) button.secondary type="submit" data-confirm="确认办理出院？" { "出院" } }
                        }
                        (dialog(&tf, "转科/转床", &here, html! { form.grid method="post" action=(format!("/encounters/{}/transfer", e.id)) {
                            (csrf(a))
                            p.muted { "当前：" (e.dept) " " (e.location) }
                            (tf.input("to_location", "转入病区/床位", "").required().placeholder("如 5病区 12床"))
                            div { button type="submit" { "转科/转床" } }
                        } }))
                    }
                } }
                @for c in &rec.conditions { li { "诊断 " (c.display) " " code { (c.code) } " · " (c.org_name) " · " (ts(c.recorded_at)) } }
                @for d in &rec.documents { li { "文档 " a href=(format!("/documents/{}", d.id)) { (d.title) } " · " (d.org_name) " · " (ts(d.created_at)) } }
            }
            @if !mine.is_empty() {
                (dialog(&f_enc, "新增就诊/住院", &here, html! { form.grid method="post" action=(format!("/persons/{pid}/records/encounter")) {
                    (csrf(a))
                    (f_enc.select("org_id", "机构", mine.iter().cloned(), "", None).required())
                    (f_enc.select("kind", "类型", ENCOUNTER_KINDS.iter().copied(), "", None))
                    (f_enc.input("dept", "科室", ""))
                    (f_enc.input("location", "病区/床位", ""))
                    (f_enc.input("reason", "就诊原因", ""))
                    (f_enc.input("start", "时间", "").kind("datetime-local"))
                    div { button type="submit" { "保存" } }
                } }))
                (dialog(&f_obs, "录入体征/检验", &here, html! { form.grid method="post" action=(format!("/persons/{pid}/records/observation")) {
                    (csrf(a))
                    (f_obs.select("org_id", "机构", mine.iter().cloned(), "", None).required())
                    (f_obs.select("code", "项目", vitals.iter().cloned(), "", None).required())
                    (f_obs.input("value", "数值", "").kind("number").step("any").required())
                    (f_obs.input("effective", "时间", "").kind("datetime-local"))
                    div { button type="submit" { "保存" } }
                } }))
                (dialog(&f_cond, "新增诊断（ICD-10）", &here, html! { form.grid method="post" action=(format!("/persons/{pid}/records/condition")) {
                    (csrf(a))
                    (f_cond.select("org_id", "机构", mine.iter().cloned(), "", None).required())
                    (f_cond.input("code", "ICD-10 编码", "").required().placeholder("如 I10"))
                    (f_cond.input("display", "诊断名称", "").required().placeholder("如 原发性高血压"))
                    div { button type="submit" { "保存" } }
                } }))
                (dialog(&f_all, "新增过敏", &here, html! { form.grid method="post" action=(format!("/persons/{pid}/records/allergy")) {
                    (csrf(a))
                    (f_all.select("org_id", "机构", mine.iter().cloned(), "", None).required())
                    (f_all.input("substance", "过敏物质", "").required())
                    (f_all.input("reaction", "反应", ""))
                    div { button type="submit" { "保存" } }
                } }))
                (dialog(&f_med, "新增用药", &here, html! { form.grid method="post" action=(format!("/persons/{pid}/records/medication")) {
                    (csrf(a))
                    (f_med.select("org_id", "机构", mine.iter().cloned(), "", None).required())
                    (f_med.select("kind", "类型", [("prescribed", "处方"), ("taken", "服用记录")], "prescribed", None))
                    (f_med.input("name", "药品", "").required())
                    (f_med.input("dose", "剂量", ""))
                    (f_med.input("frequency", "频次", "").placeholder("如 每日一次"))
                    div { button type="submit" { "保存" } }
                } }))
                (dialog(&f_doc, "上传报告/影像", &here, html! { form.grid method="post" action=(format!("/persons/{pid}/documents")) enctype="multipart/form-data" {
                    (csrf(a))
                    (f_doc.select("org_id", "机构", mine.iter().cloned(), "", None).required())
                    (f_doc.select("kind", "类型", [("report", "检查/检验报告"), ("image", "影像"), ("discharge", "出院小结"), ("other", "其他")], "report", None))
                    (f_doc.input("title", "标题", "").required())
                    div { label for="document-file" { "文件（≤10MB）" span.req { "*" } } input #document-file type="file" name="file" required aria-invalid=[f_doc.invalid("file")]; (f_doc.beside("file")) }
                    div { button type="submit" { "上传" } }
                } }))
                (dialog(&f_con, "添加家属/紧急联系人", &here, html! { form.grid method="post" action=(format!("/persons/{pid}/contacts")) {
                    (csrf(a))
                    (f_con.input("name", "姓名", "").required())
                    (f_con.input("relation", "关系", "").required().placeholder("如 女儿"))
                    (f_con.input("phone", "电话", ""))
                    (f_con.input("account_login", "家属账号（可选）", ""))
                    div { (f_con.check("is_emergency", "1", "紧急联系人", false)) " " (f_con.check("can_view", "1", "允许查看档案", false)) }
                    div { button type="submit" { "保存" } }
                } }))
            }
            @if can_merge {
                (dialog(&f_merge, "合并记录到本居民", &here, html! { form.grid method="post" action=(format!("/persons/{pid}/merge")) {
                    (csrf(a))
                    p.muted { "被合并的记录指向本居民，任何时候都可拆分恢复原状。" }
                    (f_merge.input("merged_id", "要合并的记录ID", "").kind("number").required())
                    (f_merge.input("reason", "原因", "").required())
                    div { button type="submit" { "合并" } }
                } }))
                @if !merged_members.is_empty() {
                    h2 { "已合并的记录" }
                    ul { @for mid in &merged_members {
                        @let uf = form(&format!("unmerge-{mid}"));
                        li { "记录 " (mid) " " (dialog_button(&uf.form, "拆分（撤销合并）", &here))
                            (dialog(&uf, &format!("拆分记录 {mid}"), &here, html! { form.grid method="post" action=(format!("/persons/{mid}/unmerge")) {
                                (csrf(a))
                                (uf.input("reason", "拆分原因", "").required())
                                div { button.secondary type="submit" { "拆分（撤销合并）" } }
                            } }))
                        }
                    } }
                }
            }
            h2 { "主索引历史" }
            div.table-wrap { table {
                thead { tr { th { "时间" } th { "操作" } th { "记录" } th { "关联记录" } th { "操作人" } } }
                tbody { @for e in &events { tr {
                    td.nowrap { (ts(e.at)) }
                    td { (match e.kind.as_str() { "register" => "登记", "link" => "关联", "merge" => "合并", "unmerge" => "拆分", "distinct" => "判定非同一人", other => other }) }
                    td { (e.person_id) } td { (e.other_id.map(|x| x.to_string()).unwrap_or_default()) } td { (e.actor_login) }
                } } }
            } }
        },
    ))
}

/// A form of the person page came back with `e`: the page again, that dialog open with
/// what was typed.
async fn person_form_failed(
    st: &AppState,
    a: &Authed,
    id: i64,
    form: &str,
    e: AppError,
    f: Params,
) -> Response {
    let failed = FormError::from_error(form, &e, f);
    let page = person_view(st, a, id, &Params::new(), &Unmask::default(), Some(&failed)).await;
    form_failed(&e, page)
}

async fn contact_add(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Response {
    let c = service::Contact {
        id: 0,
        name: p(&f, "name").into(),
        relation: p(&f, "relation").into(),
        phone: p(&f, "phone").into(),
        is_emergency: p(&f, "is_emergency") == "1",
        account_id: None,
        can_view: p(&f, "can_view") == "1",
    };
    let r = service::add_contact(&st, &a.ctx, id, &c, Some(p(&f, "account_login"))).await;
    match r {
        Ok(_) => back(&format!("/persons/{id}"), Ok("联系人已添加".into())),
        Err(e) => person_form_failed(&st, &a, id, "contact", e, f).await,
    }
}

async fn person_merge(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Response {
    let Ok(mid) = p(&f, "merged_id").trim().parse::<i64>() else {
        let e = AppError::field("mpi.merge_id", "merged_id", "请填写要合并的记录ID");
        return person_form_failed(&st, &a, id, "merge", e, f).await;
    };
    match service::merge(&st, &a.ctx, id, mid, p(&f, "reason")).await {
        Ok(_) => back(
            &format!("/persons/{id}"),
            Ok(format!("记录 {mid} 已合并到本居民，可随时拆分恢复")),
        ),
        Err(e) => person_form_failed(&st, &a, id, "merge", e, f).await,
    }
}

async fn person_unmerge(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Response {
    match service::unmerge(&st, &a.ctx, id, p(&f, "reason")).await {
        Ok(_) => back(
            &format!("/persons/{id}"),
            Ok("已拆分，记录恢复为独立居民".into()),
        ),
        // The merged record's address shows the survivor's page, where its dialog lives.
        Err(e) => back_to_form(&format!("/persons/{id}"), &format!("unmerge-{id}"), &e),
    }
}

async fn record_add(
    State(st): State<AppState>,
    Page(a): Page,
    Path((id, kind)): Path<(i64, String)>,
    Form(f): Form<Params>,
) -> Response {
    let org: i64 = p(&f, "org_id").parse().unwrap_or(0);
    let opt = |k: &str| Some(p(&f, k).to_string()).filter(|s| !s.is_empty());
    let r = match kind.as_str() {
        "encounter" => {
            record::add_encounter(
                &st,
                &a.ctx,
                id,
                &record::EncounterInput {
                    org_id: org,
                    kind: p(&f, "kind").into(),
                    dept: p(&f, "dept").into(),
                    location: p(&f, "location").into(),
                    reason: p(&f, "reason").into(),
                    start: opt("start"),
                    ..Default::default()
                },
            )
            .await
        }
        "observation" => match p(&f, "value").trim().parse::<f64>() {
            Ok(v) => {
                record::add_observation(
                    &st,
                    &a.ctx,
                    id,
                    &record::ObservationInput {
                        org_id: org,
                        code: p(&f, "code").into(),
                        value: Some(v),
                        effective: opt("effective"),
                        ..Default::default()
                    },
                )
                .await
            }
            Err(_) => Err(AppError::field(
                "record.value_invalid",
                "value",
                "请填写数值",
            )),
        },
        "condition" => {
            record::add_condition(
                &st,
                &a.ctx,
                id,
                &record::ConditionInput {
                    org_id: org,
                    code: p(&f, "code").into(),
                    display: p(&f, "display").into(),
                    ..Default::default()
                },
            )
            .await
        }
        "allergy" => {
            record::add_allergy(
                &st,
                &a.ctx,
                id,
                &record::AllergyInput {
                    org_id: org,
                    substance: p(&f, "substance").into(),
                    reaction: p(&f, "reaction").into(),
                    ..Default::default()
                },
            )
            .await
        }
        "medication" => {
            record::add_medication(
                &st,
                &a.ctx,
                id,
                &record::MedicationInput {
                    org_id: org,
                    kind: p(&f, "kind").into(),
                    name: p(&f, "name").into(),
                    dose: p(&f, "dose").into(),
                    frequency: p(&f, "frequency").into(),
                    ..Default::default()
                },
            )
            .await
        }
        _ => Err(AppError::not_found("record_kind")),
    };
    match r {
        Ok(_) => back(&format!("/persons/{id}"), Ok("已保存".into())),
        Err(e) if e.status == 404 => back(&format!("/persons/{id}"), Err(e)),
        Err(e) => person_form_failed(&st, &a, id, &kind, e, f).await,
    }
}

async fn encounter_move(
    State(st): State<AppState>,
    Page(a): Page,
    Path((id, action)): Path<(i64, String)>,
    Form(f): Form<Params>,
) -> Response {
    let pid: Option<(i64,)> = st
        .db
        .fetch_optional(
            "SELECT person_id FROM encounters WHERE id = $1",
            yiyang_store::args![id],
        )
        .await
        .ok()
        .flatten();
    let to = pid
        .map(|p| format!("/persons/{}", p.0))
        .unwrap_or_else(|| "/persons".into());
    let r = record::move_encounter(&st, &a.ctx, id, &action, p(&f, "to_location"), None).await;
    if let (true, Err(e)) = (action == "transfer", &r) {
        return back_to_form(&to, &format!("transfer-{id}"), e);
    }
    back(
        &to,
        r.map(|_| {
            if action == "discharge" {
                "已办理出院".into()
            } else {
                "已转科/转床".into()
            }
        }),
    )
}

async fn document_upload(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    mut mp: Multipart,
) -> PageResult {
    let mut d = record::DocumentInput::default();
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|e| AppError::validation("record.upload", format!("上传失败：{e}")))?
    {
        match field.name() {
            Some("org_id") => {
                d.org_id = field.text().await.unwrap_or_default().parse().unwrap_or(0)
            }
            Some("kind") => d.kind = field.text().await.unwrap_or_default(),
            Some("title") => d.title = field.text().await.unwrap_or_default(),
            Some("file") => {
                d.mime = field
                    .content_type()
                    .unwrap_or("application/octet-stream")
                    .to_string();
                d.content = field
                    .bytes()
                    .await
                    .map_err(|e| AppError::validation("record.upload", format!("上传失败：{e}")))?
                    .to_vec();
            }
            _ => {}
        }
    }
    let r = record::add_document(&st, &a.ctx, id, d).await;
    Ok(match r {
        Ok(_) => back(&format!("/persons/{id}"), Ok("文档已上传".into())),
        Err(e) => back_to_form(&format!("/persons/{id}"), "document", &e),
    })
}

async fn document_get(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
) -> PageResult {
    let (title, mime, content) = record::document(&st, &a.ctx, id).await?;
    let safe: String = title
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, mime),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"{}\"",
                    if safe.is_empty() {
                        "document".into()
                    } else {
                        safe
                    }
                ),
            ),
        ],
        content,
    )
        .into_response())
}

async fn reviews_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult {
    let lq = ListQuery::from_params(&q);
    let list =
        service::pending_reviews_page(&st, &a.ctx, &lq.window(service::REVIEW_SORTS)).await?;
    let table = Table::new("reviews", "/mpi/reviews", &q, &lq)
        .col(Col::new("id", "编号", |r: &service::Review| r.id.to_string()).numeric())
        .col(
            Col::new("person", "新登记记录", |r: &service::Review| r.person_id.to_string())
                .cell(|r| html! { a href=(format!("/persons/{}", r.person_id)) { (r.person_id) } }),
        )
        .col(
            Col::new("candidate", "疑似重复于", |r: &service::Review| r.candidate_id.to_string())
                .cell(|r| html! { a href=(format!("/persons/{}", r.candidate_id)) { (r.candidate_id) } }),
        )
        .col(Col::new("probability", "匹配概率", |r: &service::Review| format!("{:.1}%", r.probability * 100.0)).sort())
        .col(Col::new("weight", "权重", |r: &service::Review| format!("{:+.2}", r.weight)).hidden())
        .col(Col::new("created_at", "时间", |r: &service::Review| ts(r.created_at)).sort().class("nowrap"))
        .col(Col::action("actions", "操作", |r: &service::Review| html! { a href=(format!("/mpi/reviews/{}", r.id)) { "对比处理" } }))
        .empty("没有待处理的疑似重复");
    if lq.export {
        return table
            .export(&st, &a.ctx, "疑似重复", "mpi_review", &list)
            .await;
    }
    Ok(shell(
        &st.nav,
        &a,
        "疑似重复",
        "/mpi/reviews",
        html! {
            (msgs(&q))
            p.muted { "匹配概率介于“审核阈值”与“关联阈值”之间的登记进入此队列，请逐对比较后确认是否为同一人。" }
            (table.render(&list, &a))
        },
    )
    .into_response())
}

async fn review_page(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
) -> PageResult<Markup> {
    let r = service::get_review(&st, &a.ctx, id).await?;
    let left = service::get_person(&st, &a.ctx, r.person_id, &Unmask::default()).await?;
    let right = service::get_person(&st, &a.ctx, r.candidate_id, &Unmask::default()).await?;
    let ex = service::explain_pair(&st, r.person_id, r.candidate_id).await?;
    let row = |label: &str, l: &str, rr: &str| html! { tr { th { (label) } td { (l) } td { (rr) } td { @if l == rr && !l.is_empty() { (badge("ok", "相同")) } @else if l.is_empty() || rr.is_empty() { (badge("mute", "缺失")) } @else { (badge("warn", "不同")) } } } };
    Ok(shell(
        &st.nav,
        &a,
        &format!("疑似重复 #{id}"),
        "/mpi/reviews",
        html! {
            div.table-wrap { table {
                thead { tr { th {} th { "记录 " (left.id) } th { "记录 " (right.id) } th {} } }
                tbody {
                    (row("姓名", &left.name, &right.name))
                    (row("性别", sex_label(&left.sex), sex_label(&right.sex)))
                    (row("出生日期", &left.birth_date, &right.birth_date))
                    (row("身份证号", &left.id_number, &right.id_number))
                    (row("医保号", &left.insurance_no, &right.insurance_no))
                    (row("手机号", &left.phone, &right.phone))
                    (row("地址", &left.address, &right.address))
                }
            } }
            h2 { "匹配解释（模型 " (ex.config_version) "）" }
            p { "先验权重 " (format!("{:+.2}", ex.prior_weight)) "，总权重 " strong { (format!("{:+.2}", ex.match_weight)) } "，匹配概率 " strong { (format!("{:.2}%", ex.match_probability * 100.0)) }
                @if let Some(rule) = &ex.rule { "，确定性规则：" code { (rule) } } }
            div.table-wrap { table {
                thead { tr { th { "比较项" } th { "字段" } th { "命中级别" } th { "m" } th { "u" } th { "贡献（log2 BF）" } } }
                tbody { @for f in &ex.fields { tr {
                    td { (mpi_name(&f.comparison)) } td { (mpi_name(&f.field)) } td { (mpi_level(&f.level)) @if f.tf_adjusted { " " (badge("info", "频率调整")) } }
                    td { (format!("{:.4}", f.m)) } td { (format!("{:.6}", f.u)) }
                    td class=(if f.weight > 0.0 { "flag-N" } else if f.weight < 0.0 { "flag-H" } else { "" }) { (format!("{:+.2}", f.weight)) }
                } } }
            } }
            @if r.status == "pending" {
                div.toolbar {
                    form.inline method="post" action=(format!("/mpi/reviews/{id}")) { (csrf(&a)) input type="hidden" name="decision" value="merge"; button type="submit" { "是同一人：合并" } }
                    form.inline method="post" action=(format!("/mpi/reviews/{id}")) { (csrf(&a)) input type="hidden" name="decision" value="distinct"; button.secondary type="submit" { "不是同一人" } }
                }
            } @else {
                p { "已处理：" (match r.status.as_str() { "merged" => "已合并", "distinct" => "不是同一人", other => other })
                    "（" (r.decided_by.clone().unwrap_or_default()) "）" }
            }
        },
    ))
}

async fn review_decide(
    State(st): State<AppState>,
    Page(a): Page,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Response {
    let d = p(&f, "decision").to_string();
    let r = service::decide_review(&st, &a.ctx, id, &d).await;
    back(
        "/mpi/reviews",
        r.map(|_| {
            if d == "merge" {
                "已合并（可在居民档案中拆分恢复）".into()
            } else {
                "已判定为不同的人".into()
            }
        }),
    )
}

async fn stats_page(State(st): State<AppState>, Page(a): Page) -> PageResult<Markup> {
    let s = service::stats(&st, &a.ctx).await?;
    let orgs: Vec<String> = s.per_org.iter().map(|x| x.0.clone()).collect();
    let months: Vec<String> = s.per_month.iter().map(|x| x.0.clone()).collect();
    let by_org = chart::bar(
        "按机构登记的居民",
        &orgs,
        &[Series::new("居民", s.per_org.iter().map(|x| x.1 as f64))],
    );
    let by_month = chart::line(
        "按月登记",
        &months,
        &[Series::new(
            "新登记",
            s.per_month.iter().map(|x| x.1 as f64),
        )],
    );
    let kept = (s.persons - s.merged).max(0) as f64;
    let parts = chart::pie(
        "记录构成",
        &[
            ("独立居民".into(), kept),
            ("已合并记录".into(), s.merged as f64),
        ],
    );
    let pct = s.duplicate_rate * 100.0;
    let rate = chart::gauge(
        "重复率",
        "已合并/全部",
        pct,
        (pct * 1.5).ceil().max(10.0),
        "%",
    );
    Ok(shell(
        &st.nav,
        &a,
        "查询统计",
        "/mpi/stats",
        html! {
            div.cards {
                div.stat { div.n { (s.persons) } div.l { "在册居民" } }
                div.stat { div.n { (s.merged) } div.l { "已合并记录" } }
                div.stat { div.n { (s.identifiers) } div.l { "院内标识" } }
                div.stat { div.n { (s.links) } div.l { "自动关联次数" } }
                @if let Some(n) = s.pending_reviews { a.stat href="/mpi/reviews" { div.n { (n) } div.l { "待审核疑似重复" } } }
                div.stat { div.n { (format!("{:.2}%", s.duplicate_rate * 100.0)) } div.l { "重复率" } }
            }
            div.charts {
                (by_org.render())
                (by_month.render())
                (parts.render())
                (rate.render())
            }
        },
    ))
}

/// Matching fields and blocking keys as people name them.
fn mpi_term(key: &str) -> String {
    let zh = |k: &str| -> Option<&'static str> {
        Some(match k {
            "full_name" | "name" => "姓名",
            "surname" => "姓",
            "given_name" => "名",
            "sex" => "性别",
            "birth_date" | "dob" => "出生日期",
            "birth_year" => "出生年份",
            "id_number" => "身份证号",
            "phone" => "手机号",
            "province" => "省",
            "city" => "市",
            "district" => "区县",
            "town" => "镇街",
            "address_detail" | "address" => "详细地址",
            "pinyin" | "name_pinyin" | "full_name_pinyin" => "姓名拼音",
            "initials" => "拼音首字母",
            "insurance_no" => "医保号",
            "social_card_no" => "社保卡号",
            _ => return None,
        })
    };
    // Block keys are written `fn(field)`: pinyin(full_name), year(birth_date), …
    let one = |k: &str| -> String {
        if let Some(v) = zh(k) {
            return v.to_string();
        }
        if let Some((f, rest)) = k.split_once('(')
            && let Some(arg) = rest.strip_suffix(')')
            && let Some(field) = zh(arg)
        {
            let how = match f {
                "pinyin" => "拼音",
                "initials" => "拼音首字母",
                "year" => "年份",
                "month" => "月份",
                "soundex" | "metaphone" => "读音",
                "prefix" | "first" => "前几位",
                "last4" | "suffix" => "后几位",
                _ => return k.to_string(),
            };
            return format!("{field}{how}");
        }
        k.to_string()
    };
    key.split(['+', ',', ' ', '；', ';'])
        .filter(|k| !k.is_empty())
        .map(one)
        .collect::<Vec<_>>()
        .join(" + ")
}

/// A configured name shown as what it is: an identifier (its meaning is written beside it).
fn mpi_ident(name: &str) -> Markup {
    html! { code { (name) } }
}

/// A matching term in Chinese; one left in configuration notation is shown as code.
fn mpi_term_markup(key: &str) -> Markup {
    let t = mpi_term(key);
    if t.chars().any(|c| c.is_ascii_alphabetic()) {
        html! { code { (key) } }
    } else {
        html! { (t) }
    }
}

async fn config_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult {
    a.ctx.require(perm::MPI_MANAGE)?;
    let list = crate::matching::configs(&st.db).await?;
    let active = list.iter().find(|c| c.active);
    let parsed = active.and_then(|c| yiyang_mpi::MappingConfig::from_toml(&c.config).ok());
    let lq = ListQuery::from_params(&q);
    let versions = yiyang_platform::web::kit::page_in_memory(list.clone(), &lq);
    let token = a.csrf().to_string();
    let table = Table::new("mpi-configs", "/mpi/config", &q, &lq)
        .col(
            Col::new("version", "版本", |c: &crate::matching::ConfigRow| {
                c.version.clone()
            })
            .class("mono"),
        )
        .col(
            Col::new("active", "状态", |c: &crate::matching::ConfigRow| {
                (if c.active { "启用中" } else { "" }).to_string()
            })
            .cell(|c| html! { @if c.active { (badge("ok", "启用中")) } }),
        )
        .col(Col::new(
            "note",
            "说明",
            |c: &crate::matching::ConfigRow| c.note.clone(),
        ))
        .col(Col::new(
            "model",
            "模型",
            |c: &crate::matching::ConfigRow| {
                c.trained_at
                    .map(|t| format!("已训练 {}", ts(t)))
                    .unwrap_or_else(|| "先验参数".into())
            },
        ))
        .col(Col::new(
            "created",
            "创建",
            |c: &crate::matching::ConfigRow| format!("{} {}", c.created_by, ts(c.created_at)),
        ))
        .col(Col::action(
            "actions",
            "操作",
            move |c: &crate::matching::ConfigRow| {
                html! {
                    @if !c.active {
                        form.inline method="post" action="/mpi/config/activate" {
                            input type="hidden" name="_csrf" value=(token);
                            input type="hidden" name="version" value=(c.version);
                            button.link type="submit" { "启用" }
                        }
                    }
                }
            },
        ))
        .empty("尚无配置版本");
    if lq.export {
        return table
            .export(&st, &a.ctx, "匹配规则版本", "mpi_config", &versions)
            .await;
    }
    let config_err = FormError::from_params(&q, "config");
    let toml_err = FormError::from_params(&q, "toml");
    Ok(shell(
        &st.nav,
        &a,
        "匹配规则与模型",
        "/mpi/config",
        html! {
            @if !config_err.is_some() && !toml_err.is_some() { (msgs(&q)) }
            p.muted { "匹配规则（确定性规则、分块、阈值）是带版本的配置；模型（m/u 概率）由 EM 在本平台登记数据上无监督估计。每个匹配决定都可逐字段解释。保存为新版本，旧版本保留，可随时切换回去。" }
            div.page-actions {
                @if active.is_some() && parsed.is_some() {
                    (dialog_button("config", "调整规则（保存为新版本）", "/mpi/config"))
                    (dialog_button("toml", "高级：编辑配置文本", "/mpi/config"))
                }
                form.inline method="post" action="/mpi/config/train" { (csrf(&a)) button.secondary type="submit" { "用当前登记数据训练启用中的模型（EM）" } }
            }
            (table.render(&versions, &a))
            @if let (Some(c), Some(cfg)) = (active, &parsed) {
                (dialog(&config_err, "调整规则并保存为新版本", "/mpi/config", html! { form method="post" action="/mpi/config" {
                    (csrf(&a))
                    input type="hidden" name="mode" value="form";
                    input type="hidden" name="base" value=(c.version);
                    div.fields {
                        div { label for="version" { "新版本号" span.req { "*" } } input #version type="text" name="version" required value=(format!("{}-{}", c.version, list.len() + 1)); }
                        div { label for="note" { "说明" span.req { "*" } } input #note type="text" name="note" required placeholder="如：提高自动关联阈值"; }
                    }
                    fieldset {
                        legend { "判定阈值（匹配概率）" }
                        div.fields {
                            div { label for="link" { "自动关联阈值（≥ 此值视为同一人）" } input #link type="number" name="link" min="0" max="1" step="0.001" value=(cfg.thresholds.link) required; }
                            div { label for="review" { "审核阈值（介于两者之间进入疑似重复）" } input #review type="number" name="review" min="0" max="1" step="0.001" value=(cfg.thresholds.review) required; }
                        }
                    }
                    fieldset {
                        legend { "确定性规则（完全一致即关联，除非否决字段不一致）" }
                        @for (i, r) in cfg.effective_rules().iter().enumerate() {
                            div {
                                label.chk { input type="checkbox" name=(format!("rule_{i}")) value="1" checked; " " strong { (mpi_ident(&r.name)) } }
                                span.muted { "一致字段：" (r.fields.iter().map(|f| mpi_term(f.name())).collect::<Vec<_>>().join("、"))
                                    @if !r.veto.is_empty() { "；否决字段：" (r.veto.iter().map(|f| mpi_term(f.name())).collect::<Vec<_>>().join("、")) } }
                            }
                        }
                    }
                    fieldset {
                        legend { "分块（候选查找）" }
                        div.table-wrap { table {
                            thead { tr { th { "使用" } th { "名称" } th { "分块键" } th { "块大小上限（超过则跳过）" } } }
                            tbody { @for (i, b) in cfg.effective_blocking().iter().enumerate() { tr {
                                td { input type="checkbox" name=(format!("pass_{i}")) value="1" checked aria-label=(format!("使用分块 {}", b.name)); }
                                td { (mpi_ident(&b.name)) }
                                td { @for (j, k) in b.keys.iter().enumerate() { @if j > 0 { "；" } (mpi_term_markup(k)) } }
                                td { input type="number" min="1" name=(format!("cap_{i}")) value=[b.max_block_size] aria-label=(format!("{} 的块大小上限", b.name)) placeholder="不限"; }
                            } } }
                        } }
                    }
                    div { label.chk { input type="checkbox" name="activate" value="1" checked; " 保存后立即启用（将重建分块索引）" } }
                    button type="submit" { "保存新版本" }
                } }))
                (dialog(&toml_err, "直接编辑配置文本（TOML）", "/mpi/config", html! {
                    form method="post" action="/mpi/config" {
                        (csrf(&a))
                        textarea.mono name="config" rows="24" aria-label="配置文本" { (c.config) }
                        div.fields {
                            div { label for="note2" { "说明" } input #note2 type="text" name="note" required; }
                            div { label.chk { input type="checkbox" name="activate" value="1" checked; " 保存后立即启用（将重建分块索引）" } }
                        }
                        button type="submit" { "保存新版本" }
                    }
                }))
                @if !c.model.is_empty() {
                    details {
                        summary { "当前模型参数（m/u 概率）" }
                        pre.mono { (c.model.lines().filter(|l| !l.trim_start().starts_with('#')).collect::<Vec<_>>().join("\n")) }
                    }
                }
            }
        },
    )
    .into_response())
}

async fn config_save(State(st): State<AppState>, Page(a): Page, Form(f): Form<Params>) -> Response {
    let form = if p(&f, "mode") == "form" {
        "config"
    } else {
        "toml"
    };
    let toml = if form == "config" {
        match config_from_form(&st, &f).await {
            Ok(t) => t,
            Err(e) => return back_to_form("/mpi/config", form, &e),
        }
    } else {
        p(&f, "config").to_string()
    };
    match service::save_config(&st, &a.ctx, &toml, p(&f, "note"), p(&f, "activate") == "1").await {
        Ok(v) => back("/mpi/config", Ok(format!("已保存版本 {v}"))),
        Err(e) => back_to_form("/mpi/config", form, &e),
    }
}

/// The base version's configuration with the form's thresholds, rules and passes applied.
async fn config_from_form(st: &AppState, f: &Params) -> Result<String, AppError> {
    let list = crate::matching::configs(&st.db).await?;
    let base = list
        .iter()
        .find(|c| c.version == p(f, "base"))
        .ok_or_else(|| AppError::not_found("mpi_config"))?;
    let mut cfg = yiyang_mpi::MappingConfig::from_toml(&base.config)
        .map_err(|e| AppError::validation("mpi.config_invalid", format!("底稿配置无效：{e}")))?;
    let num = |k: &str, label: &str| -> Result<f64, AppError> {
        p(f, k)
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| (0.0..=1.0).contains(v))
            .ok_or_else(|| {
                AppError::field(
                    "mpi.threshold_invalid",
                    k,
                    format!("{label}须为 0 到 1 之间的数"),
                )
            })
    };
    let link = num("link", "自动关联阈值")?;
    let review = num("review", "审核阈值")?;
    if review > link {
        return Err(AppError::field(
            "mpi.threshold_order",
            "review",
            "审核阈值不能高于自动关联阈值",
        ));
    }
    let version = p(f, "version").trim();
    if version.is_empty() || version.chars().count() > 64 || version.chars().any(char::is_control) {
        return Err(AppError::field(
            "mpi.version_invalid",
            "version",
            "请填写新版本号（不超过64字）",
        ));
    }
    cfg.version = version.to_string();
    cfg.thresholds.link = link;
    cfg.thresholds.review = review;
    let rules: Vec<_> = cfg
        .effective_rules()
        .into_iter()
        .enumerate()
        .filter(|(i, _)| p(f, &format!("rule_{i}")) == "1")
        .map(|(_, r)| r)
        .collect();
    let mut passes = Vec::new();
    for (i, mut b) in cfg.effective_blocking().into_iter().enumerate() {
        if p(f, &format!("pass_{i}")) != "1" {
            continue;
        }
        let cap = p(f, &format!("cap_{i}")).trim();
        b.max_block_size = if cap.is_empty() {
            None
        } else {
            Some(
                cap.parse::<usize>()
                    .ok()
                    .filter(|c| *c > 0)
                    .ok_or_else(|| {
                        AppError::field(
                            "mpi.cap_invalid",
                            &format!("cap_{i}"),
                            format!("分块“{}”的块大小上限须为正整数", b.name),
                        )
                    })?,
            )
        };
        passes.push(b);
    }
    if passes.is_empty() {
        return Err(AppError::field(
            "mpi.passes_required",
            "pass_0",
            "至少保留一个分块，否则找不到候选",
        ));
    }
    cfg.rules = Some(rules);
    cfg.blocking = Some(passes);
    cfg.to_toml()
        .map_err(|e| AppError::validation("mpi.config_invalid", format!("配置无效：{e}")))
}

async fn config_activate(
    State(st): State<AppState>,
    Page(a): Page,
    Form(f): Form<Params>,
) -> Response {
    let r = service::activate_config(&st, &a.ctx, p(&f, "version")).await;
    back("/mpi/config", r.map(|_| "已启用并重建分块索引".into()))
}

async fn config_train(State(st): State<AppState>, Page(a): Page) -> Response {
    let r = service::train(&st, &a.ctx).await;
    back("/mpi/config", r.map(|s| format!("训练完成：{s}")))
}

/// The resident's own view: the persons linked to this account, in large text.
async fn my_page(State(st): State<AppState>, Page(a): Page) -> PageResult<Markup> {
    let linked = service::viewable_by(&st.db, a.ctx.actor.id).await?;
    let mut blocks = Vec::new();
    for (pid, relation) in &linked {
        let mut person = service::get_person(&st, &a.ctx, *pid, &Unmask::default()).await?;
        // The resident (or the family member they authorised) sees the name in full.
        let (name,): (String,) = st
            .db
            .fetch_one(
                "SELECT name FROM persons WHERE id = $1",
                yiyang_store::args![person.id],
            )
            .await?;
        person.name = name;
        let (_, _, rec) = record::read(&st, &a.ctx, *pid).await?;
        blocks.push((relation.clone(), person, rec));
    }
    Ok(shell(
        &st.nav,
        &a,
        "我的健康档案",
        "/my",
        html! {
            @if blocks.is_empty() { div.card.big { p { "您的账号还没有关联健康档案。请联系社区卫生服务中心或签约家庭医生为您关联。" } } }
            @for (relation, person, rec) in &blocks {
                div.card.big {
                    h2 { (person.name) "的健康档案" }
                    @if relation != "本人" { p.muted { "您以“" (relation) "”的身份查看，经本人授权。" } }
                    p { (sex_label(&person.sex)) " " (person.age.map(|x| format!("{x}岁")).unwrap_or_default()) }
                    h2 { "最近的测量" }
                    @if rec.observations.is_empty() { p { "暂无。" } }
                    ul { @for (o, _) in vital_series(rec) { li { (o.display) "：" strong class=(format!("flag-{}", o.flag)) { (o.value_num.map(fmt_num).unwrap_or_else(|| o.value_text.clone())) " " (labels::unit(&o.unit)) } @if !labels::flag(&o.flag).is_empty() { "（" (labels::flag(&o.flag)) "）" } span.muted { " " (ts(o.effective_at)) } } } }
                    h2 { "正在使用的药" }
                    @if rec.medications.is_empty() { p { "暂无。" } }
                    ul { @for m in &rec.medications { li { (m.name) " " (m.dose) " " (m.frequency) } } }
                    h2 { "过敏" }
                    @if rec.allergies.is_empty() { p { "无已知过敏。" } }
                    ul { @for al in &rec.allergies { li { (al.substance) } } }
                    h2 { "最近就诊" }
                    ul { @for e in rec.encounters.iter().take(5) { li { (ts(e.start_at)) " " (e.org_name) " " (e.dept) } } }
                }
            }
        },
    ))
}
