//! Component isolation: the component code each instance's copy of a
//! patch transform gives the components the patch adds.
//!
//! A patch that adds a component carries a Component *insert* row with the
//! base product's GUID in its main transform. Windows Installer applies the
//! patch's transforms after the instance's own instance transform, which
//! has no row for the new component, so without a change every instance
//! registers that one GUID: one component with several clients, and
//! uninstalling one instance leaves the component's files to the others
//! ("Disallowing uninstallation of component … since another client
//! exists"). Products whose instances isolate components (WiX
//! `Component/@MultiInstance="yes"`, or one component-GUID transform per
//! instance) need each instance's copy to carry the instance's own code.
//!
//! Per instance and per component the main transform inserts, in order:
//!
//! 1. the instance's own transform gives the code: a Component row for
//!    that key setting ComponentId (read with `--instances-from` from the
//!    product as the patch leaves it);
//! 2. otherwise, when the component is to be isolated — `all`, its key
//!    listed, or `auto` and the product's instance transforms isolate
//!    components — WiX's MultiInstance derivation
//!    ([`multi_instance_component_code`]) over the GUID as written and the
//!    instance id; an instance without an id has none, and is refused;
//! 3. otherwise the row is left alone and the instances share the
//!    component, which the plan reports.
//!
//! The decisions are pure: they read decoded rows, never the file.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Reason, Result, Setting};
use crate::format::guid::{Guid, multi_instance_component_code};

/// Which components a retarget isolates (`--isolate-components`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentIsolation {
    /// Isolate when the product's instance transforms show that it
    /// isolates components; otherwise report that the instances share the
    /// new components.
    #[default]
    Auto,
    /// Every component the patch inserts.
    All,
    /// The components with these keys.
    Keys(Vec<String>),
    /// None: every instance shares the new components (codes its own
    /// instance transform gives are not used either).
    None,
}

impl ComponentIsolation {
    /// Parses `auto`, `all`, `none` or `KEY[,KEY…]`.
    pub fn parse(text: &str) -> Result<ComponentIsolation> {
        match text.trim() {
            "auto" => Ok(ComponentIsolation::Auto),
            "all" => Ok(ComponentIsolation::All),
            "none" => Ok(ComponentIsolation::None),
            "" => Err(Error::usage(
                Reason::new("")
                    .then(Setting::ComponentIsolation)
                    .and(" needs auto, all, none or a list of component keys"),
            )),
            list => {
                let keys: Vec<String> = list.split(',').map(|k| k.trim().to_string()).collect();
                if let Some(i) = keys.iter().position(String::is_empty) {
                    return Err(Error::usage(
                        Reason::new("")
                            .then(Setting::ComponentIsolation)
                            .and(format!(" {list:?}: key {} of the list is empty", i + 1)),
                    ));
                }
                Ok(ComponentIsolation::Keys(keys))
            }
        }
    }
}

/// Where an instance's code for a component comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeSource {
    /// A Component row of the instance's own transform.
    InstanceTransform,
    /// WiX's MultiInstance derivation from the GUID and the instance id.
    MultiInstance,
}

/// What happens to one component for one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ComponentAction {
    /// The instance's copy gives it `code`.
    Isolated {
        /// The new ComponentId.
        code: String,
        /// Where it comes from.
        source: CodeSource,
    },
    /// The row is left alone: the instance shares the component.
    Shared {
        /// Why, in words.
        reason: String,
    },
}

/// The decision for one component a main transform inserts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentDecision {
    /// The source main transform.
    pub transform: String,
    /// The Component key.
    pub component: String,
    /// The ComponentId as the source row writes it.
    pub code_before: String,
    /// What happens.
    #[serde(flatten)]
    pub action: ComponentAction,
}

impl ComponentDecision {
    /// The new code, when isolated.
    pub fn new_code(&self) -> Option<&str> {
        match &self.action {
            ComponentAction::Isolated { code, .. } => Some(code),
            ComponentAction::Shared { .. } => None,
        }
    }
}

/// What the decision knows of one instance.
#[derive(Debug, Clone, Copy)]
pub struct InstanceFacts<'a> {
    /// The instance's product code.
    pub instance: Guid,
    /// Its id, when known.
    pub id: Option<&'a str>,
    /// The codes its own transform gives, by component key.
    pub codes: &'a IndexMap<String, String>,
    /// Whether the product it was read from isolates components.
    pub product_isolates: bool,
}

