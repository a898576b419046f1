//! Sets `TLINK_GIT_REV`, the revision `tlink --version` reports: `tlink 0.1.0 (rev 0123456789ab)`.
//!
//! In a git checkout it is `git rev-parse --short=12 HEAD`, and the build script runs again when `HEAD` or
//! the branch it points to moves. Without `.git` (a source tarball, a container build) it is the
//! `TLINK_GIT_REV` variable given to the build (`docker build --build-arg TLINK_GIT_REV=…`), else `unknown`.
//! A working tree with uncommitted changes is not marked: the build script is not re-run when files change,
//! so such a mark would go stale.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=TLINK_GIT_REV");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest.join("..").join("..");
    let from_git = git_dir(&root).and_then(|dir| {
        watch_head(&dir);
        git_rev(&root)
    });
    let rev = from_git.or_else(rev_from_env).unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=TLINK_GIT_REV={rev}");
}

/// The repository's git directory: `.git`, or where a `.git` file (a worktree, a submodule) points.
fn git_dir(root: &Path) -> Option<PathBuf> {
    let dot_git = root.join(".git");
    if dot_git.is_dir() {
        return Some(dot_git);
    }
    let pointer = std::fs::read_to_string(&dot_git).ok()?;
    let target = pointer.trim().strip_prefix("gitdir:")?.trim();
    let dir = root.join(target);
    dir.is_dir().then_some(dir)
}

/// Re-runs the build script when `HEAD` changes (another branch or commit checked out) or when the branch
/// it names moves (a commit, a pull). Only existing files are named: Cargo re-runs the script on every
/// build for a path that does not exist.
fn watch_head(git_dir: &Path) {
    let head = git_dir.join("HEAD");
    watch(&head);
    let Ok(text) = std::fs::read_to_string(&head) else { return };
    let Some(reference) = text.trim().strip_prefix("ref:").map(str::trim) else { return };
    // In a worktree, branches live in the common directory.
    let common = std::fs::read_to_string(git_dir.join("commondir"))
        .map(|c| git_dir.join(c.trim()))
        .unwrap_or_else(|_| git_dir.to_path_buf());
    let mut dirs = vec![git_dir.to_path_buf()];
    if common != git_dir {
        dirs.push(common);
    }
    for dir in dirs {
        watch(&dir.join(reference));
        watch(&dir.join("packed-refs"));
    }
}

fn watch(path: &Path) {
    if path.is_file() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// `git rev-parse --short=12 HEAD` in the repository, when git is installed and answers.
fn git_rev(root: &Path) -> Option<String> {
    let out = Command::new("git").arg("-C").arg(root).args(["rev-parse", "--short=12", "HEAD"]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let rev = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (rev.len() >= 7 && rev.chars().all(|c| c.is_ascii_hexdigit())).then_some(rev)
}

/// `TLINK_GIT_REV` from the build's environment, when it is a plausible revision or tag.
fn rev_from_env() -> Option<String> {
    let raw = std::env::var("TLINK_GIT_REV").ok()?;
    let rev = raw.trim();
    if rev.is_empty() {
        return None;
    }
    let plausible =
        rev.len() <= 64 && rev.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'));
    if !plausible {
        println!("cargo:warning=TLINK_GIT_REV `{rev}` is not a revision (letters, digits, `.-_+`): ignored");
        return None;
    }
    Some(rev.to_string())
}
