//! Staff records: validation, insert (form and import), submit, review and the recycle bin.

use super::{PROFESSIONS, Rec, check_phone, code_of, opt_date, review, transition};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use yiyang_core::idnumber::{self, Sex};
use yiyang_core::{AppError, AppResult, RequestContext, perm};
use yiyang_platform::audit::{self, AuditEntry};
use yiyang_platform::web::AppState;
use yiyang_store::{Tx, args};

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
