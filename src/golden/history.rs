//! The append-only promise, proven from git history: no commit (and no
//! uncommitted change) ever modified or deleted a frozen file, and MANIFEST
//! only ever gained lines.

use std::path::Path;
use std::process::Command;

use super::verify::Finding;
use super::{MANIFEST_FILE, UNFROZEN_FILES};

/// What the history check saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryOutcome {
    /// History was read: how many commits touched the corpus, and the violations.
    Checked {
        /// Commits that touched the corpus directory.
        commits: usize,
        /// Modifications, deletions and removed MANIFEST lines.
        findings: Vec<Finding>,
    },
    /// No usable history (not a git checkout, no git, a shallow clone).
    Unavailable(String),
}

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Checks the git history of the corpus directory `corpus_dir`.
pub fn check_history(corpus_dir: &Path) -> HistoryOutcome {
    match history_findings(corpus_dir) {
        Ok((commits, findings)) => HistoryOutcome::Checked { commits, findings },
        Err(reason) => HistoryOutcome::Unavailable(reason),
    }
}

fn history_findings(corpus_dir: &Path) -> Result<(usize, Vec<Finding>), String> {
    let top = git(corpus_dir, &["rev-parse", "--show-toplevel"])?;
    let top = Path::new(top.trim())
        .canonicalize()
        .map_err(|e| format!("cannot resolve the checkout: {e}"))?;
    let dir = corpus_dir
        .canonicalize()
        .map_err(|e| format!("cannot resolve {}: {e}", corpus_dir.display()))?;
    let rel = dir
        .strip_prefix(&top)
        .map_err(|_| {
            format!(
                "{} is outside the checkout {}",
                dir.display(),
                top.display()
            )
        })?
        .to_string_lossy()
        .replace('\\', "/");
    if git(&top, &["rev-parse", "--is-shallow-repository"])?.trim() == "true" {
        return Err("shallow clone: the full history is needed to prove nothing changed".into());
    }
    let manifest_path = format!("{rel}/{MANIFEST_FILE}");
    let unfrozen: Vec<String> = UNFROZEN_FILES
        .iter()
        .map(|f| format!("{rel}/{f}"))
        .collect();
    let mut findings = Vec::new();

    let has_head = git(&top, &["rev-parse", "--verify", "--quiet", "HEAD"]).is_ok();
    let log = if has_head {
        git(
            &top,
            &[
                "log",
                "--format=%x00%H",
                "--name-status",
                "--no-renames",
                "--",
                &rel,
            ],
        )?
    } else {
        String::new()
    };
    let mut commits = 0;
    for block in log.split('\0').filter(|b| !b.trim().is_empty()) {
        commits += 1;
        let mut lines = block.lines();
        let commit = lines.next().unwrap_or("").trim().to_owned();
        let changes = lines.filter_map(|l| l.split_once('\t'));
        check_changes(
            &top,
            &commit,
            changes,
            &manifest_path,
            &unfrozen,
            &mut findings,
        )?;
    }
    if has_head {
        let diff = git(
            &top,
            &["diff", "HEAD", "--name-status", "--no-renames", "--", &rel],
        )?;
        let changes = diff.lines().filter_map(|l| l.split_once('\t'));
        check_changes(&top, "", changes, &manifest_path, &unfrozen, &mut findings)?;
    }
    Ok((commits, findings))
}

/// Checks one commit's (or, with an empty `commit`, the working tree's)
/// name-status lines.
fn check_changes<'a>(
    top: &Path,
    commit: &str,
    changes: impl Iterator<Item = (&'a str, &'a str)>,
    manifest_path: &str,
    unfrozen: &[String],
    findings: &mut Vec<Finding>,
) -> Result<(), String> {
    let when = if commit.is_empty() {
        "the uncommitted change".to_owned()
    } else {
        format!("commit {}", &commit[..commit.len().min(12)])
    };
    for (status, path) in changes {
        let status = status.trim();
        if path == manifest_path {
            if status.starts_with('D') {
                findings.push(Finding {
                    path: path.into(),
                    problem: format!("{when} deleted the MANIFEST"),
                });
            } else if status.starts_with('M') {
                for removed in removed_manifest_lines(top, commit, path)? {
                    findings.push(Finding {
                        path: path.into(),
                        problem: format!(
                            "{when} removed or rewrote the line {removed:?}: MANIFEST only grows"
                        ),
                    });
                }
            }
        } else if !unfrozen.iter().any(|u| u == path) && !status.starts_with('A') {
            let verb = match status.chars().next() {
                Some('D') => "deleted",
                Some('M') => "modified",
                Some('T') => "changed the type of",
                _ => "changed",
            };
            findings.push(Finding {
                path: path.into(),
                problem: format!("{when} {verb} this frozen golden file; add a new golden instead"),
            });
        }
    }
    Ok(())
}

fn removed_manifest_lines(top: &Path, commit: &str, path: &str) -> Result<Vec<String>, String> {
    let diff = if commit.is_empty() {
        git(top, &["diff", "HEAD", "-U0", "--no-renames", "--", path])?
    } else {
        git(
            top,
            &[
                "show",
                "--format=",
                "-U0",
                "--no-renames",
                commit,
                "--",
                path,
            ],
        )?
    };
    Ok(diff
        .lines()
        .filter(|l| l.starts_with('-') && !l.starts_with("---"))
        .map(|l| l[1..].to_owned())
        .collect())
}
