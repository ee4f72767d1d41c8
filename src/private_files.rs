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

/// Creates (or empties) a file that only this user may read: a new one
/// is made with mode 0600, an old one is given it before it is written.
pub fn create(path: &Path) -> io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    make_private(path)?;
    Ok(file)
}

/// Writes a new file that only this user may read.
pub fn write_new(path: &Path, contents: &str) -> io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
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
        let old = dir.join("old.jsonl");
        std::fs::write(&old, b"before").unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(create(&old).unwrap());
        assert_eq!(
            mode(&old),
            0o600,
            "an old file is made private before it is written"
        );
        assert_eq!(std::fs::read(&old).unwrap(), b"", "and emptied");
        std::fs::remove_dir_all(&base).unwrap();
    }
}
