//! Reports that read several domains (lab progress and assessments) and belong to neither, so that
//! the domains never import each other for them.

pub mod dashboard;
pub mod gradebook;
pub mod standing;
