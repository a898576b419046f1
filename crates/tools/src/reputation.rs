//! UNFINISHED: placeholder until the tool is written.

use crate::{Target, ToolError, Toolbox};

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ReputationResult {}

pub async fn run(_tb: &Toolbox, _target: &Target) -> Result<ReputationResult, ToolError> {
    Err(ToolError::Failed("not implemented yet".into()))
}
