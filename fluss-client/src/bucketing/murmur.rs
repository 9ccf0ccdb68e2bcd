//! The 32-bit MurmurHash3 variants behind Fluss's bucketing functions.
//!
//! - [`fluss_murmur`]: Fluss's (originally Flink's) `MurmurHashUtils.hashBytes`, seed 42. Whole
//!   4-byte words are mixed as in MurmurHash3, but every tail byte is sign-extended and mixed
//!   on its own, body-style, before the length is folded into the finaliser. It therefore
//!   differs from standard MurmurHash3 whenever the length is not a multiple of 4.
//! - [`mix_int`]: Fluss's `MathUtils.murmurHash(int)`, one more MurmurHash3 round over a
//!   32-bit hash, ending in a non-negative value.
//! - [`murmur3_x86_32`]: standard MurmurHash3_x86_32 (Guava's `murmur3_32_fixed`), the hash of
//!   Iceberg's bucket transform (with seed 0).
//!
//! All arithmetic wraps, as Java `int` arithmetic does; words are read little-endian.

/// The seed of [`fluss_murmur`] (`MurmurHashUtils.DEFAULT_SEED`).
pub const FLUSS_SEED: u32 = 42;

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

/// Scrambles one 32-bit block (`mixK1`).
#[inline]
fn mix_k1(k1: u32) -> u32 {
    k1.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2)
}

/// Folds a scrambled block into the running hash (`mixH1`).
#[inline]
fn mix_h1(h1: u32, k1: u32) -> u32 {
    (h1 ^ k1).rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64)
}

