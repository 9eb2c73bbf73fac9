//! Tables of the base-data module (institutions live in the platform schema).

use yiyang_store::Migration;

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        id: "0002_basedata",
        sql: r#"
CREATE TABLE departments (
    id {id},
    org_id BIGINT NOT NULL REFERENCES orgs(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'clinical',
    phone TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'active',
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX departments_code ON departments (org_id, code);
CREATE TABLE staff (
    id {id},
    org_id BIGINT NOT NULL REFERENCES orgs(id),
    dept_id BIGINT REFERENCES departments(id),
    name TEXT NOT NULL,
    sex TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    id_cipher {blob} NOT NULL,
    id_blind TEXT NOT NULL,
    phone TEXT NOT NULL DEFAULT '',
    profession TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    qualification_no TEXT NOT NULL DEFAULT '',
    licence_no TEXT NOT NULL DEFAULT '',
    licence_expiry TEXT,
    licence_warned_on TEXT,
    status TEXT NOT NULL,
    review_note TEXT NOT NULL DEFAULT '',
    reviewed_by BIGINT,
    reviewed_at BIGINT,
    account_id BIGINT REFERENCES accounts(id),
    deleted_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX staff_blind_org ON staff (org_id, id_blind);
CREATE INDEX staff_org ON staff (org_id, status);
CREATE INDEX staff_expiry ON staff (licence_expiry);
"#,
    },
    Migration {
        // Who sent a record for review: they are told the result and may not review it themselves.
        id: "0014_basedata_submitted_by",
        sql: r#"
ALTER TABLE orgs ADD COLUMN submitted_by BIGINT;
ALTER TABLE staff ADD COLUMN submitted_by BIGINT;
"#,
    },
];
