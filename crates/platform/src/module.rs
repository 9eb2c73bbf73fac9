//! The module registry: what a subsystem declares about itself, so the binary lists its
//! modules once and every piece of wiring (migrations, routes, navigation, OpenAPI,
//! permissions and built-in roles, jobs and schedules, listeners, encrypted columns, masking
//! field kinds, home cards, demo data, reference data, configuration, error codes) loops
//! over that list. See decision 0013.

use crate::crypto::Keys;
use crate::jobs::{self, Handler};
use crate::web::{AppState, NavItem};
use axum::Router;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use yiyang_core::{AppError, AppResult, RequestContext};
use yiyang_store::{Db, Migration, args};

/// A boxed future, for the async hooks of [`Module`] (the trait is used as `dyn Module`).
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A permission a module checks, with its zh-CN label and the built-in roles granted it.
#[derive(Debug, Clone, Copy)]
pub struct Permission {
    pub name: &'static str,
    pub label: &'static str,
    /// Codes of built-in roles (declared by any module) that get this permission.
    pub roles: &'static [&'static str],
}

/// A built-in role: code, zh-CN name, city-wide when granted without an institution.
#[derive(Debug, Clone, Copy)]
pub struct Role {
    pub code: &'static str,
    pub name: &'static str,
    pub city_wide: bool,
}

/// A kind of personal field masked per role (`mask_rules.field_kind`), with the built-in
/// algorithm (`mask_algorithms.code`) used by default.
#[derive(Debug, Clone, Copy)]
pub struct FieldKind {
    pub kind: &'static str,
    pub label: &'static str,
    pub default_algorithm: &'static str,
}

/// A recurring job: zh-CN name, job kind (a handler of some module), six-field cron (CST).
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub name: &'static str,
    pub job: &'static str,
    pub cron: &'static str,
}

/// One figure on the home page, linking to the list it counts: the list at `href` shows
/// exactly `value` rows (tested for every demo role), so a card never promises more than
/// its list holds. A module shows a card only to a caller who may open its list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    pub label: String,
    pub value: i64,
    pub href: String,
    /// A work queue (待办): something waits for the caller while the number is above 0.
    pub queue: bool,
}

impl Card {
    /// A figure of the caller's area (概况).
    pub fn new(label: impl Into<String>, value: i64, href: impl Into<String>) -> Card {
        Card {
            label: label.into(),
            value,
            href: href.into(),
            queue: false,
        }
    }

    /// A work queue (待办事项): records waiting for the caller to act.
    pub fn queue(label: impl Into<String>, value: i64, href: impl Into<String>) -> Card {
        Card {
            queue: true,
            ..Card::new(label, value, href)
        }
    }
}

/// An error code a module answers with: stable code, HTTP status, zh-CN message (the
/// typical one; a response may carry a more specific message).
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode {
    pub code: &'static str,
    pub status: u16,
    pub message: &'static str,
}

/// One line of a crate's `ERROR_CODES` list.
pub const fn error_code(code: &'static str, status: u16, message: &'static str) -> ErrorCode {
    ErrorCode {
        code,
        status,
        message,
    }
}

/// One configuration setting of a module: key in the module's TOML section, environment
/// variable, default ("" = none), zh-CN description.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub key: &'static str,
    pub env: &'static str,
    pub default: &'static str,
    pub doc: &'static str,
}

/// A module's resolved settings (environment, then the TOML file's `[module]` section, then
/// the declared default), handed to [`Module::configure`]. Modules never read the
/// environment themselves.
#[derive(Debug, Clone, Default)]
pub struct Section {
    pub module: String,
    values: BTreeMap<String, String>,
    envs: BTreeMap<String, String>,
}

impl Section {
    /// Every setting of `settings` at its default.
    pub fn defaults(module: &str, settings: &[Setting]) -> Section {
        Section::resolve(module, settings, |_| None)
    }

