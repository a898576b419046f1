//! Shared helpers for tool tests.

use tlink_tools::{Toolbox, ToolsConfig};

/// A configuration that allows loopback targets (every test server is on 127.0.0.1).
pub fn loopback_config() -> ToolsConfig {
    ToolsConfig { allow_private_targets: true, resolvers: vec!["127.0.0.1:1".into()], ..ToolsConfig::default() }
}

pub fn toolbox(config: ToolsConfig) -> Toolbox {
    Toolbox::new(config).expect("toolbox")
}
