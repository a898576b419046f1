//! The parts of the `tlink` binary that read files from the host it runs on: the agent's inventory readers
//! (os-release, dpkg, apk, rpm, `/proc/net`) and the Berkeley DB reader behind rpm's `Packages` database.
//!
//! They are a library so that the fuzz targets (`fuzz/`) and the property tests (`tests/props.rs`) can feed
//! them arbitrary bytes; the binary (`main.rs`) uses them from here.

#![forbid(unsafe_code)]

pub mod agent;
pub mod bdb;
