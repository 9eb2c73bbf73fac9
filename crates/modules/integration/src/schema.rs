//! Tables of the integration engine.

use yiyang_store::Migration;

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        id: "0004_integration",
        sql: r#"
CREATE TABLE hl7_channels (
    id {id},
    org_id BIGINT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL UNIQUE,
    port BIGINT NOT NULL UNIQUE,
    allowed_apps TEXT NOT NULL DEFAULT '',
    allowed_facilities TEXT NOT NULL DEFAULT '',
    message_types TEXT NOT NULL DEFAULT '',
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    max_connections BIGINT NOT NULL DEFAULT 8,
    read_timeout_secs BIGINT NOT NULL DEFAULT 30,
    listen_state TEXT NOT NULL DEFAULT 'stopped',
    listen_error TEXT NOT NULL DEFAULT '',
    listen_checked_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE hl7_messages (
    id {id},
    channel_id BIGINT NOT NULL REFERENCES hl7_channels(id),
    org_id BIGINT NOT NULL REFERENCES orgs(id),
    control_id TEXT NOT NULL DEFAULT '',
    msg_type TEXT NOT NULL DEFAULT '',
    trigger_event TEXT NOT NULL DEFAULT '',
    sending_app TEXT NOT NULL DEFAULT '',
    sending_facility TEXT NOT NULL DEFAULT '',
    version TEXT NOT NULL DEFAULT '',
    patient_key TEXT NOT NULL DEFAULT '',
    raw {blob} NOT NULL,
    status TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    ack_code TEXT NOT NULL DEFAULT '',
    ack_text TEXT,
    dedupe_key TEXT UNIQUE,
    duplicate_of BIGINT,
    attempts BIGINT NOT NULL DEFAULT 0,
    received_at BIGINT NOT NULL,
    processed_at BIGINT
);
CREATE INDEX hl7_messages_channel ON hl7_messages (channel_id, received_at);
CREATE INDEX hl7_messages_status ON hl7_messages (status, received_at);
CREATE INDEX hl7_messages_control ON hl7_messages (control_id);
CREATE TABLE hl7_message_events (
    id {id},
    message_id BIGINT NOT NULL REFERENCES hl7_messages(id),
    kind TEXT NOT NULL,
    actor_login TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    at BIGINT NOT NULL
);
CREATE INDEX hl7_message_events_msg ON hl7_message_events (message_id, at);
CREATE TABLE critical_alerts (
    id {id},
    message_id BIGINT NOT NULL REFERENCES hl7_messages(id),
    org_id BIGINT NOT NULL REFERENCES orgs(id),
    person_id BIGINT NOT NULL REFERENCES persons(id),
    observation_id BIGINT NOT NULL REFERENCES observations(id),
    department TEXT NOT NULL DEFAULT '',
    item TEXT NOT NULL,
    value_text TEXT NOT NULL DEFAULT '',
    flag TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open',
    acknowledged_by TEXT,
    acknowledged_at BIGINT,
    note TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX critical_alerts_org ON critical_alerts (org_id, status, created_at);
"#,
    },
    Migration {
        id: "0005_integration_orders",
        sql: r#"
CREATE TABLE orders (
    id {id},
    message_id BIGINT NOT NULL REFERENCES hl7_messages(id),
    org_id BIGINT NOT NULL REFERENCES orgs(id),
    person_id BIGINT NOT NULL REFERENCES persons(id),
    placer_no TEXT NOT NULL,
    filler_no TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    service_code TEXT NOT NULL DEFAULT '',
    service_text TEXT NOT NULL DEFAULT '',
    service_system TEXT NOT NULL DEFAULT '',
    priority TEXT NOT NULL DEFAULT '',
    ordering_provider TEXT NOT NULL DEFAULT '',
    ordered_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX orders_placer ON orders (org_id, placer_no);
CREATE TABLE appointments (
    id {id},
    message_id BIGINT NOT NULL REFERENCES hl7_messages(id),
    org_id BIGINT NOT NULL REFERENCES orgs(id),
    person_id BIGINT NOT NULL REFERENCES persons(id),
    appt_no TEXT NOT NULL,
    status TEXT NOT NULL,
    start_at BIGINT,
    end_at BIGINT,
    service TEXT NOT NULL DEFAULT '',
    location TEXT NOT NULL DEFAULT '',
    provider TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX appointments_no ON appointments (org_id, appt_no);
CREATE INDEX appointments_start ON appointments (org_id, start_at);
"#,
    },
    Migration {
        id: "0006_integration_observation_source",
        sql: r#"
CREATE INDEX observations_source ON observations (source);
CREATE INDEX critical_alerts_observation ON critical_alerts (observation_id);
"#,
    },
    Migration {
        id: "0007_integration_pipeline",
        sql: r#"
ALTER TABLE hl7_channels ADD COLUMN ack_mode TEXT NOT NULL DEFAULT 'commit';
ALTER TABLE hl7_channels ADD COLUMN tls_mode TEXT NOT NULL DEFAULT 'off';
ALTER TABLE hl7_channels ADD COLUMN tls_cert TEXT NOT NULL DEFAULT '';
ALTER TABLE hl7_channels ADD COLUMN tls_key TEXT NOT NULL DEFAULT '';
ALTER TABLE hl7_channels ADD COLUMN tls_client_ca TEXT NOT NULL DEFAULT '';
ALTER TABLE hl7_messages ADD COLUMN ack_id TEXT NOT NULL DEFAULT '';
CREATE INDEX hl7_messages_queue ON hl7_messages (id) WHERE status = 'received';
"#,
    },
    Migration {
        id: "0008_integration_subscriptions",
        sql: r#"
CREATE TABLE integration_subscriptions (
    id {id},
    org_id BIGINT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    host TEXT NOT NULL DEFAULT '',
    port BIGINT NOT NULL DEFAULT 0,
    url TEXT NOT NULL DEFAULT '',
    secret_cipher {blob},
    secret_hint TEXT NOT NULL DEFAULT '',
    events TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    max_attempts BIGINT NOT NULL DEFAULT 10,
    timeout_secs BIGINT NOT NULL DEFAULT 10,
    last_success_at BIGINT,
    last_error TEXT NOT NULL DEFAULT '',
    last_error_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX integration_subscriptions_name ON integration_subscriptions (org_id, name);
CREATE TABLE integration_deliveries (
    id {id},
    subscription_id BIGINT NOT NULL REFERENCES integration_subscriptions(id),
    event TEXT NOT NULL,
    message_id BIGINT,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_attempt_at BIGINT,
    locked_by TEXT,
    locked_until BIGINT,
    last_error TEXT NOT NULL DEFAULT '',
    last_response TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX integration_deliveries_queue ON integration_deliveries (subscription_id, status, id);
CREATE INDEX integration_deliveries_due ON integration_deliveries (status, next_attempt_at);
CREATE INDEX integration_deliveries_message ON integration_deliveries (message_id);
"#,
    },
    Migration {
        id: "0010_integration_lanes",
        // The processing bucket of a message (its patient's), so lanes split the queue
        // without splitting a patient.
        sql: r#"
ALTER TABLE hl7_messages ADD COLUMN lane BIGINT NOT NULL DEFAULT 0;
"#,
    },
    Migration {
        id: "0012_integration_channel_hours",
        // Messages received per channel and hour (written with the messages), so the
        // monitoring figures (total, today) read a few hundred counter rows instead of
        // counting millions of messages; and the failed messages (the error queue) in an
        // index of their own.
        sql: r#"
CREATE TABLE hl7_channel_hours (
    channel_id BIGINT NOT NULL,
    hour BIGINT NOT NULL,
    received BIGINT NOT NULL,
    PRIMARY KEY (channel_id, hour)
) {without_rowid};
INSERT INTO hl7_channel_hours (channel_id, hour, received)
SELECT channel_id, received_at - received_at % 3600000000, COUNT(*)
FROM hl7_messages GROUP BY channel_id, received_at - received_at % 3600000000;
CREATE INDEX hl7_messages_failed ON hl7_messages (channel_id, received_at) WHERE status IN ('error', 'rejected');
"#,
    },
    Migration {
        id: "0015_integration_critical_routing",
        // Where the patient lies and what the value means, on the alert itself; who was told
        // (and at which escalation level); the institutions' routing rules.
        sql: r#"
ALTER TABLE critical_alerts ADD COLUMN ward TEXT NOT NULL DEFAULT '';
ALTER TABLE critical_alerts ADD COLUMN bed TEXT NOT NULL DEFAULT '';
ALTER TABLE critical_alerts ADD COLUMN unit TEXT NOT NULL DEFAULT '';
ALTER TABLE critical_alerts ADD COLUMN ref_range TEXT NOT NULL DEFAULT '';
ALTER TABLE critical_alerts ADD COLUMN attending TEXT NOT NULL DEFAULT '';
ALTER TABLE critical_alerts ADD COLUMN level BIGINT NOT NULL DEFAULT 0;
ALTER TABLE critical_alerts ADD COLUMN notified TEXT NOT NULL DEFAULT '';
CREATE TABLE critical_routes (
    id {id},
    org_id BIGINT NOT NULL REFERENCES orgs(id),
    department TEXT NOT NULL DEFAULT '',
    step BIGINT NOT NULL,
    delay_minutes BIGINT NOT NULL,
    targets TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX critical_routes_org ON critical_routes (org_id, step);
"#,
    },
];
