//! 区域与围栏: zones on a floor plan (who is where now; restricted zones) and the safe areas
//! of elders at home on a map drawn from the data itself (no online tiles).

use crate::geo::{self, FenceInput, ZoneInput, ZoneRow};
use crate::pages::{Params, manage_orgs, msgs, p};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{Markup, html};
use yiyang_platform::web::kit::{
    Col, FormError, ListQuery, Table, dialog, dialog_button, form_failed, tabs,
};
use yiyang_platform::web::layout::{badge, csrf, shell, ts};
use yiyang_platform::web::pages::back;
use yiyang_platform::web::{AppState, Authed, Page, PageResult};
use yiyang_vitals::geofence::LonLat;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/iot/zones", get(zones_page).post(zone_create))
        .route("/iot/zones/fences", post(fence_create))
}

async fn zones_page(
    State(st): State<AppState>,
    Page(a): Page,
    Query(q): Query<Params>,
) -> PageResult {
    zones_view(&st, &a, &q, None).await
}

/// A floor plan: zones as outlined rooms, restricted ones marked, with who is in them now.
fn floor_plan(floor: &str, zones: &[&ZoneRow]) -> Markup {
    html! {
        figure.floor-plan {
            figcaption { (if floor.is_empty() { "未分楼层" } else { floor }) " 平面图" }
            svg viewBox="0 0 1000 600" role="img" aria-label=(format!("{floor} 平面图")) {
                rect x="1" y="1" width="998" height="598" fill="#f7faf8" stroke="#555" stroke-width="2" {}
                @for z in zones {
                    @let pts: Vec<(f64, f64)> = serde_json::from_str(&z.shape).unwrap_or_default();
                    @if pts.len() >= 3 {
                        @let (cx, cy) = (pts.iter().map(|p| p.0).sum::<f64>() / pts.len() as f64, pts.iter().map(|p| p.1).sum::<f64>() / pts.len() as f64);
                        polygon points=(pts.iter().map(|(x, y)| format!("{x},{y}")).collect::<Vec<_>>().join(" "))
                            fill=(if z.restricted { "#fde2e4" } else { "#e3f1ea" }) stroke=(if z.restricted { "#a4161a" } else { "#0b6e4f" }) stroke-width="3" {}
                        text x=(cx) y=(cy - 8.0) text-anchor="middle" font-size="26" fill="#111" { (z.name) }
                        text x=(cx) y=(cy + 24.0) text-anchor="middle" font-size="22" fill="#333" { "在内 " (z.occupants) " 人" (if z.restricted { " · 限制区域" } else { "" }) }
                    }
                }
            }
        }
    }
}

/// A safe area and the latest fixes, projected onto its own bounding box.
fn fence_map(poly: &[LonLat], fixes: &[(i64, f64, f64, bool)]) -> Markup {
    let all: Vec<(f64, f64)> = poly
        .iter()
        .map(|p| (p.lon, p.lat))
        .chain(fixes.iter().map(|f| (f.2, f.1)))
        .collect();
    if all.is_empty() {
        return html! {};
    }
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (x, y) in &all {
        x0 = x0.min(*x);
        x1 = x1.max(*x);
        y0 = y0.min(*y);
        y1 = y1.max(*y);
    }
    let pad = ((x1 - x0).max(y1 - y0) * 0.15).max(0.0005);
    let (x0, x1, y0, y1) = (x0 - pad, x1 + pad, y0 - pad, y1 + pad);
    let px = |lon: f64, lat: f64| {
        (
            (lon - x0) / (x1 - x0) * 600.0,
            (y1 - lat) / (y1 - y0) * 400.0,
        )
    };
    html! {
        svg.fence-map viewBox="0 0 600 400" role="img" aria-label="安全区域与最近定位" {
            rect x="0" y="0" width="600" height="400" fill="#f4f7fb" stroke="#555" {}
            polygon points=(poly.iter().map(|p| { let (x, y) = px(p.lon, p.lat); format!("{x:.1},{y:.1}") }).collect::<Vec<_>>().join(" "))
                fill="#e3f1ea" stroke="#0b6e4f" stroke-width="3" {}
            @for (i, f) in fixes.iter().enumerate() {
                @let (x, y) = px(f.2, f.1);
                circle cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r=(if i == 0 { "9" } else { "5" }) fill=(if f.3 { "#a4161a" } else { "#1d4ed8" }) {}
            }
        }
        p.muted { "绿色为安全区域，圆点为最近定位（红色：在区域外；大圆点：最新一次）。坐标为 WGS-84，不依赖在线地图。" }
    }
}