/// The MurmurHash3 finaliser (`fmix`, Fluss's `bitMix`): forces every input bit to affect
/// every output bit.
#[inline]
fn fmix(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

/// Mixes the whole little-endian 4-byte words of `bytes` into `seed`; returns the hash so far
/// and the 0 to 3 bytes left over.
#[inline]
fn mix_words(bytes: &[u8], seed: u32) -> (u32, &[u8]) {
    let words = bytes.chunks_exact(4);
    let tail = words.remainder();
    let h1 = words.fold(seed, |h1, w| {
        mix_h1(h1, mix_k1(u32::from_le_bytes([w[0], w[1], w[2], w[3]])))
    });
    (h1, tail)
}

/// Fluss's `MurmurHashUtils.hashBytes(byte[])` (seed 42), as a Java `int`.
///
/// Each tail byte is sign-extended to 32 bits and mixed like a whole block (`mixK1` then
/// `mixH1`); the final step is `fmix(h ^ length)`. For lengths that are a multiple of 4 this is
/// also Paimon's `BinaryRow.hashCode()` (`hashBytesByWords`).
pub fn fluss_murmur(bytes: &[u8]) -> i32 {
    let (mut h1, tail) = mix_words(bytes, FLUSS_SEED);
    for &b in tail {
        h1 = mix_h1(h1, mix_k1(b as i8 as i32 as u32));
    }
    // Java folds in the `int` length; key bytes never approach 2 GiB.
    fmix(h1 ^ bytes.len() as u32) as i32
}

/// Fluss's `MathUtils.murmurHash(int)`: one MurmurHash3 round over `code` from a zero state
/// (`mixK1`, `mixH1`), `^ 4` (the length of one int), `fmix`; then the absolute value, with
/// `i32::MIN` mapped to 0. The result is never negative.
pub fn mix_int(code: i32) -> i32 {
    let h = fmix(mix_h1(0, mix_k1(code as u32)) ^ 4) as i32;
    if h == i32::MIN { 0 } else { h.abs() }
}

/// Standard MurmurHash3_x86_32 of `bytes` with `seed` (Guava's `murmur3_32_fixed`).
///
/// The 1 to 3 tail bytes are read unsigned into one little-endian block that is scrambled
/// and xored in without the `mixH1` step, as the reference implementation does.
pub fn murmur3_x86_32(bytes: &[u8], seed: u32) -> u32 {
    let (mut h1, tail) = mix_words(bytes, seed);
    if !tail.is_empty() {
        let k1 = tail.iter().rev().fold(0u32, |k1, &b| (k1 << 8) | u32::from(b));
        h1 ^= mix_k1(k1);
    }
    fmix(h1 ^ bytes.len() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur3_reference_vectors() {
        // Published MurmurHash3_x86_32 vectors (the SMHasher reference implementation).
        assert_eq!(murmur3_x86_32(b"", 0), 0);
        assert_eq!(murmur3_x86_32(b"", 1), 0x514e_28b7);
        assert_eq!(murmur3_x86_32(b"", 0xffff_ffff), 0x81f1_6f39);
        assert_eq!(murmur3_x86_32(&[0, 0, 0, 0], 0), 0x2362_f9de);
        assert_eq!(murmur3_x86_32(&[0xff, 0xff, 0xff, 0xff], 0), 0x7629_3b50);
        assert_eq!(murmur3_x86_32(&[0x21, 0x43, 0x65, 0x87], 0), 0xf55b_516b);
        assert_eq!(murmur3_x86_32(&[0x21, 0x43, 0x65, 0x87], 0x5082_edee), 0x2362_f9de);
        assert_eq!(murmur3_x86_32(&[0x21, 0x43, 0x65], 0), 0x7e4a_8634);
        assert_eq!(murmur3_x86_32(&[0x21, 0x43], 0), 0xa0f7_b07a);
        assert_eq!(murmur3_x86_32(&[0x21], 0), 0x7266_1cf4);
        assert_eq!(murmur3_x86_32(b"hello", 0), 0x248b_fa47);
        assert_eq!(murmur3_x86_32(b"aaaa", 0x9747_b28c), 0x5a97_808a);
        assert_eq!(murmur3_x86_32(b"aaa", 0x9747_b28c), 0x283e_0130);
        assert_eq!(murmur3_x86_32(b"aa", 0x9747_b28c), 0x5d21_1726);
        assert_eq!(murmur3_x86_32(b"a", 0x9747_b28c), 0x7fa0_9ea6);
        assert_eq!(murmur3_x86_32(b"Hello, world!", 0x9747_b28c), 0x2488_4cba);
        assert_eq!(
            murmur3_x86_32(b"The quick brown fox jumps over the lazy dog", 0x9747_b28c),
            0x2fa8_26cd
        );
    }

    #[test]
    fn fluss_murmur_equals_murmur3_on_whole_words() {
        // With no tail bytes the two variants differ only in the seed.
        for data in [&b""[..], b"abcd", b"abcdefgh", b"0123456789ab"] {
            assert_eq!(fluss_murmur(data), murmur3_x86_32(data, FLUSS_SEED) as i32);
        }
    }

    #[test]
    fn fluss_murmur_mixes_tail_bytes_one_by_one() {
        // A tail of one byte: sign-extended, then a full body round.
        let b = 0x9cu8;
        let expected = fmix(mix_h1(FLUSS_SEED, mix_k1(0xffff_ff9c)) ^ 1) as i32;
        assert_eq!(fluss_murmur(&[b]), expected);
        assert_ne!(fluss_murmur(&[b]), murmur3_x86_32(&[b], FLUSS_SEED) as i32);
        // The tail rounds follow the words.
        let data = [1u8, 2, 3, 4, 5, 0x80];
        let mut h = mix_h1(FLUSS_SEED, mix_k1(0x0403_0201));
        h = mix_h1(h, mix_k1(5));
        h = mix_h1(h, mix_k1(0xffff_ff80));
        assert_eq!(fluss_murmur(&data), fmix(h ^ 6) as i32);
    }

    #[test]
    fn mix_int_is_non_negative_and_matches_one_murmur3_round() {
        for code in [0, 1, -1, 42, i32::MIN, i32::MAX, 0x1234_5678] {
            let h = mix_int(code);
            assert!(h >= 0);
            // One round over the 4 LE bytes of `code` with seed 0 is murmur3 of those bytes.
            let reference = murmur3_x86_32(&code.to_le_bytes(), 0) as i32;
            assert_eq!(h, if reference == i32::MIN { 0 } else { reference.abs() });
        }
    }
}
