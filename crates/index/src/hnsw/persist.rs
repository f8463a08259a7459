//! Saving an index and loading it back, never serving a wrong one.
//!
//! An index folder holds generations: `gen-N/` with paperscout's `points.bin` (paper ids,
//! tombstones, unit vectors in half precision) and `frozen.bin` (the flat graph searches
//! walk), hnsw_rs's own dump of its graph (`graph.hnsw.graph`, `graph.hnsw.data`), and
//! `manifest.json` (format, model, dimension, parameters, counts, and the size and xxh3-128
//! digest of every file). `CURRENT` names the generation in use. A save writes and syncs a whole new
//! generation, then replaces `CURRENT` by rename, so a crash at any moment leaves either the
//! old index or the new one, whole. A save while hnsw_rs's graph is not in memory links its
//! dump from the generation it was read from (the graph has not changed since).
//!
//! The digests are there to catch damage (a torn write, a flipped bit, a truncated copy), not
//! an adversary, who could rewrite the manifest beside the files as easily: xxh3 checks the
//! 779 MB of a million papers' points in a few hundredths of a second, where sha256 took 0.6 s
//! of every start.
//!
//! Loading checks the manifest against what the caller expects (model, dimension, parameters:
//! else [`IndexError::Stale`]) and every file against its size and digest (else
//! [`IndexError::Corrupt`]), then reads only the points and the flat graph: a served index
//! searches without hnsw_rs's graph, which is read from the dump, its digest checked again,
//! only before papers are inserted ([`read_builder`]); hnsw_rs asserts rather than errs on a
//! damaged file.
//!
//! hnsw_rs's reloaded graph borrows the `HnswIo` that read it (upstream issue #19). The reader
//! is leaked to make the borrow `'static`: a few hundred bytes once per read, and the graph's
//! data are copied into memory (no mmap), so nothing else stays tied to the files.

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use half::vec::HalfBitsVecExt;
use hnsw_rs::api::AnnT;
use hnsw_rs::hnswio::HnswIo;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::{Xxh3, xxh3_128};

use crate::error::{IndexError, Result};
use crate::hnsw::calibration::Calibration;
use crate::hnsw::coded::CodedRows;
use crate::hnsw::distance::UnitDotF16;
use crate::hnsw::frozen::FrozenGraph;
use crate::hnsw::ids::PaperIds;
use crate::hnsw::paper_index::{Builder, IndexParams, PaperIndex};

/// The layout version of a saved index: 3 holds half-precision vectors and the flat graph.
const FORMAT: u32 = 3;
const GRAPH_BASENAME: &str = "graph";
const POINTS_FILE: &str = "points.bin";
const FROZEN_FILE: &str = "frozen.bin";
/// hnsw_rs's dump of its graph, as `file_dump` names it.
const DUMP_FILES: [&str; 2] = ["graph.hnsw.graph", "graph.hnsw.data"];
const MANIFEST_FILE: &str = "manifest.json";
const CURRENT_FILE: &str = "CURRENT";

/// What a saved index says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The layout version.
    pub format: u32,
    /// The model the vectors come from (name and weights' sha256, as the caller spells it).
    pub model: String,
    /// Vector length.
    pub dim: usize,
    /// HNSW's M.
    pub max_connections: usize,
    /// HNSW's ef_construction.
    pub ef_construction: usize,
    /// Points in the graph, tombstones included.
    pub points: usize,
    /// Live papers.
    pub live: usize,
    /// Every file of the generation with its size and digest.
    pub files: Vec<FileEntry>,
    /// How ef_search was chosen, if it was measured (absent in indexes saved before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
}

/// One file of a saved index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Its name in the generation folder.
    pub name: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its xxh3-128 digest, hex.
    pub xxh3: String,
}

impl Manifest {
    /// The manifest of the generation in `gen_dir`, or what is wrong with it.
    fn read(gen_dir: &Path) -> std::result::Result<Self, String> {
        let text = fs_err::read_to_string(gen_dir.join(MANIFEST_FILE))
            .map_err(|e| format!("no readable manifest ({e})"))?;
        serde_json::from_str(&text).map_err(|e| format!("the manifest is malformed ({e})"))
    }

