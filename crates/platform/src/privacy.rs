//! The audited read of one record that may be asked for in plain text: the unmask request
//! is checked (permission in scope + a stated purpose; a refusal is audited as denied), the
//! caller gets the masker for the answer, and the read is audited with its purpose.

use crate::audit::AuditEntry;
use crate::masking::{Masker, Unmask};
use crate::web::AppState;
use yiyang_core::{AppResult, RequestContext};

/// What is read: audit actions for a masked and an unmasked read, the resource, and the
/// institution whose data it is.
#[derive(Debug, Clone, Copy)]
pub struct RecordRead<'a> {
    pub action: &'a str,
    pub unmasked_action: &'a str,
    pub resource: &'a str,
    pub id: i64,
    pub org: Option<i64>,
}

/// An unmask request that passed: the masker to present the record with and the purpose.
pub struct OpenRead<'a> {
    pub masker: Masker,
    pub purpose: Option<String>,
    read: RecordRead<'a>,
}

impl<'a> RecordRead<'a> {
    /// Checks `um` (`allowed`: the caller holds `permission` for this record); a refusal is
    /// audited as a denied unmasked read and returned.
    pub async fn open(
        self,
        st: &AppState,
        ctx: &RequestContext,
        um: &Unmask,
        allowed: bool,
        permission: &str,
    ) -> AppResult<OpenRead<'a>> {
        let purpose = match um.purpose(allowed, permission) {
            Ok(p) => p,
            Err(e) => {
                st.audit
                    .record(
                        AuditEntry::new(ctx, self.unmasked_action, self.resource, self.id)
                            .org(self.org)
                            .outcome("denied"),
                    )
                    .await;
                return Err(e);
            }
        };
        let masker = st.masking.masker(ctx, purpose.is_some()).await?;
        Ok(OpenRead {
            masker,
            purpose,
            read: self,
        })
    }
}

impl OpenRead<'_> {
    pub fn unmasked(&self) -> bool {
        self.purpose.is_some()
    }

    /// Audits the read (unmasked reads with their purpose).
    pub async fn audit(&self, st: &AppState, ctx: &RequestContext) {
        let r = &self.read;
        let action = if self.unmasked() {
            r.unmasked_action
        } else {
            r.action
        };
        st.audit
            .record(
                AuditEntry::new(ctx, action, r.resource, r.id)
                    .org(r.org)
                    .purpose(self.purpose.as_deref().unwrap_or("")),
            )
            .await;
    }
}
