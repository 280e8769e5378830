//! The two codes the in-process index keeps per vector, and the loops that compare them:
//!
//! - a **sign code**: one bit per dimension, set when the component is above the index's centre
//!   (the mean of the vectors it was built from). Hamming distance between sign codes tracks the
//!   angle between vectors (the SimHash argument), at 1/32 of f32's size, compared with XOR and
//!   popcount on 64 dimensions at a time;
//! - an **int8 code**: each component scaled by 127 / max |component|, rounded; a dot product in
//!   i32 times the two scales approximates the f32 dot product within about 1 %.
//!
//! The loops are plain iterator code the compiler vectorises; on x86-64 the hot ones are also
//! compiled for AVX2 + POPCNT and picked at run time, so one binary runs everywhere.

/// The int8 code of `vector` and its scale (`component ≈ code × scale`).
pub(crate) fn int8_code(vector: &[f32]) -> (Vec<i8>, f32) {
    let peak = vector.iter().fold(0.0f32, |peak, x| peak.max(x.abs()));
    if peak == 0.0 {
        return (vec![0; vector.len()], 0.0);
    }
    let scale = peak / 127.0;
    // Within -127..=127 by construction of `scale`, so the cast cannot cut.
    #[allow(clippy::cast_possible_truncation)]
    let code = vector.iter().map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8).collect();
    (code, scale)
}

/// The sign code of `vector` against `centre`, in `dimensions.div_ceil(64)` words.
pub(crate) fn sign_code(vector: &[f32], centre: &[f32]) -> Vec<u64> {
    let mut words = vec![0u64; vector.len().div_ceil(64)];
    for (i, (x, c)) in vector.iter().zip(centre).enumerate() {
        if x > c {
            words[i / 64] |= 1 << (i % 64);
        }
    }
    words
}

/// Dot product of two int8 codes.
pub(crate) fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { dot_i8_avx2(a, b) };
    }
    dot_i8_plain(a, b)
}

#[inline(always)]
fn dot_i8_plain(a: &[i8], b: &[i8]) -> i32 {
    // i16 products summed in i32 lanes: the shape `pmaddwd` computes.
    a.iter().zip(b).map(|(x, y)| i32::from(i16::from(*x) * i16::from(*y))).sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_i8_avx2(a: &[i8], b: &[i8]) -> i32 {
    dot_i8_plain(a, b)
}

/// Hamming distances from `query` to every code in `codes` (`words` u64 per code), into `out`.
pub(crate) fn hamming_all(query: &[u64], codes: &[u64], words: usize, out: &mut Vec<u32>) {
    out.clear();
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has POPCNT and AVX2, checked just above.
        unsafe { hamming_all_fast(query, codes, words, out) };
        return;
    }
    hamming_all_plain(query, codes, words, out);
}

#[inline(always)]
fn hamming_all_plain(query: &[u64], codes: &[u64], words: usize, out: &mut Vec<u32>) {
    out.extend(
        codes
            .chunks_exact(words)
            .map(|code| code.iter().zip(query).map(|(a, b)| (a ^ b).count_ones()).sum::<u32>()),
    );
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt,avx2")]
fn hamming_all_fast(query: &[u64], codes: &[u64], words: usize, out: &mut Vec<u32>) {
    hamming_all_plain(query, codes, words, out);
}

/// Exact cosine of two unit vectors (their dot product).
pub(crate) fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_dot_tracks_the_f32_dot() {
        let a: Vec<f32> = (0..384).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
        let b: Vec<f32> = (0..384).map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0).collect();
        let (qa, sa) = int8_code(&a);
        let (qb, sb) = int8_code(&b);
        let approx = dot_i8(&qa, &qb) as f32 * sa * sb;
        let exact = dot_f32(&a, &b);
        let norm = dot_f32(&a, &a).sqrt() * dot_f32(&b, &b).sqrt();
        assert!((approx - exact).abs() / norm < 0.01, "{approx} vs {exact}");
        assert_eq!(dot_i8_plain(&qa, &qb), dot_i8(&qa, &qb));
    }

    #[test]
    fn hamming_counts_differing_signs() {
        let centre = vec![0.0; 70];
        let mut a = vec![1.0f32; 70];
        let code_a = sign_code(&a, &centre);
        a[3] = -1.0;
        a[69] = -1.0;
        let code_b = sign_code(&a, &centre);
        let mut out = Vec::new();
        let codes: Vec<u64> = code_a.iter().chain(&code_b).copied().collect();
        hamming_all(&code_a, &codes, 2, &mut out);
        assert_eq!(out, [0, 2]);
        assert_eq!(int8_code(&[0.0, 0.0]), (vec![0, 0], 0.0));
    }
}
