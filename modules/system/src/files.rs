//! Reading and replacing configuration files without ever leaving a half-written one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The file's text, or `None` when it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<String>, String> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Replaces `path` with `content` atomically: a temporary file in the same directory is
/// written, flushed to disk, given mode `mode` and root ownership, then renamed over the
/// target, and the directory is flushed so that the rename survives a crash. Readers see
/// the old file or the new one, never a mix. The directory must exist.
pub fn write_atomic(path: &Path, content: &[u8], mode: u32) -> Result<(), String> {
    let dir = parent(path)?;
    let name = path
        .file_name()
        .ok_or_else(|| format!("cannot write {}: not a file path", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = write_new(&tmp, content, mode)
        .and_then(|()| fs::rename(&tmp, path))
        .and_then(|()| sync_dir(&dir));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn write_new(tmp: &Path, content: &[u8], mode: u32) -> io::Result<()> {
    // A stale temp file of a crashed earlier run (same pid after a reboot) is replaced.
    let _ = fs::remove_file(tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)?;
    file.write_all(content)?;
    file.sync_all()?;
    // Ownership before the mode: the file is never readable by others with a foreign owner.
    std::os::unix::fs::fchown(&file, Some(0), Some(0))?;
    file.set_permissions(fs::Permissions::from_mode(mode))?;
    file.sync_all()
}

/// Removes `path`; true when it existed. The directory is flushed afterwards.
pub fn remove_optional(path: &Path) -> Result<bool, String> {
    match fs::remove_file(path) {
        Ok(()) => {
            if let Ok(dir) = parent(path) {
                let _ = sync_dir(&dir);
            }
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(format!("cannot remove {}: {e}", path.display())),
    }
}

/// Creates `dir` and its missing parents with mode 0755 (root-owned, as the caller is root).
pub fn ensure_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(|e| format!("cannot create directory {}: {e}", dir.display()))
}

/// Puts a file back the way it was: `Some(text)` is written, `None` removes it.
pub fn restore(path: &Path, before: Option<&str>, mode: u32) -> Result<(), String> {
    match before {
        Some(text) => write_atomic(path, text.as_bytes(), mode),
        None => remove_optional(path).map(|_| ()),
    }
}

fn parent(path: &Path) -> Result<PathBuf, String> {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => Ok(p.to_path_buf()),
        _ => Ok(PathBuf::from(".")),
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!(
                "system-files-{tag}-{}-{:?}",
                std::process::id(),
                std::time::SystemTime::now()
            ));
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    #[test]
    fn write_read_restore_remove() {
        let dir = TempDir::new("rw");
        let path = dir.0.join("a.conf");
        assert_eq!(read_optional(&path).unwrap(), None);
        if !is_root() {
            // fchown to root needs root; the error names the file and no temp file remains.
            let err = write_atomic(&path, b"x", 0o644).unwrap_err();
            assert!(err.contains("a.conf"), "{err}");
            assert_eq!(fs::read_dir(&dir.0).unwrap().count(), 0);
            return;
        }
        write_atomic(&path, b"one\n", 0o644).unwrap();
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o644);
        assert_eq!((meta.uid(), meta.gid()), (0, 0));
        write_atomic(&path, b"two\n", 0o644).unwrap();
        assert_eq!(read_optional(&path).unwrap().as_deref(), Some("two\n"));
        // Only the target is left: no temp files.
        assert_eq!(fs::read_dir(&dir.0).unwrap().count(), 1);
        restore(&path, Some("one\n"), 0o644).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "one\n");
        restore(&path, None, 0o644).unwrap();
        assert!(!path.exists());
        assert!(!remove_optional(&path).unwrap());
    }

    #[test]
    fn errors_name_the_file() {
        let err = write_atomic(Path::new("/nonexistent-dir/x.conf"), b"x", 0o644).unwrap_err();
        assert!(
            err.starts_with("cannot write /nonexistent-dir/x.conf: "),
            "{err}"
        );
        let dir = TempDir::new("err");
        let sub = dir.0.join("sub");
        fs::create_dir(&sub).unwrap();
        let err = read_optional(&sub).unwrap_err();
        assert!(err.contains("sub"), "{err}");
    }

    #[test]
    fn ensure_dir_is_recursive() {
        let dir = TempDir::new("mkdir");
        let deep = dir.0.join("a/b/c");
        ensure_dir(&deep).unwrap();
        ensure_dir(&deep).unwrap();
        assert!(deep.is_dir());
    }
}
