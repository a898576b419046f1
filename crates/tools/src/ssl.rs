//! UNFINISHED: placeholder until the tool is written.

use crate::{RunOptions, Target, ToolError, Toolbox};

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SslResult {}

pub async fn run(_tb: &Toolbox, _target: &Target, _options: &RunOptions) -> Result<SslResult, ToolError> {
    Err(ToolError::Failed("not implemented yet".into()))
}
