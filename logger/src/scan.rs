//! Finding newlines fast: eight bytes at a time, with no allocation.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;
const NEWLINES: u64 = 0x0a0a_0a0a_0a0a_0a0a;

/// Returns the index of the first `\n` in `hay`, if any.
pub fn find_newline(hay: &[u8]) -> Option<usize> {
    let mut chunks = hay.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        // A byte of x is zero where the input byte was '\n'; the usual "has a zero byte"
        // test marks the lowest such byte exactly (borrows only disturb higher bytes).
        let x = u64::from_le_bytes(word) ^ NEWLINES;
        let found = x.wrapping_sub(ONES) & !x & HIGHS;
        if found != 0 {
            return Some(base + (found.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b'\n')
        .map(|p| base + p)
}

/// Where to cut a line of more than `max` bytes: at `max`, or up to 3 bytes earlier so as
/// not to cut a UTF-8 character in two (binary input is simply cut at `max`).
pub fn cut_point(line: &[u8], max: usize) -> usize {
    let is_cont = |i: usize| line.get(i).is_some_and(|&b| b & 0xc0 == 0x80);
    if !is_cont(max) {
        return max;
    }
    for back in 1..=3.min(max) {
        let at = max - back;
        if !is_cont(at) {
            // `at` holds the lead byte of the character that `max` would cut.
            return if line.get(at).is_some_and(|&b| b >= 0xc0) {
                at
            } else {
                max
            };
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_newline_like_the_naive_loop() {
        let mut buf = vec![b'x'; 70];
        assert_eq!(find_newline(&buf), None);
        assert_eq!(find_newline(&[]), None);
        for i in 0..70 {
            buf[i] = b'\n';
            for j in i + 1..70 {
                buf[j] = b'\n';
                assert_eq!(find_newline(&buf), Some(i), "{i} {j}");
                assert_eq!(find_newline(&buf[i + 1..]), Some(j - i - 1));
                buf[j] = b'x';
            }
            assert_eq!(find_newline(&buf), Some(i));
            buf[i] = 0x8a; // a byte that differs from '\n' only in the high bit
            assert_eq!(find_newline(&buf), None);
            buf[i] = 0x0b;
            assert_eq!(find_newline(&buf), None);
            buf[i] = b'x';
        }
    }

    #[test]
    fn cuts_keep_utf8_characters_whole() {
        assert_eq!(cut_point(b"abcdefgh", 4), 4);
        // "ab" + "é" (c3 a9) + ...: cutting at 3 would split é, so cut at 2.
        assert_eq!(cut_point("abécd".as_bytes(), 3), 2);
        assert_eq!(cut_point("ab€cd".as_bytes(), 4), 2);
        assert_eq!(cut_point("ab€cd".as_bytes(), 5), 5);
        // Stray continuation bytes (binary): cut where asked.
        assert_eq!(cut_point(&[b'a', 0x80, 0x80, 0x80, 0x80, 0x80], 5), 5);
    }
}
