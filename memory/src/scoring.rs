//! How a memory ranks for a request: its similarity to the request, weighted by how important
//! it is and how recent.
//!
//! ```text
//! score = similarity × (0.75 + 0.25 × importance) × (0.8 + 0.2 × 2^(−age_days / 30))
//! ```
//!
//! Similarity (cosine, −1..=1) decides; importance (0..=1) moves a score by up to 25 % and
//! recency by up to 20 %, halving its bonus every 30 days. Both weights are at most 1, so a
//! score never exceeds its similarity: ranking the best-by-similarity candidates by score loses
//! no memory whose score could beat theirs once the candidates reach below the k-th score.
//! `minScore` (the Agent's `memory.minScore`) is compared with the similarity, as the CRD says
//! ("memories less similar than this are left out"), so a threshold means the same whatever the
//! memory's age or importance.

/// Days over which recency's bonus halves.
pub const RECENCY_HALF_LIFE_DAYS: f64 = 30.0;
/// Share of the score importance moves.
pub const IMPORTANCE_WEIGHT: f32 = 0.25;
/// Share of the score recency moves.
pub const RECENCY_WEIGHT: f32 = 0.2;

/// The ranking score of a memory `age_seconds` old.
pub fn score(similarity: f32, importance: f32, age_seconds: f64) -> f32 {
    let age_days = age_seconds.max(0.0) / 86_400.0;
    // Within 0..=1, so the cast cannot cut.
    #[allow(clippy::cast_possible_truncation)]
    let recency = (-age_days / RECENCY_HALF_LIFE_DAYS).exp2() as f32;
    let importance = importance.clamp(0.0, 1.0);
    similarity
        * (1.0 - IMPORTANCE_WEIGHT + IMPORTANCE_WEIGHT * importance)
        * (1.0 - RECENCY_WEIGHT + RECENCY_WEIGHT * recency)
}

/// [`score`] as a SQL expression of the columns or expressions given, for ranking candidates in
/// PostgreSQL before their vectors are read.
pub(crate) fn score_sql(similarity: &str, importance: &str, created_at: &str) -> String {
    format!(
        "{similarity} * ({} + {IMPORTANCE_WEIGHT} * least(greatest({importance}, 0), 1)) \
         * ({} + {RECENCY_WEIGHT} * power(2, -greatest(extract(epoch FROM now() - {created_at}), 0) \
         / 86400 / {RECENCY_HALF_LIFE_DAYS}))",
        1.0 - IMPORTANCE_WEIGHT,
        1.0 - RECENCY_WEIGHT,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn importance_and_recency_weigh_but_never_exceed_similarity() {
        assert!((score(0.8, 1.0, 0.0) - 0.8).abs() < 1e-6);
        assert!((score(0.8, 0.0, 0.0) - 0.6).abs() < 1e-6);
        let month = 30.0 * 86_400.0;
        assert!((score(1.0, 1.0, month) - 0.9).abs() < 1e-6);
        assert!(score(0.8, 1.0, 10.0 * month) < score(0.8, 1.0, month));
        assert!(score(0.5, 0.2, 3.0 * month) <= 0.5);
    }

    #[test]
    fn the_sql_score_has_the_same_weights() {
        let sql = score_sql("s", "i", "c");
        assert_eq!(
            sql,
            "s * (0.75 + 0.25 * least(greatest(i, 0), 1)) * (0.8 + 0.2 * power(2, -greatest(extract(epoch \
             FROM now() - c), 0) / 86400 / 30))"
        );
    }
}
