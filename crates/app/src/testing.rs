//! What the unit tests of this crate share: a store of a few papers, an embedder that
//! needs no model, and instants written as people read them.

use paperscout_store::{MemoryStore, ModelKey, PaperWrite, ProfileItem, ProfileSubject, Store};
use paperscout_types::Paper;

use crate::choose::TextEmbedder;

/// An instant from its RFC 3339 text (`2026-03-05T02:00:00Z`).
pub fn utc(text: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(text)
        .expect("a time")
        .with_timezone(&chrono::Utc)
}

/// Dimensions of [`Words`]' vectors.
pub const DIM: usize = 32;

/// Vectors from the words of a text, each word hashed to a dimension: texts that share words
/// point the same way. Deterministic, so a test's choice is the same on every run.
pub struct Words {
    key: ModelKey,
}

impl Words {
    pub fn new() -> Self {
        Self {
            key: ModelKey {
                name: "words".to_owned(),
                sha256: "0".repeat(64),
                dim: DIM,
            },
        }
    }

    pub fn vector(text: &str) -> Vec<f32> {
        let mut vector = vec![0.0f32; DIM];
        for word in text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.len() > 2)
        {
            let hash = word.to_lowercase().bytes().fold(2_166_136_261u32, |h, b| {
                (h ^ u32::from(b)).wrapping_mul(16_777_619)
            });
            vector[hash as usize % DIM] += 1.0;
        }
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
        vector.iter_mut().for_each(|x| *x /= norm);
        vector
    }
}

impl TextEmbedder for Words {
    fn key(&self) -> &ModelKey {
        &self.key
    }

    fn embed_texts(
        &self,
        texts: &[String],
    ) -> Result<Vec<Vec<f32>>, paperscout_ingest::EmbedFailure> {
        Ok(texts.iter().map(|text| Self::vector(text)).collect())
    }
}

/// A paper of a day, in categories.
pub fn paper(id: &str, date: &str, title: &str, abstract_text: &str, categories: &[&str]) -> Paper {
    Paper {
        id: format!("arXiv:{id}"),
        arxiv_id: Some(id.to_owned()),
        version: None,
        doi: None,
        title: title.to_owned(),
        abstract_text: abstract_text.to_owned(),
        authors: vec!["A. Author".to_owned()],
        date: Some(date.to_owned()),
        categories: categories.iter().map(|c| (*c).to_owned()).collect(),
        comment: None,
        links: None,
    }
}

/// A store with a profile paper of 2025-03-10 and six papers of 2025-03-18 (three on graphs,
/// three on other things), all embedded by [`Words`], and the user `ada` who follows the
/// profile paper.
pub fn store() -> MemoryStore {
    let papers = [
        paper(
            "2503.00001",
            "2025-03-10",
            "Graph neural networks for molecules",
            "Message passing graph networks predict molecular properties.",
            &["cs.LG"],
        ),
        paper(
            "2503.10001",
            "2025-03-18",
            "Graph networks for molecular property prediction",
            "Message passing graph networks on molecules.",
            &["cs.LG"],
        ),
        paper(
            "2503.10002",
            "2025-03-18",
            "Equivariant graph networks for molecules",
            "Graph networks respecting molecular symmetry.",
            &["cs.LG", "physics.chem-ph"],
        ),
        paper(
            "2503.10003",
            "2025-03-18",
            "Graph transformers for molecular graphs",
            "Attention over molecular graph networks.",
            &["cs.CR"],
        ),
        paper(
            "2503.10004",
            "2025-03-18",
            "Diffusion models for image generation",
            "Denoising diffusion generates images.",
            &["cs.CV"],
        ),
        paper(
            "2503.10005",
            "2025-03-18",
            "Speech recognition with transducers",
            "Streaming speech recognition.",
            &["cs.CL"],
        ),
        paper(
            "2503.10006",
            "2025-03-18",
            "Reinforcement learning for robots",
            "Robots learn to walk with rewards.",
            &["cs.RO"],
        ),
    ];
    let model = Words::new();
    let vectors: Vec<Vec<f32>> = papers
        .iter()
        .map(|p| Words::vector(&p.embedding_text()))
        .collect();
    let writes: Vec<PaperWrite<'_>> = papers
        .iter()
        .zip(&vectors)
        .map(|(paper, vector)| PaperWrite {
            paper,
            source: "test",
            embedding: Some(vector),
        })
        .collect();
    let mut store = MemoryStore::new();
    store
        .write_papers(&writes, Some(model.key()), 1)
        .expect("papers are written");
    store.add_user("ada", 1).expect("ada is added");
    store
        .add_profile_item(
            "ada",
            &ProfileItem {
                subject: ProfileSubject::Paper("arXiv:2503.00001".to_owned()),
                weight: 1.0,
                added: 1,
            },
        )
        .expect("the profile paper is added");
    store
}