    /// The entry of the file called `name`.
    fn entry(&self, name: &str) -> std::result::Result<&FileEntry, String> {
        self.files
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| format!("the manifest does not list {name}"))
    }
}

impl FileEntry {
    /// Whether a file of `bytes` bytes, its digest `xxh3` if it was computed, is this one;
    /// says which of the two differs.
    fn check(&self, bytes: u64, xxh3: Option<&str>) -> std::result::Result<(), String> {
        if bytes != self.bytes {
            return Err(format!(
                "{} has {bytes} bytes, the manifest says {}",
                self.name, self.bytes
            ));
        }
        if xxh3.is_some_and(|xxh3| xxh3 != self.xxh3) {
            return Err(format!(
                "{} does not match its digest in the manifest",
                self.name
            ));
        }
        Ok(())
    }
}

/// What the caller expects of a saved index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected<'a> {
    /// The model the caller's vectors come from.
    pub model: &'a str,
    /// Their length.
    pub dim: usize,
    /// The graph parameters the caller wants.
    pub params: IndexParams,
}

/// A generation just saved ([`PaperIndex::save`]), for [`PaperIndex::saved`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    /// The generation's folder.
    pub dir: PathBuf,
    /// The index's inserts counted when it was saved.
    revision: u64,
}

impl PaperIndex {
    /// Saves the index as a new generation in `dir` and makes it current. Call
    /// [`PaperIndex::saved`] with what it returns to let the index drop hnsw_rs's graph.
    pub fn save(&self, dir: &Path, model: &str) -> Result<Saved> {
        let fail = |why: String| IndexError::Save {
            dir: dir.to_path_buf(),
            why,
        };
        fs_err::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        let generation = next_generation(dir);
        let gen_dir = dir.join(format!("gen-{generation}"));
        if gen_dir.exists() {
            fs_err::remove_dir_all(&gen_dir).map_err(|e| fail(e.to_string()))?;
        }
        fs_err::create_dir(&gen_dir).map_err(|e| fail(e.to_string()))?;
        // A generation that could not be written whole (a full disk) is removed, not left to
        // take the space the next attempt needs.
        let staged = dir.join(format!("{CURRENT_FILE}.tmp"));
        let switched = self
            .write_generation(&gen_dir, model)
            .and_then(|()| {
                write_synced(&staged, format!("gen-{generation}\n").as_bytes())?;
                fs_err::rename(&staged, dir.join(CURRENT_FILE))
            })
            .map_err(|e| e.to_string());
        if let Err(why) = switched {
            let _ = std::fs::remove_file(&staged);
            let _ = std::fs::remove_dir_all(&gen_dir);
            return Err(fail(why));
        }
        sync(dir).map_err(|e| fail(e.to_string()))?;

        // Older generations are garbage now; failing to remove one costs only space.
        if let Ok(entries) = fs_err::read_dir(dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with("gen-") && name != format!("gen-{generation}") {
                    let _ = fs_err::remove_dir_all(entry.path());
                }
            }
        }
        Ok(Saved {
            dir: gen_dir,
            revision: self.revision,
        })
    }

    /// Tells the index that `saved` holds it: when nothing was inserted since, hnsw_rs's
    /// graph is read from there from now on and dropped from memory
    /// ([`PaperIndex::release_builder`]). Returns whether it was dropped.
    pub fn saved(&mut self, saved: Saved) -> bool {
        if saved.revision != self.revision {
            return false;
        }
        self.saved_graph = Some(saved.dir);
        self.release_builder()
    }

    /// Writes every file of a generation into `gen_dir` and syncs them.
    fn write_generation(&self, gen_dir: &Path, model: &str) -> std::io::Result<()> {
        let fail = |why: String| std::io::Error::other(why);

        match (&self.builder, &self.saved_graph) {
            (Some(builder), _) => builder
                .file_dump(gen_dir, GRAPH_BASENAME)
                .map(|_| ())
                .map_err(|e| fail(format!("hnsw_rs could not dump the graph: {e}")))?,
            (None, Some(source)) => {
                for name in DUMP_FILES {
                    let (from, to) = (source.join(name), gen_dir.join(name));
                    // A link costs no space; a folder on another disk gets a copy.
                    if std::fs::hard_link(&from, &to).is_err() {
                        fs_err::copy(&from, &to)?;
                    }
                }
            }
            (None, None) => {
                return Err(fail(
                    "hnsw_rs's graph is neither in memory nor saved".into(),
                ));
            }
        }
        self.write_points(&gen_dir.join(POINTS_FILE))?;
        let mut frozen = BufWriter::new(fs_err::File::create(gen_dir.join(FROZEN_FILE))?);
        if self.is_optimised() {
            self.frozen.write_to(&mut frozen)?;
        } else {
            self.frozen_copy().write_to(&mut frozen)?;
        }
        frozen.flush()?;
        drop(frozen);

        let mut files = Vec::new();
        for name in DUMP_FILES
            .into_iter()
            .chain([POINTS_FILE, FROZEN_FILE])
            .map(str::to_owned)
        {
            let path = gen_dir.join(&name);
            sync(&path)?;
            let (bytes, xxh3) = digest(&path)?;
            files.push(FileEntry { name, bytes, xxh3 });
        }
        let manifest = Manifest {
            format: FORMAT,
            model: model.to_owned(),
            dim: self.dim,
            max_connections: self.params.max_connections,
            ef_construction: self.params.ef_construction,
            points: self.point_count(),
            live: self.len(),
            files,
            calibration: self.calibration,
        };
        let text = serde_json::to_string_pretty(&manifest).map_err(|e| fail(e.to_string()))?;
        write_synced(&gen_dir.join(MANIFEST_FILE), text.as_bytes())?;
        sync(gen_dir)
    }

    /// Loads the current generation of `dir`, if it is whole and made as `expected` says.
    pub fn load(dir: &Path, expected: &Expected<'_>) -> Result<Self> {
        let corrupt = |why: String| IndexError::Corrupt {
            dir: dir.to_path_buf(),
            why,
        };
        let stale = |why: String| IndexError::Stale {
            dir: dir.to_path_buf(),
            why,
        };
        let Some((_, gen_dir)) = current_generation(dir).map_err(corrupt)? else {
            return Err(IndexError::Missing {
                dir: dir.to_path_buf(),
            });
        };
        let manifest = Manifest::read(&gen_dir).map_err(corrupt)?;
        if manifest.format != FORMAT {
            return Err(stale(format!(
                "layout {} where this paperscout writes {FORMAT}",
                manifest.format
            )));
        }
        if manifest.model != expected.model {
            return Err(stale(format!(
                "built with model {} where {} is in use",
                manifest.model, expected.model
            )));
        }
        if manifest.dim != expected.dim {
            return Err(stale(format!(
                "{}-d vectors where {}-d are in use",
                manifest.dim, expected.dim
            )));
        }
        if (manifest.max_connections, manifest.ef_construction)
            != (
                expected.params.max_connections,
                expected.params.ef_construction,
            )
        {
            return Err(stale(format!(
                "built with M {} and ef_construction {}, configured {} and {}",
                manifest.max_connections,
                manifest.ef_construction,
                expected.params.max_connections,
                expected.params.ef_construction
            )));
        }
        // The dump is checked when it is read, before an insert: here only its size.
        for name in DUMP_FILES {
            let bytes = fs_err::metadata(gen_dir.join(name))
                .map_err(|e| corrupt(format!("{name} is unreadable ({e})")))?
                .len();
            manifest
                .entry(name)
                .and_then(|file| file.check(bytes, None))
                .map_err(corrupt)?;
        }
        let (ids, halves) = read_points(&gen_dir, &manifest).map_err(corrupt)?;
        if ids.points() != manifest.points {
            return Err(corrupt(format!(
                "{} points where the manifest says {}",
                ids.points(),
                manifest.points
            )));
        }
        let frozen = checked_read(&gen_dir, &manifest, FROZEN_FILE).map_err(corrupt)?;
        let frozen = FrozenGraph::read_from(&frozen)
            .map_err(|why| corrupt(format!("{FROZEN_FILE}: {why}")))?;
        if frozen.points() != ids.points() {
            return Err(corrupt(format!(
                "the graph has {} points, the index {}",
                frozen.points(),
                ids.points()
            )));
        }
        Ok(Self {
            params: IndexParams {
                ef_search: expected.params.ef_search,
                ..expected.params
            },
            dim: manifest.dim,
            builder: None,
            saved_graph: Some(gen_dir),
            revision: 0,
            coded: CodedRows::from_halves(&halves, manifest.dim),
            halves,
            ids,
            frozen,
            calibration: manifest.calibration,
        })
    }

    /// `points.bin`: count (u64), dim (u64); per point a live byte, the id's length (u32) and
    /// bytes; then every vector as little-endian f16.
    fn write_points(&self, path: &Path) -> std::io::Result<()> {
        let mut out = BufWriter::new(fs_err::File::create(path)?);
        out.write_all(&(self.point_count() as u64).to_le_bytes())?;
        out.write_all(&(self.dim as u64).to_le_bytes())?;
        for p in 0..self.point_count() {
            let id = self.ids.id(p);
            out.write_all(&[u8::from(self.ids.is_live(p))])?;
            out.write_all(&(id.len() as u32).to_le_bytes())?;
            out.write_all(id.as_bytes())?;
        }
        if cfg!(target_endian = "little") {
            out.write_all(bytemuck::cast_slice(&self.halves))?;
        } else {
            for value in &self.halves {
                out.write_all(&value.to_le_bytes())?;
            }
        }
        out.flush()
    }
}

