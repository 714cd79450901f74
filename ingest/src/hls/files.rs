//! The files of one HLS output directory, written so that a reader never sees a torn file and the
//! filesystem sees as little inode churn as possible. Creating and deleting a file per segment and
//! per playlist update made inode allocation the largest single cost of packaging on ext4 (its
//! search skips recently deleted inodes, and a live origin deletes a lot of them), so in steady
//! state no inode is created or freed:
//!
//! - a segment leaving the playlist (after its safety margin) is not unlinked but renamed to a spare
//!   name, and the next segment is written into that spare and renamed to its own name;
//! - the playlist is written into one of `PLAYLIST_SLOTS` slot files, which is then exchanged with
//!   the live playlist atomically (`renameat2(RENAME_EXCHANGE)`); a slot is rewritten only
//!   `PLAYLIST_SLOTS` updates after it stopped being the live playlist (seconds later: a reader of
//!   a playlist of a few hundred bytes is long done).
//!
//! A reused file is overwritten in place and then cut to its new length, never truncated to zero
//! first: on ext4, truncating a file to zero and rewriting it makes the close (and a rename over
//! it) start writeback at once (its `auto_da_alloc` safeguard for replace-via-truncate), and frees
//! and reallocates every block. A profile at 100 HLS publishers put 9 % of the ingest's CPU in
//! that truncation and 8 % in the writeback it started on close; overwriting reuses the blocks and
//! the cached pages and leaves writeback to the kernel's flusher.
//!
//! Where the filesystem cannot exchange, a plain write-then-rename is used.

use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Files the live playlist rotates through.
const PLAYLIST_SLOTS: usize = 3;
/// Most retired segment files kept for reuse.
const MAX_SPARES: usize = 4;

/// Writes `bytes` to `dir/name` via a temporary file and a rename.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    write_file(&tmp, bytes)?;
    std::fs::rename(&tmp, dir.join(name))
}

fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)
}

/// Replaces the content of `path` (created when missing) by overwriting it in place and cutting
/// what is left of the old content.
fn overwrite(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    let old_len = f.metadata()?.len();
    f.write_all(bytes)?;
    let len = bytes.len() as u64;
    if old_len > len {
        f.set_len(len)?;
    }
    Ok(())
}

/// Exchanges two paths atomically; `Ok(false)` when the filesystem or kernel cannot, or `b` is
/// missing.
#[allow(unsafe_code)] // renameat2(2) with RENAME_EXCHANGE: std has no atomic exchange
fn exchange(a: &Path, b: &Path) -> std::io::Result<bool> {
    let (Ok(a), Ok(b)) = (
        CString::new(a.as_os_str().as_bytes()),
        CString::new(b.as_os_str().as_bytes()),
    ) else {
        return Ok(false);
    };
    // SAFETY: both arguments are valid NUL-terminated paths that outlive the call; AT_FDCWD makes
    // them relative to the working directory, as std's own path calls are.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENOENT | libc::EINVAL | libc::ENOSYS | libc::EXDEV | libc::EOPNOTSUPP) => {
            Ok(false)
        }
        _ => Err(e),
    }
}

/// One output directory's writer.
pub struct Files {
    dir: PathBuf,
    /// Retired segment files, ready to be rewritten.
    spares: Vec<PathBuf>,
    next_spare: u64,
    next_slot: usize,
}

impl Files {
    pub fn new(dir: PathBuf) -> Files {
        Files {
            dir,
            spares: Vec::new(),
            next_spare: 0,
            next_slot: 0,
        }
    }

    /// Writes a segment, into a retired segment's file when there is one.
    pub fn segment(&mut self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        match self.spares.pop() {
            Some(spare) => {
                overwrite(&spare, bytes)?;
                std::fs::rename(&spare, self.dir.join(name))
            }
            None => write_atomic(&self.dir, name, bytes),
        }
    }

    /// Takes a segment out of service: kept as a spare file for the next segment, or removed.
    pub fn retire(&mut self, name: &str) -> std::io::Result<()> {
        let path = self.dir.join(name);
        let result = if self.spares.len() < MAX_SPARES {
            let spare = self.dir.join(format!(".spare-{}", self.next_spare));
            self.next_spare += 1;
            std::fs::rename(&path, &spare).map(|()| self.spares.push(spare))
        } else {
            std::fs::remove_file(&path)
        };
        match result {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Replaces the live playlist `name` with `text`, atomically.
    pub fn playlist(&mut self, name: &str, text: &str) -> std::io::Result<()> {
        let slot = self
            .dir
            .join(format!(".{name}.{}", self.next_slot % PLAYLIST_SLOTS));
        self.next_slot += 1;
        overwrite(&slot, text.as_bytes())?;
        let live = self.dir.join(name);
        if exchange(&slot, &live)? {
            return Ok(());
        }
        std::fs::rename(&slot, &live)
    }

    /// Removes the spare files (the session ended; the playlist and its segments stay).
    pub fn clean(&mut self) {
        for spare in self.spares.drain(..) {
            let _ = std::fs::remove_file(spare);
        }
        for slot in 0..PLAYLIST_SLOTS {
            let _ =
                std::fs::remove_file(self.dir.join(format!(".{}.{slot}", super::sink::PLAYLIST)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn tempdir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "inlet-files-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("dir");
        d
    }

    #[test]
    fn steady_state_reuses_inodes_and_readers_see_whole_files() {
        let dir = tempdir();
        let mut f = Files::new(dir.clone());
        let mut inodes = std::collections::HashSet::new();
        for seq in 0..40u32 {
            let name = format!("s-{seq}.ts");
            // Sizes go up and down: a file rewritten in place must hold exactly the new bytes.
            let body = vec![seq as u8; 1000 + (seq as usize * 397) % 700];
            f.segment(&name, &body).expect("segment");
            let text = format!(
                "#EXTM3U\n#seq {seq}\n{}",
                "#\n".repeat((seq as usize * 7) % 11)
            );
            f.playlist("index.m3u8", &text).expect("playlist");
            assert_eq!(std::fs::read(dir.join(&name)).expect("read"), body);
            assert_eq!(
                std::fs::read_to_string(dir.join("index.m3u8")).expect("read"),
                text
            );
            if seq >= 9 {
                f.retire(&format!("s-{}.ts", seq - 9)).expect("retire");
            }
            for e in std::fs::read_dir(&dir).expect("list") {
                inodes.insert(e.expect("entry").metadata().expect("meta").ino());
            }
        }
        // 40 segments and 40 playlist updates, but only a bounded set of inodes ever existed.
        assert!(
            inodes.len() <= 9 + 1 + MAX_SPARES + PLAYLIST_SLOTS + 2,
            "{}",
            inodes.len()
        );
        assert!(!dir.join("s-0.ts").exists());
        f.retire("never-written.ts")
            .expect("a missing file is fine");
        f.clean();
        let left: Vec<String> = std::fs::read_dir(&dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn slot_files_left_by_an_earlier_process_are_cut_to_the_new_playlist() {
        let dir = tempdir();
        for slot in 0..PLAYLIST_SLOTS {
            std::fs::write(dir.join(format!(".index.m3u8.{slot}")), "#".repeat(4096))
                .expect("stale");
        }
        let mut f = Files::new(dir.clone());
        for seq in 0..(2 * PLAYLIST_SLOTS) {
            let text = format!("#EXTM3U\n#seq {seq}\n");
            f.playlist("index.m3u8", &text).expect("playlist");
            assert_eq!(
                std::fs::read_to_string(dir.join("index.m3u8")).expect("read"),
                text
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
