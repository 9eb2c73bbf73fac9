//! Business operations on institutions, departments and staff. Every function takes the
//! request context; reads of staff (personal data) are scoped, masked and audited.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use yiyang_core::idnumber::{self, Sex};
use yiyang_core::{AppError, AppResult, RequestContext, Scope, perm};
use yiyang_platform::audit::{self, AuditEntry};
use yiyang_platform::identity;
use yiyang_platform::privacy::RecordRead;
use yiyang_platform::web::AppState;
use yiyang_store::{Filter, Paged, Sort, Tx, Window, args, like_pattern};

pub const ORG_KINDS: &[(&str, &str)] = &[
    ("hospital", "医院"),
    ("nursing_home", "养老机构"),
    ("community_health", "社区卫生服务中心"),
    ("pharmacy", "药房"),
    ("service_provider", "服务商"),
    ("insurer", "医保/保险机构"),
    ("platform", "平台运营方"),
];

/// 录入 → 审核 → 展示 states of institutions and staff.
pub const REVIEW_STATUSES: &[&str] = &["draft", "pending", "approved", "rejected"];

pub const DISTRICTS: &[&str] = &[
    "梅江区",
    "梅县区",
    "兴宁市",
    "大埔县",
    "丰顺县",
    "五华县",
    "平远县",
    "蕉岭县",
];

pub const PROFESSIONS: &[(&str, &str)] = &[
    ("doctor", "医师"),
    ("nurse", "护士"),
    ("caregiver", "护理员"),
    ("pharmacist", "药师"),
    ("technician", "医技人员"),
    ("social_worker", "社工"),
    ("admin", "管理人员"),
];

pub const STATUSES: &[(&str, &str)] = &[
    ("draft", "待提交"),
    ("pending", "待审核"),
    ("approved", "已审核"),
    ("rejected", "已退回"),
];

pub fn label<'a>(table: &'a [(&'a str, &'a str)], code: &'a str) -> &'a str {
    table
        .iter()
        .find(|(c, l)| *c == code || *l == code)
        .map(|(_, l)| *l)
        .unwrap_or(code)
}

fn code_of(table: &[(&'static str, &str)], v: &str) -> Option<&'static str> {
    let v = v.trim();
    table
        .iter()
        .find(|(c, l)| *c == v || *l == v)
        .map(|(c, _)| *c)
}

// ---------- institutions ----------

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Org {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub kind: String,
    pub level: String,
    pub district: String,
    pub address: String,
    pub phone: String,
    pub beds: i64,
    pub service_scope: String,
    pub licence_no: String,
    pub licence_expiry: Option<String>,
    pub status: String,
    pub review_note: String,
    pub reviewed_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

const ORG_COLS: &str = "id, code, name, kind, level, district, address, phone, beds, service_scope, licence_no, licence_expiry, status, review_note, reviewed_at, created_at, updated_at";

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct OrgInput {
    pub code: String,
    pub name: String,
    pub kind: String,
    #[serde(default)]
    pub level: String,
    #[serde(default)]
    pub district: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub beds: i64,
    #[serde(default)]
    pub service_scope: String,
    #[serde(default)]
    pub licence_no: String,
    /// YYYY-MM-DD
    #[serde(default)]
    pub licence_expiry: Option<String>,
}

fn parse_date(field: &str, v: &str) -> AppResult<NaiveDate> {
    let v = v.trim();
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(v, "%Y/%m/%d"))
        .or_else(|_| NaiveDate::parse_from_str(v, "%Y%m%d"))
        .map_err(|_| {
            AppError::field(
                "common.date_invalid",
                field,
                format!("日期格式不正确：{v}（应为 YYYY-MM-DD）"),
            )
        })
}

fn opt_date(field: &str, v: &Option<String>) -> AppResult<Option<String>> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => Ok(Some(parse_date(field, s)?.format("%Y-%m-%d").to_string())),
    }
}

fn check_phone(field: &str, v: &str) -> AppResult<String> {
    let digits: String = v.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    if digits.is_empty() {
        return Ok(digits);
    }
    let ok = digits.chars().all(|c| c.is_ascii_digit()) && (7..=12).contains(&digits.len());
    if ok {
        Ok(digits)
    } else {
        Err(AppError::field(
            "common.phone_invalid",
            field,
            "电话号码格式不正确",
        ))
    }
}

impl OrgInput {
    /// Checks and normalises every field; returns the first problem.
    pub fn validate(&mut self) -> AppResult<()> {
        {
            use yiyang_core::text::{Checks, Kind};
            Checks::new()
                .text("code", "机构编码", &self.code, 32, Kind::Line)
                .text("name", "机构名称", &self.name, 100, Kind::Name)
                .text("level", "等级", &self.level, 20, Kind::Line)
                .text("district", "所属区县", &self.district, 20, Kind::Line)
                .text("address", "地址", &self.address, 200, Kind::Line)
                .text("phone", "联系电话", &self.phone, 32, Kind::Line)
                .text(
                    "service_scope",
                    "服务范围",
                    &self.service_scope,
                    500,
                    Kind::Text,
                )
                .text("licence_no", "许可证号", &self.licence_no, 64, Kind::Line)
                .finish()?;
        }
        self.code = self.code.trim().to_uppercase();
        self.name = self.name.trim().to_string();
        if self.code.is_empty()
            || self.code.len() > 32
            || !self
                .code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(AppError::field(
                "org.code_invalid",
                "code",
                "机构编码须为1-32位字母、数字或 -",
            ));
        }
        if self.name.is_empty() || self.name.chars().count() > 100 {
            return Err(AppError::field(
                "org.name_invalid",
                "name",
                "请填写机构名称（不超过100字）",
            ));
        }
        self.kind = code_of(ORG_KINDS, &self.kind)
            .ok_or_else(|| {
                AppError::field(
                    "org.kind_invalid",
                    "kind",
                    format!("机构类型不正确：{}", self.kind),
                )
            })?
            .to_string();
        self.district = self.district.trim().to_string();
        if !self.district.is_empty() && !DISTRICTS.contains(&self.district.as_str()) {
            return Err(AppError::field(
                "org.district_invalid",
                "district",
                format!("所属区县须为梅州市辖区县：{}", self.district),
            ));
        }
        if !(0..=100_000).contains(&self.beds) {
            return Err(AppError::field(
                "org.beds_invalid",
                "beds",
                "床位数须在0到100000之间",
            ));
        }
        self.phone = check_phone("phone", &self.phone)?;
        self.licence_expiry = opt_date("licence_expiry", &self.licence_expiry)?;
        Ok(())
    }
}

