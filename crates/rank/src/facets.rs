//! Interests as sections: a profile's items fall into facets found from the data, each named
//! by the terms that set it apart, and a ranking is cut into one section per facet.
//!
//! - [`cluster`]: spherical k-means over the items' unit vectors for every k from 2 up, seeded
//!   farthest-first (deterministic), the k kept being the one of the best mean silhouette; one
//!   facet when no k reaches [`FacetParams::min_silhouette`], so a profile of one interest is
//!   never split for the sake of it.
//! - [`facet_terms`]: each facet's terms, by how much more weight they carry in its items than
//!   in any other facet's (tf-idf fitted on the profile's own texts).
//! - [`allot`]: a ranking's slots shared out by each facet's share (largest remainders), every
//!   facet with a good paper given at least one, slots a facet cannot fill handed back to the
//!   ranking's order.

use crate::dense::Matrix;
use crate::lexical::{Tfidf, TfidfParams};

/// How facets are found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FacetParams {
    /// The most facets a profile falls into.
    pub max_facets: usize,
    /// The mean silhouette (cosine distance) a split must reach to be kept over one facet.
    pub min_silhouette: f32,
    /// Facets whose centres (normalised mean vectors) have a cosine above this merge.
    pub merge_cosine: f32,
    /// The most items clustered (the newest); older items join the facet of the nearest centre,
    /// which bounds the work at `max_items²` cosines.
    pub max_items: usize,
}

impl Default for FacetParams {
    fn default() -> Self {
        // Chosen on the tune half of the shared author split: a silhouette of 0.2 left 1,490 of
        // 3,200 profiles split and 0.1 left 2,862, both within 0.0002 of the flat nDCG@10.
        Self {
            max_facets: 6,
            min_silhouette: 0.1,
            merge_cosine: 0.8,
            max_items: 1_500,
        }
    }
}

/// A profile's items grouped into facets.
#[derive(Debug, Clone, PartialEq)]
pub struct Facets {
    /// The facet of each item.
    pub of_item: Vec<usize>,
    /// The most central item of each facet (highest summed cosine to its fellows): its anchor.
    pub anchors: Vec<usize>,
    /// The mean silhouette of the split; 0 for one facet.
    pub silhouette: f32,
}

impl Facets {
    /// All `items` in one facet (none when there are no items).
    pub fn single(items: usize) -> Self {
        Self {
            of_item: vec![0; items],
            anchors: if items == 0 { Vec::new() } else { vec![0] },
            silhouette: 0.0,
        }
    }

    /// How many facets there are.
    pub fn count(&self) -> usize {
        self.anchors.len()
    }

    /// How many items each facet holds.
    pub fn sizes(&self) -> Vec<usize> {
        let mut sizes = vec![0; self.count()];
        for &facet in &self.of_item {
            sizes[facet] += 1;
        }
        sizes
    }
}

/// The facets of a profile whose items have these unit vectors, newest first.
pub fn cluster(vectors: &Matrix, params: &FacetParams) -> Facets {
    let n = vectors.rows();
    let m = n.min(params.max_items);
    let most = params.max_facets.min(m.saturating_sub(1));
    if most < 2 {
        return Facets::single(n);
    }
    let head = vectors.slice_rows(0, m);
    let similarities = head.dot_all(&head, m > 200);
    let mut best: Option<(f32, Vec<usize>)> = None;
    for k in 2..=most {
        let labels = k_means(&head, &similarities, k);
        let score = silhouette(&similarities, &labels);
        if best.as_ref().is_none_or(|(b, _)| score > *b) {
            best = Some((score, labels));
        }
    }
    let Some((_, labels)) = best.filter(|(score, _)| *score >= params.min_silhouette) else {
        return Facets::single(n);
    };
    // Silhouette does not know scale: a tight profile splits as readily as a broad one. Facets
    // whose centres are closer than `merge_cosine` are one interest.
    let labels = merge_close(&head, labels, params.merge_cosine);
    let score = silhouette(&similarities, &labels);
    if score <= 0.0 {
        return Facets::single(n);
    }
    let mut facets = number(&similarities, labels, score);
    if n > m {
        let anchors = head.select(&facets.anchors);
        for item in m..n {
            let row = vectors.row(item);
            let nearest = (0..anchors.rows())
                .map(|f| crate::dense::dot(anchors.row(f), row))
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
                .map_or(0, |(f, _)| f);
            facets.of_item.push(nearest);
        }
    }
    facets
}

