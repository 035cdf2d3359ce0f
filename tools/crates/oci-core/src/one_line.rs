//! Text from elsewhere (a registry's error body, an OS error) made fit for one terminal line.

/// `text` on one line, with control characters (which a registry's error text may carry to
/// recolour, move or erase what the terminal shows) escaped, and at most `max_chars`
/// characters: a longer text keeps its start and its last fifth, and says how many were cut.
pub fn one_line(text: &str, max_chars: usize) -> String {
    let escaped: Vec<String> = text
        .chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => " ".to_owned(),
            c if c.is_control() => c.escape_unicode().to_string(),
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
}
