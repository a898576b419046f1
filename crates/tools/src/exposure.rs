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

/// Parses a port list (`top100`, `all`, `22,80,8000-8100`).
///
/// # Errors
/// [`ToolError::InvalidInput`] naming the bad part.
pub fn parse_ports(_spec: &str) -> Result<Vec<u16>, ToolError> {
    Err(ToolError::InvalidInput("not implemented yet".into()))
}
