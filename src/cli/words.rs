//! The command line's words for the settings the library's errors name:
//! its options, so that an error says which one to give.

use msp_retarget::bulk::ManifestKeys;
use msp_retarget::{Setting, Wording};

/// Words settings as this command line's options.
pub struct Options;

impl Wording for Options {
    fn word(&self, setting: &Setting) -> Option<String> {
        Some(match setting {
            Setting::InPlace => "--in-place".into(),
            Setting::RedoInPlace => "an --in-place retarget or untarget of it".into(),
            Setting::Recover { file: None } => "`msp-retarget recover`".into(),
            Setting::Recover { file: Some(f) } => {
                format!("`msp-retarget recover {}`", f.display())
            }
            Setting::RetargetInstances | Setting::UntargetInstances | Setting::NewInstances => {
                "--instance".into()
            }
            Setting::InstanceBase { instance } => format!("--instance BASE={instance}"),
            Setting::InstancesWithIds => {
                "--instances-from PRODUCT.msi, or `ID {CODE}` lines in --instances-file".into()
            }
            Setting::ComponentIsolation | Setting::Isolation => "--isolate-components".into(),
            Setting::NoComponentIsolation => "--isolate-components none".into(),
            Setting::AllComponentIsolation => "--isolate-components all".into(),
            Setting::StripSignature | Setting::StripProductSignature => "--strip-signature".into(),
            Setting::BeyondTransformLimit => "--beyond-transform-limit".into(),
            Setting::Force => "--force".into(),
            Setting::NewInstanceCount => "--count".into(),
            Setting::UpgradeCodes => "--upgrade-code".into(),
            Setting::ProductName => "--product-name".into(),
            Setting::Property => "--property".into(),
            Setting::MstDir => "--mst-dir".into(),
            Setting::ProductSpec => "--product".into(),
            Setting::SequenceProducts => "--package, --product or --instances-from".into(),
            Setting::ProductPackage => "--package".into(),
            Setting::ProductInstances => "--instances-from".into(),
            Setting::Sequence => "`msp-retarget sequence`".into(),
            Setting::CheckDetails => "--details".into(),
            // A setting added to the library after this list: its API words.
            _ => return None,
        })
    }
}

/// Words settings as a manifest's keys where it has one, else as options:
/// what a bulk run's report says.
pub struct Manifest;

impl Wording for Manifest {
    fn word(&self, setting: &Setting) -> Option<String> {
        ManifestKeys.word(setting).or_else(|| Options.word(setting))
    }
}

/// Another wording's words escaped for a JSON string, for rewording a
/// JSON document's text.
pub struct Json<'a>(pub &'a dyn Wording);

impl Wording for Json<'_> {
    fn word(&self, setting: &Setting) -> Option<String> {
        let words = serde_json::to_string(&self.0.word(setting)?).ok()?;
        let inner = words.strip_prefix('"')?.strip_suffix('"')?;
        Some(inner.to_string())
    }
}
