//! Permission names. A role is a set of these; handlers ask for exactly one.

pub const ORG_READ: &str = "org.read";
pub const ORG_WRITE: &str = "org.write";
pub const ORG_REVIEW: &str = "org.review";
pub const DEPT_READ: &str = "dept.read";
pub const DEPT_WRITE: &str = "dept.write";
pub const STAFF_READ: &str = "staff.read";
pub const STAFF_WRITE: &str = "staff.write";
pub const STAFF_REVIEW: &str = "staff.review";
pub const STAFF_READ_UNMASKED: &str = "staff.read_unmasked";
pub const PATIENT_READ: &str = "patient.read";
pub const PATIENT_WRITE: &str = "patient.write";
pub const PATIENT_READ_UNMASKED: &str = "patient.read_unmasked";
pub const PATIENT_MERGE: &str = "patient.merge";
pub const MPI_MANAGE: &str = "mpi.manage";
pub const ACCOUNT_READ: &str = "account.read";
pub const ACCOUNT_WRITE: &str = "account.write";
pub const ROLE_MANAGE: &str = "role.manage";
pub const CLIENT_MANAGE: &str = "client.manage";
pub const MASKING_MANAGE: &str = "masking.manage";
pub const AUDIT_READ: &str = "audit.read";
pub const JOBS_READ: &str = "jobs.read";
pub const JOBS_MANAGE: &str = "jobs.manage";
pub const INTEGRATION_READ: &str = "integration.read";
pub const INTEGRATION_MANAGE: &str = "integration.manage";
pub const CRITICAL_MANAGE: &str = "critical.manage";

/// Marks the roles of residents (elders and their families): their own records and those
/// they were authorised to see, never anyone else's. Not grantable to staff roles, so it is
/// not in [`ALL`].
pub const RESIDENT_SELF: &str = "resident.self";

/// Every permission with its zh-CN label, in display order.
pub const ALL: &[(&str, &str)] = &[
    (ORG_READ, "查看机构"),
    (ORG_WRITE, "录入/修改机构"),
    (ORG_REVIEW, "审核机构"),
    (DEPT_READ, "查看科室"),
    (DEPT_WRITE, "维护科室"),
    (STAFF_READ, "查看人员"),
    (STAFF_WRITE, "录入/修改人员"),
    (STAFF_REVIEW, "审核人员"),
    (STAFF_READ_UNMASKED, "查看人员明文信息"),
    (PATIENT_READ, "查看居民健康信息"),
    (PATIENT_WRITE, "记录居民健康信息"),
    (PATIENT_READ_UNMASKED, "查看居民明文信息"),
    (PATIENT_MERGE, "合并/拆分患者索引"),
    (MPI_MANAGE, "管理匹配规则与模型"),
    (ACCOUNT_READ, "查看账号"),
    (ACCOUNT_WRITE, "管理账号"),
    (ROLE_MANAGE, "管理角色"),
    (CLIENT_MANAGE, "管理接入客户端"),
    (MASKING_MANAGE, "管理脱敏算法与规则"),
    (AUDIT_READ, "查阅审计日志"),
    (JOBS_READ, "查看后台任务"),
    (JOBS_MANAGE, "管理后台任务"),
    (INTEGRATION_READ, "查看集成平台（接入、消息、监控）"),
    (INTEGRATION_MANAGE, "管理集成平台（接入通道、消息重放）"),
    (CRITICAL_MANAGE, "设置危急值通知规则"),
];

pub fn is_known(p: &str) -> bool {
    ALL.iter().any(|(name, _)| *name == p)
}

pub fn label(p: &str) -> &str {
    if p == RESIDENT_SELF {
        return "本人及授权查看的居民档案";
    }
    ALL.iter()
        .find(|(name, _)| *name == p)
        .map(|(_, l)| *l)
        .unwrap_or(p)
}