/// Spherical k-means: seeds chosen farthest-first from the most central item, then items
/// assigned to the nearest normalised mean until nothing moves. Labels may skip numbers when
/// a cluster empties.
fn k_means(vectors: &Matrix, similarities: &[f32], k: usize) -> Vec<usize> {
    let n = vectors.rows();
    let row = |i: usize| &similarities[i * n..(i + 1) * n];
    let central = (0..n)
        .max_by(|&a, &b| sum(row(a)).total_cmp(&sum(row(b))).then(b.cmp(&a)))
        .unwrap_or(0);
    let mut seeds = vec![central];
    let mut nearest_seed: Vec<f32> = row(central).to_vec();
    while seeds.len() < k {
        let far = (0..n)
            .min_by(|&a, &b| nearest_seed[a].total_cmp(&nearest_seed[b]).then(a.cmp(&b)))
            .unwrap_or(0);
        seeds.push(far);
        for (s, &x) in nearest_seed.iter_mut().zip(row(far)) {
            *s = s.max(x);
        }
    }
    let mut centres = vectors.select(&seeds);
    let mut labels = vec![usize::MAX; n];
    for _ in 0..50 {
        let mut moved = false;
        for (item, label) in labels.iter_mut().enumerate() {
            let v = vectors.row(item);
            let nearest = (0..k)
                .map(|c| crate::dense::dot(centres.row(c), v))
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
                .map_or(0, |(c, _)| c);
            moved |= nearest != *label;
            *label = nearest;
        }
        if !moved {
            break;
        }
        let dim = vectors.dim();
        let mut sums = vec![0.0f32; k * dim];
        for (item, &label) in labels.iter().enumerate() {
            for (s, x) in sums[label * dim..(label + 1) * dim]
                .iter_mut()
                .zip(vectors.row(item))
            {
                *s += x;
            }
        }
        for (c, centre) in sums.chunks_exact_mut(dim).enumerate() {
            if centre.iter().any(|&x| x != 0.0) {
                crate::dense::normalise(centre);
            } else {
                // An emptied cluster keeps its centre; it may win items back.
                centre.copy_from_slice(centres.row(c));
            }
        }
        centres = Matrix::from_data(dim, sums);
    }
    labels
}

/// Merges the two clusters of closest centres while their cosine is above `threshold`.
fn merge_close(vectors: &Matrix, mut labels: Vec<usize>, threshold: f32) -> Vec<usize> {
    loop {
        let k = labels.iter().max().map_or(0, |&l| l + 1);
        let dim = vectors.dim();
        let mut centres = vec![0.0f32; k * dim];
        for (item, &label) in labels.iter().enumerate() {
            for (s, x) in centres[label * dim..(label + 1) * dim]
                .iter_mut()
                .zip(vectors.row(item))
            {
                *s += x;
            }
        }
        let filled: Vec<bool> = centres
            .chunks_exact(dim)
            .map(|c| c.iter().any(|&x| x != 0.0))
            .collect();
        for centre in centres.chunks_exact_mut(dim) {
            crate::dense::normalise(centre);
        }
        let centre = |c: usize| &centres[c * dim..(c + 1) * dim];
        let mut closest: Option<(f32, usize, usize)> = None;
        for a in (0..k).filter(|&a| filled[a]) {
            for b in (a + 1..k).filter(|&b| filled[b]) {
                let cosine = crate::dense::dot(centre(a), centre(b));
                if cosine > threshold && closest.is_none_or(|(best, _, _)| cosine > best) {
                    closest = Some((cosine, a, b));
                }
            }
        }
        let Some((_, keep, gone)) = closest else {
            return labels;
        };
        for label in &mut labels {
            if *label == gone {
                *label = keep;
            }
        }
    }
}

fn sum(values: &[f32]) -> f32 {
    values.iter().sum()
}

