//! Folders and files that hold secrets (the SQLite database with its
//! password hashes and token digests, the session key): created readable by
//! this user only. Existing ones are left as their owner set them.

use std::io;
use std::path::Path;

/// Creates `dir` and any missing parents, new ones with mode 0700.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Gives a file this program has just created mode 0600.
pub fn make_private(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Creates a new file (failing if the name is taken) that only this user
/// may read.
pub fn create_new(path: &Path) -> io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Writes a new file that only this user may read.
pub fn write_new(path: &Path, contents: &str) -> io::Result<()> {
    use std::io::Write;
    create_new(path)?.write_all(contents.as_bytes())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn new_folders_and_files_are_private() {
        let base = std::env::temp_dir().join(format!("whm-private-{:016x}", rand::random::<u64>()));
        let dir = base.join("data");
        create_dir(&dir).unwrap();
        let file = dir.join("db.sqlite3");
        std::fs::write(&file, b"").unwrap();
        make_private(&file).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&file), 0o600);
        let new = dir.join("new.jsonl");
        drop(create_new(&new).unwrap());
        assert_eq!(mode(&new), 0o600);
        assert!(create_new(&new).is_err(), "a name taken is never reused");
        std::fs::remove_dir_all(&base).unwrap();
    }
}
