//! The clause catalogues (`conformance/clauses.toml`,
//! `conformance/clauses-v2.toml`) come from the specs: id, level, the whole
//! rule text and (v2) the kinds bound of every clause-table row of
//! `v1-protocol.md` and `v2-protocol.md`, plus what only the suite says (`observable`, `why`),
//! kept from the catalogue being regenerated. Pure: text in, text out;
//! `broker-conformance clauses` reads and writes the files.

mod applies;
mod render;
mod spec;

pub use render::render_catalogue;
pub(crate) use spec::SpecClause;
pub use spec::spec_clauses;

use std::borrow::Cow;

use crate::runner::model::ClauseInfo;

/// A clause catalogue of the suite and the spec it is generated from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalogue {
    /// The spec's file name under `../shared/spec/`.
    pub spec: Cow<'static, str>,
    /// The catalogue's path under `conformance/`.
    pub file: Cow<'static, str>,
}

impl Catalogue {
    /// The v1 protocol's catalogue.
    pub const V1: Self = Self {
        spec: Cow::Borrowed("v1-protocol.md"),
        file: Cow::Borrowed("clauses.toml"),
    };
    /// The v2 protocol's catalogue.
    pub const V2: Self = Self {
        spec: Cow::Borrowed("v2-protocol.md"),
        file: Cow::Borrowed("clauses-v2.toml"),
    };
    /// Every catalogue the suite holds.
    pub const ALL: [Self; 2] = [Self::V1, Self::V2];

    /// The catalogue of the spec at `spec_path`: one of [`Self::ALL`] by
    /// the spec's file name, else one named after it (`file` empty: the
    /// suite holds none).
    pub fn for_spec(spec_path: &std::path::Path) -> Self {
        let name = spec_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Self::ALL
            .into_iter()
            .find(|c| c.spec == name)
            .unwrap_or(Self {
                spec: Cow::Owned(name),
                file: Cow::Borrowed(""),
            })
    }
}

/// A catalogue regenerated from the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Regenerated {
    /// The clauses, in the spec's order.
    pub clauses: Vec<ClauseInfo>,
    /// Ids the spec has and the old catalogue had not.
    pub added: Vec<String>,
    /// Ids the old catalogue had and the spec has not (their `why` is lost).
    pub dropped: Vec<String>,
}

/// The catalogue for `spec`'s clauses, keeping `observable` and `why` of
/// the clauses `old` already holds (a new clause is observable).
pub fn regenerate(spec: &[SpecClause], old: &[ClauseInfo]) -> Regenerated {
    let known = |id: &str| old.iter().find(|c| c.id == id);
    let clauses = spec
        .iter()
        .map(|s| {
            let kept = known(&s.id);
            ClauseInfo {
                id: s.id.clone(),
                level: s.level,
                rule: s.rule.clone(),
                binds: s.binds.clone(),
                observable: kept.is_none_or(|c| c.observable),
                why: kept.and_then(|c| c.why.clone()),
            }
        })
        .collect();
    let added = spec
        .iter()
        .filter(|s| known(&s.id).is_none())
        .map(|s| s.id.clone())
        .collect();
    let dropped = old
        .iter()
        .filter(|c| !spec.iter().any(|s| s.id == c.id))
        .map(|c| c.id.clone())
        .collect();
    Regenerated {
        clauses,
        added,
        dropped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::model::Level;

    fn spec_clause(id: &str, level: Level, rule: &str) -> SpecClause {
        SpecClause {
            id: id.to_owned(),
            level,
            rule: rule.to_owned(),
            binds: Vec::new(),
        }
    }

    #[test]
    fn the_spec_gives_id_level_and_rule_and_the_suite_keeps_observable_and_why() {
        let old = [
            ClauseInfo {
                id: "FRM-12".into(),
                level: Level::Must,
                rule: "shortened...".into(),
                binds: Vec::new(),
                observable: false,
                why: Some("internal".into()),
            },
            ClauseInfo {
                id: "OLD-1".into(),
                level: Level::Must,
                rule: "withdrawn".into(),
                binds: Vec::new(),
                observable: true,
                why: None,
            },
        ];
        let spec = [
            spec_clause("FRM-13", Level::Should, "new"),
            spec_clause("FRM-12", Level::Ref, "the whole rule"),
        ];
        let got = regenerate(&spec, &old);
        assert_eq!(
            got.clauses,
            [
                ClauseInfo {
                    id: "FRM-13".into(),
                    level: Level::Should,
                    rule: "new".into(),
                    binds: Vec::new(),
                    observable: true,
                    why: None,
                },
                ClauseInfo {
                    id: "FRM-12".into(),
                    level: Level::Ref,
                    rule: "the whole rule".into(),
                    binds: Vec::new(),
                    observable: false,
                    why: Some("internal".into()),
                },
            ]
        );
        assert_eq!(got.added, ["FRM-13"]);
        assert_eq!(got.dropped, ["OLD-1"]);
    }
}