fn can_edit_org(ctx: &RequestContext, org_id: i64) -> bool {
    ctx.has_for(perm::ORG_WRITE, org_id)
}

/// Columns the institution list sorts by.
pub const ORG_SORTS: &[Sort] = &[
    Sort {
        key: "code",
        sql: "code",
    },
    Sort {
        key: "name",
        sql: "name",
    },
    Sort {
        key: "kind",
        sql: "kind",
    },
    Sort {
        key: "district",
        sql: "district",
    },
    Sort {
        key: "beds",
        sql: "beds",
    },
    Sort {
        key: "status",
        sql: "status",
    },
    Sort {
        key: "licence_expiry",
        sql: "licence_expiry",
    },
];

/// Institutions visible to the caller (the first 1,000; pages use [`list_orgs_page`]).
pub async fn list_orgs(st: &AppState, ctx: &RequestContext, q: &OrgQuery) -> AppResult<Vec<Org>> {
    Ok(list_orgs_page(st, ctx, q, &Window::first(1000)).await?.rows)
}

/// Institutions visible to the caller: approved ones to anyone with `org.read`
/// (审核通过后展示), others only to their editors and reviewers. One page of them and the
/// number matching.
pub async fn list_orgs_page(
    st: &AppState,
    ctx: &RequestContext,
    q: &OrgQuery,
    w: &Window,
) -> AppResult<Paged<Org>> {
    ctx.require(perm::ORG_READ)?;
    let mut f = Filter::new();
    visible_orgs(ctx, &mut f);
    let t = |o: &Option<String>| {
        o.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    if let Some(s) = t(&q.q) {
        let ph = f.next();
        f.args.push(like_pattern(&s).into());
        f.raw(&format!(
            "(LOWER(name) LIKE {ph} ESCAPE '\\' OR LOWER(code) LIKE {ph} ESCAPE '\\')"
        ));
    }
    if let Some(k) = t(&q.kind) {
        let code = code_of(ORG_KINDS, &k).unwrap_or("");
        let kinds: Vec<&str> = ORG_KINDS.iter().map(|(c, _)| *c).collect();
        yiyang_core::text::one_of(
            "kind",
            "机构类型",
            if code.is_empty() { &k } else { code },
            &kinds,
        )?;
        f.add("kind = ?", code);
    }
    if let Some(s) = t(&q.status) {
        yiyang_core::text::one_of("status", "状态", &s, REVIEW_STATUSES)?;
        f.add("status = ?", s);
    }
    if let Some(d) = t(&q.district) {
        yiyang_core::text::one_of("district", "所属区县", &d, DISTRICTS)?;
        f.add("district = ?", d);
    }
    let where_sql = f.sql();
    let total = st
        .db
        .scalar(
            &format!("SELECT COUNT(*) FROM orgs{where_sql}"),
            f.args.clone(),
        )
        .await?;
    let tail = w.tail(&mut f, "id");
    let rows = st
        .db
        .fetch_all(
            &format!("SELECT {ORG_COLS} FROM orgs{where_sql}{tail}"),
            f.args,
        )
        .await?;
    Ok(Paged::exact(rows, total))
}

fn visible_orgs(ctx: &RequestContext, f: &mut Filter) {
    if ctx.scope_of(perm::ORG_REVIEW) == Some(Scope::City)
        || ctx.scope_of(perm::ORG_WRITE) == Some(Scope::City)
    {
        return;
    }
    match ctx.scope_of(perm::ORG_WRITE).and_then(|s| s.org_ids()) {
        Some(ids) if !ids.is_empty() => {
            let phs: Vec<String> = ids
                .iter()
                .map(|i| {
                    let p = f.next();
                    f.args.push((*i).into());
                    p
                })
                .collect();
            f.raw(&format!(
                "(status = 'approved' OR id IN ({}))",
                phs.join(", ")
            ));
        }
        _ => {
            f.raw("status = 'approved'");
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct OrgQuery {
    pub q: Option<String>,
    pub kind: Option<String>,
    pub status: Option<String>,
    pub district: Option<String>,
}

pub async fn get_org(st: &AppState, ctx: &RequestContext, id: i64) -> AppResult<Org> {
    ctx.require(perm::ORG_READ)?;
    let mut f = Filter::new();
    f.add("id = ?", id);
    visible_orgs(ctx, &mut f);
    st.db
        .fetch_optional(&format!("SELECT {ORG_COLS} FROM orgs{}", f.sql()), f.args)
        .await?
        .ok_or_else(|| AppError::not_found("org"))
}

/// Inserts an institution in `tx` (status 待提交); used by the form and by import.
pub async fn insert_org(tx: &mut Tx, ctx: &RequestContext, o: &OrgInput) -> AppResult<i64> {
    let now = ctx.clock.now_micros();
    let dup: Option<(i64,)> = tx
        .fetch_optional("SELECT id FROM orgs WHERE code = $1", args![&o.code])
        .await?;
    if dup.is_some() {
        return Err(AppError::field(
            "org.code_taken",
            "code",
            format!("机构编码已存在：{}", o.code),
        ));
    }
    let id = tx
        .scalar(
            "INSERT INTO orgs (code, name, kind, level, district, address, phone, beds, service_scope, licence_no, licence_expiry, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'draft', $12, $12) RETURNING id",
            args![&o.code, &o.name, &o.kind, o.level.trim(), &o.district, o.address.trim(), &o.phone, o.beds, o.service_scope.trim(), o.licence_no.trim(), &o.licence_expiry, now],
        )
        .await?;
    audit::append(
        tx,
        &[AuditEntry::new(ctx, "org.create", "org", id)
            .org(Some(id))
            .details(serde_json::json!({"code": o.code, "name": o.name}))],
    )
    .await?;
    Ok(id)
}

/// New institutions are registered by the city platform (`org.write` city-wide).
pub async fn create_org(st: &AppState, ctx: &RequestContext, mut o: OrgInput) -> AppResult<i64> {
    if ctx.require(perm::ORG_WRITE)? != Scope::City {
        return Err(AppError::forbidden(perm::ORG_WRITE));
    }
    o.validate()?;
    let mut tx = st.db.begin().await?;
    let id = insert_org(&mut tx, ctx, &o).await?;
    tx.commit().await?;
    Ok(id)
}

/// Edits an institution; an approved one goes back to review (信息变化时及时更新并审核).
pub async fn update_org(
    st: &AppState,
    ctx: &RequestContext,
    id: i64,
    mut o: OrgInput,
) -> AppResult<()> {
    let cur = get_org(st, ctx, id).await?;
    if !can_edit_org(ctx, id) {
        return Err(AppError::forbidden(perm::ORG_WRITE));
    }
    o.validate()?;
    if o.code != cur.code {
        return Err(AppError::field(
            "org.code_immutable",
            "code",
            "机构编码创建后不可修改",
        ));
    }
    let status = if cur.status == "approved" {
        "pending"
    } else {
        cur.status.as_str()
    };
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    tx.execute(
        "UPDATE orgs SET name = $1, kind = $2, level = $3, district = $4, address = $5, phone = $6, beds = $7, service_scope = $8, \
         licence_no = $9, licence_expiry = $10, status = $11, updated_at = $12 WHERE id = $13",
        args![&o.name, &o.kind, o.level.trim(), &o.district, o.address.trim(), &o.phone, o.beds, o.service_scope.trim(), o.licence_no.trim(), &o.licence_expiry, status, now, id],
    )
    .await?;
    let before = serde_json::to_value(&cur).unwrap_or_default();
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, "org.update", "org", id)
            .org(Some(id))
            .details(serde_json::json!({"before": before, "after": o}))],
    )
    .await?;
    tx.commit().await
}

/// 录入 → 审核: submits a draft or a returned record for review.
pub async fn submit_org(st: &AppState, ctx: &RequestContext, id: i64) -> AppResult<()> {
    get_org(st, ctx, id).await?;
    if !can_edit_org(ctx, id) {
        return Err(AppError::forbidden(perm::ORG_WRITE));
    }
    transition(
        st,
        ctx,
        Rec {
            table: "orgs",
            kind: "org",
            id,
        },
        &["draft", "rejected"],
        "pending",
        "",
    )
    .await
}

/// 审核 → 展示: approves or returns with a note.
pub async fn review_org(
    st: &AppState,
    ctx: &RequestContext,
    id: i64,
    approve: bool,
    note: &str,
) -> AppResult<()> {
    if !ctx.has_for(perm::ORG_REVIEW, id) {
        return Err(AppError::forbidden(perm::ORG_REVIEW));
    }
    get_org(st, ctx, id).await?;
    review(
        st,
        ctx,
        Rec {
            table: "orgs",
            kind: "org",
            id,
        },
        approve,
        note,
    )
    .await
}

async fn review(
    st: &AppState,
    ctx: &RequestContext,
    rec: Rec<'_>,
    approve: bool,
    note: &str,
) -> AppResult<()> {
    if !approve && note.trim().is_empty() {
        return Err(AppError::field(
            "review.note_required",
            "note",
            "退回时请填写审核意见",
        ));
    }
    let to = if approve { "approved" } else { "rejected" };
    transition(st, ctx, rec, &["pending"], to, note.trim()).await
}

/// A reviewable record: its table, audit resource type and id.
#[derive(Clone, Copy)]
struct Rec<'a> {
    table: &'a str,
    kind: &'a str,
    id: i64,
}

