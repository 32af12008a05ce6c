//! SIS import files: the CSV a SIS import carries, read the way Canvas
//! reads it, so that every SIS id in every row is placed like any other id.
//!
//! Threat: a file whose rows name another school's objects. A SIS import
//! applies each row to the object its SIS ids name, wherever that object
//! lies, and Canvas takes imports only on the root account, so the path
//! says nothing about the school. Canvas reads a SIS CSV with its headers
//! downcased and every value stripped of surrounding whitespace. easel reads
//! the four files a school's automation needs (users, courses, sections and
//! enrollments) and only the columns listed here. It refuses anything it
//! would read differently from Canvas:
//! - a header it does not model, or a column it does not list;
//! - a malformed quote, or a row with more or fewer fields than the header;
//! - an id with surrounding whitespace;
//! - a status or role outside the listed words.
//!
//! The bytes sent are written again from the parsed rows.

use crate::decide::{Denial, Rule};
use crate::operation::{MAX_SIS_VALUE, ObjectKind, shorten, sis_value_is_exact};

/// Most rows one import may carry (the header excluded).
pub const MAX_ROWS: usize = 10_000;

/// What a column of a SIS CSV holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// The row's own object, by SIS id: one in the school, or one Canvas
    /// does not have yet (the row creates it).
    Creates(ObjectKind),
    /// A user's login (`login_id` of users.csv). Canvas gives an existing
    /// login to the row's user, so a login that exists must be the
    /// school's.
    Login,
    /// An object, by SIS id, that must lie in the school.
    Ref(ObjectKind),
    /// The user an enrollment row enrols: one in the school, or one with
    /// no enrollment anywhere yet (a new user of the same SIS feed).
    Enrollee,
    /// A value that names nothing another school owns: a name, a date, a
    /// password, a term's SIS id.
    Attr,
    /// One of these words, exactly.
    OneOf(&'static [&'static str]),
}

/// One kind of SIS CSV file easel reads.
#[derive(Debug, PartialEq, Eq)]
pub struct FileKind {
    /// Canvas's name for the file, e.g. `enrollments.csv`.
    pub name: &'static str,
    /// The column whose presence marks this kind.
    marker: &'static str,
    /// Every column easel reads in this file.
    pub columns: &'static [(&'static str, Column)],
    /// Columns that must be present with a value in every row.
    pub required: &'static [&'static str],
}

use Column::{Attr, Creates, Enrollee, Login, OneOf, Ref};
use ObjectKind::{Account, Course, Section, User};

const DATE: Column = Attr;

/// The files easel reads, tried in this order by their marker column.
pub static FILE_KINDS: &[FileKind] = &[
    FileKind {
        name: "users.csv",
        marker: "login_id",
        columns: &[
            ("user_id", Creates(User)),
            ("login_id", Login),
            ("password", Attr),
            ("first_name", Attr),
            ("last_name", Attr),
            ("full_name", Attr),
            ("sortable_name", Attr),
            ("short_name", Attr),
            ("email", Attr),
            ("pronouns", Attr),
            ("authentication_provider_id", Attr),
            ("status", OneOf(&["active", "suspended", "deleted"])),
        ],
        required: &["user_id", "login_id", "status"],
    },
    FileKind {
        name: "courses.csv",
        marker: "long_name",
        columns: &[
            ("course_id", Creates(Course)),
            ("short_name", Attr),
            ("long_name", Attr),
            ("account_id", Ref(Account)),
            ("term_id", Attr),
            (
                "status",
                OneOf(&["active", "deleted", "completed", "published"]),
            ),
            ("start_date", DATE),
            ("end_date", DATE),
            ("course_format", OneOf(&["on_campus", "online", "blended"])),
            ("blueprint_course_id", Ref(Course)),
        ],
        // Without account_id Canvas puts a new course in the root account,
        // outside every school.
        required: &[
            "course_id",
            "short_name",
            "long_name",
            "account_id",
            "status",
        ],
    },
    FileKind {
        name: "enrollments.csv",
        marker: "role",
        columns: &[
            ("course_id", Ref(Course)),
            ("section_id", Ref(Section)),
            ("user_id", Enrollee),
            (
                "role",
                OneOf(&["student", "teacher", "ta", "observer", "designer"]),
            ),
            (
                "status",
                OneOf(&["active", "deleted", "completed", "inactive"]),
            ),
            ("start_date", DATE),
            ("end_date", DATE),
            ("associated_user_id", Ref(User)),
            ("limit_section_privileges", OneOf(&["true", "false"])),
            ("notify", OneOf(&["true", "false"])),
        ],
        required: &["user_id", "role", "status"],
    },
    FileKind {
        name: "sections.csv",
        marker: "section_id",
        columns: &[
            ("section_id", Creates(Section)),
            ("course_id", Ref(Course)),
            ("name", Attr),
            ("status", OneOf(&["active", "deleted"])),
            ("start_date", DATE),
            ("end_date", DATE),
        ],
        required: &["section_id", "course_id", "name", "status"],
    },
];