/// hnsw_rs's graph of the `points` points of the generation in `gen_dir`, its dump checked
/// against the manifest first.
pub(crate) fn read_builder(gen_dir: &Path, points: usize) -> Result<Builder> {
    let corrupt = |why: String| IndexError::Corrupt {
        dir: gen_dir.to_path_buf(),
        why,
    };
    let manifest = Manifest::read(gen_dir).map_err(corrupt)?;
    for name in DUMP_FILES {
        let (bytes, xxh3) = digest(&gen_dir.join(name))
            .map_err(|e| corrupt(format!("{name} is unreadable ({e})")))?;
        manifest
            .entry(name)
            .and_then(|file| file.check(bytes, Some(&xxh3)))
            .map_err(corrupt)?;
    }
    // See the module's documentation for why the reader is leaked.
    let reader: &'static mut HnswIo = Box::leak(Box::new(HnswIo::new(gen_dir, GRAPH_BASENAME)));
    let graph = reader
        .load_hnsw::<half::f16, UnitDotF16>()
        .map_err(|e| corrupt(format!("hnsw_rs could not read the graph ({e})")))?;
    if graph.get_nb_point() != points {
        return Err(corrupt(format!(
            "hnsw_rs's graph has {} points, the index {points}",
            graph.get_nb_point()
        )));
    }
    Ok(graph)
}

