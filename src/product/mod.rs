//! What is known of a product: its facts (ProductCode, version, language,
//! UpgradeCode) and the instances it defines.

pub mod facts;
pub mod instances;
