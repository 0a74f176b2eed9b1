//! What is known of a product: its facts (ProductCode, version, language,
//! UpgradeCode), the instances it defines and, for an edit of them, the
//! database read whole enough to write instance transforms against it.

pub mod database;
pub mod facts;
pub mod instances;
