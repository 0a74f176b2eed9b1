//! The settings of a request an error may name, as values: the library
//! words them by its API names, a front end by its own (options, manifest
//! keys), so that a library caller never reads of an option it cannot give.

use std::ops::Range;
use std::path::PathBuf;

/// A setting of a request that an error's reason names: the one at fault,
/// or the one that would get past the error (its remedy).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Setting {
    /// Edit the input itself ([`crate::Destination::InPlace`]).
    InPlace,
    /// Complete an interrupted in-place edit again: an in-place retarget
    /// or untarget of the file.
    RedoInPlace,
    /// Complete or discard an interrupted in-place edit with
    /// [`crate::recover`], of `file` when named.
    Recover {
        /// The file to recover, when the reason names it.
        file: Option<PathBuf>,
    },
    /// The instances of a retarget ([`crate::RetargetRequest::instances`]).
    RetargetInstances,
    /// The instances of an untarget ([`crate::UntargetRequest::instances`]).
    UntargetInstances,
    /// The base product of `instance` ([`crate::InstanceRequest::base`]).
    InstanceBase {
        /// The instance whose base is asked for: its product code, braced
        /// (text, so that errors stay below the formats they report on).
        instance: String,
    },
    /// Instances given with their ids: read from a product's instance
    /// transforms, or `ID {CODE}` lines of a list file.
    InstancesWithIds,
    /// Which components a retarget isolates
    /// ([`crate::PlanOptions::isolation`]).
    ComponentIsolation,
    /// Isolate no component ([`crate::ComponentIsolation::None`]).
    NoComponentIsolation,
    /// Isolate every component a patch adds
    /// ([`crate::ComponentIsolation::All`]).
    AllComponentIsolation,
    /// Remove a patch's signature ([`crate::PlanOptions::strip_signature`]).
    StripSignature,
    /// Allow more transforms than Windows Installer documents
    /// ([`crate::PlanOptions::beyond_transform_limit`]).
    BeyondTransformLimit,
    /// Remove an original target anyway ([`crate::UntargetRequest::force`]).
    Force,
    /// The instances an `instances add` adds
    /// ([`crate::InstancesAddRequest::instances`]).
    NewInstances,
    /// How many numbered instances to add
    /// ([`crate::NewInstanceRequest::numbered`]).
    NewInstanceCount,
    /// Which components new instances isolate ([`crate::AddOptions::isolate`]).
    Isolation,
    /// The new instances' own UpgradeCodes
    /// ([`crate::AddOptions::upgrade_codes`]).
    UpgradeCodes,
    /// The new instances' ProductName template
    /// ([`crate::AddOptions::product_name`]).
    ProductName,
    /// The property that holds the instance id
    /// ([`crate::AddOptions::property`]).
    Property,
    /// The folder for stand-alone transforms
    /// ([`crate::InstancesAddRequest::mst_dir`]).
    MstDir,
    /// Remove a product's signature (`strip_signature` of an `instances`
    /// request).
    StripProductSignature,
    /// A product's facts given by hand ([`crate::ProductFacts::parse_spec`]).
    ProductSpec,
    /// The products a sequence is computed for
    /// ([`crate::SequenceRequest::products`]).
    SequenceProducts,
    /// A product's facts read from its package
    /// ([`crate::ProductFacts::from_package`]).
    ProductPackage,
    /// The facts of every instance a product defines
    /// ([`crate::ProductFacts::instances_of`]).
    ProductInstances,
    /// Which patches apply in which order ([`crate::sequence_files`]).
    Sequence,
    /// Every pair of a check, not only those of the products the patch
    /// does not apply to (a [`crate::report::check::CheckReport`] before
    /// `brief`).
    CheckDetails,
}