/// A file of a generation, read whole and checked against its size and digest in the
/// manifest.
fn checked_read(
    gen_dir: &Path,
    manifest: &Manifest,
    name: &str,
) -> std::result::Result<Vec<u8>, String> {
    let file = manifest.entry(name)?;
    let bytes =
        fs_err::read(gen_dir.join(name)).map_err(|e| format!("{name} is unreadable ({e})"))?;
    file.check(bytes.len() as u64, Some(&hex(xxh3_128(&bytes))))?;
    Ok(bytes)
}

/// `points.bin` read in one pass, its digest computed on the way and checked against the
/// manifest at the end: the vectors go straight into the index's own rows, never through a
/// second copy of the file (a million papers' rows are 768 MB).
fn read_points(
    gen_dir: &Path,
    manifest: &Manifest,
) -> std::result::Result<(PaperIds, Vec<half::f16>), String> {
    let fail = |why: String| format!("{POINTS_FILE}: {why}");
    let entry = manifest.entry(POINTS_FILE)?;
    let file = fs_err::File::open(gen_dir.join(POINTS_FILE))
        .map_err(|e| format!("{POINTS_FILE} is unreadable ({e})"))?;
    let size = file.metadata().map_err(|e| fail(e.to_string()))?.len();
    entry.check(size, None)?;
    // Hashed below the buffer, a megabyte at a time; the rows are read past the buffer,
    // straight into place.
    let mut reader = std::io::BufReader::with_capacity(1 << 20, Hashing::new(file));
    let ends_early = |e: std::io::Error| fail(format!("it ends early ({e})"));
    let mut word = [0u8; 8];
    reader.read_exact(&mut word).map_err(ends_early)?;
    let count = u64::from_le_bytes(word);
    reader.read_exact(&mut word).map_err(ends_early)?;
    let stored_dim = u64::from_le_bytes(word);
    if stored_dim != manifest.dim as u64 {
        return Err(fail(format!(
            "{stored_dim}-d vectors where the manifest says {}",
            manifest.dim
        )));
    }
    // Every point takes at least its live byte, its length and its row: a count past what
    // the file can hold is damage, not a reason to allocate.
    if count.saturating_mul(5 + 2 * stored_dim) > size {
        return Err(fail(format!("{count} points cannot fit in {size} bytes")));
    }
    let count = count as usize;
    let mut ids = PaperIds::with_capacity(count);
    let mut id = Vec::new();
    for _ in 0..count {
        let mut head = [0u8; 5];
        reader.read_exact(&mut head).map_err(ends_early)?;
        let len = u64::from(u32::from_le_bytes([head[1], head[2], head[3], head[4]]));
        if len > size {
            return Err(fail(format!("an id of {len} bytes")));
        }
        id.resize(len as usize, 0);
        reader.read_exact(&mut id).map_err(ends_early)?;
        let text = std::str::from_utf8(&id).map_err(|_| fail("an id is not UTF-8".into()))?;
        let live = head[0] == 1;
        if live && ids.point_of(text).is_some() {
            return Err(fail(format!("{text} has two live points")));
        }
        ids.push(text, live);
    }
    // Zeroed bits come from the allocator as untouched pages; the file fills them once.
    let mut bits = vec![0u16; count * manifest.dim];
    reader
        .read_exact(bytemuck::cast_slice_mut(&mut bits))
        .map_err(ends_early)?;
    if cfg!(target_endian = "big") {
        bits.iter_mut().for_each(|b| *b = u16::from_le(*b));
    }
    let halves = bits.reinterpret_into();
    let mut past = [0u8; 1];
    if reader.read(&mut past).map_err(|e| fail(e.to_string()))? != 0 {
        return Err(fail("bytes past the vectors".into()));
    }
    entry.check(size, Some(&hex(reader.into_inner().hasher.digest128())))?;
    Ok((ids, halves))
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: Xxh3,
}

