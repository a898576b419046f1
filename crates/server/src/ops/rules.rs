//! Alert rules: rotate a rule's webhook signing secret.

use tlink_domain::RuleId;
use tlink_store::RuleRow;
use tlink_tools::notify::WebhookSecret;

use super::{Member, OpError, OpResult};
use crate::AppState;

/// Replaces the webhook signing secret of a rule with a webhook. Returns the rule and the new secret,
/// which is stored sealed and shown this once; deliveries from now on (retries of earlier alerts
/// included) are signed with it.
pub async fn rotate_webhook_secret(state: &AppState, member: &Member, id: &RuleId) -> OpResult<(RuleRow, String)> {
    member.require_write()?;
    let current = state.store.get_rule(&member.org_id, id).await?.ok_or(OpError::NotFound("alert rule"))?;
    if current.webhook_url.is_none() {
        return Err(OpError::field("webhookUrl", "the rule has no webhook; set webhookUrl first"));
    }
    // A rule whose stored JSON is corrupt fails here, before its secret is replaced by one never shown.
    crate::documents::rule_snapshot(&current)?;
    let secret = WebhookSecret::generate();
    let mut fields = current.fields();
    fields.webhook_secret = Some(state.sealer.seal(secret.as_str()));
    let row = state.store.update_rule(&member.org_id, id, fields).await?.ok_or(OpError::NotFound("alert rule"))?;
    Ok((row, secret.as_str().to_string()))
}