    /// Resolves `settings`: `lookup(setting)` gives the configured value, if any.
    pub fn resolve(
        module: &str,
        settings: &[Setting],
        lookup: impl Fn(&Setting) -> Option<String>,
    ) -> Section {
        let mut s = Section {
            module: module.into(),
            ..Default::default()
        };
        for st in settings {
            let v = lookup(st).unwrap_or_else(|| st.default.to_string());
            s.values.insert(st.key.into(), v);
            s.envs.insert(st.key.into(), st.env.into());
        }
        s
    }

    /// The value of `key` ("" = not set).
    pub fn get(&self, key: &str) -> &str {
        self.values.get(key).map(String::as_str).unwrap_or("")
    }

    /// The value of `key`, or `None` when empty.
    pub fn opt(&self, key: &str) -> Option<String> {
        Some(self.get(key).trim().to_string()).filter(|v| !v.is_empty())
    }

    /// The value of `key` parsed; an unparsable value is a configuration error naming it.
    pub fn parse<T: std::str::FromStr>(&self, key: &str) -> AppResult<T> {
        let v = self.get(key).trim();
        v.parse().map_err(|_| {
            AppError::validation(
                "config.invalid",
                format!(
                    "配置项 {}.{}（环境变量 {}）的值无效：{v}",
                    self.module,
                    key,
                    self.envs.get(key).map(String::as_str).unwrap_or("")
                ),
            )
        })
    }
}

/// A subsystem. Every method has an empty default, so a module declares only what it has.
/// Adding a subsystem is its own crate implementing this plus one line in the binary's
/// module list (`yiyang::app::modules`).
pub trait Module: Send + Sync {
    /// Short English name; also the name of its configuration section.
    fn name(&self) -> &'static str;
    /// The subsystem's Chinese name (filters and documentation show it, never `name`).
    fn title(&self) -> &'static str {
        self.name()
    }
    /// Chinese labels of this module's audit actions and resources (`iot.alarm.ack` →
    /// 确认告警, `iot_device` → 物联网设备), registered for the audit log and exports.
    fn audit_labels(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }
    /// Its schema changes, in order (ids unique across modules).
    fn migrations(&self) -> &'static [Migration] {
        &[]
    }
    /// Page and API routes.
    fn routes(&self) -> Router<AppState> {
        Router::new()
    }
    /// Navigation entries (filtered per caller by their permission).
    fn nav(&self) -> Vec<NavItem> {
        Vec::new()
    }
    /// Its part of the OpenAPI document.
    fn openapi(&self) -> Option<utoipa::openapi::OpenApi> {
        None
    }
    /// Built-in roles it introduces.
    fn roles(&self) -> &'static [Role] {
        &[]
    }
    /// Permissions it checks, with the built-in roles granted them.
    fn permissions(&self) -> &'static [Permission] {
        &[]
    }
    /// Role markers: permissions that mark a kind of role (e.g. `resident.self` for elders
    /// and families), given only to the roles they name. They are not in the role editor's
    /// list (`perm::all`), not held by the platform administrator or the system context.
    fn role_markers(&self) -> &'static [Permission] {
        &[]
    }
    /// Masking field kinds of its personal data.
    fn field_kinds(&self) -> &'static [FieldKind] {
        &[]
    }
    /// Columns it encrypts with the data key (re-encrypted by `keys rewrap`).
    fn encrypted_columns(&self) -> &'static [EncryptedColumn] {
        &[]
    }
    /// Its error codes (served at `/api/docs/errors`).
    fn error_codes(&self) -> &'static [ErrorCode] {
        &[]
    }
    /// Its configuration settings (section `[name]` of the TOML file).
    fn settings(&self) -> &'static [Setting] {
        &[]
    }
    /// Takes the resolved settings before anything else runs; a bad value is an error.
    fn configure(&self, _section: &Section) -> AppResult<()> {
        Ok(())
    }
    /// Job handlers by job kind.
    fn jobs(&self, _st: &AppState) -> Vec<(&'static str, Handler)> {
        Vec::new()
    }
    /// Recurring jobs (upserted on every start).
    fn schedules(&self) -> &'static [Schedule] {
        &[]
    }
    /// Long-running tasks started by `serve`; each ends when `stop` turns true and is
    /// awaited at shutdown.
    fn listeners(&self, _st: &AppState, _stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        Vec::new()
    }
    /// Idempotent reference data, on every start after the migrations.
    fn prepare<'a>(&'a self, _db: &'a Db, _now: i64) -> BoxFut<'a, AppResult<()>> {
        Box::pin(async { Ok(()) })
    }
    /// Home-page figures for the caller (only what the caller may open).
    fn home_cards<'a>(
        &'a self,
        _st: &'a AppState,
        _ctx: &'a RequestContext,
    ) -> BoxFut<'a, AppResult<Vec<Card>>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    /// Charts for the caller's home page (only over data the caller may read).
    fn home_charts<'a>(
        &'a self,
        _st: &'a AppState,
        _ctx: &'a RequestContext,
    ) -> BoxFut<'a, AppResult<Vec<crate::web::chart::Chart>>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    /// Demo data, after the modules before it seeded theirs (runs once per database).
    fn seed_demo<'a>(&'a self, _st: &'a AppState) -> BoxFut<'a, AppResult<()>> {
        Box::pin(async { Ok(()) })
    }
    /// Sections this module adds to a person's 健康360视图 for `ctx` (the caller already may
    /// see the person; a module shows only what the caller may read of its own data).
    fn person_panels<'a>(
        &'a self,
        _st: &'a AppState,
        _ctx: &'a RequestContext,
        _person_id: i64,
    ) -> BoxFut<'a, AppResult<Vec<PersonPanel>>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// A section of the 健康360视图 drawn by a later module (vitals from IoT, follow-ups from
