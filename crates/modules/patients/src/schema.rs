//! Tables of the person registry, the index's history and configuration, and the health record.

use yiyang_store::Migration;

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        id: "0003_patients",
        sql: r#"
CREATE TABLE persons (
    id {id},
    name TEXT NOT NULL,
    name_pinyin TEXT NOT NULL DEFAULT '',
    sex TEXT NOT NULL DEFAULT '',
    birth_date TEXT,
    id_cipher {blob},
    id_blind TEXT,
    insurance_no TEXT NOT NULL DEFAULT '',
    social_card_no TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    phone2 TEXT NOT NULL DEFAULT '',
    district TEXT NOT NULL DEFAULT '',
    town TEXT NOT NULL DEFAULT '',
    village TEXT NOT NULL DEFAULT '',
    address_detail TEXT NOT NULL DEFAULT '',
    living_situation TEXT NOT NULL DEFAULT '',
    home_org_id BIGINT REFERENCES orgs(id),
    status TEXT NOT NULL DEFAULT 'active',
    merged_into BIGINT REFERENCES persons(id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX persons_blind ON persons (id_blind);
CREATE INDEX persons_merged ON persons (merged_into);
CREATE INDEX persons_phone ON persons (phone);
CREATE INDEX persons_created ON persons (created_at);
CREATE TABLE person_orgs (
    person_id BIGINT NOT NULL REFERENCES persons(id),
    org_id BIGINT NOT NULL REFERENCES orgs(id),
    PRIMARY KEY (person_id, org_id)
);
CREATE INDEX person_orgs_org ON person_orgs (org_id);
CREATE TABLE person_identifiers (
    id {id},
    person_id BIGINT NOT NULL REFERENCES persons(id),
    org_id BIGINT NOT NULL REFERENCES orgs(id),
    id_type TEXT NOT NULL,
    value TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX person_identifiers_unique ON person_identifiers (org_id, id_type, value);
CREATE INDEX person_identifiers_person ON person_identifiers (person_id);
CREATE TABLE person_contacts (
    id {id},
    person_id BIGINT NOT NULL REFERENCES persons(id),
    name TEXT NOT NULL,
    relation TEXT NOT NULL,
    phone TEXT NOT NULL DEFAULT '',
    is_emergency BOOLEAN NOT NULL DEFAULT FALSE,
    account_id BIGINT REFERENCES accounts(id),
    can_view BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);
CREATE INDEX person_contacts_account ON person_contacts (account_id);
CREATE TABLE person_block_keys (
    person_id BIGINT NOT NULL REFERENCES persons(id),
    key BIGINT NOT NULL
);
CREATE INDEX person_block_keys_key ON person_block_keys (key);
CREATE INDEX person_block_keys_person ON person_block_keys (person_id);
CREATE TABLE mpi_events (
    id {id},
    kind TEXT NOT NULL,
    person_id BIGINT NOT NULL,
    other_id BIGINT,
    actor_login TEXT NOT NULL,
    at BIGINT NOT NULL,
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX mpi_events_person ON mpi_events (person_id);
CREATE TABLE mpi_reviews (
    id {id},
    person_id BIGINT NOT NULL REFERENCES persons(id),
    candidate_id BIGINT NOT NULL REFERENCES persons(id),
    probability {float} NOT NULL,
    weight {float} NOT NULL,
    explanation TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    created_at BIGINT NOT NULL,
    decided_by TEXT,
    decided_at BIGINT
);
CREATE INDEX mpi_reviews_status ON mpi_reviews (status);
CREATE TABLE mpi_configs (
    id {id},
    version TEXT NOT NULL UNIQUE,
    config TEXT NOT NULL,
    model TEXT NOT NULL DEFAULT '',
    active BOOLEAN NOT NULL DEFAULT FALSE,
    note TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    trained_at BIGINT
);
CREATE TABLE encounters (
    id {id},
    person_id BIGINT NOT NULL REFERENCES persons(id),
    org_id BIGINT NOT NULL REFERENCES orgs(id),
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    dept TEXT NOT NULL DEFAULT '',
    location TEXT NOT NULL DEFAULT '',
    attending TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    start_at BIGINT NOT NULL,
    end_at BIGINT,
    source TEXT NOT NULL DEFAULT '',
    source_id TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX encounters_person ON encounters (person_id, start_at);
CREATE TABLE encounter_events (
    id {id},
    encounter_id BIGINT NOT NULL REFERENCES encounters(id),
    kind TEXT NOT NULL,
    at BIGINT NOT NULL,
    from_location TEXT NOT NULL DEFAULT '',
    to_location TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE TABLE conditions (
    id {id},
    person_id BIGINT NOT NULL REFERENCES persons(id),
    org_id BIGINT NOT NULL REFERENCES orgs(id),
    encounter_id BIGINT REFERENCES encounters(id),
    system TEXT NOT NULL,
    code TEXT NOT NULL,
    display TEXT NOT NULL,
    category TEXT NOT NULL DEFAULT 'diagnosis',
    clinical_status TEXT NOT NULL DEFAULT 'active',
    onset TEXT,
    recorded_at BIGINT NOT NULL,
    source TEXT NOT NULL DEFAULT ''
);
CREATE INDEX conditions_person ON conditions (person_id);
CREATE TABLE observations (
    id {id},
    person_id BIGINT NOT NULL REFERENCES persons(id),
    org_id BIGINT NOT NULL REFERENCES orgs(id),
    encounter_id BIGINT REFERENCES encounters(id),
    category TEXT NOT NULL,
    system TEXT NOT NULL,
    code TEXT NOT NULL,
    display TEXT NOT NULL,
    value_num {float},
    value_text TEXT NOT NULL DEFAULT '',
    unit TEXT NOT NULL DEFAULT '',
    ref_low {float},
    ref_high {float},
    flag TEXT NOT NULL DEFAULT '',
    effective_at BIGINT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX observations_person ON observations (person_id, code, effective_at);
CREATE TABLE allergies (
    id {id},
    person_id BIGINT NOT NULL REFERENCES persons(id),
    org_id BIGINT NOT NULL REFERENCES orgs(id),
    substance TEXT NOT NULL,
    system TEXT NOT NULL DEFAULT '',
    code TEXT NOT NULL DEFAULT '',
    reaction TEXT NOT NULL DEFAULT '',
    severity TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'active',
    recorded_at BIGINT NOT NULL,
    source TEXT NOT NULL DEFAULT ''
);
CREATE INDEX allergies_person ON allergies (person_id);
CREATE TABLE medications (
    id {id},
    person_id BIGINT NOT NULL REFERENCES persons(id),
    org_id BIGINT NOT NULL REFERENCES orgs(id),
    kind TEXT NOT NULL,
    system TEXT NOT NULL DEFAULT '',
    code TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL,
    dose TEXT NOT NULL DEFAULT '',
    route TEXT NOT NULL DEFAULT '',
    frequency TEXT NOT NULL DEFAULT '',
    start_date TEXT,
    end_date TEXT,
    status TEXT NOT NULL DEFAULT 'active',
    recorded_at BIGINT NOT NULL,
    source TEXT NOT NULL DEFAULT ''
);
CREATE INDEX medications_person ON medications (person_id);
CREATE TABLE documents (
    id {id},
    person_id BIGINT NOT NULL REFERENCES persons(id),
    org_id BIGINT NOT NULL REFERENCES orgs(id),
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    mime TEXT NOT NULL,
    content {blob} NOT NULL,
    created_at BIGINT NOT NULL,
    source TEXT NOT NULL DEFAULT ''
);
CREATE INDEX documents_person ON documents (person_id);
"#,
    },
    Migration {
        id: "0009_patients_block_key_cover",
        // Candidate ranking groups block-key rows by person: cover it from the index.
        sql: r#"
CREATE INDEX person_block_keys_key_person ON person_block_keys (key, person_id);
DROP INDEX person_block_keys_key;
"#,
    },
    Migration {
        id: "0011_patients_block_keys_pk",
        // Block keys are written ~10 per new person: keyed by (key, person_id) itself (on
        // SQLite a WITHOUT ROWID table, one B-tree instead of a table and an index), and
        // without the foreign key, whose check cost a lookup of the person per row. The
        // rows are a derived index of `persons` (rebuilt when a configuration is activated),
        // written only with their person.
        sql: r#"
CREATE TABLE person_block_keys_v2 (
    key BIGINT NOT NULL,
    person_id BIGINT NOT NULL,
    PRIMARY KEY (key, person_id)
) {without_rowid};
INSERT INTO person_block_keys_v2 (key, person_id) SELECT DISTINCT key, person_id FROM person_block_keys;
DROP TABLE person_block_keys;
ALTER TABLE person_block_keys_v2 RENAME TO person_block_keys;
CREATE INDEX person_block_keys_person ON person_block_keys (person_id);
"#,
    },
];
