//! Text from elsewhere (a registry's error body, an OS error, a launch config's keys) made fit
//! for one terminal line. The one rule for everything foreign that the tools print.

/// `text` on one line, with every character that could act on the terminal or hide what is
/// shown escaped as `\u{…}` (see [`is_invisible`]: control characters, which a registry's error
/// text may carry to recolour, move or erase what the terminal shows, and format characters,
/// which reorder text (bidi overrides) or hide it (zero-width)), and at most `max_chars`
/// characters: a longer text keeps its start and its last fifth, and says how many were cut.
/// Line breaks and tabs become spaces.
pub fn one_line(text: &str, max_chars: usize) -> String {
    let escaped: Vec<String> = text
        .chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => " ".to_owned(),
            c if is_invisible(c) => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect();
    if escaped.len() <= max_chars {
        return escaped.concat();
    }
    let kept_end = max_chars / 5;
    let cut = escaped.len() - max_chars;
    format!(
        "{} [… {cut} characters cut …] {}",
        escaped[..max_chars - kept_end].concat(),
        escaped[escaped.len() - kept_end..].concat()
    )
}

/// Format characters (Unicode general category Cf, as of Unicode 16): bidi embeddings,
/// overrides, isolates and marks, zero-width spaces and joiners, the word joiner and invisible
/// operators, the byte-order mark, interlinear annotation marks, tag characters, and the
/// script-specific format marks.
const FORMAT: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

/// Whether `c` is escaped rather than printed: a control character (category Cc), a format
/// character (Cf), or a line or paragraph separator (U+2028, U+2029), which some terminals
/// take as a line break.
fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}')
        || FORMAT
            .iter()
            .any(|&(first, last)| (first..=last).contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_long_lines_cut() {
        assert_eq!(
            one_line("denied: \u{1b}[31mred\rgone\u{7}", 100),
            "denied: \\u{1b}[31mred gone\\u{7}"
        );
        let long = format!("start {} end", "x".repeat(10_000));
        let safe = one_line(&long, 2000);
        assert!(
            safe.starts_with("start xxx") && safe.ends_with("xxx end"),
            "{safe}"
        );
        assert!(safe.contains(" [… 8010 characters cut …] "), "{safe}");
        assert!(safe.chars().count() < 2000 + 40);
    }

    #[test]
    fn format_characters_that_reorder_or_hide_text_are_escaped() {
        // A right-to-left override would show "gpj.exe" as "exe.jpg"; a zero-width space
        // would make two different names look alike.
        assert_eq!(
            one_line(
                "file\u{202E}gpj.exe a\u{200B}b \u{2066}x\u{2069} \u{FEFF}",
                100
            ),
            "file\\u{202e}gpj.exe a\\u{200b}b \\u{2066}x\\u{2069} \\u{feff}"
        );
        assert_eq!(
            one_line("tag\u{E0041}s\u{2028}", 100),
            "tag\\u{e0041}s\\u{2028}"
        );
        // Letters of every script, and combining marks, are kept.
        assert_eq!(one_line("café Ωμέγα 日本 é", 100), "café Ωμέγα 日本 é");
    }
}
