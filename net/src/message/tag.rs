//! Tag hashing (§10.4): consume queues and subscriptions compare tags by Java's
//! `String.hashCode()`, so it must be reproduced exactly.

/// Java `String.hashCode()`: `h = 31 * h + c` over UTF-16 code units, wrapping.
/// Characters outside the BMP count as two units (a surrogate pair), as in Java.
/// Consume-queue entries store this sign-extended to 64 bits (`i64::from`).
pub fn java_string_hash(text: &str) -> i32 {
    text.encode_utf16().fold(0i32, |hash, unit| {
        hash.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_java_values() {
        // Values computed by java.lang.String#hashCode.
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("TagA"), 2598919);
        assert_eq!(java_string_hash("TagB"), 2598920);
        assert_eq!(java_string_hash("hello"), 99162322);
        // Wraps: "polygenelubricants".hashCode() == Integer.MIN_VALUE.
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        // 'é' is one UTF-16 unit (0xE9); U+1F600 is the pair D83D DE00.
        assert_eq!(java_string_hash("é"), 0xE9);
        assert_eq!(java_string_hash("\u{1F600}"), 0xD83D * 31 + 0xDE00);
    }
}