async fn zones_view(
    st: &AppState,
    a: &Authed,
    q: &Params,
    failed: Option<&FormError>,
) -> PageResult {
    let tab = p(q, "tab");
    let orgs = manage_orgs(st, a).await?;
    let lq = ListQuery::from_params(q);
    let content = if tab == "fences" {
        let rows = geo::fences(st, &a.ctx).await?;
        let err = FormError::pick("fence", q, failed);
        let mut maps = Vec::new();
        for f in rows.iter().take(10) {
            let poly: Vec<LonLat> = serde_json::from_str(&f.polygon).unwrap_or_default();
            let fixes = geo::recent_fixes(st, f.person_id, 60).await?;
            maps.push((f.name.clone(), f.person_name.clone(), poly, fixes));
        }
        html! {
            p.muted { "居家老人佩戴定位手环，连续多次定位在安全区域外即告警（定位误差圈跨越边界的不计）；回到区域内连续多次后自动解除。" }
            @if !orgs.is_empty() {
                div.page-actions { (dialog_button("fence", "新增安全围栏", "/iot/zones?tab=fences")) }
                (dialog(&err, "新增安全围栏", "/iot/zones?tab=fences", html! {
                    form.grid method="post" action="/iot/zones/fences" novalidate {
                        (csrf(a))
                        (err.input("person_id", "人员编号", "").kind("number").required())
                        (err.input("name", "围栏名称", "家").required().maxlength(40))
                        div { label for=(err.id("polygon")) { "区域顶点（经度,纬度；每点以分号分隔，至少 3 点）" }
                            textarea id=(err.id("polygon")) name="polygon" rows="3" required { (err.value("polygon", "")) } (err.beside("polygon")) }
                        (err.check("gcj02", "1", "坐标取自国内地图（GCJ-02），自动换算为 WGS-84", false))
                        (err.input("min_outside", "连续区域外定位次数", "3").kind("number").range("1", "20"))
                        div.actions { button type="submit" { "保存" } }
                    }
                }))
            }
            table { thead { tr { th { "人员" } th { "围栏" } th { "顶点数" } th { "连续定位次数" } th { "状态" } } }
                tbody {
                    @for f in &rows { tr {
                        td { a href=(format!("/iot/persons/{}", f.person_id)) { (f.person_name) } }
                        td { (f.name) }
                        td { (serde_json::from_str::<Vec<LonLat>>(&f.polygon).map(|v| v.len()).unwrap_or(0)) }
                        td { (f.min_outside) }
                        td { (if f.active { badge("ok", "启用") } else { badge("mute", "停用") }) }
                    } }
                    @if rows.is_empty() { tr { td colspan="5" { "尚无安全围栏" } } }
                }
            }
            @for (name, person, poly, fixes) in &maps {
                section.card {
                    h2 { (person) " · " (name) }
                    @if let Some(f) = fixes.first() { p { "最新定位 " (ts(f.0)) (if f.3 { "（在安全区域外）" } else { "（在安全区域内）" }) } }
                    (fence_map(poly, fixes))
                }
            }
        }
    } else {
        let zones = geo::zones(st, &a.ctx).await?;
        let paged = yiyang_platform::web::kit::page_in_memory(zones.clone(), &lq);
        let table = Table::new("zones", "/iot/zones", q, &lq)
            .col(Col::new("code", "编码", |z: &ZoneRow| z.code.clone()).class("mono"))
            .col(Col::new("name", "区域", |z: &ZoneRow| z.name.clone()))
            .col(Col::new("floor", "楼层", |z: &ZoneRow| z.floor.clone()))
            .col(Col::new("gateways", "覆盖网关", |z: &ZoneRow| {
                z.gateways.clone()
            }))
            .col(Col::new("restricted", "限制区域", |z: &ZoneRow| {
                if z.restricted {
                    format!(
                        "是（允许：{}）",
                        if z.allowed_roles.is_empty() {
                            "无"
                        } else {
                            &z.allowed_roles
                        }
                    )
                } else {
                    "否".into()
                }
            }))
            .col(
                Col::new("occupants", "当前在内", |z: &ZoneRow| {
                    z.occupants.to_string()
                })
                .numeric(),
            )
            .empty("尚未划分区域");
        if lq.export {
            return table
                .export(st, &a.ctx, "定位区域", "iot_zone", &paged)
                .await;
        }
        let mut floors: Vec<String> = zones.iter().map(|z| z.floor.clone()).collect();
        floors.sort();
        floors.dedup();
        let err = FormError::pick("zone", q, failed);
        html! {
            p.muted { "区域由网关覆盖：手环被最强的网关（高于 −85 dBm，切换需强 5 dB，停留 5 秒）判定在哪个区域；限制区域（手术室、重症监护室、药品库房）有未授权人员进入时立即告警。" }
            @if !orgs.is_empty() {
                div.page-actions { (dialog_button("zone", "新增区域", "/iot/zones")) }
                (dialog(&err, "新增区域", "/iot/zones", html! {
                    form.grid method="post" action="/iot/zones" novalidate {
                        (csrf(a))
                        (err.select("org_id", "机构", orgs.iter().cloned(), &orgs.first().map(|o| o.0.to_string()).unwrap_or_default(), None).required())
                        (err.input("code", "区域编码", "").required().maxlength(32))
                        (err.input("name", "区域名称", "").required().maxlength(40))
                        (err.input("floor", "楼层", "").maxlength(20))
                        (err.input("gateways", "覆盖网关序列号（逗号分隔）", "").maxlength(400))
                        (err.check("restricted", "1", "限制区域（仅允许下列角色进入）", false))
                        (err.input("allowed_roles", "允许进入的角色（如 staff）", "").maxlength(200))
                        (err.input("shape", "平面图轮廓（x,y; x,y; …，画布 1000×600，选填）", "").maxlength(400))
                        div.actions { button type="submit" { "保存" } }
                    }
                }))
            }
            @for fl in &floors {
                @let on: Vec<&ZoneRow> = zones.iter().filter(|z| &z.floor == fl).collect();
                (floor_plan(fl, &on))
            }
            (table.render(&paged, a))
        }
    };
    Ok(shell(
        &st.nav,
        a,
        "区域与围栏",
        "/iot/zones",
        html! {
            @if failed.is_none() { (msgs(q)) }
            (tabs(&[("/iot/zones".into(), "定位区域", None, tab != "fences"), ("/iot/zones?tab=fences".into(), "居家安全围栏", None, tab == "fences")]))
            (content)
        },
    )
    .into_response())
}

