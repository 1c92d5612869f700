//! A small file system to fill on purpose: a tmpfs of a few MiB mounted on a
//! fresh directory, grown on demand, unmounted when dropped.

use std::path::PathBuf;
use std::process::Command;

/// A tmpfs of a few MiB, mounted for one test: fill it, and a store on it
/// meets a full disk.
pub struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// Mounts a tmpfs of `mebibytes` MiB. Mounting needs root (CI runs as
    /// root); elsewhere None, with the reason on stderr.
    pub fn mount(mebibytes: u32) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mebibytes}m"), "tmpfs"])
            .arg(dir.path())
            .output();
        let refused = match &output {
            Ok(output) if output.status.success() => None,
            Ok(output) => Some(String::from_utf8_lossy(&output.stderr).trim().to_owned()),
            Err(error) => Some(format!("no mount command: {error}")),
        };
        if let Some(why) = refused {
            eprintln!(
                "SKIPPED: this test fills a small tmpfs and cannot mount one here (run it as root): {why}"
            );
            return None;
        }
        Some(SmallDisk { dir })
    }

    /// Resizes the file system to `mebibytes` MiB (the data stays).
    pub fn grow(&self, mebibytes: u32) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={mebibytes}m")])
            .arg(self.dir.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "remount the tmpfs larger");
    }

    /// A directory on the small disk.
    pub fn join(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: a process still holding a file there must not keep it mounted.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}