async fn transition(
    st: &AppState,
    ctx: &RequestContext,
    rec: Rec<'_>,
    from: &[&str],
    to: &str,
    note: &str,
) -> AppResult<()> {
    let Rec { table, kind, id } = rec;
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    let from_sql: Vec<String> = from.iter().map(|s| format!("'{s}'")).collect();
    let reviewed = matches!(to, "approved" | "rejected");
    let (name, submitted_by): (String, Option<i64>) = tx
        .fetch_optional(
            &format!("SELECT name, submitted_by FROM {table} WHERE id = $1"),
            args![id],
        )
        .await?
        .ok_or_else(|| AppError::not_found(kind))?;
    // Separation of duties: the one who submitted a record does not approve it.
    let person = (ctx.actor.kind == yiyang_core::ActorKind::Account).then_some(ctx.actor.id);
    if reviewed && person.is_some() && submitted_by == person {
        return Err(AppError::new(
            "review.own_submission",
            403,
            "不能审核本人提交的记录，请由其他审核人员处理",
        ));
    }
    let n = tx
        .execute(
            &format!(
                "UPDATE {table} SET status = $1, review_note = CASE WHEN $2 THEN $3 ELSE review_note END, \
                 reviewed_by = CASE WHEN $2 THEN $4 ELSE reviewed_by END, reviewed_at = CASE WHEN $2 THEN $5 ELSE reviewed_at END, \
                 updated_at = $5 WHERE id = $6 AND status IN ({})",
                from_sql.join(", ")
            ),
            args![to, reviewed, note, ctx.actor.id, now, id],
        )
        .await?;
    if n == 0 {
        return Err(AppError::conflict(
            "review.state",
            "当前状态不能执行此操作（可能已被他人处理）",
        ));
    }
    let org = if table == "orgs" {
        Some(id)
    } else {
        tx.fetch_optional::<(i64,)>("SELECT org_id FROM staff WHERE id = $1", args![id])
            .await?
            .map(|r| r.0)
    };
    let what = if table == "orgs" { "机构" } else { "人员" };
    let link = format!("/{}/{id}", if table == "orgs" { "orgs" } else { "staff" });
    let mut notes = Vec::new();
    if to == "pending" {
        tx.execute(
            &format!("UPDATE {table} SET submitted_by = $1 WHERE id = $2"),
            args![person, id],
        )
        .await?;
        let review_perm = if table == "orgs" {
            perm::ORG_REVIEW
        } else {
            perm::STAFF_REVIEW
        };
        for account_id in identity::holders_of(&mut tx, review_perm, org.unwrap_or(0)).await? {
            if Some(account_id) != person {
                notes.push(note_for(
                    account_id,
                    format!("待审核：{what}“{name}”"),
                    format!("{} 提交了{what}“{name}”，请审核。", ctx.actor.display_name),
                    "/review".into(),
                ));
            }
        }
    } else if let Some(submitter) = submitted_by.filter(|_| reviewed) {
        let (title, body) = if to == "approved" {
            (
                format!("审核通过：{what}“{name}”"),
                format!("{} 已审核通过。", ctx.actor.display_name),
            )
        } else {
            (
                format!("审核退回：{what}“{name}”"),
                format!("{} 退回了该记录，意见：{note}", ctx.actor.display_name),
            )
        };
        notes.push(note_for(submitter, title, body, link));
    }
    yiyang_platform::notify::send_in(&mut tx, now, &notes).await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, &format!("{kind}.{to}"), kind, id)
            .org(org)
            .details(serde_json::json!({"note": note}))],
    )
    .await?;
    tx.commit().await
}