/// The mean silhouette of a labelling under cosine distance (1 − cosine); an item alone in its
/// cluster counts 0, as is usual.
fn silhouette(similarities: &[f32], labels: &[usize]) -> f32 {
    let n = labels.len();
    let k = labels.iter().max().map_or(0, |&l| l + 1);
    let mut sizes = vec![0usize; k];
    for &l in labels {
        sizes[l] += 1;
    }
    if sizes.iter().filter(|&&s| s > 0).count() < 2 {
        return 0.0;
    }
    let mut total = 0.0f32;
    let mut distance_to = vec![0.0f32; k];
    for (i, &own) in labels.iter().enumerate() {
        if sizes[own] < 2 {
            continue;
        }
        distance_to.fill(0.0);
        for (j, &l) in labels.iter().enumerate() {
            if j != i {
                distance_to[l] += 1.0 - similarities[i * n + j];
            }
        }
        let a = distance_to[own] / (sizes[own] - 1) as f32;
        let b = (0..k)
            .filter(|&c| c != own && sizes[c] > 0)
            .map(|c| distance_to[c] / sizes[c] as f32)
            .fold(f32::INFINITY, f32::min);
        let spread = a.max(b);
        if spread > 0.0 {
            total += (b - a) / spread;
        }
    }
    total / n as f32
}

/// Facets numbered largest first (ties: the one holding the newer item first), each with its
/// most central item as anchor.
fn number(similarities: &[f32], labels: Vec<usize>, silhouette: f32) -> Facets {
    let n = labels.len();
    let k = labels.iter().max().map_or(0, |&l| l + 1);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); k];
    for (item, &l) in labels.iter().enumerate() {
        members[l].push(item);
    }
    members.retain(|m| !m.is_empty());
    members.sort_by(|a, b| b.len().cmp(&a.len()).then(a[0].cmp(&b[0])));
    let mut of_item = vec![0; n];
    let mut anchors = Vec::with_capacity(members.len());
    for (facet, items) in members.iter().enumerate() {
        for &item in items {
            of_item[item] = facet;
        }
        let centrality = |i: usize| -> f32 { items.iter().map(|&j| similarities[i * n + j]).sum() };
        let anchor = items
            .iter()
            .copied()
            .max_by(|&a, &b| centrality(a).total_cmp(&centrality(b)).then(b.cmp(&a)))
            .unwrap_or(items[0]);
        anchors.push(anchor);
    }
    Facets {
        of_item,
        anchors,
        silhouette,
    }
}

/// Up to `count` terms for each facet, strongest first: by a term's mean tf-idf weight over
/// the facet's items less its largest mean over any other facet's (all of a one-facet
/// profile's terms count), times the share of the facet's items that hold it. A term sharing a word with a stronger one is skipped, so "graph
/// neural" and "graph" do not both name a facet.
pub fn facet_terms(texts: &[String], facets: &Facets, count: usize) -> Vec<Vec<String>> {
    let k = facets.count();
    if k == 0 || texts.is_empty() {
        return vec![Vec::new(); k];
    }
    let tfidf = Tfidf::fit(
        texts,
        TfidfParams {
            min_df: 1,
            max_df: 1.0,
            max_features: 200_000,
        },
    );
    // A profile's few texts: not worth handing to other threads.
    let vectors: Vec<_> = texts.iter().map(|text| tfidf.transform(text)).collect();
    let sizes = facets.sizes();
    let mut means = vec![vec![0.0f32; tfidf.len()]; k];
    // The share of the facet's items that hold each term.
    let mut coverage = vec![vec![0.0f32; tfidf.len()]; k];
    for (vector, &facet) in vectors.iter().zip(&facets.of_item) {
        for (&feature, &weight) in vector.indices.iter().zip(&vector.values) {
            means[facet][feature as usize] += weight / sizes[facet] as f32;
            coverage[facet][feature as usize] += 1.0 / sizes[facet] as f32;
        }
    }
    (0..k)
        .map(|facet| {
            let mut weighted: Vec<(u32, f32)> = means[facet]
                .iter()
                .enumerate()
                .filter(|&(_, &w)| w > 0.0)
                .map(|(feature, &w)| {
                    let rival = (0..k)
                        .filter(|&other| other != facet)
                        .map(|other| means[other][feature])
                        .fold(0.0f32, f32::max);
                    // A term most of the facet's items hold names it better than one
                    // paper's rare word.
                    (feature as u32, (w - rival) * coverage[facet][feature])
                })
                .filter(|(_, w)| *w > 0.0)
                .collect();
            weighted.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            let mut chosen: Vec<String> = Vec::new();
            for (feature, _) in weighted {
                let name = tfidf.feature_name(feature);
                let overlaps = chosen
                    .iter()
                    .any(|c| c.split(' ').any(|w| name.split(' ').any(|v| v == w)));
                if !overlaps {
                    chosen.push(name.to_owned());
                }
                if chosen.len() == count {
                    break;
                }
            }
            chosen
        })
        .collect()
}

