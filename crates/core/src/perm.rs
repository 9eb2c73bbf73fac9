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
/// they were authorised to see, never anyone else's. A role marker (declared by the patients
/// module as such): not grantable in the role editor, not held by staff roles or the system.
pub const RESIDENT_SELF: &str = "resident.self";

/// The permissions of the running platform: the union of what its modules declare
/// (`yiyang_platform::module::Registry` registers them at start), in registration order.
static REGISTERED: std::sync::RwLock<Vec<(&'static str, &'static str)>> =
    std::sync::RwLock::new(Vec::new());

/// Adds permissions (name, zh-CN label); a name already registered keeps its first label.
pub fn register(perms: &[(&'static str, &'static str)]) {
    let mut all = REGISTERED.write().unwrap_or_else(|e| e.into_inner());
    for (name, label) in perms {
        if !all.iter().any(|(n, _)| n == name) {
            all.push((name, label));
        }
    }
}

/// Every registered permission with its zh-CN label, in display order.
pub fn all() -> Vec<(&'static str, &'static str)> {
    REGISTERED.read().unwrap_or_else(|e| e.into_inner()).clone()
}

pub fn is_known(p: &str) -> bool {
    all().iter().any(|(name, _)| *name == p)
}

pub fn label(p: &str) -> String {
    if p == RESIDENT_SELF {
        return "本人及授权查看的居民档案".into();
    }
    all()
        .iter()
        .find(|(name, _)| *name == p)
        .map(|(_, l)| l.to_string())
        .unwrap_or_else(|| p.to_string())
}
