//! kubectl's table layout: uppercase headers, columns padded to their widest cell and three spaces
//! apart, `<none>` for an empty cell.

/// Rows under headers, rendered with aligned columns.
#[derive(Debug)]
pub(crate) struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

const GAP: &str = "   ";
const EMPTY: &str = "<none>";

impl Table {
    /// A table with these column headers (uppercase, as kubectl prints them).
    pub(crate) fn new(headers: &[&'static str]) -> Self {
        Self { headers: headers.to_vec(), rows: Vec::new() }
    }

    /// Add a row; missing cells are empty, cells beyond the headers are dropped.
    pub(crate) fn push(&mut self, mut row: Vec<String>) {
        row.resize(self.headers.len(), String::new());
        self.rows.push(row);
    }

    /// Whether no row was added.
    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text, one line per row, each ending with a newline.
    pub(crate) fn render(&self) -> String {
        let cells: Vec<Vec<&str>> = std::iter::once(self.headers.clone())
            .chain(self.rows.iter().map(|row| row.iter().map(|c| display_cell(c)).collect()))
            .collect();
        let mut widths = vec![0; self.headers.len()];
        for row in &cells {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in &cells {
            let mut line = String::new();
            for (index, (cell, width)) in row.iter().zip(&widths).enumerate() {
                if index > 0 {
                    line.push_str(GAP);
                }
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', width - cell.chars().count()));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// What a cell shows: `<none>` when empty.
fn display_cell(cell: &str) -> &str {
    if cell.trim().is_empty() { EMPTY } else { cell }
}

/// `text` on one line, cut to `max` characters with `...` when longer (for free text in a column).
pub(crate) fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let flat = flat.trim();
    if flat.chars().count() <= max {
        return flat.to_string();
    }
    let cut: String = flat.chars().take(max.saturating_sub(3)).collect();
    format!("{}...", cut.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_aligned_three_spaces_apart() {
        let mut table = Table::new(&["NAME", "PHASE", "READY"]);
        table.push(vec!["finance-officer".into(), "Ready".into(), "2/2".into()]);
        table.push(vec!["ops".into(), "Degraded".into(), "0/1".into()]);
        assert_eq!(
            table.render(),
            "NAME              PHASE      READY\n\
             finance-officer   Ready      2/2\n\
             ops               Degraded   0/1\n"
        );
    }

    #[test]
    fn empty_cells_show_none_and_lines_have_no_trailing_spaces() {
        let mut table = Table::new(&["NAME", "MODEL", "CAPABILITIES"]);
        table.push(vec!["a".into(), String::new(), String::new()]);
        table.push(vec!["b".into()]);
        let text = table.render();
        assert_eq!(text, "NAME   MODEL    CAPABILITIES\na      <none>   <none>\nb      <none>   <none>\n");
        assert!(text.lines().all(|line| !line.ends_with(' ')));
    }

    #[test]
    fn a_table_without_rows_is_its_headers() {
        let table = Table::new(&["ID", "AGENT"]);
        assert!(table.is_empty());
        assert_eq!(table.render(), "ID   AGENT\n");
    }

    #[test]
    fn widths_count_characters_not_bytes() {
        let mut table = Table::new(&["A", "B"]);
        table.push(vec!["héllo".into(), "x".into()]);
        assert_eq!(table.render(), "A       B\nhéllo   x\n");
    }

    #[test]
    fn free_text_is_flattened_and_cut() {
        assert_eq!(one_line("two\nlines", 20), "two lines");
        assert_eq!(one_line("abcdefghijkl", 8), "abcde...");
        assert_eq!(one_line("short", 8), "short");
    }
}
