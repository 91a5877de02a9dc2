//! Output formatting shared by every verb, reproducing the docker CLI's exact strings:
//! go-units sizes and durations, `text/tabwriter` tables and a subset of Go templates.

pub mod context;
pub mod duration;
pub mod size;
pub mod table;
pub mod template;

pub use duration::created_since;
pub use size::{bytes_size, human_size, human_size_precision};
pub use table::Table;

/// Docker's `stringid.TruncateID`: drop the algorithm prefix and keep 12 hex digits.
pub fn short_id(id: &str) -> &str {
    let hex = id.split_once(':').map_or(id, |(_, hex)| hex);
    hex.get(..12).unwrap_or(hex)
}

/// Docker's `formatter.Ellipsis`: cut to `max` characters, the last one being `…`.
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_id_strips_algorithm() {
        assert_eq!(short_id("sha256:0123456789abcdef0123"), "0123456789ab");
        assert_eq!(short_id("0123456789abcdef"), "0123456789ab");
        assert_eq!(short_id("sha256:abc"), "abc");
    }

    #[test]
    fn ellipsis_counts_characters() {
        assert_eq!(ellipsis("short", 45), "short");
        assert_eq!(ellipsis("abcdef", 4), "abc…");
        assert_eq!(ellipsis("ééééé", 3), "éé…");
    }
}
