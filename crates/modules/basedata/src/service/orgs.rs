//! Institutions: validation, the scoped list, read, create, edit, submit and review.

use super::{
    DISTRICTS, ORG_KINDS, REVIEW_STATUSES, Rec, check_phone, code_of, opt_date, review, transition,
};
use serde::{Deserialize, Serialize};
use yiyang_core::{AppError, AppResult, RequestContext, Scope, perm};
use yiyang_platform::audit::{self, AuditEntry};
use yiyang_platform::web::AppState;
use yiyang_store::{Filter, Paged, Sort, Tx, Window, args, like_pattern};

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

impl OrgInput {
    /// Checks and normalises every field; every problem of the record is reported at once
    /// (a single problem keeps its own code).
    pub fn validate(&mut self) -> AppResult<()> {
        use yiyang_core::text::{Checks, Kind};
        let mut c = Checks::new();
        c.text("code", "机构编码", &self.code, 32, Kind::Line)
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
            .text("licence_no", "许可证号", &self.licence_no, 64, Kind::Line);
        self.code = self.code.trim().to_uppercase();
        self.name = self.name.trim().to_string();
        if self.code.is_empty()
            || self.code.len() > 32
            || !self
                .code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            c.result::<()>(Err(AppError::field(
                "org.code_invalid",
                "code",
                "机构编码须为1-32位字母、数字或 -",
            )));
        }
        if self.name.is_empty() || self.name.chars().count() > 100 {
            c.result::<()>(Err(AppError::field(
                "org.name_invalid",
                "name",
                "请填写机构名称（不超过100字）",
            )));
        }
        if let Some(kind) = c.result(code_of(ORG_KINDS, &self.kind).ok_or_else(|| {
            AppError::field(
                "org.kind_invalid",
                "kind",
                format!("机构类型不正确：{}", self.kind),
            )
        })) {
            self.kind = kind.to_string();
        }
        self.district = self.district.trim().to_string();
        if !self.district.is_empty() && !DISTRICTS.contains(&self.district.as_str()) {
            c.result::<()>(Err(AppError::field(
                "org.district_invalid",
                "district",
                format!("所属区县须为梅州市辖区县：{}", self.district),
            )));
        }
        if !(0..=100_000).contains(&self.beds) {
            c.result::<()>(Err(AppError::field(
                "org.beds_invalid",
                "beds",
                "床位数须在0到100000之间",
            )));
        }
        if let Some(p) = c.result(check_phone("phone", &self.phone)) {
            self.phone = p;
        }
        if let Some(d) = c.result(opt_date("licence_expiry", &self.licence_expiry)) {
            self.licence_expiry = d;
        }
        c.finish()
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