impl<R> Hashing<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Xxh3::new(),
        }
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.hasher.update(&buf[..read]);
        Ok(read)
    }
}

/// The generation `CURRENT` names: none when there is no `CURRENT` (no index was ever saved
/// here), an error saying why when it cannot be read or names no generation.
fn current_generation(dir: &Path) -> std::result::Result<Option<(u64, PathBuf)>, String> {
    let name = match std::fs::read_to_string(dir.join(CURRENT_FILE)) {
        Ok(name) => name,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(format!("{CURRENT_FILE} cannot be read ({err})")),
    };
    let name = name.trim();
    match name.strip_prefix("gen-").and_then(|n| n.parse().ok()) {
        Some(number) => Ok(Some((number, dir.join(name)))),
        None => Err(format!(
            "{CURRENT_FILE} names no generation (it holds {} bytes that are not `gen-N`)",
            name.len()
        )),
    }
}

/// The number of the next generation: past `CURRENT`'s and past every `gen-N` folder, so that
/// a damaged `CURRENT` never leads a save onto a folder in use.
fn next_generation(dir: &Path) -> u64 {
    let current = current_generation(dir).ok().flatten().map_or(0, |(n, _)| n);
    let folders = fs_err::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            name.to_str()?.strip_prefix("gen-")?.parse::<u64>().ok()
        })
        .max()
        .unwrap_or(0);
    current.max(folders) + 1
}

fn digest(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = fs_err::File::open(path)?;
    let mut hasher = Xxh3::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        bytes += read as u64;
    }
    Ok((bytes, hex(hasher.digest128())))
}

/// A digest as the manifest writes it.
fn hex(digest: u128) -> String {
    format!("{digest:032x}")
}

fn write_synced(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let mut file = fs_err::File::create(path)?;
    file.write_all(content)?;
    file.sync_all()
}

/// Flushes a file or a folder (its entries) to disk.
fn sync(path: &Path) -> std::io::Result<()> {
    fs_err::File::open(path)?.sync_all()
}