async fn zone_create(State(st): State<AppState>, Page(a): Page, Form(f): Form<Params>) -> Response {
    let z = ZoneInput {
        org_id: p(&f, "org_id").parse().unwrap_or(0),
        code: p(&f, "code").into(),
        name: p(&f, "name").into(),
        floor: p(&f, "floor").into(),
        restricted: p(&f, "restricted") == "1",
        allowed_roles: p(&f, "allowed_roles").into(),
        gateways: p(&f, "gateways").into(),
        shape: p(&f, "shape").into(),
    };
    match geo::create_zone(&st, &a.ctx, &z).await {
        Ok(_) => back("/iot/zones", Ok("区域已添加".into())),
        Err(e) => {
            let failed = FormError::from_error("zone", &e, f);
            form_failed(&e, zones_view(&st, &a, &Params::new(), Some(&failed)).await)
        }
    }
}

async fn fence_create(
    State(st): State<AppState>,
    Page(a): Page,
    Form(f): Form<Params>,
) -> Response {
    let input = FenceInput {
        person_id: p(&f, "person_id").into(),
        name: p(&f, "name").into(),
        polygon: p(&f, "polygon").into(),
        gcj02: p(&f, "gcj02") == "1",
        min_outside: p(&f, "min_outside").into(),
    };
    match geo::create_fence(&st, &a.ctx, &input).await {
        Ok(_) => back("/iot/zones?tab=fences", Ok("安全围栏已添加".into())),
        Err(e) => {
            let failed = FormError::from_error("fence", &e, f);
            let mut q = Params::new();
            q.insert("tab".into(), "fences".into());
            form_failed(&e, zones_view(&st, &a, &q, Some(&failed)).await)
        }
    }
}