/// How deep in a ranking a facet's best paper may stand and still be good enough for a slot
/// in a list of `size`: three lists' worth. On the tune half of the shared author split, one
/// list's worth kept the flat list's facets (1.80 distinct in a multi-facet profile's top 10),
/// three gave 2.11 and five 2.24, each within 0.0001 of the flat list's nDCG@10.
pub fn good_depth(size: usize) -> usize {
    3 * size
}

/// Which entries of a ranking a sectioned list of `size` keeps, as positions in the ranking
/// (ascending). `facet_of[p]` is the facet of the ranking's p-th entry, best first; `shares`
/// each facet's weight (0: muted, none of its entries kept). A facet is good when one of its
/// entries is among the first `good_depth`; every good facet gets a slot when `size` allows
/// (the heavier first), the remaining slots go by share (largest remainders), and slots a
/// facet cannot fill go to the best entries left.
pub fn allot(facet_of: &[usize], shares: &[f32], size: usize, good_depth: usize) -> Vec<usize> {
    let k = shares.len();
    let open = |f: usize| f < k && shares[f] > 0.0;
    let mut entries: Vec<Vec<usize>> = vec![Vec::new(); k];
    for (position, &facet) in facet_of.iter().enumerate() {
        if open(facet) {
            entries[facet].push(position);
        }
    }
    let mut good: Vec<usize> = (0..k)
        .filter(|&f| entries[f].first().is_some_and(|&p| p < good_depth))
        .collect();
    good.sort_by(|&a, &b| shares[b].total_cmp(&shares[a]).then(a.cmp(&b)));
    good.truncate(size);
    let mut quota = vec![0usize; k];
    for &f in &good {
        quota[f] = 1;
    }
    let weight: f32 = good.iter().map(|&f| shares[f]).sum();
    if weight > 0.0 {
        let ideal: Vec<f32> = (0..k)
            .map(|f| {
                if quota[f] > 0 {
                    size as f32 * shares[f] / weight
                } else {
                    0.0
                }
            })
            .collect();
        // Beyond the first slot, each facet's whole part, then the largest remainders.
        let mut given: usize = good.len();
        for &f in &good {
            let whole = (ideal[f].floor() as usize).max(1);
            let extra = (whole - 1).min(size - given);
            quota[f] += extra;
            given += extra;
        }
        let mut remainders: Vec<usize> = good.clone();
        remainders.sort_by(|&a, &b| {
            let ra = ideal[a] - quota[a] as f32;
            let rb = ideal[b] - quota[b] as f32;
            rb.total_cmp(&ra).then(a.cmp(&b))
        });
        for f in remainders
            .into_iter()
            .cycle()
            .take(size.saturating_sub(given))
        {
            quota[f] += 1;
        }
    }
    let mut kept: Vec<usize> = Vec::with_capacity(size);
    for f in 0..k {
        kept.extend(entries[f].iter().take(quota[f]));
    }
    if kept.len() < size {
        let mut taken = vec![false; facet_of.len()];
        for &p in &kept {
            taken[p] = true;
        }
        let rest: Vec<usize> = (0..facet_of.len())
            .filter(|&p| !taken[p] && open(facet_of[p]))
            .take(size - kept.len())
            .collect();
        kept.extend(rest);
    }
    kept.sort_unstable();
    kept
}