/// Decides, for one instance, the code of each component that the main
/// transform `transform` inserts (`inserted`, from
/// [`crate::patch::Transform::inserted_components`]). Refuses an instance without an id when a
/// component must be derived for it.
pub fn decide(
    transform: &str,
    inserted: &[(String, String)],
    facts: &InstanceFacts<'_>,
    mode: &ComponentIsolation,
) -> Result<Vec<ComponentDecision>> {
    let mut out = Vec::with_capacity(inserted.len());
    for (key, before) in inserted {
        let own = facts
            .codes
            .get(key)
            .filter(|_| *mode != ComponentIsolation::None);
        let wanted = match mode {
            ComponentIsolation::Auto => facts.product_isolates,
            ComponentIsolation::All => true,
            ComponentIsolation::Keys(keys) => keys.iter().any(|k| k == key),
            ComponentIsolation::None => false,
        };
        let action = if let Some(code) = own {
            if code == before {
                ComponentAction::Shared {
                    reason: format!(
                        "the instance's own transform gives component {key} the base's code"
                    ),
                }
            } else {
                ComponentAction::Isolated {
                    code: code.clone(),
                    source: CodeSource::InstanceTransform,
                }
            }
        } else if wanted {
            let Some(id) = facts.id else {
                return Err(Error::refused(
                    Reason::new(format!(
                        "instance {} has no instance id, and the code of component {key} \
                         (added by {transform}) is derived from one (WiX's MultiInstance \
                         derivation hashes the component's GUID and the instance id): give the \
                         instances with ids (",
                        facts.instance
                    ))
                    .then(Setting::InstancesWithIds)
                    .and("), or leave the components shared with ")
                    .then(Setting::NoComponentIsolation),
                ));
            };
            ComponentAction::Isolated {
                code: multi_instance_component_code(before, id).braced(),
                source: CodeSource::MultiInstance,
            }
        } else {
            ComponentAction::Shared {
                reason: shared_reason(mode, key),
            }
        };
        out.push(ComponentDecision {
            transform: transform.to_string(),
            component: key.clone(),
            code_before: before.clone(),
            action,
        });
    }
    Ok(out)
}

/// The decisions for the components a main transform that is not copied
/// for the instance inserts: the instance applies the original row, and
/// shares the component.
pub fn not_copied(transform: &str, inserted: &[(String, String)]) -> Vec<ComponentDecision> {
    inserted
        .iter()
        .map(|(key, before)| ComponentDecision {
            transform: transform.to_string(),
            component: key.clone(),
            code_before: before.clone(),
            action: ComponentAction::Shared {
                reason: format!(
                    "{transform} is not copied for the instance (it does not validate the \
                     product code), so the instance applies its row as it is and shares \
                     component {key}"
                ),
            },
        })
        .collect()
}

/// Why a component is shared, naming settings by their API words (a
/// front end rewords them, [`crate::reword`]).
fn shared_reason(mode: &ComponentIsolation, key: &str) -> String {
    match mode {
        ComponentIsolation::Auto => format!(
            "no instance transform read shows that the product isolates components, so every \
             instance shares component {key}: uninstalling one instance leaves its files to \
             the others ({} gives each instance its own code)",
            Setting::AllComponentIsolation.api_words()
        ),
        ComponentIsolation::Keys(_) => format!(
            "{} does not list {key}",
            Setting::ComponentIsolation.api_words()
        ),
        ComponentIsolation::None | ComponentIsolation::All => {
            Setting::NoComponentIsolation.api_words()
        }
    }
}

