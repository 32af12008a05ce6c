//! Report files in the run's output folder.

use serde::Serialize;

use crate::bindings::easel::canvas::report;
use crate::error::{Error, Result};

/// A CSV file with a header row; fields are quoted as RFC 4180 requires.
pub struct Csv {
    file: report::File,
    columns: usize,
    rows: usize,
}

impl Csv {
    /// Create `name` (e.g. `courses.csv`) and write the header.
    pub fn create(name: &str, header: &[&str]) -> Result<Self> {
        let file = report::create(name).map_err(Error::Report)?;
        let mut csv = Self {
            file,
            columns: header.len(),
            rows: 0,
        };
        csv.write_record(header)?;
        Ok(csv)
    }

    /// Append one row; it must have as many fields as the header.
    pub fn row(&mut self, fields: &[&str]) -> Result<()> {
        if fields.len() != self.columns {
            return Err(Error::Report(format!(
                "row has {} fields, header has {}",
                fields.len(),
                self.columns
            )));
        }
        self.rows += 1;
        self.write_record(fields)
    }

    /// Rows written so far (without the header).
    pub fn rows(&self) -> usize {
        self.rows
    }

    fn write_record(&mut self, fields: &[&str]) -> Result<()> {
        let mut line = String::new();
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            if f.contains([',', '"', '\n', '\r']) {
                line.push('"');
                line.push_str(&f.replace('"', "\"\""));
                line.push('"');
            } else {
                line.push_str(f);
            }
        }
        line.push_str("\r\n");
        self.file.write(line.as_bytes()).map_err(Error::Report)
    }
}

/// Write `value` as pretty JSON to `name` (e.g. `summary.json`).
pub fn json<T: Serialize>(name: &str, value: &T) -> Result<()> {
    let file = report::create(name).map_err(Error::Report)?;
    let text = serde_json::to_vec_pretty(value).map_err(|e| Error::Report(e.to_string()))?;
    file.write(&text).map_err(Error::Report)
}
