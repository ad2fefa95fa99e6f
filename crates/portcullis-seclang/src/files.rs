//! Rule files of both languages loaded together, in the order given: portcullis' own
//! (`*.toml`, `*.json`) and SecLang (`*.conf`), e.g. identity rules in TOML in front of CRS.

use std::path::{Path, PathBuf};

use portcullis_rules::{Diagnostic, Error, RuleSet, Sources};

use crate::load::{LoadOptions, SecLangConfig};
use crate::lower::{lower, LowerOptions};

/// Loads rule files and directories of either language, in the order given: a directory
/// holding `*.conf` files, or a file other than `*.toml` and `*.json`, is SecLang (parsed,
/// resolved and lowered); the rest is read by [`RuleSet::load_with`]. Consecutive paths of one language load
/// together (a SecLang setup file and the rules it configures share their variables); the
/// sets are then appended in order, the first one's `[policy]` settings kept.
///
/// # Errors
///
/// Every problem of the first set that fails, located.
pub fn load_rules<P: AsRef<Path>>(
    paths: &[P],
    options: &portcullis_rules::LoadOptions,
) -> Result<RuleSet, Error> {
    load_rules_summarized(paths, options).map(|(rules, _)| rules)
}

/// [`load_rules`], and for each group of SecLang files what became of its rules
/// ([`Lowered::summary`](crate::Lowered::summary)), as `portcullis check` prints it.
///
/// # Errors
///
/// As [`load_rules`].
pub fn load_rules_summarized<P: AsRef<Path>>(
    paths: &[P],
    options: &portcullis_rules::LoadOptions,
) -> Result<(RuleSet, Vec<String>), Error> {
    let mut summaries = Vec::new();
    let mut groups: Vec<(bool, Vec<PathBuf>)> = Vec::new();
    for p in paths {
        let p = p.as_ref().to_path_buf();
        let seclang = is_seclang(&p);
        match groups.last_mut() {
            Some((s, group)) if *s == seclang => group.push(p),
            _ => groups.push((seclang, vec![p])),
        }
    }
    let mut out: Option<RuleSet> = None;
    for (seclang, group) in groups {
        let set = if seclang {
            let opts = LoadOptions {
                max_file_bytes: options.max_file_bytes,
                ..LoadOptions::default()
            };
            let resolved = SecLangConfig::load(&group, &opts)?.resolve()?;
            let lowered = lower(&resolved, &LowerOptions::default())?;
            summaries.push(format!(
                "SecLang, {} rules: {}",
                resolved.rules().count(),
                lowered.summary()
            ));
            lowered.rules
        } else {
            RuleSet::load_with(&group, options)?
        };
        match &mut out {
            None => out = Some(set),
            Some(all) => all.append(set),
        }
    }
    let rules = out.ok_or_else(|| {
        Error::new(
            vec![Diagnostic::error(None, "no rule files were given")],
            Sources::default(),
        )
    })?;
    Ok((rules, summaries))
}

/// Whether a path is SecLang: a directory with a `.conf` file in it, or a file that is
/// not `.toml` or `.json` (`crs-setup.conf`, `crs-setup.conf.example`).
fn is_seclang(p: &Path) -> bool {
    if p.is_dir() {
        let conf = |p: &Path| p.extension().is_some_and(|e| e == "conf");
        std::fs::read_dir(p).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| conf(&e.path()) && e.path().is_file())
        })
    } else {
        !p.extension().is_some_and(|e| e == "toml" || e == "json")
    }
}
