//! UNFINISHED: placeholder until the tool is written.

use crate::{Target, ToolError, Toolbox};

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ThreatFeedResult {}

pub async fn run(_tb: &Toolbox, _target: &Target) -> Result<ThreatFeedResult, ToolError> {
    Err(ToolError::Failed("not implemented yet".into()))
}