/// chronic disease…), with the page that shows all of it.
#[derive(Debug, Clone)]
pub struct PersonPanel {
    pub title: String,
    pub body: maud::Markup,
    pub href: String,
}

/// Navigation groups shown after every module's own groups.
pub const ADMIN_GROUPS: &[&str] = &["系统管理", "数据安全"];

/// The modules of a running platform, in order, and everything derived from them.
pub struct Registry {
    pub modules: Vec<Arc<dyn Module>>,
}

impl Registry {
    /// Registers the modules' permissions and masking field kinds process-wide (the lists
    /// `perm::all` and `masking::field_kinds` are their union).
    pub fn new(modules: Vec<Arc<dyn Module>>) -> Registry {
        let r = Registry { modules };
        let perms: Vec<_> = r.permissions().iter().map(|p| (p.name, p.label)).collect();
        yiyang_core::perm::register(&perms);
        crate::masking::register_field_kinds(&r.field_kinds());
        crate::web::labels::register(&r.each(|m| m.audit_labels()));
        r
    }

    /// The Chinese name of module `name` (the name itself when unknown).
    pub fn title<'a>(&'a self, name: &'a str) -> &'a str {
        self.modules
            .iter()
            .find(|m| m.name() == name)
            .map(|m| m.title())
            .unwrap_or(if name == "yiyang" {
                "平台程序"
            } else {
                name
            })
    }

