//! `VectorStore`: dense vectors in one contiguous, row-major `f32` matrix,
//! L2-normalised on insert so cosine similarity is a dot product. Exact
//! k-nearest-neighbour search scans every row; the inner loop is a plain
//! slice dot product the compiler vectorises.

use std::collections::HashMap;

use crate::SearchError;

/// All stored vectors, by document id.
#[derive(Debug, Default)]
pub struct VectorStore {
    dimensions: usize,
    ids: Vec<String>,
    rows: Vec<f32>,
    position: HashMap<String, usize>,
}

fn normalise(vector: &mut [f32]) {
    let norm = vector.iter().map(|value| value * value).sum::<f32>().sqrt();
    if norm > 0.0 {
        for value in vector.iter_mut() {
            *value /= norm;
        }
    }
}

fn dot(left: &[f32], right: &[f32]) -> f32 {
    // Eight independent accumulators let the compiler use SIMD lanes.
    let mut sums = [0.0f32; 8];
    let chunks = left.len() / 8 * 8;
    for (left_chunk, right_chunk) in left[..chunks]
        .chunks_exact(8)
        .zip(right[..chunks].chunks_exact(8))
    {
        for lane in 0..8 {
            sums[lane] += left_chunk[lane] * right_chunk[lane];
        }
    }
    let tail: f32 = left[chunks..]
        .iter()
        .zip(&right[chunks..])
        .map(|(a, b)| a * b)
        .sum();
    sums.iter().sum::<f32>() + tail
}

impl VectorStore {
    /// Dimensions of stored vectors (0 while empty).
    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// Number of stored vectors.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when no vector is stored.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Checks `vector` against the index's dimensions.
    pub fn check(&self, vector: &[f32]) -> Result<(), SearchError> {
        if vector.is_empty() {
            return Err(SearchError::InvalidArgument("vector is empty".into()));
        }
        if vector.iter().any(|value| !value.is_finite()) {
            return Err(SearchError::InvalidArgument(
                "vector has a non-finite value".into(),
            ));
        }
        if self.dimensions != 0 && vector.len() != self.dimensions {
            return Err(SearchError::Dimensions {
                expected: self.dimensions,
                found: vector.len(),
            });
        }
        Ok(())
    }

    /// Inserts or replaces the vector of `id`.
    pub fn upsert(&mut self, id: &str, vector: &[f32]) -> Result<(), SearchError> {
        self.check(vector)?;
        self.remove(id);
        if self.dimensions == 0 {
            self.dimensions = vector.len();
        }
        let mut row = vector.to_vec();
        normalise(&mut row);
        self.position.insert(id.to_owned(), self.ids.len());
        self.ids.push(id.to_owned());
        self.rows.extend_from_slice(&row);
        Ok(())
    }

    /// Removes the vector of `id` (swap-remove: O(dimensions)).
    pub fn remove(&mut self, id: &str) {
        let Some(position) = self.position.remove(id) else {
            return;
        };
        let last = self.ids.len() - 1;
        let dimensions = self.dimensions;
        if position != last {
            let (head, tail) = self.rows.split_at_mut(last * dimensions);
            head[position * dimensions..(position + 1) * dimensions]
                .copy_from_slice(&tail[..dimensions]);
            self.ids.swap(position, last);
            self.position.insert(self.ids[position].clone(), position);
        }
        self.ids.pop();
        self.rows.truncate(last * dimensions);
        if self.ids.is_empty() {
            self.dimensions = 0;
        }
    }

    /// The stored (normalised) vector of `id`.
    pub fn get(&self, id: &str) -> Option<&[f32]> {
        let position = *self.position.get(id)?;
        Some(&self.rows[position * self.dimensions..(position + 1) * self.dimensions])
    }

    /// The `k` most similar ids to `query` by cosine similarity, best first.
    pub fn nearest(&self, query: &[f32], k: usize) -> Result<Vec<(String, f32)>, SearchError> {
        if self.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        self.check(query)?;
        let mut normalised = query.to_vec();
        normalise(&mut normalised);
        let mut scored: Vec<(f32, usize)> = self
            .rows
            .chunks_exact(self.dimensions)
            .enumerate()
            .map(|(position, row)| (dot(row, &normalised), position))
            .collect();
        let keep = k.min(scored.len());
        scored.select_nth_unstable_by(keep - 1, |left, right| right.0.total_cmp(&left.0));
        scored.truncate(keep);
        scored.sort_by(|left, right| right.0.total_cmp(&left.0));
        Ok(scored
            .into_iter()
            .map(|(score, position)| (self.ids[position].clone(), score))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_neighbours_by_cosine() {
        let mut store = VectorStore::default();
        store.upsert("x", &[1.0, 0.0, 0.0]).expect("x");
        store.upsert("y", &[0.0, 1.0, 0.0]).expect("y");
        store.upsert("xy", &[1.0, 1.0, 0.0]).expect("xy");
        let found = store.nearest(&[2.0, 0.1, 0.0], 2).expect("knn");
        assert_eq!(found[0].0, "x");
        assert_eq!(found[1].0, "xy");
        assert!((found[0].1 - 0.9988).abs() < 1e-3);
        assert!(matches!(
            store.nearest(&[1.0, 0.0], 1),
            Err(SearchError::Dimensions {
                expected: 3,
                found: 2
            })
        ));
    }

    #[test]
    fn replace_and_remove_keep_rows_consistent() {
        let mut store = VectorStore::default();
        for (id, vector) in [("a", [1.0, 0.0]), ("b", [0.0, 1.0]), ("c", [1.0, 1.0])] {
            store.upsert(id, &vector).expect("upsert");
        }
        store.remove("a");
        store.upsert("b", &[1.0, 0.0]).expect("replace");
        assert_eq!(store.len(), 2);
        assert_eq!(store.nearest(&[1.0, 0.0], 1).expect("knn")[0].0, "b");
        assert!(store.get("a").is_none());
        let c = store.get("c").expect("c");
        assert!((c[0] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
    }

    #[test]
    fn dot_product_handles_tails() {
        let left: Vec<f32> = (0..19).map(|value| value as f32).collect();
        let expected: f32 = left.iter().map(|value| value * value).sum();
        assert_eq!(dot(&left, &left), expected);
    }
}
