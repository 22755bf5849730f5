//! The working directories of local rooms: `<rooms dir>/<scheduler>/<room>`, each created fresh
//! with mode 0700 for one room process, its `cwd` and `HOME`, and removed once the process is
//! gone. Never Baton's own directory nor its data: a rooms dir that is, or holds, the folder of
//! the SQLite database is refused.

use std::ffi::OsStr;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use app::ports::RuntimeError;

/// Why a rooms dir cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RoomsDirError {
    #[error("local rooms dir {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("local rooms dir {0} is a symbolic link or not a directory")]
    NotADirectory(PathBuf),
    #[error("local rooms dir {0} belongs to another user (uid {1}); Baton runs as uid {2}")]
    NotOwned(PathBuf, u32, u32),
    #[error(
        "local rooms dir {rooms} holds the database folder {data}: rooms' directories are \
         removed when they stop, so choose another --local-rooms-dir"
    )]
    HoldsData { rooms: PathBuf, data: PathBuf },
}

/// The folder under which every local room gets its own directory.
#[derive(Clone, Debug)]
pub struct RoomsDir {
    /// Absolute, symbolic links resolved.
    root: PathBuf,
}

/// `path` made absolute, with symbolic links resolved as far as it exists.
fn resolved(path: &Path) -> PathBuf {
    if let Ok(canonical) = path.canonicalize() {
        return canonical;
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) if !parent.as_os_str().is_empty() => resolved(parent).join(name),
        _ => std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
    }
}

/// `name` as one plain path component (no `/`, `.`, `..`), or why not.
pub(super) fn component<'a>(what: &str, name: &'a str) -> Result<&'a OsStr, RuntimeError> {
    let mut components = Path::new(name).components();
    match (components.next(), components.next()) {
        (Some(Component::Normal(part)), None) if part == name => Ok(part),
        _ => Err(RuntimeError::Rejected(format!(
            "{what} {name:?} cannot name a directory"
        ))),
    }
}

