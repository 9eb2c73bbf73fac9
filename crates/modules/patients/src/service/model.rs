//! Matching configurations (versions, activation), block-key rebuilds, model training and
//! pair explanations.

use super::{MATCH_COLS, MatchRow, match_fields, stored_fields};
use crate::matching::{self, MatchFields};
use yiyang_core::{AppError, AppResult, RequestContext, Scope, perm};
use yiyang_platform::audit::{self, AuditEntry};
use yiyang_platform::web::AppState;
use yiyang_store::args;

/// Saves a new configuration version (validated by compiling it); optionally activates it.
pub async fn save_config(
    st: &AppState,
    ctx: &RequestContext,
    toml: &str,
    note: &str,
    activate: bool,
) -> AppResult<String> {
    if ctx.require(perm::MPI_MANAGE)? != Scope::City {
        return Err(AppError::forbidden(perm::MPI_MANAGE));
    }
    let e = matching::compile(toml, "")?;
    let exists: Option<(i64,)> = st
        .db
        .fetch_optional(
            "SELECT id FROM mpi_configs WHERE version = $1",
            args![&e.version],
        )
        .await?;
    if exists.is_some() {
        return Err(AppError::field(
            "mpi.version_taken",
            "config",
            format!("版本号 {} 已存在，请在配置中修改 version", e.version),
        ));
    }
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    if activate {
        tx.execute("UPDATE mpi_configs SET active = FALSE", vec![])
            .await?;
    }
    tx.execute(
        "INSERT INTO mpi_configs (version, config, model, active, note, created_by, created_at) VALUES ($1, $2, '', $3, $4, $5, $6)",
        args![&e.version, toml, activate, note.trim(), &ctx.actor.login, now],
    )
    .await?;
    audit::append(
        &mut tx,
        &[
            AuditEntry::new(ctx, "mpi.config_save", "mpi_config", &e.version)
                .details(serde_json::json!({"activate": activate, "note": note})),
        ],
    )
    .await?;
    tx.commit().await?;
    if activate {
        reindex(st).await?;
    }
    Ok(e.version)
}

/// Makes a stored version the active one and rebuilds the block keys.
pub async fn activate_config(st: &AppState, ctx: &RequestContext, version: &str) -> AppResult<()> {
    if ctx.require(perm::MPI_MANAGE)? != Scope::City {
        return Err(AppError::forbidden(perm::MPI_MANAGE));
    }
    let mut tx = st.db.begin().await?;
    let found: Option<(i64,)> = tx
        .fetch_optional(
            "SELECT id FROM mpi_configs WHERE version = $1",
            args![version],
        )
        .await?;
    let Some((id,)) = found else {
        return Err(AppError::not_found("mpi_config"));
    };
    tx.execute("UPDATE mpi_configs SET active = (id = $1)", args![id])
        .await?;
    audit::append(
        &mut tx,
        &[AuditEntry::new(
            ctx,
            "mpi.config_activate",
            "mpi_config",
            version,
        )],
    )
    .await?;
    tx.commit().await?;
    reindex(st).await.map(|_| ())
}

async fn all_fields(st: &AppState, limit: i64) -> AppResult<Vec<(i64, MatchFields)>> {
    let rows: Vec<MatchRow> = st
        .db
        .fetch_all(
            &format!(
                "SELECT {MATCH_COLS} FROM persons WHERE status = 'active' ORDER BY id LIMIT $1"
            ),
            args![limit],
        )
        .await?;
    rows.into_iter()
        .map(|r| Ok((r.id, match_fields(st, r)?)))
        .collect()
}

/// Rebuilds every person's block keys under the active configuration.
pub async fn reindex(st: &AppState) -> AppResult<usize> {
    let e = matching::engine(&st.db).await?;
    let people = all_fields(st, i64::MAX).await?;
    let mut tx = st.db.begin().await?;
    for (id, f) in &people {
        let p = e.matcher.normalizer.normalize(&f.raw(*id));
        matching::index_person(&mut tx, &e, *id, &p).await?;
    }
    tx.commit().await?;
    Ok(people.len())
}

/// 模型管理: estimates m/u by EM on (a sample of) the registry itself, without labels.
pub async fn train(st: &AppState, ctx: &RequestContext) -> AppResult<String> {
    if ctx.require(perm::MPI_MANAGE)? != Scope::City {
        return Err(AppError::forbidden(perm::MPI_MANAGE));
    }
    let row = matching::active_config(&st.db).await?;
    let cfg = yiyang_mpi::MappingConfig::from_toml(&row.config)
        .map_err(|e| AppError::validation("mpi.config_invalid", e.to_string()))?;
    let people = all_fields(st, 50_000).await?;
    if people.len() < 50 {
        return Err(AppError::validation(
            "mpi.too_few",
            format!("登记人数不足（{}人），至少50人才能训练模型", people.len()),
        ));
    }
    let norm = yiyang_mpi::Normalizer::new(&cfg);
    let recs: Vec<yiyang_mpi::Person> = people
        .iter()
        .map(|(id, f)| norm.normalize(&f.raw(*id)))
        .collect();
    let run = tokio::task::spawn_blocking(move || yiyang_mpi::dedupe(&cfg, &recs))
        .await
        .map_err(AppError::internal)?
        .map_err(|e| AppError::validation("mpi.train_failed", format!("训练失败：{e}")))?;
    let model = run.matcher.model.to_toml();
    let now = ctx.clock.now_micros();
    let mut tx = st.db.begin().await?;
    tx.execute(
        "UPDATE mpi_configs SET model = $1, trained_at = $2 WHERE id = $3",
        args![model, now, row.id],
    )
    .await?;
    let summary = format!(
        "EM 迭代 {} 次（{}），候选对 {}，样本 {} 人",
        run.stats.em_iterations,
        if run.stats.em_converged {
            "已收敛"
        } else {
            "未收敛"
        },
        run.stats.n_candidates,
        people.len()
    );
    audit::append(
        &mut tx,
        &[
            AuditEntry::new(ctx, "mpi.train", "mpi_config", &row.version)
                .details(serde_json::json!({"summary": summary})),
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(summary)
}

/// A pair compared now, for the review page: the current explanation.
pub async fn explain_pair(st: &AppState, a: i64, b: i64) -> AppResult<yiyang_mpi::Explanation> {
    let e = matching::engine(&st.db).await?;
    let pa = e
        .matcher
        .normalizer
        .normalize(&stored_fields(st, &st.db, a).await?.raw(a));
    let pb = e
        .matcher
        .normalizer
        .normalize(&stored_fields(st, &st.db, b).await?.raw(b));
    let n = matching::prior_population(
        st.db
            .scalar("SELECT COALESCE(MAX(id), 1) FROM persons", vec![])
            .await?,
    );
    Ok(e.matcher.explain_in_index(&pa, &pb, n))
}