fn note_for(
    account_id: i64,
    title: String,
    body: String,
    link: String,
) -> yiyang_platform::notify::Notification {
    yiyang_platform::notify::Notification {
        account_id,
        title,
        body,
        link,
        channel: "inbox".into(),
        dedupe_key: None,
    }
}

// ---------- departments ----------

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Department {
    pub id: i64,
    pub org_id: i64,
    pub code: String,
    pub name: String,
    pub kind: String,
    pub phone: String,
    pub status: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct DeptInput {
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub phone: String,
}

pub const DEPT_KINDS: &[(&str, &str)] = &[
    ("clinical", "临床科室"),
    ("medtech", "医技科室"),
    ("nursing", "护理单元"),
    ("admin", "行政后勤"),
    ("service", "服务部门"),
];

pub async fn list_departments(
    st: &AppState,
    ctx: &RequestContext,
    org_id: i64,
) -> AppResult<Vec<Department>> {
    get_org(st, ctx, org_id).await?;
    ctx.require(perm::DEPT_READ)?;
    st.db
        .fetch_all("SELECT id, org_id, code, name, kind, phone, status FROM departments WHERE org_id = $1 ORDER BY code", args![org_id])
        .await
}

pub async fn create_department(
    st: &AppState,
    ctx: &RequestContext,
    org_id: i64,
    d: &DeptInput,
) -> AppResult<i64> {
    get_org(st, ctx, org_id).await?;
    if !ctx.has_for(perm::DEPT_WRITE, org_id) {
        return Err(AppError::forbidden(perm::DEPT_WRITE));
    }
    {
        use yiyang_core::text::{Checks, Kind};
        Checks::new()
            .text("code", "科室编码", &d.code, 32, Kind::Line)
            .text("name", "科室名称", &d.name, 50, Kind::Name)
            .text("phone", "电话", &d.phone, 32, Kind::Line)
            .finish()?;
    }
    let code = d.code.trim().to_uppercase();
    if code.is_empty()
        || code.len() > 32
        || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(AppError::field(
            "dept.code_invalid",
            "code",
            "科室编码须为1-32位字母、数字或 -",
        ));
    }
    if d.name.trim().is_empty() {
        return Err(AppError::field(
            "dept.name_required",
            "name",
            "请填写科室名称",
        ));
    }
    let kind = if d.kind.trim().is_empty() {
        "clinical"
    } else {
        code_of(DEPT_KINDS, &d.kind)
            .ok_or_else(|| AppError::field("dept.kind_invalid", "kind", "科室类型不正确"))?
    };
    let phone = check_phone("phone", &d.phone)?;
    let mut tx = st.db.begin().await?;
    let dup: Option<(i64,)> = tx
        .fetch_optional(
            "SELECT id FROM departments WHERE org_id = $1 AND code = $2",
            args![org_id, &code],
        )
        .await?;
    if dup.is_some() {
        return Err(AppError::field(
            "dept.code_taken",
            "code",
            "本机构已有相同编码的科室",
        ));
    }
    let id = tx
        .scalar(
            "INSERT INTO departments (org_id, code, name, kind, phone, status, created_at) VALUES ($1, $2, $3, $4, $5, 'active', $6) RETURNING id",
            args![org_id, &code, d.name.trim(), kind, phone, ctx.clock.now_micros()],
        )
        .await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(ctx, "dept.create", "department", id)
            .org(Some(org_id))
            .details(serde_json::to_value(d).unwrap_or_default())],
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