impl RoomsDir {
    /// Creates `root` (mode 0700) when absent; refuses one that is a symbolic link, belongs to
    /// another user, or is or holds any of `data` (the folder of Baton's SQLite database).
    pub fn prepare(root: &Path, data: &[PathBuf]) -> Result<Self, RoomsDirError> {
        let io = |err| RoomsDirError::Io(root.to_path_buf(), err);
        match std::fs::symlink_metadata(root) {
            Ok(metadata) => {
                if !metadata.is_dir() {
                    return Err(RoomsDirError::NotADirectory(root.to_path_buf()));
                }
                // SAFETY: geteuid(2) has no preconditions and cannot fail.
                let uid = unsafe { libc::geteuid() };
                if metadata.uid() != uid {
                    return Err(RoomsDirError::NotOwned(
                        root.to_path_buf(),
                        metadata.uid(),
                        uid,
                    ));
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(root)
                    .map_err(io)?;
            }
            Err(err) => return Err(io(err)),
        }
        let root = root.canonicalize().map_err(io)?;
        for folder in data {
            let folder = resolved(folder);
            if folder.starts_with(&root) {
                return Err(RoomsDirError::HoldsData {
                    rooms: root,
                    data: folder,
                });
            }
        }
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the rooms of `scheduler` live.
    fn scheduler_dir(&self, scheduler: &str) -> Result<PathBuf, RuntimeError> {
        if scheduler == super::record::INSTANCES_DIR {
            return Err(RuntimeError::Rejected(format!(
                "scheduler {scheduler:?} cannot name a directory"
            )));
        }
        Ok(self.root.join(component("scheduler", scheduler)?))
    }

    /// The directory of one room (whether or not it exists).
    pub fn room_dir(&self, scheduler: &str, room: &str) -> Result<PathBuf, RuntimeError> {
        Ok(self
            .scheduler_dir(scheduler)?
            .join(component("room", room)?))
    }

    /// A fresh, empty directory for the room (mode 0700); a leftover of the same name is
    /// removed first.
    pub fn create_room(&self, scheduler: &str, room: &str) -> Result<PathBuf, RuntimeError> {
        let failed = |path: &Path, err: std::io::Error| {
            RuntimeError::Unavailable(format!("creating {}: {err}", path.display()))
        };
        let scheduler_dir = self.scheduler_dir(scheduler)?;
        let dir = self.room_dir(scheduler, room)?;
        let mut builder = std::fs::DirBuilder::new();
        builder.mode(0o700);
        match builder.create(&scheduler_dir) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(failed(&scheduler_dir, err)),
        }
        if std::fs::symlink_metadata(&dir).is_ok() {
            remove_all(&dir);
        }
        builder.create(&dir).map_err(|err| failed(&dir, err))?;
        Ok(dir)
    }

    /// The rooms of `scheduler` that have a directory.
    pub fn room_names(&self, scheduler: &str) -> Vec<String> {
        let Ok(entries) = self.scheduler_dir(scheduler).and_then(|dir| {
            std::fs::read_dir(&dir)
                .map_err(|err| RuntimeError::Unavailable(format!("{}: {err}", dir.display())))
        }) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
            .filter_map(|entry| entry.file_name().into_string().ok())
            .collect()
    }

    /// Removes a room's directory and everything in it.
    pub fn remove_room(&self, scheduler: &str, room: &str) {
        if let Ok(dir) = self.room_dir(scheduler, room) {
            remove_all(&dir);
        }
    }

    /// Removes the directory of a scheduler's rooms.
    pub fn remove_scheduler(&self, scheduler: &str) {
        if let Ok(dir) = self.scheduler_dir(scheduler) {
            remove_all(&dir);
        }
    }
}

/// Removes `path` and what it holds; a failure is logged (the room is gone either way).
fn remove_all(path: &Path) {
    match std::fs::remove_dir_all(path) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => tracing::warn!(dir = %path.display(), %err, "cannot remove a room's directory"),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::super::tests::Scratch;
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn rooms_get_fresh_private_directories_under_their_scheduler() {
        let scratch = Scratch::new();
        let rooms = RoomsDir::prepare(&scratch.0.join("rooms"), &[]).unwrap();
        assert_eq!(rooms.root(), scratch.0.join("rooms"));
        assert_eq!(mode(rooms.root()), 0o700);

        let dir = rooms.create_room("s", "r1").unwrap();
        assert_eq!(dir, scratch.0.join("rooms/s/r1"));
        assert_eq!((mode(&dir), mode(dir.parent().unwrap())), (0o700, 0o700));
        // A leftover of the same name is replaced by an empty directory.
        std::fs::write(dir.join("old"), "x").unwrap();
        let again = rooms.create_room("s", "r1").unwrap();
        assert_eq!(std::fs::read_dir(&again).unwrap().count(), 0);

        rooms.create_room("s", "r2").unwrap();
        rooms.remove_room("s", "r1");
        assert!(!dir.exists());
        assert!(scratch.0.join("rooms/s/r2").exists());
        rooms.remove_scheduler("s");
        assert!(!scratch.0.join("rooms/s").exists());
        // Removing what is not there is fine.
        rooms.remove_room("s", "r1");
        rooms.remove_scheduler("s");
    }

    #[test]
    fn names_that_are_not_one_path_component_are_rejected() {
        let scratch = Scratch::new();
        let rooms = RoomsDir::prepare(&scratch.0, &[]).unwrap();
        for (scheduler, room) in [
            ("..", "r"),
            ("s", ".."),
            ("a/b", "r"),
            ("s", "/etc"),
            ("", "r"),
            (".instances", "r"),
        ] {
            assert!(
                matches!(
                    rooms.create_room(scheduler, room),
                    Err(RuntimeError::Rejected(_))
                ),
                "{scheduler:?} {room:?}"
            );
        }
    }

    #[test]
    fn a_rooms_dir_holding_the_database_is_refused() {
        let scratch = Scratch::new();
        let data = scratch.0.join("data");
        std::fs::create_dir(&data).unwrap();
        // The database's own folder, and any folder above it.
        for rooms in [data.clone(), scratch.0.clone(), data.join("..")] {
            assert!(
                matches!(
                    RoomsDir::prepare(&rooms, std::slice::from_ref(&data)),
                    Err(RoomsDirError::HoldsData { .. })
                ),
                "{}",
                rooms.display()
            );
        }
        // A relative database folder is resolved too.
        let relative = Path::new(".").to_path_buf();
        let cwd = std::env::current_dir().unwrap();
        assert!(matches!(
            RoomsDir::prepare(&cwd, &[relative]),
            Err(RoomsDirError::HoldsData { .. })
        ));
        // Beside it, or inside it, is fine.
        RoomsDir::prepare(&scratch.0.join("rooms"), std::slice::from_ref(&data)).unwrap();
        RoomsDir::prepare(&data.join("rooms"), std::slice::from_ref(&data)).unwrap();
    }

    #[test]
    fn a_symbolic_link_or_a_file_is_refused() {
        let scratch = Scratch::new();
        let target = scratch.0.join("target");
        std::fs::create_dir(&target).unwrap();
        let link = scratch.0.join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(matches!(
            RoomsDir::prepare(&link, &[]),
            Err(RoomsDirError::NotADirectory(_))
        ));
        let file = scratch.0.join("file");
        std::fs::write(&file, "").unwrap();
        assert!(matches!(
            RoomsDir::prepare(&file, &[]),
            Err(RoomsDirError::NotADirectory(_))
        ));
    }
}
