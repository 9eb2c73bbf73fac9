//! The platform's tables. Written once for both databases (see `yiyang_store::migrate`).

use yiyang_store::Migration;

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        id: "0001_platform",
        sql: r#"
CREATE TABLE orgs (
    id {id},
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    level TEXT NOT NULL DEFAULT '',
    district TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    beds BIGINT NOT NULL DEFAULT 0,
    service_scope TEXT NOT NULL DEFAULT '',
    licence_no TEXT NOT NULL DEFAULT '',
    licence_expiry TEXT,
    status TEXT NOT NULL,
    review_note TEXT NOT NULL DEFAULT '',
    reviewed_by BIGINT,
    reviewed_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE accounts (
    id {id},
    login TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    org_id BIGINT REFERENCES orgs(id),
    phone TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    must_change_password BOOLEAN NOT NULL DEFAULT FALSE,
    failed_attempts BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT,
    status TEXT NOT NULL DEFAULT 'active',
    large_text BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    password_changed_at BIGINT NOT NULL
);
CREATE TABLE roles (
    id {id},
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    builtin BOOLEAN NOT NULL DEFAULT FALSE,
    city_wide BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE TABLE role_permissions (
    role_id BIGINT NOT NULL REFERENCES roles(id),
    permission TEXT NOT NULL,
    PRIMARY KEY (role_id, permission)
);
CREATE TABLE account_roles (
    id {id},
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    role_id BIGINT NOT NULL REFERENCES roles(id),
    org_id BIGINT REFERENCES orgs(id)
);
CREATE UNIQUE INDEX account_roles_unique ON account_roles (account_id, role_id, org_id);
CREATE TABLE sessions (
    id {id},
    token_hash TEXT NOT NULL UNIQUE,
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    revoked_at BIGINT,
    client_addr TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_account ON sessions (account_id);
CREATE TABLE oauth_clients (
    id {id},
    client_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    scopes TEXT NOT NULL,
    org_id BIGINT REFERENCES orgs(id),
    status TEXT NOT NULL DEFAULT 'active',
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    last_token_at BIGINT
);
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id BIGINT NOT NULL,
    actor_login TEXT NOT NULL,
    role TEXT NOT NULL,
    org_id BIGINT,
    action TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    client_addr TEXT NOT NULL,
    outcome TEXT NOT NULL,
    purpose TEXT NOT NULL,
    request_id TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_at ON audit_log (at);
CREATE INDEX audit_actor ON audit_log (actor_login);
CREATE INDEX audit_resource ON audit_log (resource_type, resource_id);
CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY,
    last_seq BIGINT NOT NULL,
    last_hash TEXT NOT NULL
);
INSERT INTO audit_head (id, last_seq, last_hash) VALUES (1, 0, 'genesis');
CREATE TABLE mask_algorithms (
    id {id},
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    keep_head BIGINT NOT NULL DEFAULT 0,
    keep_tail BIGINT NOT NULL DEFAULT 0,
    replacement TEXT NOT NULL DEFAULT '*',
    builtin BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at BIGINT NOT NULL
);
CREATE TABLE mask_rules (
    id {id},
    field_kind TEXT NOT NULL,
    role_code TEXT NOT NULL,
    algorithm_id BIGINT NOT NULL REFERENCES mask_algorithms(id),
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    version BIGINT NOT NULL DEFAULT 1,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX mask_rules_unique ON mask_rules (field_kind, role_code);
CREATE TABLE jobs (
    id {id},
    kind TEXT NOT NULL,
    payload TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL,
    run_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL DEFAULT 5,
    last_error TEXT NOT NULL DEFAULT '',
    locked_by TEXT NOT NULL DEFAULT '',
    locked_until BIGINT,
    schedule TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX jobs_due ON jobs (status, run_at);
CREATE TABLE job_schedules (
    id {id},
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    cron TEXT NOT NULL,
    payload TEXT NOT NULL DEFAULT '{}',
    next_run_at BIGINT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT TRUE
);
CREATE TABLE outbox (
    id {id},
    channel TEXT NOT NULL,
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    link TEXT NOT NULL DEFAULT '',
    dedupe_key TEXT,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE UNIQUE INDEX outbox_dedupe ON outbox (dedupe_key);
CREATE TABLE inbox (
    id {id},
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    link TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    read_at BIGINT
);
CREATE INDEX inbox_account ON inbox (account_id, created_at);
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"#,
    },
    Migration {
        // Failed logins for names that are not accounts, counted like real ones, so that
        // answers never tell whether a login exists.
        id: "0013_platform_login_failures",
        sql: r#"
CREATE TABLE login_failures (
    login_key TEXT PRIMARY KEY,
    failed_attempts BIGINT NOT NULL,
    locked_until BIGINT,
    last_at BIGINT NOT NULL
);
"#,
    },
];
