//! UNFINISHED: placeholder until the tool is written.

use crate::{Progress, RunOptions, Target, ToolError, Toolbox};

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ExposureResult {}

pub async fn run(
    _tb: &Toolbox,
    _target: &Target,
    _options: &RunOptions,
    _progress: &dyn Progress,
) -> Result<ExposureResult, ToolError> {
    Err(ToolError::Failed("not implemented yet".into()))
}
