//! The licence-expiry warning job (证照到期预警).

use yiyang_core::AppResult;
use yiyang_platform::identity;
use yiyang_platform::web::AppState;
use yiyang_store::args;

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
        let admins = identity::role_holders(&st.db, "org_admin", Some(org)).await?;
        let admins = if admins.is_empty() {
            // An institution without its own administrator: the city platform's administrators hear of it.
            identity::role_holders(&st.db, "platform_admin", None).await?
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
