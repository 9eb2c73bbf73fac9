//! The department list of one institution, paged and sorted for the UI kit.

use crate::service::{self, DEPT_KINDS, Department};
use yiyang_core::{AppResult, RequestContext, perm};
use yiyang_platform::web::AppState;
use yiyang_store::{Filter, Paged, Sort, Window, like_pattern};

/// Filters of the department list.
#[derive(Debug, Clone, Default)]
pub struct DeptQuery {
    /// A fragment of the code or the name.
    pub q: Option<String>,
    /// One of [`DEPT_KINDS`].
    pub kind: Option<String>,
}

/// Columns the department list sorts by.
pub const DEPT_SORTS: &[Sort] = &[
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
];

/// One window of the departments of `org_id` and their number. The institution must be
/// one the caller may read (else 404, as for the institution itself) and the caller needs
/// `dept.read`: the same checks as [`service::list_departments`].
pub async fn list_page(
    st: &AppState,
    ctx: &RequestContext,
    org_id: i64,
    q: &DeptQuery,
    w: &Window,
) -> AppResult<Paged<Department>> {
    service::get_org(st, ctx, org_id).await?;
    ctx.require(perm::DEPT_READ)?;
    let mut f = Filter::new();
    f.add("org_id = ?", org_id);
    if let Some(k) = q.kind.as_deref().filter(|s| !s.is_empty()) {
        let kinds: Vec<&str> = DEPT_KINDS.iter().map(|(c, _)| *c).collect();
        yiyang_core::text::one_of("kind", "科室类型", k, &kinds)?;
        f.add("kind = ?", k);
    }
    if let Some(t) = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let ph = f.next();
        f.args.push(like_pattern(t).into());
        f.raw(&format!(
            "(LOWER(code) LIKE {ph} ESCAPE '\\' OR LOWER(name) LIKE {ph} ESCAPE '\\')"
        ));
    }
    let total = st
        .db
        .scalar(
            &format!("SELECT COUNT(*) FROM departments{}", f.sql()),
            f.args.clone(),
        )
        .await?;
    let w_sql = f.sql();
    let tail = w.tail(&mut f, "code, id");
    let rows = st
        .db
        .fetch_all(
            &format!(
                "SELECT id, org_id, code, name, kind, phone, status FROM departments{w_sql}{tail}"
            ),
            f.args,
        )
        .await?;
    Ok(Paged::exact(rows, total))
}