/// The kept positions of [`allot`] as sections: one per facet, in the order of each facet's
/// best entry, each in the ranking's order.
pub fn sections(kept: &[usize], facet_of: &[usize]) -> Vec<(usize, Vec<usize>)> {
    let mut sections: Vec<(usize, Vec<usize>)> = Vec::new();
    for &position in kept {
        let facet = facet_of[position];
        match sections.iter_mut().find(|(f, _)| *f == facet) {
            Some((_, positions)) => positions.push(position),
            None => sections.push((facet, vec![position])),
        }
    }
    sections
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let mut v = v.to_vec();
        crate::dense::normalise(&mut v);
        v
    }

    fn matrix(rows: &[Vec<f32>]) -> Matrix {
        Matrix::from_data(rows[0].len(), rows.concat())
    }

    /// Items around two (or three) axes, a little spread.
    fn two_topics() -> Matrix {
        matrix(&[
            unit(&[1.0, 0.1, 0.0]),
            unit(&[0.1, 1.0, 0.0]),
            unit(&[1.0, 0.0, 0.1]),
            unit(&[0.0, 1.0, 0.1]),
            unit(&[1.0, 0.05, 0.05]),
        ])
    }

    #[test]
    fn two_topics_make_two_facets_and_one_topic_one() {
        let facets = cluster(&two_topics(), &FacetParams::default());
        assert_eq!(facets.count(), 2, "{facets:?}");
        assert_eq!(facets.of_item, [0, 1, 0, 1, 0], "the larger facet is first");
        assert_eq!(facets.sizes(), [3, 2]);
        assert!(facets.silhouette > 0.5, "{facets:?}");
        assert_eq!(facets.anchors[0], 4, "the most central x item");

        let one = matrix(&[
            unit(&[1.0, 0.1, 0.0]),
            unit(&[1.0, 0.0, 0.1]),
            unit(&[1.0, 0.05, 0.05]),
            unit(&[1.0, 0.1, 0.1]),
        ]);
        assert_eq!(cluster(&one, &FacetParams::default()).count(), 1);
        assert_eq!(cluster(&Matrix::new(3), &FacetParams::default()).count(), 0);
    }

    #[test]
    fn items_beyond_the_clustered_ones_join_the_nearest_facet() {
        let params = FacetParams {
            max_items: 4,
            ..FacetParams::default()
        };
        let mut rows = two_topics();
        rows.push(&unit(&[0.05, 1.0, 0.0]));
        let facets = cluster(&rows, &params);
        assert_eq!(facets.of_item.len(), 6);
        assert_eq!(facets.of_item[5], facets.of_item[1]);
    }

    #[test]
    fn each_facet_is_named_by_the_terms_that_set_it_apart() {
        let texts = [
            "graph neural networks for molecules",
            "protein folding with deep learning",
            "graph neural networks learning molecular graphs",
            "protein structure deep learning",
            "message passing graph neural networks",
        ]
        .map(str::to_owned);
        let facets = cluster(&two_topics(), &FacetParams::default());
        let names = facet_terms(&texts, &facets, 3);
        assert!(
            names[0]
                .iter()
                .any(|t| t.contains("graph") || t.contains("neural")),
            "{names:?}"
        );
        assert!(names[1].iter().any(|t| t.contains("protein")), "{names:?}");
        for name in &names {
            let words: Vec<&str> = name.iter().flat_map(|t| t.split(' ')).collect();
            let mut distinct = words.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(words.len(), distinct.len(), "a word repeated in {name:?}");
        }
    }

    #[test]
    fn slots_follow_shares_every_good_facet_gets_one_and_muted_facets_none() {
        // A ranking dominated by facet 0; facet 1 appears at position 3, facet 2 at 30.
        let mut facet_of = vec![0; 40];
        facet_of[3] = 1;
        facet_of[7] = 1;
        facet_of[30] = 2;
        // Shares 3 : 1 : 1, ten slots, good depth 20: facet 2's paper is not good.
        let kept = allot(&facet_of, &[3.0, 1.0, 1.0], 10, 20);
        assert_eq!(kept.len(), 10);
        let in_facet = |f| kept.iter().filter(|&&p| facet_of[p] == f).count();
        assert_eq!((in_facet(0), in_facet(1), in_facet(2)), (8, 2, 0));
        // With equal shares, facet 1 has two papers for its five slots: the rest go back to
        // the ranking's order; facet 2 is good at depth 40.
        let kept = allot(&facet_of, &[1.0, 1.0, 1.0], 10, 40);
        assert_eq!((kept.len(), kept.contains(&30)), (10, true));
        assert!(kept.contains(&3) && kept.contains(&7));
        // Muted: none of facet 0.
        let kept = allot(&facet_of, &[0.0, 1.0, 1.0], 10, 40);
        assert_eq!(kept, [3, 7, 30]);
        // Fewer slots than good facets: the heavier facets get them.
        let kept = allot(&facet_of, &[1.0, 3.0, 2.0], 2, 40);
        assert_eq!(kept, [3, 30]);
        // Sections in the order of their best entry.
        let kept = allot(&facet_of, &[3.0, 1.0, 1.0], 10, 20);
        let sections = sections(&kept, &facet_of);
        assert_eq!(sections[0], (0, vec![0, 1, 2, 4, 5, 6, 8, 9]));
        assert_eq!(sections[1], (1, vec![3, 7]));
    }
}