/// Refuses keys of `--isolate-components KEY,…` that no main transform
/// inserts (`inserted`: every key inserted), which are typing mistakes.
pub fn check_keys<'a>(
    mode: &ComponentIsolation,
    inserted: impl IntoIterator<Item = &'a str>,
) -> Result<()> {
    let ComponentIsolation::Keys(keys) = mode else {
        return Ok(());
    };
    let inserted: Vec<&str> = inserted.into_iter().collect();
    if let Some(missing) = keys.iter().find(|k| !inserted.contains(&k.as_str())) {
        return Err(Error::usage(
            Reason::new("")
                .then(Setting::ComponentIsolation)
                .and(format!(
                    " names {missing}, which no transform of the patch adds to the Component \
                     table (it adds {})",
                    if inserted.is_empty() {
                        "none".to_string()
                    } else {
                        inserted.join(", ")
                    }
                )),
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::format::transform::{RowKind, RowOp, Value};

    const G: &str = "{8E1A4F27-6C3D-4B58-A9E0-1F2A3B4C5D6E}";
    const I1: &str = "{1A2B3C4D-1111-4A5B-8C6D-7E8F90A1B2C1}";

    fn facts<'a>(
        id: Option<&'a str>,
        codes: &'a IndexMap<String, String>,
        iso: bool,
    ) -> InstanceFacts<'a> {
        InstanceFacts {
            instance: Guid::parse_braced(I1).unwrap(),
            id,
            codes,
            product_isolates: iso,
        }
    }

    fn inserted() -> Vec<(String, String)> {
        vec![
            ("NewComp".into(), G.into()),
            (
                "Other".into(),
                "{11111111-2222-4333-8444-555555555555}".into(),
            ),
        ]
    }

    #[test]
    fn parse_modes() {
        assert_eq!(
            ComponentIsolation::parse("auto").unwrap(),
            ComponentIsolation::Auto
        );
        assert_eq!(
            ComponentIsolation::parse("all").unwrap(),
            ComponentIsolation::All
        );
        assert_eq!(
            ComponentIsolation::parse("none").unwrap(),
            ComponentIsolation::None
        );
        assert_eq!(
            ComponentIsolation::parse("A, B").unwrap(),
            ComponentIsolation::Keys(vec!["A".into(), "B".into()])
        );
        let e = ComponentIsolation::parse("A,,B").unwrap_err().to_string();
        assert!(e.contains("key 2"), "{e}");
        assert!(ComponentIsolation::parse("").is_err());
    }

    #[test]
    fn the_instance_transform_comes_first_then_the_derivation() {
        let mut codes = IndexMap::new();
        codes.insert(
            "NewComp".to_string(),
            "{ABCDEF01-2345-4678-9ABC-DEF012345678}".to_string(),
        );
        let d = decide(
            "t",
            &inserted(),
            &facts(Some("Instance1"), &codes, true),
            &ComponentIsolation::Auto,
        )
        .unwrap();
        assert_eq!(
            d[0].action,
            ComponentAction::Isolated {
                code: "{ABCDEF01-2345-4678-9ABC-DEF012345678}".into(),
                source: CodeSource::InstanceTransform
            }
        );
        let want =
            multi_instance_component_code("{11111111-2222-4333-8444-555555555555}", "Instance1");
        assert_eq!(
            d[1].action,
            ComponentAction::Isolated {
                code: want.braced(),
                source: CodeSource::MultiInstance
            }
        );
        assert_eq!(d[1].code_before, "{11111111-2222-4333-8444-555555555555}");
    }

    #[test]
    fn auto_shares_unless_the_product_isolates() {
        let none = IndexMap::new();
        let d = decide(
            "t",
            &inserted(),
            &facts(None, &none, false),
            &ComponentIsolation::Auto,
        )
        .unwrap();
        assert!(d.iter().all(|c| c.new_code().is_none()));
        let ComponentAction::Shared { reason } = &d[0].action else {
            panic!()
        };
        assert!(reason.contains("shares component NewComp"), "{reason}");
    }

    #[test]
    fn derivation_without_an_id_is_refused() {
        let none = IndexMap::new();
        let e = decide(
            "rtm.1",
            &inserted(),
            &facts(None, &none, false),
            &ComponentIsolation::All,
        )
        .unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Refused);
        let e = e.to_string();
        assert!(
            e.contains("has no instance id") && e.contains("rtm.1"),
            "{e}"
        );
    }

    #[test]
    fn keys_pick_components_and_unknown_keys_are_refused() {
        let none = IndexMap::new();
        let mode = ComponentIsolation::Keys(vec!["Other".into()]);
        let d = decide("t", &inserted(), &facts(Some("I"), &none, false), &mode).unwrap();
        assert!(d[0].new_code().is_none());
        assert!(d[1].new_code().is_some());
        assert!(check_keys(&mode, ["NewComp", "Other"]).is_ok());
        let e =
            check_keys(&ComponentIsolation::Keys(vec!["Typo".into()]), ["NewComp"]).unwrap_err();
        assert!(e.to_string().contains("names Typo"), "{e}");
    }

    #[test]
    fn none_leaves_even_the_instance_transform_codes() {
        let mut codes = IndexMap::new();
        codes.insert(
            "NewComp".to_string(),
            "{ABCDEF01-2345-4678-9ABC-DEF012345678}".to_string(),
        );
        let d = decide(
            "t",
            &inserted(),
            &facts(Some("I"), &codes, true),
            &ComponentIsolation::None,
        )
        .unwrap();
        assert!(d.iter().all(|c| c.new_code().is_none()));
    }

    #[test]
    fn inserted_components_skip_null_codes_and_keep_the_last_insert() {
        let row = |key: &str, id: Option<&str>| RowOp {
            kind: RowKind::Insert,
            mask: 0x0601,
            offset: 0,
            key: vec![Value::Str(key.into())],
            columns: vec![(
                "ComponentId".into(),
                id.map_or(Value::Null, |s| Value::Str(s.into())),
            )],
        };
        let rows = vec![row("A", Some(G)), row("B", None), row("A", Some(I1))];
        assert_eq!(
            crate::patch::inserted_components(&rows),
            [("A".to_string(), I1.to_string())]
        );
    }
}
