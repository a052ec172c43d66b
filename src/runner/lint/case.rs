//! Checks on one case's metadata: id, clauses, level, summary, needs; then
//! its steps.

use std::collections::BTreeSet;

use super::steps::StepLint;
use super::{CaseSink, Context, Problems, is_case_id};
use crate::runner::model::{Binds, Case, ClauseKind, Level, Need, Step};

/// Longest summary, in characters.
pub(super) const MAX_SUMMARY_CHARS: usize = 140;

/// How strongly a level binds: MUST > SHOULD > REF.
fn strength(level: Level) -> u8 {
    match level {
        Level::Must => 2,
        Level::Should => 1,
        Level::Ref => 0,
    }
}

pub(super) fn lint_case(
    ctx: &Context<'_>,
    file: &str,
    stem: &str,
    case: &Case,
    problems: &mut Problems,
) {
    let mut sink = CaseSink::new(file, &case.id, problems);
    metadata(ctx, stem, case, &mut sink);
    if case.steps.is_empty() {
        sink.add("a case needs at least one step");
    }
    let defined: BTreeSet<&str> = defined_services(&case.steps);
    let mut lint = StepLint::new(ctx, defined, &mut sink);
    lint.case(&case.steps);
}

fn metadata(ctx: &Context<'_>, stem: &str, case: &Case, sink: &mut CaseSink<'_>) {
    if !is_case_id(&case.id) {
        sink.add("id must match ^[a-z0-9]+(\\.[a-z0-9-]+)+$");
    }
    if case.area() != stem {
        sink.add(format!(
            "the id's area {:?} differs from its file: it belongs in cases/{}.toml",
            case.area(),
            case.area()
        ));
    }
    if let Some(t) = ctx.suite.retired.iter().find(|t| t.id == case.id) {
        sink.add(format!(
            "the id is retired ({}); ids are never reused: pick a new one",
            t.reason
        ));
    }
    if case.clauses.is_empty() {
        sink.add("cites no clause");
    }
    let mut seen = BTreeSet::new();
    let mut strongest: Option<Level> = None;
    for id in &case.clauses {
        if !seen.insert(id) {
            sink.add(format!("cites {id} twice"));
        }
        match ctx.suite.clause(id) {
            Some(clause) => {
                if strongest.is_none_or(|s| strength(clause.level) > strength(s)) {
                    strongest = Some(clause.level);
                }
            }
            None => sink.add(format!("cites {id}, which is not in clauses.toml")),
        }
    }
    if let Some(strongest) = strongest
        && strength(case.level) > strength(strongest)
    {
        sink.add(format!(
            "level {} is stronger than every clause it cites (strongest: {strongest}); a {} case must cite a {} clause",
            case.level,
            case.level,
            match case.level {
                Level::Must => "MUST",
                _ => "SHOULD or MUST",
            }
        ));
    }
    binds(ctx, case, sink);
    summary(&case.summary, sink);
    let mut needs = BTreeSet::new();
    for need in &case.needs {
        if !needs.insert(need) {
            sink.add(format!("needs {need:?} twice"));
        }
    }
}

/// A case binds a kind every v2 clause it cites binds (v2 spec §0), and
/// only a case with a fresh broker adds to that broker's start.
fn binds(ctx: &Context<'_>, case: &Case, sink: &mut CaseSink<'_>) {
    for clause in case.clauses.iter().filter_map(|id| ctx.suite.clause(id)) {
        if clause.binds.is_empty() {
            continue;
        }
        let kind = case.binds.map(|b| match b {
            Binds::FrontDoor => ClauseKind::FrontDoor,
            Binds::Launching => ClauseKind::Launching,
        });
        if !kind.is_some_and(|k| clause.binds.contains(&k)) {
            let kinds: Vec<&str> = clause.binds.iter().map(|k| k.name()).collect();
            sink.add(format!(
                "cites {}, which binds {}: say so with binds = \"{}\"",
                clause.id,
                kinds.join(" and "),
                kinds.first().copied().unwrap_or("front-door")
            ));
        }
    }
    if case.needs.contains(&Need::BrokerProcess) && !case.needs.contains(&Need::FreshBroker) {
        sink.add("broker-process is the case's own broker: add needs = [\"fresh-broker\"]");
    }
    let adds = !case.broker_args.is_empty() || !case.broker_env.is_empty();
    if adds && !case.needs.contains(&Need::FreshBroker) {
        sink.add(
            "broker_args and broker_env apply to a fresh broker: add needs = [\"fresh-broker\"]",
        );
    }
}

fn summary(summary: &str, sink: &mut CaseSink<'_>) {
    if summary.trim().is_empty() {
        sink.add("summary is empty");
        return;
    }
    if summary.contains(['\n', '\r']) {
        sink.add("summary must be one line");
    }
    let chars = summary.chars().count();
    if chars > MAX_SUMMARY_CHARS {
        sink.add(format!(
            "summary is {chars} characters, over {MAX_SUMMARY_CHARS}"
        ));
    }
    if summary.trim_end().ends_with('.') {
        sink.add("summary ends with a period");
    }
}

/// Services a case defines itself (`define` steps, alternatives included).
fn defined_services(steps: &[Step]) -> BTreeSet<&str> {
    let mut out = BTreeSet::new();
    for step in steps {
        match step {
            Step::Define(spec) => {
                out.insert(spec.service.as_str());
            }
            Step::ExpectOneOf(alternatives) => {
                for alternative in alternatives {
                    out.extend(defined_services(&alternative.steps));
                }
            }
            _ => {}
        }
    }
    out
}
