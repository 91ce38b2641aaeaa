//! Reciprocal rank fusion: combines ranked lists by summing
//! `weight / (k + rank)` per document (rank from 1), so lists with
//! incomparable scores (BM25, cosine) merge fairly.

use std::collections::HashMap;

/// The usual smoothing constant.
pub const RRF_K: f32 = 60.0;

/// Fuses `(weight, ranked ids)` lists; returns `(id, fused score)` best first.
pub fn reciprocal_rank_fusion(lists: &[(f32, Vec<String>)]) -> Vec<(String, f32)> {
    let mut scores: HashMap<&str, f32> = HashMap::new();
    for (weight, ids) in lists {
        for (rank, id) in ids.iter().enumerate() {
            *scores.entry(id.as_str()).or_default() += weight / (RRF_K + rank as f32 + 1.0);
        }
    }
    let mut fused: Vec<(String, f32)> = scores
        .into_iter()
        .map(|(id, score)| (id.to_owned(), score))
        .collect();
    fused.sort_by(|left, right| {
        right
            .1
            .total_cmp(&left.1)
            .then_with(|| left.0.cmp(&right.0))
    });
    fused
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_high_in_both_lists_win() {
        let fused = reciprocal_rank_fusion(&[
            (1.0, vec!["a".into(), "b".into(), "c".into()]),
            (1.0, vec!["b".into(), "c".into(), "a".into()]),
        ]);
        assert_eq!(fused[0].0, "b");
        let vector_only =
            reciprocal_rank_fusion(&[(0.0, vec!["a".into()]), (1.0, vec!["z".into()])]);
        assert_eq!(vector_only[0].0, "z");
    }
}
