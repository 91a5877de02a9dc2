//! Go `text/tabwriter` as configured by docker's formatter (`minwidth 10, padding 3`):
//! every column but the last is padded to `max(10, widest cell + 3)` characters.

const MIN_WIDTH: usize = 10;
const PADDING: usize = 3;

/// Rows of cells, rendered aligned the way `docker images` aligns them.
#[derive(Debug)]
pub struct Table {
    rows: Vec<Vec<String>>,
    min_width: usize,
}

impl Default for Table {
    fn default() -> Table {
        Table {
            rows: Vec::new(),
            min_width: MIN_WIDTH,
        }
    }
}

impl Table {
    /// A table whose first row is `header`.
    pub fn new(header: &[&str]) -> Table {
        Table {
            rows: vec![header.iter().map(|h| h.to_string()).collect()],
            ..Table::default()
        }
    }

    /// Another tabwriter minimum cell width (`docker top` uses 20).
    pub fn with_min_width(mut self, min_width: usize) -> Table {
        self.min_width = min_width;
        self
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The rendered table, one line per row, each ending in `\n`.
    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns.saturating_sub(1))
            .map(|c| {
                let widest = self
                    .rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0);
                (widest + PADDING).max(self.min_width)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            for (c, cell) in row.iter().enumerate() {
                out.push_str(cell);
                if let Some(width) = widths.get(c).filter(|_| c + 1 < row.len()) {
                    let pad = width.saturating_sub(cell.chars().count());
                    out.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_like_docker_images() {
        let mut t = Table::new(&["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]);
        t.row(vec![
            "busybox".into(),
            "latest".into(),
            "0123456789ab".into(),
            "2 hours ago".into(),
            "4.26MB".into(),
        ]);
        assert_eq!(
            t.render(),
            "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\n\
             busybox      latest    0123456789ab   2 hours ago   4.26MB\n"
        );
    }

    #[test]
    fn header_only() {
        let t = Table::new(&["A", "B"]);
        assert_eq!(t.render(), "A         B\n");
    }
}