// ---------- staff ----------

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct StaffInput {
    pub org_id: i64,
    pub dept_id: Option<i64>,
    pub name: String,
    /// M/F or 男/女
    pub sex: String,
    /// 居民身份证号码 (18 digits, or 15 to be upgraded)
    pub id_number: String,
    #[serde(default)]
    pub phone: String,
    pub profession: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub qualification_no: String,
    #[serde(default)]
    pub licence_no: String,
    /// YYYY-MM-DD
    #[serde(default)]
    pub licence_expiry: Option<String>,
}

/// A validated staff record ready to store.
#[derive(Debug, Clone)]
pub struct ValidStaff {
    pub input: StaffInput,
    pub sex: Sex,
    pub id_number: idnumber::IdNumber,
    pub warnings: Vec<String>,
}

impl StaffInput {
    /// Checks every field and reports every problem of the record at once.
    pub fn validate(mut self, today: NaiveDate) -> AppResult<ValidStaff> {
        use yiyang_core::text::{Checks, Kind};
        let mut c = Checks::new();
        c.text("name", "姓名", &self.name, 40, Kind::Name)
            .text("id_number", "身份证号", &self.id_number, 32, Kind::Line)
            .text("phone", "手机号", &self.phone, 32, Kind::Line)
            .text("title", "职称", &self.title, 40, Kind::Line)
            .text(
                "qualification_no",
                "资格证书编号",
                &self.qualification_no,
                64,
                Kind::Line,
            )
            .text(
                "licence_no",
                "执业证书编号",
                &self.licence_no,
                64,
                Kind::Line,
            );
        self.name = self.name.split_whitespace().collect::<Vec<_>>().join(" ");
        if self.name.is_empty() {
            c.result::<()>(Err(AppError::field(
                "staff.name_invalid",
                "name",
                "请填写姓名（不超过40字）",
            )));
        }
        let sex =
            c.result(Sex::from_code(&self.sex).ok_or_else(|| {
                AppError::field("staff.sex_invalid", "sex", "性别须为 男/女（M/F）")
            }));
        let parsed = c.result(idnumber::parse(&self.id_number, today, sex));
        if let Some(p) = c.result(check_phone("phone", &self.phone)) {
            self.phone = p;
        }
        let profession = c.result(code_of(PROFESSIONS, &self.profession).ok_or_else(|| {
            AppError::field(
                "staff.profession_invalid",
                "profession",
                format!("职业类别不正确：{}", self.profession),
            )
        }));
        if let Some(p) = profession {
            self.profession = p.to_string();
        }
        if let Some(d) = c.result(opt_date("licence_expiry", &self.licence_expiry)) {
            self.licence_expiry = d;
        }
        if matches!(profession, Some("doctor" | "nurse" | "pharmacist"))
            && self.licence_no.trim().is_empty()
        {
            c.result::<()>(Err(AppError::field(
                "staff.licence_required",
                "licence_no",
                "医师、护士、药师须填写执业证书编号",
            )));
        }
        c.finish()?;
        let (Some(sex), Some((id_number, w))) = (sex, parsed) else {
            return Err(AppError::internal(
                "staff validation passed without sex or ID number",
            ));
        };
        let warnings = w.iter().map(|x| x.message()).collect();
        Ok(ValidStaff {
            input: self,
            sex,
            id_number,
            warnings,
        })
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct StaffRow {
    id: i64,
    org_id: i64,
    dept_id: Option<i64>,
    name: String,
    sex: String,
    birth_date: String,
    id_cipher: Vec<u8>,
    phone: String,
    profession: String,
    title: String,
    qualification_no: String,
    licence_no: String,
    licence_expiry: Option<String>,
    status: String,
    review_note: String,
    deleted_at: Option<i64>,
    created_at: i64,
    org_name: String,
    dept_name: Option<String>,
}

const STAFF_SELECT: &str = "SELECT s.id, s.org_id, s.dept_id, s.name, s.sex, s.birth_date, s.id_cipher, s.phone, s.profession, s.title, \
    s.qualification_no, s.licence_no, s.licence_expiry, s.status, s.review_note, s.deleted_at, s.created_at, o.name AS org_name, d.name AS dept_name \
    FROM staff s JOIN orgs o ON o.id = s.org_id LEFT JOIN departments d ON d.id = s.dept_id";

/// A staff record as shown to a caller: masked unless unmasked access was granted.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Staff {
    pub id: i64,
    pub org_id: i64,
    pub org_name: String,
    pub dept_id: Option<i64>,
    pub dept_name: Option<String>,
    pub name: String,
    pub sex: String,
    pub birth_date: String,
    pub id_number: String,
    pub phone: String,
    pub profession: String,
    pub title: String,
    pub qualification_no: String,
    pub licence_no: String,
    pub licence_expiry: Option<String>,
    pub status: String,
    pub review_note: String,
    pub deleted: bool,
    pub created_at: i64,
    pub masked: bool,
}

fn present(st: &AppState, r: StaffRow, m: &yiyang_platform::masking::Masker) -> AppResult<Staff> {
    let id_plain = st.keys.decrypt(&r.id_cipher)?;
    Ok(Staff {
        id: r.id,
        org_id: r.org_id,
        org_name: r.org_name,
        dept_id: r.dept_id,
        dept_name: r.dept_name,
        name: m.mask("name", &r.name),
        sex: r.sex,
        birth_date: if m.is_unmasked() {
            r.birth_date
        } else {
            r.birth_date
                .get(..4)
                .map(|y| format!("{y}-**-**"))
                .unwrap_or_default()
        },
        id_number: m.mask("id_number", &id_plain),
        phone: m.mask("phone", &r.phone),
        profession: r.profession,
        title: r.title,
        qualification_no: r.qualification_no,
        licence_no: r.licence_no,
        licence_expiry: r.licence_expiry,
        status: r.status,
        review_note: r.review_note,
        deleted: r.deleted_at.is_some(),
        created_at: r.created_at,
        masked: !m.is_unmasked(),
    })
}

/// Inserts a validated staff record in `tx` (status 待提交); used by the form and by import.
pub async fn insert_staff(
    st: &AppState,
    tx: &mut Tx,
    ctx: &RequestContext,
    v: &ValidStaff,
) -> AppResult<i64> {
    let s = &v.input;
    if !ctx.has_for(perm::STAFF_WRITE, s.org_id) {
        return Err(AppError::forbidden(perm::STAFF_WRITE));
    }
    let org: Option<(i64,)> = tx
        .fetch_optional("SELECT id FROM orgs WHERE id = $1", args![s.org_id])
        .await?;
    if org.is_none() {
        return Err(AppError::field(
            "staff.org_missing",
            "org_id",
            "所属机构不存在",
        ));
    }
    if let Some(d) = s.dept_id {
        let ok: Option<(i64,)> = tx
            .fetch_optional(
                "SELECT id FROM departments WHERE id = $1 AND org_id = $2",
                args![d, s.org_id],
            )
            .await?;
        if ok.is_none() {
            return Err(AppError::field(
                "staff.dept_missing",
                "dept_id",
                "科室不属于该机构",
            ));
        }
    }
    let blind = st.keys.blind_index("id_number", v.id_number.as_str());
    let dup: Option<(i64,)> = tx
        .fetch_optional(
            "SELECT id FROM staff WHERE org_id = $1 AND id_blind = $2",
            args![s.org_id, &blind],
        )
        .await?;
    if dup.is_some() {
        return Err(AppError::field(
            "staff.duplicate",
            "id_number",
            "本机构已登记相同身份证号的人员",
        ));
    }
    let now = ctx.clock.now_micros();
    let id = tx
        .scalar(
            "INSERT INTO staff (org_id, dept_id, name, sex, birth_date, id_cipher, id_blind, phone, profession, title, qualification_no, \
             licence_no, licence_expiry, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'draft', $14, $14) RETURNING id",
            args![
                s.org_id, s.dept_id, &s.name, v.sex.code(), v.id_number.birth_date.format("%Y-%m-%d").to_string(),
                st.keys.encrypt(v.id_number.as_str()), blind, &s.phone, &s.profession, s.title.trim(), s.qualification_no.trim(),
                s.licence_no.trim(), &s.licence_expiry, now
            ],
        )
        .await?;
    audit::append(
        tx,
        &[AuditEntry::new(ctx, "staff.create", "staff", id)
            .org(Some(s.org_id))
            .details(serde_json::json!({"warnings": v.warnings}))],
    )
    .await?;
    Ok(id)
}

pub async fn create_staff(
    st: &AppState,
    ctx: &RequestContext,
    s: StaffInput,
) -> AppResult<(i64, Vec<String>)> {
    ctx.require(perm::STAFF_WRITE)?;
    let v = s.validate(yiyang_core::clock::today_cst(ctx.clock.as_ref()))?;
    let mut tx = st.db.begin().await?;
    let id = insert_staff(st, &mut tx, ctx, &v).await?;
    tx.commit().await?;
    Ok((id, v.warnings))
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct StaffQuery {
    /// Name fragment, full ID number (exact, via the blind index) or phone number.
    pub q: Option<String>,
    pub org_id: Option<i64>,
    pub profession: Option<String>,
    pub status: Option<String>,
    /// Include deleted records (回收站).
    pub deleted: Option<bool>,
    /// Only licences expired or expiring within this many days (证照到期预警).
    pub expiring_within_days: Option<i64>,
}

pub use yiyang_platform::masking::Unmask;

fn unmask_allowed(ctx: &RequestContext, org_id: Option<i64>) -> bool {
    match org_id {
        Some(o) => ctx.has_for(perm::STAFF_READ_UNMASKED, o),
        None => ctx.has(perm::STAFF_READ_UNMASKED),
    }
}

/// Columns the staff list sorts by.
pub const STAFF_SORTS: &[Sort] = &[
    Sort {
        key: "name",
        sql: "s.name",
    },
    Sort {
        key: "org",
        sql: "o.name",
    },
    Sort {
        key: "dept",
        sql: "d.name",
    },
    Sort {
        key: "profession",
        sql: "s.profession",
    },
    Sort {
        key: "title",
        sql: "s.title",
    },
    Sort {
        key: "licence_expiry",
        sql: "s.licence_expiry",
    },
    Sort {
        key: "status",
        sql: "s.status",
    },
];

/// Staff within the caller's scope (the first 500; pages use [`list_staff_page`]).
pub async fn list_staff(
    st: &AppState,
    ctx: &RequestContext,
    q: &StaffQuery,
    um: &Unmask,
) -> AppResult<Vec<Staff>> {
    Ok(list_staff_page(st, ctx, q, um, &Window::first(500))
        .await?
        .rows)
}

/// Staff within the caller's `staff.read` scope, one page and the number matching;
/// audited as one read listing the ids returned.
pub async fn list_staff_page(
    st: &AppState,
    ctx: &RequestContext,
    q: &StaffQuery,
    um: &Unmask,
    w: &Window,
) -> AppResult<Paged<Staff>> {
    let scope = ctx.require(perm::STAFF_READ)?;
    let purpose = um.purpose(unmask_allowed(ctx, q.org_id), perm::STAFF_READ_UNMASKED)?;
    let mut f = Filter::new();
    if let Some(orgs) = scope.org_ids() {
        f.any_of("s.org_id", &orgs);
    }
    if let Some(o) = q.org_id {
        f.add("s.org_id = ?", o);
    }
    if q.deleted.unwrap_or(false) {
        f.raw("s.deleted_at IS NOT NULL");
    } else {
        f.raw("s.deleted_at IS NULL");
    }
    if let Some(p) = q.profession.as_deref().filter(|s| !s.is_empty()) {
        let codes: Vec<&str> = PROFESSIONS.iter().map(|(c, _)| *c).collect();
        yiyang_core::text::one_of("profession", "职业类别", p, &codes)?;
        f.add("s.profession = ?", p);
    }
    if let Some(p) = q.status.as_deref().filter(|s| !s.is_empty()) {
        yiyang_core::text::one_of("status", "状态", p, REVIEW_STATUSES)?;
        f.add("s.status = ?", p);
    }
    if let Some(text) = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let today = yiyang_core::clock::today_cst(ctx.clock.as_ref());
        if let Ok((idn, _)) = idnumber::parse(text, today, None) {
            f.add(
                "s.id_blind = ?",
                st.keys.blind_index("id_number", idn.as_str()),
            );
        } else if text.chars().all(|c| c.is_ascii_digit()) && text.len() >= 7 {
            f.add("s.phone = ?", text);
        } else {
            f.add("s.name LIKE ? ESCAPE '\\'", like_pattern(text));
        }
    }
    if let Some(days) = q.expiring_within_days.filter(|d| (0..=3650).contains(d)) {
        let today = yiyang_core::clock::today_cst(ctx.clock.as_ref());
        let until = today + chrono::Duration::days(days);
        f.add(
            "s.licence_expiry <= ?",
            until.format("%Y-%m-%d").to_string(),
        );
    }
    let where_sql = f.sql();
    let total = st
        .db
        .scalar(
            &format!(
                "SELECT COUNT(*) FROM staff s JOIN orgs o ON o.id = s.org_id LEFT JOIN departments d ON d.id = s.dept_id{where_sql}"
            ),
            f.args.clone(),
        )
        .await?;
    let tail = w.tail(&mut f, "s.id");
    let rows: Vec<StaffRow> = st
        .db
        .fetch_all(&format!("{STAFF_SELECT}{where_sql}{tail}"), f.args)
        .await?;
    let m = st.masking.masker(ctx, purpose.is_some()).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let out = rows
        .into_iter()
        .map(|r| present(st, r, &m))
        .collect::<AppResult<Vec<_>>>()?;
    let action = if purpose.is_some() {
        "staff.list_unmasked"
    } else {
        "staff.list"
    };
    st.audit
        .record(
            AuditEntry::new(ctx, action, "staff", "")
                .purpose(purpose.as_deref().unwrap_or(""))
                .details(serde_json::json!({"ids": ids, "q": q.q})),
        )
        .await;
    Ok(Paged::exact(out, total))
}

/// One staff record; out-of-scope ids look exactly like missing ones.
pub async fn get_staff(
    st: &AppState,
    ctx: &RequestContext,
    id: i64,
    um: &Unmask,
) -> AppResult<Staff> {
    let scope = ctx.require(perm::STAFF_READ)?;
    let row: Option<StaffRow> = st
        .db
        .fetch_optional(&format!("{STAFF_SELECT} WHERE s.id = $1"), args![id])
        .await?;
    let row = match row {
        Some(r) if scope.allows(r.org_id) => r,
        _ => {
            st.audit
                .record(AuditEntry::new(ctx, "staff.read", "staff", id).outcome("not_found"))
                .await;
            return Err(AppError::not_found("staff"));
        }
    };
    let read = RecordRead {
        action: "staff.read",
        unmasked_action: "staff.read_unmasked",
        resource: "staff",
        id,
        org: Some(row.org_id),
    }
    .open(
        st,
        ctx,
        um,
        unmask_allowed(ctx, Some(row.org_id)),
        perm::STAFF_READ_UNMASKED,
    )
    .await?;
    let s = present(st, row, &read.masker)?;
    read.audit(st, ctx).await;
    Ok(s)
}

async fn staff_org(
    st: &AppState,
    ctx: &RequestContext,
    id: i64,
    permission: &str,
) -> AppResult<i64> {
    let row: Option<(i64,)> = st
        .db
        .fetch_optional("SELECT org_id FROM staff WHERE id = $1", args![id])
        .await?;
    match row {
        Some((o,)) if ctx.has_for(perm::STAFF_READ, o) || ctx.has_for(permission, o) => {
            if ctx.has_for(permission, o) {
                Ok(o)
            } else {
                Err(AppError::forbidden(permission))
            }
        }
        _ => Err(AppError::not_found("staff")),
    }
}

pub async fn submit_staff(st: &AppState, ctx: &RequestContext, id: i64) -> AppResult<()> {
    staff_org(st, ctx, id, perm::STAFF_WRITE).await?;
    transition(
        st,
        ctx,
        Rec {
            table: "staff",
            kind: "staff",
            id,
        },
        &["draft", "rejected"],
        "pending",
        "",
    )
    .await
}

pub async fn review_staff(
    st: &AppState,
    ctx: &RequestContext,
    id: i64,
    approve: bool,
    note: &str,
) -> AppResult<()> {
    staff_org(st, ctx, id, perm::STAFF_REVIEW).await?;
    review(
        st,
        ctx,
        Rec {
            table: "staff",
            kind: "staff",
            id,
        },
        approve,
        note,
    )
    .await
}

/// Moves a record to the recycle bin, or restores it (deletes are reversible).
pub async fn set_staff_deleted(
    st: &AppState,
    ctx: &RequestContext,
    id: i64,
    deleted: bool,
) -> AppResult<()> {
    let org = staff_org(st, ctx, id, perm::STAFF_WRITE).await?;
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    let deleted_at = if deleted { Some(now) } else { None };
    tx.execute(
        "UPDATE staff SET deleted_at = $1, updated_at = $2 WHERE id = $3",
        args![deleted_at, now, id],
    )
    .await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(
            ctx,
            if deleted {
                "staff.delete"
            } else {
                "staff.restore"
            },
            "staff",
            id,
        )
        .org(Some(org))],
    )
    .await?;
    tx.commit().await
}