impl Setting {
    /// The setting's words in the library's own terms: the API item that
    /// holds it.
    pub fn api_words(&self) -> String {
        match self {
            Setting::InPlace => "`Destination::InPlace`".into(),
            Setting::RedoInPlace => {
                "an in-place retarget or untarget of it (`Destination::InPlace`)".into()
            }
            Setting::Recover { file: None } => "`recover`".into(),
            Setting::Recover { file: Some(f) } => format!("`recover` on {}", f.display()),
            Setting::RetargetInstances => "`RetargetRequest::instances`".into(),
            Setting::UntargetInstances => "`UntargetRequest::instances`".into(),
            Setting::InstanceBase { .. } => "`InstanceRequest::base`".into(),
            Setting::InstancesWithIds => "`instances::from_product`, or `ID {CODE}` lines read by \
                                          `instances::from_list_file`"
                .into(),
            Setting::ComponentIsolation => "`PlanOptions::isolation`".into(),
            Setting::NoComponentIsolation => "`ComponentIsolation::None`".into(),
            Setting::AllComponentIsolation => "`ComponentIsolation::All`".into(),
            Setting::StripSignature => "`PlanOptions::strip_signature`".into(),
            Setting::BeyondTransformLimit => "`PlanOptions::beyond_transform_limit`".into(),
            Setting::Force => "`UntargetRequest::force`".into(),
            Setting::NewInstances => "`InstancesAddRequest::instances`".into(),
            Setting::NewInstanceCount => "the count of `NewInstanceRequest::numbered`".into(),
            Setting::Isolation => "`AddOptions::isolate`".into(),
            Setting::UpgradeCodes => "`AddOptions::upgrade_codes`".into(),
            Setting::ProductName => "`AddOptions::product_name`".into(),
            Setting::Property => "`AddOptions::property`".into(),
            Setting::MstDir => "`InstancesAddRequest::mst_dir`".into(),
            Setting::StripProductSignature => "the request's `strip_signature`".into(),
            Setting::ProductSpec => "`ProductFacts::parse_spec`".into(),
            Setting::SequenceProducts => "`SequenceRequest::products`".into(),
            Setting::ProductPackage => "`ProductFacts::from_package`".into(),
            Setting::ProductInstances => "`ProductFacts::instances_of`".into(),
            Setting::Sequence => "`sequence_files`".into(),
            Setting::CheckDetails => "an unabridged `CheckReport`".into(),
        }
    }

    /// The settings that carry no value, longest API words first: those a
    /// report's texts may name ([`reword`]).
    fn plain() -> Vec<Setting> {
        let mut all = vec![
            Setting::InPlace,
            Setting::RedoInPlace,
            Setting::Recover { file: None },
            Setting::RetargetInstances,
            Setting::UntargetInstances,
            Setting::InstancesWithIds,
            Setting::ComponentIsolation,
            Setting::NoComponentIsolation,
            Setting::AllComponentIsolation,
            Setting::StripSignature,
            Setting::BeyondTransformLimit,
            Setting::Force,
            Setting::NewInstances,
            Setting::NewInstanceCount,
            Setting::Isolation,
            Setting::UpgradeCodes,
            Setting::ProductName,
            Setting::Property,
            Setting::MstDir,
            Setting::StripProductSignature,
            Setting::ProductSpec,
            Setting::SequenceProducts,
            Setting::ProductPackage,
            Setting::ProductInstances,
            Setting::Sequence,
            Setting::CheckDetails,
        ];
        all.sort_by_key(|s| std::cmp::Reverse(s.api_words().len()));
        all
    }
}

/// A rendered report (text for people, or JSON) with the settings its
/// texts name in `wording`'s words. Reports are data, so their texts
/// (findings, reasons, where facts come from) name settings by their API
/// words, written with [`Setting::api_words`]; those are backquoted API
/// paths that no other text of a report holds, so a front end finds them
/// exactly. Errors carry their settings as values instead
/// ([`crate::Error::worded`]).
pub fn reword(text: &str, wording: &dyn Wording) -> String {
    // Every API words hold a backquote: most reports have none to word.
    if !text.contains('`') {
        return text.to_string();
    }
    let mut out = text.to_string();
    for setting in Setting::plain() {
        let api = setting.api_words();
        if out.contains(&api)
            && let Some(words) = wording.word(&setting)
        {
            out = out.replace(&api, &words);
        }
    }
    out
}

