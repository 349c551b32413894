//! The scheduled report's machinery: which windows a run owes and the state between runs
//! (`state`), one window's reports and manifest (`window`), and publishing its directory whole
//! (`publish`). The `report` command drives it.

pub mod manifest;
pub mod publish;
pub mod state;
pub mod window;