    fn each<T: Copy + 'static>(&self, f: impl Fn(&dyn Module) -> &'static [T]) -> Vec<T> {
        self.modules
            .iter()
            .flat_map(|m| f(m.as_ref()).iter().copied())
            .collect()
    }

    pub fn migrations(&self) -> Vec<&'static [Migration]> {
        self.modules.iter().map(|m| m.migrations()).collect()
    }
    pub fn permissions(&self) -> Vec<Permission> {
        self.each(|m| m.permissions())
    }
    pub fn roles(&self) -> Vec<Role> {
        self.each(|m| m.roles())
    }
    pub fn field_kinds(&self) -> Vec<FieldKind> {
        self.each(|m| m.field_kinds())
    }
    pub fn encrypted_columns(&self) -> Vec<EncryptedColumn> {
        self.each(|m| m.encrypted_columns())
    }
    pub fn error_codes(&self) -> Vec<ErrorCode> {
        self.each(|m| m.error_codes())
    }
    pub fn schedules(&self) -> Vec<Schedule> {
        self.each(|m| m.schedules())
    }
    /// Every module's navigation entries in module order, the administration groups
    /// (系统管理, 数据安全) last.
    pub fn nav(&self) -> Vec<NavItem> {
        let mut nav: Vec<NavItem> = self.modules.iter().flat_map(|m| m.nav()).collect();
        nav.sort_by_key(|n| ADMIN_GROUPS.contains(&n.group));
        nav
    }

    pub fn role_markers(&self) -> Vec<Permission> {
        self.each(|m| m.role_markers())
    }

    /// Each built-in role with the permissions (and role markers) granted to it.
    pub fn role_grants(&self) -> Vec<(Role, Vec<&'static str>)> {
        let mut perms = self.permissions();
        perms.extend(self.role_markers());
        self.roles()
            .into_iter()
            .map(|r| {
                let granted = perms
                    .iter()
                    .filter(|p| p.roles.contains(&r.code))
                    .map(|p| p.name)
                    .collect();
                (r, granted)
            })
            .collect()
    }

    /// Applies the migrations, then the built-in roles, masking defaults, schedules and each
    /// module's reference data; returns the migrations applied.
    pub async fn prepare(&self, db: &Db, now: i64) -> AppResult<Vec<String>> {
        let applied = yiyang_store::migrate(db, &self.migrations(), now).await?;
        crate::identity::seed_roles(db, &self.role_grants()).await?;
        crate::masking::seed_defaults(db, &self.field_kinds(), now).await?;
        for s in self.schedules() {
            jobs::upsert_schedule(db, s.name, s.job, s.cron, now).await?;
        }
        for m in &self.modules {
            m.prepare(db, now).await?;
        }
        Ok(applied)
    }

    /// Every module's routes.
    pub fn router(&self) -> Router<AppState> {
        self.modules
            .iter()
            .fold(Router::new(), |r, m| r.merge(m.routes()))
    }

    /// Every module's OpenAPI document merged into `base`.
    pub fn openapi(&self, mut base: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
        for doc in self.modules.iter().filter_map(|m| m.openapi()) {
            base.merge(doc);
        }
        base
    }

    /// Job handlers of every module by kind.
    pub fn jobs(&self, st: &AppState) -> HashMap<String, Handler> {
        self.modules
            .iter()
            .flat_map(|m| m.jobs(st))
            .map(|(k, h)| (k.to_string(), h))
            .collect()
    }

    /// Starts every module's listeners.
    pub fn listeners(&self, st: &AppState, stop: &watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        self.modules
            .iter()
            .flat_map(|m| m.listeners(st, stop.clone()))
            .collect()
    }

    /// The home-page figures of every module for the caller.
    pub async fn home_cards(&self, st: &AppState, ctx: &RequestContext) -> AppResult<Vec<Card>> {
        let mut cards = Vec::new();
        for m in &self.modules {
            cards.extend(m.home_cards(st, ctx).await?);
        }
        Ok(cards)
    }

    /// Every module's home-page charts for `ctx`, in module order.
    pub async fn home_charts(
        &self,
        st: &AppState,
        ctx: &RequestContext,
    ) -> AppResult<Vec<crate::web::chart::Chart>> {
        let mut charts = Vec::new();
        for m in &self.modules {
            charts.extend(m.home_charts(st, ctx).await?);
        }
        Ok(charts)
    }

    /// Every module's sections of a person's 健康360视图 for `ctx`, in module order.
    pub async fn person_panels(
        &self,
        st: &AppState,
        ctx: &RequestContext,
        person_id: i64,
    ) -> AppResult<Vec<PersonPanel>> {
        let mut out = Vec::new();
        for m in &self.modules {
            out.extend(m.person_panels(st, ctx, person_id).await?);
        }
        Ok(out)
    }

    /// Every module's demo data, in module order.
    pub async fn seed_demo(&self, st: &AppState) -> AppResult<()> {
        for m in &self.modules {
            m.seed_demo(st).await?;
        }
        Ok(())
    }

    /// Hands each module its resolved configuration section.
    pub fn configure(&self, section: impl Fn(&dyn Module) -> Section) -> AppResult<()> {
        for m in &self.modules {
            m.configure(&section(m.as_ref()))?;
        }
        Ok(())
    }
}