/// A front end's names for the settings: its options, its manifest keys.
pub trait Wording {
    /// The words for `setting`, or `None` to keep its API words
    /// ([`Setting::api_words`]).
    fn word(&self, setting: &Setting) -> Option<String>;
}

/// The library's own words: every setting by its API words.
pub struct ApiWords;

impl Wording for ApiWords {
    fn word(&self, _: &Setting) -> Option<String> {
        None
    }
}

/// The reason of an error: its text, with the settings it names (where
/// their words sit in the text, and which they are) so that a front end
/// can word them its own way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reason {
    text: String,
    settings: Vec<(Range<usize>, Setting)>,
}

impl Reason {
    /// A reason that starts with `text`.
    pub fn new(text: impl Into<String>) -> Reason {
        Reason {
            text: text.into(),
            settings: Vec::new(),
        }
    }

    /// Appends text.
    pub fn and(mut self, text: impl AsRef<str>) -> Reason {
        self.text.push_str(text.as_ref());
        self
    }

    /// Appends a setting, worded by its API words until a front end words
    /// it.
    pub fn then(mut self, setting: Setting) -> Reason {
        let start = self.text.len();
        self.text.push_str(&setting.api_words());
        self.settings.push((start..self.text.len(), setting));
        self
    }

    /// The text, settings in their API words.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The settings named, in order.
    pub fn settings(&self) -> impl Iterator<Item = &Setting> {
        self.settings.iter().map(|(_, s)| s)
    }

    /// The text with each setting in `wording`'s words.
    pub fn worded(&self, wording: &dyn Wording) -> String {
        let mut out = String::with_capacity(self.text.len());
        let mut at = 0;
        for (range, setting) in &self.settings {
            out.push_str(self.text.get(at..range.start).unwrap_or_default());
            match wording.word(setting) {
                Some(words) => out.push_str(&words),
                None => out.push_str(self.text.get(range.clone()).unwrap_or_default()),
            }
            at = range.end;
        }
        out.push_str(self.text.get(at..).unwrap_or_default());
        out
    }
}

impl From<String> for Reason {
    fn from(text: String) -> Reason {
        Reason::new(text)
    }
}

impl From<&String> for Reason {
    fn from(text: &String) -> Reason {
        Reason::new(text.clone())
    }
}

impl From<&str> for Reason {
    fn from(text: &str) -> Reason {
        Reason::new(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Options;
    impl Wording for Options {
        fn word(&self, setting: &Setting) -> Option<String> {
            match setting {
                Setting::InPlace => Some("--in-place".into()),
                Setting::RedoInPlace => Some("another edit in place".into()),
                _ => None,
            }
        }
    }

    #[test]
    fn a_front_end_words_the_settings_it_knows_and_keeps_the_others() {
        let r = Reason::new("use ")
            .then(Setting::InPlace)
            .and(" or ")
            .then(Setting::Force)
            .and(".");
        assert_eq!(
            r.as_str(),
            "use `Destination::InPlace` or `UntargetRequest::force`."
        );
        assert_eq!(
            r.worded(&Options),
            "use --in-place or `UntargetRequest::force`."
        );
        assert_eq!(
            r.settings().collect::<Vec<_>>(),
            [&Setting::InPlace, &Setting::Force]
        );
        // Plain text has nothing to word.
        assert_eq!(Reason::from("as is").worded(&Options), "as is");
    }

    #[test]
    fn a_rendered_report_is_reworded_by_its_api_words() {
        let text = format!(
            "use {} (or {})",
            Setting::InPlace.api_words(),
            Setting::RedoInPlace.api_words()
        );
        // The longer words that hold the shorter ones are found first.
        assert_eq!(
            reword(&text, &Options),
            "use --in-place (or another edit in place)"
        );
    }
}