/// A SIS CSV file, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SisCsv {
    kind: &'static FileKind,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn form(reason: impl Into<String>) -> Denial {
    Denial {
        rule: Rule::BodyForm,
        reason: reason.into(),
    }
}

impl SisCsv {
    /// Parse and check a SIS import's CSV text.
    pub fn parse(text: &str) -> Result<Self, Denial> {
        if text.len() > crate::body::MAX_BODY_BYTES {
            return Err(form(format!(
                "a SIS import file may be at most {} bytes; split it",
                crate::body::MAX_BODY_BYTES
            )));
        }
        let mut records = records(text)?.into_iter();
        let header = records
            .next()
            .ok_or_else(|| form("the SIS import file is empty"))?;
        let kind = kind_of(&header)?;
        let rows: Vec<Vec<String>> = records.collect();
        if rows.is_empty() {
            return Err(form(format!("{} has a header but no rows", kind.name)));
        }
        if rows.len() > MAX_ROWS {
            return Err(form(format!(
                "a SIS import may carry at most {MAX_ROWS} rows; split it"
            )));
        }
        let csv = Self { kind, header, rows };
        for (n, row) in csv.rows.iter().enumerate() {
            csv.check_row(n + 2, row)?;
        }
        Ok(csv)
    }

    /// The kind of file.
    pub fn kind(&self) -> &'static FileKind {
        self.kind
    }

    /// How many rows it carries.
    pub fn rows(&self) -> usize {
        self.rows.len()
    }

    /// Every non-empty value of every row, with what its column holds:
    /// `(line, column, value)`.
    pub fn cells(&self) -> impl Iterator<Item = (usize, Column, &str)> + '_ {
        self.rows.iter().enumerate().flat_map(move |(n, row)| {
            row.iter().zip(&self.header).filter_map(move |(v, h)| {
                let column = self.column(h)?;
                (!v.is_empty()).then_some((n + 2, column, v.as_str()))
            })
        })
    }

    fn column(&self, name: &str) -> Option<Column> {
        self.kind
            .columns
            .iter()
            .find(|(c, _)| *c == name)
            .map(|(_, col)| *col)
    }

    fn check_row(&self, line: usize, row: &[String]) -> Result<(), Denial> {
        let name = self.kind.name;
        if row.len() != self.header.len() {
            return Err(form(format!(
                "{name} line {line} has {} fields where the header has {}",
                row.len(),
                self.header.len()
            )));
        }
        for required in self.kind.required {
            let i = self.header.iter().position(|h| h == required);
            if i.is_none_or(|i| row[i].is_empty()) {
                return Err(form(format!(
                    "{name} line {line} gives no {required}, which easel requires{}",
                    if *required == "account_id" {
                        " (without it Canvas would put a new course in the root account, outside the school)"
                    } else {
                        ""
                    }
                )));
            }
        }
        if self.kind.name == "enrollments.csv" {
            let has = |c: &str| {
                self.header
                    .iter()
                    .position(|h| h == c)
                    .is_some_and(|i| !row[i].is_empty())
            };
            if !has("course_id") && !has("section_id") {
                return Err(form(format!(
                    "{name} line {line} names neither a course_id nor a section_id"
                )));
            }
        }
        for (value, header) in row.iter().zip(&self.header) {
            let Some(column) = self.column(header) else {
                continue;
            };
            if value
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t')
            {
                return Err(form(format!(
                    "{name} line {line}: {header} holds a control character"
                )));
            }
            match column {
                OneOf(words) if !value.is_empty() && !words.contains(&value.as_str()) => {
                    return Err(form(format!(
                        "{name} line {line}: {header} must be one of {} (got {:?})",
                        words.join(", "),
                        shorten(value, 40)
                    )));
                }
                Creates(_) | Login | Ref(_) | Enrollee
                    if !value.is_empty() && !sis_value_is_exact(value) =>
                {
                    return Err(form(format!(
                        "{name} line {line}: {header} must be an SIS id of at most {MAX_SIS_VALUE} characters \
                         without surrounding whitespace (Canvas would read {:?} differently)",
                        shorten(value, 40)
                    )));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The file as sent: written again from the parsed rows (`\n` line
    /// ends, a field quoted when it holds a comma, quote or line break).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for record in std::iter::once(&self.header).chain(&self.rows) {
            for (i, field) in record.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if field.contains([',', '"', '\n', '\r']) {
                    out.push('"');
                    out.push_str(&field.replace('"', "\"\""));
                    out.push('"');
                } else {
                    out.push_str(field);
                }
            }
            out.push('\n');
        }
        out
    }
}

/// The kind of file a header is, or why easel does not read it.
fn kind_of(header: &[String]) -> Result<&'static FileKind, Denial> {
    for (i, h) in header.iter().enumerate() {
        if h.is_empty()
            || h.bytes()
                .any(|b| !(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
        {
            return Err(form(format!(
                "the SIS import header's column {} ({:?}) is not a lowercase column name",
                i + 1,
                shorten(h, 40)
            )));
        }
        if header[..i].contains(h) {
            return Err(form(format!("the SIS import header names {h} twice")));
        }
    }
    let kind = FILE_KINDS
        .iter()
        .find(|k| header.iter().any(|h| h == k.marker))
        .ok_or_else(|| Denial {
            rule: Rule::UnmodelledField,
            reason: format!(
                "easel reads SIS imports of users.csv, courses.csv, enrollments.csv and sections.csv; \
                 the header {} is none of them",
                shorten(&header.join(","), 120)
            ),
        })?;
    if let Some(extra) = header
        .iter()
        .find(|h| !kind.columns.iter().any(|(c, _)| c == h))
    {
        return Err(Denial {
            rule: Rule::UnmodelledField,
            reason: format!(
                "{} column {} is not one easel models, so it cannot check what it names; \
                 it reads {}",
                kind.name,
                shorten(extra, 40),
                kind.columns
                    .iter()
                    .map(|(c, _)| *c)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    Ok(kind)
}

/// RFC 4180 records: fields separated by commas, quoted fields with doubled
/// quotes and line breaks, CRLF or LF line ends. Blank lines are skipped;
/// values are stripped of surrounding whitespace, as Canvas strips them.
fn records(text: &str) -> Result<Vec<Vec<String>>, Denial> {
    if text.starts_with('\u{feff}') {
        return Err(form(
            "the SIS import file starts with a byte-order mark; send it without one",
        ));
    }
    let mut out = Vec::new();
    let mut record: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut line = 1usize;
    let mut chars = text.chars().peekable();
    // Was the current field quoted (then its text is kept as written)?
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match c {
            '"' if at_start => {
                quoted = true;
                at_start = false;
                loop {
                    match chars.next() {
                        None => {
                            return Err(form(format!(
                                "the SIS import file has a quote opened on line {line} that never closes"
                            )));
                        }
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(ch) => {
                            if ch == '\n' {
                                line += 1;
                            }
                            field.push(ch);
                        }
                    }
                }
                match chars.peek() {
                    None | Some(',') | Some('\n') | Some('\r') => {}
                    Some(_) => {
                        return Err(form(format!(
                            "the SIS import file has text after a closing quote on line {line}"
                        )));
                    }
                }
            }
            '"' => {
                return Err(form(format!(
                    "the SIS import file has a quote inside an unquoted field on line {line}"
                )));
            }
            ',' => {
                record.push(finish(&mut field));
                quoted = false;
                at_start = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\r' => {
                return Err(form(format!(
                    "the SIS import file has a bare carriage return on line {line}"
                )));
            }
            '\n' => {
                record.push(finish(&mut field));
                end_record(&mut out, &mut record);
                quoted = false;
                at_start = true;
                line += 1;
            }
            ' ' | '\t' if at_start && field.is_empty() => {}
            ch => {
                at_start = false;
                field.push(ch);
            }
        }
    }
    if !field.is_empty() || !record.is_empty() || quoted {
        record.push(finish(&mut field));
        end_record(&mut out, &mut record);
    }
    Ok(out)
}

/// Canvas strips every value, quoted or not. easel strips at least what
/// Canvas strips and sends the stripped value, so both read the same.
fn finish(field: &mut String) -> String {
    let value = std::mem::take(field);
    value.trim().to_owned()
}

fn end_record(out: &mut Vec<Vec<String>>, record: &mut Vec<String>) {
    let r = std::mem::take(record);
    if r.iter().any(|f| !f.is_empty()) {
        out.push(r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_enrollments_file_is_read_and_written_again() {
        let csv = SisCsv::parse(
            "course_id,user_id,role,status\r\nSCH001-MATH-101,\"SCH001-S0001\",student,active\r\n\r\n",
        )
        .unwrap();
        assert_eq!(csv.kind().name, "enrollments.csv");
        assert_eq!(csv.rows(), 1);
        assert_eq!(
            csv.to_text(),
            "course_id,user_id,role,status\nSCH001-MATH-101,SCH001-S0001,student,active\n"
        );
        let cells: Vec<_> = csv.cells().collect();
        assert_eq!(cells[0], (2, Ref(Course), "SCH001-MATH-101"));
        assert_eq!(cells[1], (2, Enrollee, "SCH001-S0001"));
    }

    #[test]
    fn a_quoted_field_keeps_commas_quotes_and_line_breaks() {
        let csv = SisCsv::parse(
            "course_id,short_name,long_name,account_id,status\nC1,\"a,b\",\"say \"\"hi\"\"\nthere\",SCH001,active\n",
        )
        .unwrap();
        let again = SisCsv::parse(&csv.to_text()).unwrap();
        assert_eq!(again, csv);
        assert!(csv.to_text().contains("\"say \"\"hi\"\"\nthere\""));
    }

    fn rule_of(text: &str) -> Rule {
        SisCsv::parse(text).unwrap_err().rule
    }

    #[test]
    fn what_easel_would_read_differently_is_refused() {
        for (text, rule) in [
            ("", Rule::BodyForm),
            ("course_id,user_id,role,status\n", Rule::BodyForm),
            // Not a file easel models, or a column it does not list.
            (
                "account_id,parent_account_id,name,status\nA,B,c,active\n",
                Rule::UnmodelledField,
            ),
            (
                "course_id,user_id,role,status,root_account\nC,U,student,active,x\n",
                Rule::UnmodelledField,
            ),
            (
                "course_id,user_integration_id,user_id,role,status\nC,I,U,student,active\n",
                Rule::UnmodelledField,
            ),
            // Header case, duplicate columns, a byte-order mark.
            (
                "Course_ID,user_id,role,status\nC,U,student,active\n",
                Rule::BodyForm,
            ),
            (
                "course_id,user_id,role,status,user_id\nC,U,student,active,V\n",
                Rule::BodyForm,
            ),
            (
                "\u{feff}course_id,user_id,role,status\nC,U,student,active\n",
                Rule::BodyForm,
            ),
            // Quotes easel and Canvas could read apart.
            (
                "course_id,user_id,role,status\nC,U\"x,student,active\n",
                Rule::BodyForm,
            ),
            (
                "course_id,user_id,role,status\nC,\"U\"x,student,active\n",
                Rule::BodyForm,
            ),
            (
                "course_id,user_id,role,status\nC,\"U,student,active\n",
                Rule::BodyForm,
            ),
            (
                "course_id,user_id,role,status\rC,U,student,active\n",
                Rule::BodyForm,
            ),
            // Ragged rows, missing required values.
            (
                "course_id,user_id,role,status\nC,U,student\n",
                Rule::BodyForm,
            ),
            (
                "course_id,user_id,role,status\nC,U,student,active,extra\n",
                Rule::BodyForm,
            ),
            (
                "course_id,user_id,role,status\nC,,student,active\n",
                Rule::BodyForm,
            ),
            (
                "course_id,user_id,role,status\n,U,student,active\n",
                Rule::BodyForm,
            ),
            (
                "course_id,short_name,long_name,status\nC,c,c,active\n",
                Rule::BodyForm,
            ),
            // Words outside the list; ids Canvas would strip or cut.
            (
                "course_id,user_id,role,status\nC,U,admin,active\n",
                Rule::BodyForm,
            ),
            (
                "course_id,user_id,role,status\nC,U,Student,active\n",
                Rule::BodyForm,
            ),
            (
                "course_id,user_id,role,status\nC,U.json,student,active\n",
                Rule::BodyForm,
            ),
            (
                "course_id,user_id,role,status\nC,U\u{1b}[2J,student,active\n",
                Rule::BodyForm,
            ),
        ] {
            assert_eq!(rule_of(text), rule, "{text:?}");
        }
    }

    #[test]
    fn surrounding_whitespace_is_stripped_and_the_stripped_value_is_sent() {
        let csv =
            SisCsv::parse("course_id,user_id,role,status\n C ,\" U\t\",student,active\n").unwrap();
        let ids: Vec<&str> = csv.cells().map(|(_, _, v)| v).collect();
        assert_eq!(ids, ["C", "U", "student", "active"]);
        assert!(csv.to_text().ends_with("\nC,U,student,active\n"));
    }

    #[test]
    fn every_kind_is_found_by_its_marker_and_lists_its_required_columns() {
        for kind in FILE_KINDS {
            assert!(kind.columns.iter().any(|(c, _)| *c == kind.marker));
            for r in kind.required {
                assert!(kind.columns.iter().any(|(c, _)| c == r), "{r}");
            }
            let header: Vec<String> = kind.required.iter().map(|s| (*s).to_owned()).collect();
            let header = if header.contains(&kind.marker.to_owned()) {
                header
            } else {
                let mut h = header;
                h.push(kind.marker.to_owned());
                h
            };
            assert!(
                std::ptr::eq(kind_of(&header).unwrap(), kind),
                "{}",
                kind.name
            );
        }
    }

    #[test]
    fn a_file_over_the_row_limit_is_refused() {
        let mut text = String::from("course_id,user_id,role,status\n");
        for i in 0..=MAX_ROWS {
            text.push_str(&format!("C,U{i},student,active\n"));
        }
        assert!(SisCsv::parse(&text).unwrap_err().reason.contains("at most"));
    }
}