/// A column holding values encrypted with the data key (`Keys::encrypt`): `keys rewrap`
/// re-encrypts every declared column, so a module that encrypts a column must declare it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptedColumn {
    pub table: &'static str,
    /// The integer primary key.
    pub id_column: &'static str,
    pub cipher_column: &'static str,
    pub nullable: bool,
}

/// Rows re-encrypted per transaction by [`rewrap`].
pub const REWRAP_BATCH: i64 = 500;

/// Re-encrypts every value of `columns` not under the current data key, in batches of
/// [`REWRAP_BATCH`] rows (one transaction each, so a large table never holds one long
/// write); returns how many values were re-encrypted.
pub async fn rewrap(db: &Db, keys: &Keys, columns: &[EncryptedColumn]) -> AppResult<usize> {
    let mut n = 0;
    for c in columns {
        n += rewrap_column(db, keys, c).await?;
    }
    Ok(n)
}

async fn rewrap_column(db: &Db, keys: &Keys, c: &EncryptedColumn) -> AppResult<usize> {
    let (t, id, col) = (c.table, c.id_column, c.cipher_column);
    let select = format!(
        "SELECT {id}, {col} FROM {t} WHERE {id} > $1 AND {col} IS NOT NULL ORDER BY {id} LIMIT $2"
    );
    let update = format!("UPDATE {t} SET {col} = $1 WHERE {id} = $2");
    let mut after = i64::MIN;
    let mut n = 0;
    loop {
        let rows: Vec<(i64, Vec<u8>)> = db.fetch_all(&select, args![after, REWRAP_BATCH]).await?;
        let Some((last, _)) = rows.last() else {
            return Ok(n);
        };
        after = *last;
        let stale: Vec<_> = rows
            .into_iter()
            .filter(|(_, b)| keys.needs_rewrap(b))
            .collect();
        if stale.is_empty() {
            continue;
        }
        let mut tx = db.begin().await?;
        for (row, blob) in &stale {
            let plain = keys.decrypt(blob)?;
            tx.execute(&update, args![keys.encrypt(&plain), *row])
                .await?;
        }
        tx.commit().await?;
        n += stale.len();
    }
}

/// Decrypts every value of `columns` (after a rotation and rewrap, with only the new key):
/// returns how many were read; the first value that cannot be read is an error.
pub async fn decrypt_all(db: &Db, keys: &Keys, columns: &[EncryptedColumn]) -> AppResult<usize> {
    let mut n = 0;
    for c in columns {
        let rows: Vec<(i64, Option<Vec<u8>>)> = db
            .fetch_all(
                &format!(
                    "SELECT {}, {} FROM {}",
                    c.id_column, c.cipher_column, c.table
                ),
                vec![],
            )
            .await?;
        for (_, blob) in rows {
            match blob {
                Some(b) => {
                    keys.decrypt(&b)?;
                    n += 1;
                }
                None if c.nullable => {}
                None => {
                    return Err(yiyang_core::AppError::internal(format!(
                        "{}.{} is empty but declared NOT NULL",
                        c.table, c.cipher_column
                    )));
                }
            }
        }
    }
    Ok(n)
}
