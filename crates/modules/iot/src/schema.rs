//! Tables of the IoT module (物联网监测与设备管理).
//!
//! Timestamps are microseconds (UTC) like everywhere else. A reading is one row with all its
//! vitals and is unique on (device, measured time), so a redelivered uplink stores nothing twice.

use yiyang_store::Migration;

pub const MIGRATIONS: &[Migration] = &[Migration {
    id: "0016_iot",
    sql: r#"
CREATE TABLE iot_models (
    id {id},
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    vendor TEXT NOT NULL DEFAULT '',
    spec TEXT NOT NULL DEFAULT '',
    latest_firmware TEXT NOT NULL DEFAULT '',
    calibration_days BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE TABLE iot_devices (
    id {id},
    org_id BIGINT NOT NULL REFERENCES orgs(id),
    model_id BIGINT NOT NULL REFERENCES iot_models(id),
    serial TEXT NOT NULL UNIQUE,
    nfc_uid TEXT UNIQUE,
    name TEXT NOT NULL DEFAULT '',
    firmware TEXT NOT NULL DEFAULT '',
    acquisition TEXT NOT NULL DEFAULT 'purchase',
    purchased_on TEXT,
    rental_contract TEXT NOT NULL DEFAULT '',
    rental_until TEXT,
    status TEXT NOT NULL DEFAULT 'active',
    zone_id BIGINT,
    battery BIGINT,
    signal BIGINT,
    last_seen_at BIGINT,
    calibrated_on TEXT,
    calibration_due TEXT,
    secret_hash TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX iot_devices_org ON iot_devices (org_id, status);
CREATE TABLE iot_bindings (
    id {id},
    device_id BIGINT NOT NULL REFERENCES iot_devices(id),
    org_id BIGINT NOT NULL REFERENCES orgs(id),
    person_id BIGINT,
    ward TEXT NOT NULL DEFAULT '',
    bed TEXT NOT NULL DEFAULT '',
    bound_at BIGINT NOT NULL,
    bound_by TEXT NOT NULL,
    unbound_at BIGINT,
    unbound_by TEXT
);
CREATE INDEX iot_bindings_device ON iot_bindings (device_id, bound_at);
CREATE INDEX iot_bindings_person ON iot_bindings (person_id, bound_at);
CREATE TABLE iot_readings (
    id {id},
    device_id BIGINT NOT NULL,
    org_id BIGINT NOT NULL,
    person_id BIGINT,
    measured_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    hr {float},
    spo2 {float},
    sbp {float},
    dbp {float},
    temp {float},
    rr {float},
    glu {float},
    steps BIGINT,
    battery BIGINT,
    UNIQUE (device_id, measured_at)
);
CREATE INDEX iot_readings_person ON iot_readings (person_id, measured_at);
CREATE INDEX iot_readings_org ON iot_readings (org_id, measured_at);
CREATE TABLE iot_observations (
    id {id},
    person_id BIGINT NOT NULL,
    org_id BIGINT NOT NULL,
    rr {float},
    avpu TEXT,
    on_oxygen BOOLEAN,
    news2_scale2 BOOLEAN NOT NULL DEFAULT FALSE,
    observed_at BIGINT NOT NULL,
    observed_by TEXT NOT NULL
);
CREATE INDEX iot_observations_person ON iot_observations (person_id, observed_at);
CREATE TABLE iot_alarms (
    id {id},
    org_id BIGINT NOT NULL,
    person_id BIGINT,
    device_id BIGINT,
    kind TEXT NOT NULL,
    rule_code TEXT NOT NULL DEFAULT '',
    priority TEXT NOT NULL,
    status TEXT NOT NULL,
    title TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    ward TEXT NOT NULL DEFAULT '',
    bed TEXT NOT NULL DEFAULT '',
    active_key TEXT UNIQUE,
    raised_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    acked_at BIGINT,
    acked_by TEXT,
    resolved_at BIGINT,
    resolved_by TEXT,
    notified BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX iot_alarms_org ON iot_alarms (org_id, status, raised_at);
CREATE TABLE iot_alarm_events (
    id {id},
    alarm_id BIGINT NOT NULL REFERENCES iot_alarms(id),
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    at BIGINT NOT NULL
);
CREATE INDEX iot_alarm_events_alarm ON iot_alarm_events (alarm_id, at);
CREATE TABLE iot_rule_sets (
    id {id},
    org_id BIGINT,
    version BIGINT NOT NULL,
    body TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    active BOOLEAN NOT NULL DEFAULT FALSE,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE iot_person_settings (
    person_id BIGINT PRIMARY KEY,
    org_id BIGINT NOT NULL,
    news2_scale2 BOOLEAN NOT NULL DEFAULT FALSE,
    thresholds TEXT NOT NULL DEFAULT '{}',
    updated_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE iot_zones (
    id {id},
    org_id BIGINT NOT NULL REFERENCES orgs(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    floor TEXT NOT NULL DEFAULT '',
    restricted BOOLEAN NOT NULL DEFAULT FALSE,
    allowed_roles TEXT NOT NULL DEFAULT '',
    shape TEXT NOT NULL DEFAULT '[]',
    UNIQUE (org_id, code)
);
CREATE TABLE iot_presence (
    id {id},
    device_id BIGINT NOT NULL,
    org_id BIGINT NOT NULL,
    person_id BIGINT,
    zone_id BIGINT NOT NULL,
    entered_at BIGINT NOT NULL,
    left_at BIGINT
);
CREATE INDEX iot_presence_person ON iot_presence (person_id, entered_at);
CREATE TABLE iot_geofences (
    id {id},
    org_id BIGINT NOT NULL,
    person_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    polygon TEXT NOT NULL,
    min_outside BIGINT NOT NULL DEFAULT 3,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL
);
CREATE TABLE iot_gps_fixes (
    id {id},
    device_id BIGINT NOT NULL,
    org_id BIGINT NOT NULL,
    person_id BIGINT,
    at BIGINT NOT NULL,
    lat {float} NOT NULL,
    lon {float} NOT NULL,
    accuracy {float},
    outside BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (device_id, at)
);
CREATE TABLE iot_nfc_scans (
    id {id},
    org_id BIGINT NOT NULL,
    reader_id BIGINT NOT NULL,
    tag_uid TEXT NOT NULL,
    device_id BIGINT,
    person_id BIGINT,
    purpose TEXT NOT NULL DEFAULT '',
    at BIGINT NOT NULL,
    UNIQUE (reader_id, tag_uid, at)
);
CREATE INDEX iot_nfc_person ON iot_nfc_scans (person_id, at);
CREATE TABLE iot_dead_letters (
    id {id},
    org_id BIGINT,
    source TEXT NOT NULL,
    topic TEXT NOT NULL DEFAULT '',
    reason_code TEXT NOT NULL,
    reason TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE INDEX iot_dead_letters_at ON iot_dead_letters (received_at);
CREATE TABLE iot_maintenance_plans (
    id {id},
    model_id BIGINT NOT NULL REFERENCES iot_models(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    interval_days BIGINT NOT NULL,
    content TEXT NOT NULL DEFAULT '',
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL
);
CREATE TABLE iot_work_orders (
    id {id},
    plan_id BIGINT REFERENCES iot_maintenance_plans(id),
    device_id BIGINT NOT NULL REFERENCES iot_devices(id),
    org_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    due_on TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open',
    done_at BIGINT,
    done_by TEXT,
    notes TEXT NOT NULL DEFAULT '',
    parts TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    UNIQUE (plan_id, device_id, due_on)
);
CREATE INDEX iot_work_orders_org ON iot_work_orders (org_id, status, due_on);
CREATE TABLE iot_fw_campaigns (
    id {id},
    org_id BIGINT NOT NULL,
    model_id BIGINT NOT NULL REFERENCES iot_models(id),
    from_version TEXT NOT NULL DEFAULT '',
    to_version TEXT NOT NULL,
    package_url TEXT NOT NULL DEFAULT '',
    sha256 TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'draft',
    max_failure_pct BIGINT NOT NULL DEFAULT 10,
    note TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT
);
CREATE TABLE iot_fw_targets (
    id {id},
    campaign_id BIGINT NOT NULL REFERENCES iot_fw_campaigns(id),
    device_id BIGINT NOT NULL REFERENCES iot_devices(id),
    status TEXT NOT NULL DEFAULT 'pending',
    command_id TEXT NOT NULL,
    sent_at BIGINT,
    acked_at BIGINT,
    result TEXT NOT NULL DEFAULT '',
    version TEXT NOT NULL DEFAULT '',
    UNIQUE (campaign_id, device_id)
);
CREATE INDEX iot_fw_targets_cmd ON iot_fw_targets (command_id);
"#,
}];