/// Records waiting for the caller's review.
pub async fn pending(st: &AppState, ctx: &RequestContext) -> AppResult<(Vec<Org>, Vec<Staff>)> {
    let orgs = if ctx.has(perm::ORG_REVIEW) {
        list_orgs(
            st,
            ctx,
            &OrgQuery {
                status: Some("pending".into()),
                ..Default::default()
            },
        )
        .await?
    } else {
        vec![]
    };
    let staff = if ctx.has(perm::STAFF_REVIEW) {
        list_staff(
            st,
            ctx,
            &StaffQuery {
                status: Some("pending".into()),
                ..Default::default()
            },
            &Unmask::default(),
        )
        .await?
    } else {
        vec![]
    };
    Ok((orgs, staff))
}

pub const LICENCE_JOB: &str = "basedata.licence_expiry";
/// Days before expiry when the warning is sent.
pub const LICENCE_WARN_DAYS: i64 = 60;

/// Warns institution administrators (and the person, if they have an account) of practising
/// licences that expire within [`LICENCE_WARN_DAYS`]; once per record per day.
pub async fn warn_expiring_licences(st: &AppState) -> AppResult<usize> {
    let today = yiyang_core::clock::today_cst(st.clock.as_ref());
    let limit = (today + chrono::Duration::days(LICENCE_WARN_DAYS))
        .format("%Y-%m-%d")
        .to_string();
    let today_s = today.format("%Y-%m-%d").to_string();
    let rows: Vec<(i64, i64, String, String, Option<i64>)> = st
        .db
        .fetch_all(
            "SELECT id, org_id, name, licence_expiry, account_id FROM staff WHERE deleted_at IS NULL AND licence_expiry IS NOT NULL \
             AND licence_expiry <= $1 AND (licence_warned_on IS NULL OR licence_warned_on <> $2)",
            args![limit, &today_s],
        )
        .await?;
    let now = st.clock.now_micros();
    let mut sent = 0;
    for (id, org, name, expiry, account) in rows {
        let admins: Vec<(i64,)> = st
            .db
            .fetch_all(
                "SELECT DISTINCT ar.account_id FROM account_roles ar JOIN roles r ON r.id = ar.role_id WHERE r.code = 'org_admin' AND ar.org_id = $1",
                args![org],
            )
            .await?;
        let admins = if admins.is_empty() {
            // An institution without its own administrator: the city platform's administrators hear of it.
            st.db
                .fetch_all(
                    "SELECT DISTINCT ar.account_id FROM account_roles ar JOIN roles r ON r.id = ar.role_id WHERE r.code = 'platform_admin'",
                    vec![],
                )
                .await?
        } else {
            admins
        };
        let expired = expiry.as_str() < today_s.as_str();
        let title = if expired {
            "执业证书已过期"
        } else {
            "执业证书即将到期"
        };
        let body = format!(
            "人员 {name}（编号 {id}）的执业证书有效期至 {expiry}，请及时办理延续注册并更新人员信息。"
        );
        let mut recipients: Vec<i64> = admins.into_iter().map(|r| r.0).collect();
        recipients.extend(account);
        let items: Vec<yiyang_platform::notify::Notification> = recipients
            .into_iter()
            .map(|acc| yiyang_platform::notify::Notification {
                account_id: acc,
                title: title.into(),
                body: body.clone(),
                link: format!("/staff/{id}"),
                channel: "inbox".into(),
                dedupe_key: Some(format!("licence:{id}:{acc}:{today_s}")),
            })
            .collect();
        let mut tx = st.db.begin().await?;
        sent += yiyang_platform::notify::send_in(&mut tx, now, &items).await?;
        tx.execute(
            "UPDATE staff SET licence_warned_on = $1 WHERE id = $2",
            args![&today_s, id],
        )
        .await?;
        tx.commit().await?;
    }
    Ok(sent)
}
