//! Human-readable rendering: type names (`BLOB`, `VECTOR<FLOAT, 768>`), cells (BLOBs as
//! `<blob 53 KB image/jpeg>`, VECTORs shortened) and text tables that fit the terminal.

use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, FixedSizeListArray, LargeBinaryArray, RecordBatch, StringArray, StructArray,
    UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use lake_api::types::LogicalType;
use unicode_width::UnicodeWidthStr;

/// Vectors longer than this show their first [`VECTOR_HEAD`] elements and their dimension.
const VECTOR_SHOWN: usize = 4;
const VECTOR_HEAD: usize = 3;

/// A SQL-like name of an Arrow type.
pub fn type_name(dt: &DataType) -> String {
    match dt {
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 => "TINYINT".into(),
        DataType::Int16 => "SMALLINT".into(),
        DataType::Int32 => "INT".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::UInt8 => "TINYINT UNSIGNED".into(),
        DataType::UInt16 => "SMALLINT UNSIGNED".into(),
        DataType::UInt32 => "INT UNSIGNED".into(),
        DataType::UInt64 => "BIGINT UNSIGNED".into(),
        DataType::Float16 => "HALF".into(),
        DataType::Float32 => "FLOAT".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "STRING".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "BYTES".into(),
        DataType::FixedSizeBinary(n) => format!("BINARY({n})"),
        DataType::Date32 | DataType::Date64 => "DATE".into(),
        DataType::Time32(_) | DataType::Time64(_) => "TIME".into(),
        DataType::Timestamp(unit, tz) => {
            let p = match unit {
                arrow::datatypes::TimeUnit::Second => 0,
                arrow::datatypes::TimeUnit::Millisecond => 3,
                arrow::datatypes::TimeUnit::Microsecond => 6,
                arrow::datatypes::TimeUnit::Nanosecond => 9,
            };
            match tz {
                Some(_) => format!("TIMESTAMP_LTZ({p})"),
                None => format!("TIMESTAMP({p})"),
            }
        }
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) => format!("DECIMAL({p}, {s})"),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("DECIMAL({p}, {s})"),
        DataType::List(f) | DataType::LargeList(f) => format!("ARRAY<{}>", type_name(f.data_type())),
        DataType::FixedSizeList(f, n) => format!("ARRAY<{}, {n}>", type_name(f.data_type())),
        DataType::Struct(fields) => format!(
            "ROW<{}>",
            fields
                .iter()
                .map(|f| format!("{} {}", f.name(), field_type_name(f)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        DataType::Map(_, _) => "MAP".into(),
        other => other.to_string(),
    }
}

/// The logical type name of a field: `BLOB`, `BLOB_REF`, `VECTOR<FLOAT, 768>`, or the
/// SQL-like name of its Arrow type.
pub fn field_type_name(field: &Field) -> String {
    match LogicalType::of(field) {
        LogicalType::Blob => "BLOB".into(),
        LogicalType::BlobRef => "BLOB_REF".into(),
        LogicalType::Vector { element, dimension } => format!("VECTOR<{}, {dimension}>", type_name(&element)),
        LogicalType::Plain => type_name(field.data_type()),
    }
}

/// `53 KB`, `1.2 MB`, `17 B`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    loop {
        // the unit is chosen by the value as shown: 1023.7 KB shows as 1.0 MB
        let tenths = (value * 10.0).round() / 10.0;
        let whole = unit == 0 || tenths >= 10.0;
        let shown = if whole { value.round() } else { tenths };
        if shown >= 1024.0 && unit < UNITS.len() - 1 {
            value /= 1024.0;
            unit += 1;
        } else if whole {
            return format!("{} {}", shown as u64, UNITS[unit]);
        } else {
            return format!("{shown:.1} {}", UNITS[unit]);
        }
    }
}

/// The media type of a payload, from its magic bytes.
pub fn sniff_mime(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "image/jpeg"
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        "image/gif"
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        "image/webp"
    } else {
        "application/octet-stream"
    }
}

/// `<blob 53 KB image/jpeg>`.
pub fn blob_cell(bytes: &[u8]) -> String {
    format!("<blob {} {}>", human_bytes(bytes.len() as u64), sniff_mime(bytes))
}

/// The bytes as lowercase hex, what `--blob-bytes` prints.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// BLOB cells as descriptions, or as hex when `bytes`.
fn blob_cells(array: &dyn Array, bytes: bool) -> Option<Vec<Option<String>>> {
    let cell = |v: &[u8]| if bytes { hex(v) } else { blob_cell(v) };
    if let Some(a) = array.as_any().downcast_ref::<LargeBinaryArray>() {
        return Some(a.iter().map(|v| v.map(cell)).collect());
    }
    if let Some(a) = array.as_any().downcast_ref::<BinaryArray>() {
        return Some(a.iter().map(|v| v.map(cell)).collect());
    }
    None
}

fn blob_ref_cells(array: &dyn Array) -> Option<Vec<Option<String>>> {
    let s = array.as_any().downcast_ref::<StructArray>()?;
    let uri = s.column_by_name("uri")?.as_any().downcast_ref::<StringArray>()?;
    let offset = s.column_by_name("offset")?.as_any().downcast_ref::<UInt64Array>()?;
    let length = s.column_by_name("length")?.as_any().downcast_ref::<UInt64Array>()?;
    Some(
        (0..s.len())
            .map(|i| {
                s.is_valid(i).then(|| {
                    format!(
                        "<blob ref {} @{} {}>",
                        uri.value(i),
                        offset.value(i),
                        human_bytes(length.value(i))
                    )
                })
            })
            .collect(),
    )
}

fn vector_cells(array: &dyn Array, options: &FormatOptions) -> Result<Option<Vec<Option<String>>>, ArrowError> {
    let Some(list) = array.as_any().downcast_ref::<FixedSizeListArray>() else {
        return Ok(None);
    };
    let dim = usize::try_from(list.value_length()).unwrap_or(0);
    let values = list.values();
    let formatter = ArrayFormatter::try_new(values.as_ref(), options)?;
    let mut out = Vec::with_capacity(list.len());
    for row in 0..list.len() {
        if list.is_null(row) {
            out.push(None);
            continue;
        }
        // value_offset counts the slice offset of a sliced (limited) batch
        let start = usize::try_from(list.value_offset(row)).unwrap_or(0);
        let shown = if dim > VECTOR_SHOWN { VECTOR_HEAD } else { dim };
        let shown = shown.min(values.len().saturating_sub(start));
        let mut s = String::from("[");
        for i in 0..shown {
            if i > 0 {
                s.push_str(", ");
            }
            let _ = write!(s, "{}", formatter.value(start + i));
        }
        if dim > VECTOR_SHOWN {
            let _ = write!(s, ", … {dim} dims");
        }
        s.push(']');
        out.push(Some(s));
    }
    Ok(Some(out))
}

/// The cells of a column as display text (`NULL` for nulls); BLOBs as their description,
/// or their bytes in hex when `blob_bytes`.
pub fn column_cells(array: &ArrayRef, field: &Field, blob_bytes: bool) -> Result<Vec<String>, ArrowError> {
    let options = FormatOptions::default().with_null("NULL");
    let special = match LogicalType::of(field) {
        LogicalType::Blob => blob_cells(array.as_ref(), blob_bytes),
        LogicalType::BlobRef => blob_ref_cells(array.as_ref()),
        LogicalType::Vector { .. } => vector_cells(array.as_ref(), &options)?,
        LogicalType::Plain => None,
    };
    if let Some(cells) = special {
        return Ok(cells.into_iter().map(|c| c.unwrap_or_else(|| "NULL".into())).collect());
    }
    let formatter = ArrayFormatter::try_new(array.as_ref(), &options)?;
    Ok((0..array.len()).map(|i| formatter.value(i).to_string()).collect())
}

/// Shortens `s` to `max` terminal columns with a trailing `…` (a wide character that
/// would cross the limit is left out whole), flattens line breaks and tabs, and shows other
/// control characters as `\u{FFFD}`: a cell must not move the terminal's cursor or colour
/// what follows (an ANSI escape in the data).
pub fn truncate(s: &str, max: usize) -> String {
    let flat = sanitize(s, true);
    if max == 0 || display_width(&flat) <= max {
        return flat;
    }
    let room = max.saturating_sub(1);
    let mut out = String::new();
    for c in flat.chars() {
        out.push(c);
        // measured whole: a character's width can depend on its neighbours (emoji
        // presentation selectors, joiners)
        if display_width(&out) > room {
            out.pop();
            break;
        }
    }
    out.push('…');
    out
}

/// The terminal columns `s` takes (CJK and emoji take two each, combining marks none).
pub fn display_width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// `s` fit for a terminal: what one would act on becomes `\u{FFFD}`; with `flatten`,
/// line breaks and tabs become spaces (a table cell's), else they stay (CSV quotes them).
pub fn sanitize(s: &str, flatten: bool) -> String {
    s.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' if flatten => ' ',
            c if acts_on_terminal(c) => char::REPLACEMENT_CHARACTER,
            c => c,
        })
        .collect()
}

/// Whether a terminal would act on `c` rather than show it: a control character other
/// than a line break or tab (an ANSI escape; a carriage return, which writes over the
/// line), or a bidirectional override, which reorders what it shows.
pub(crate) fn acts_on_terminal(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `batch` with its string cells and column names made fit for a terminal: what one would
/// act on becomes `\u{FFFD}` (line breaks and tabs stay: CSV quotes them). For CSV
/// written to a terminal, where the data must not run escape sequences.
pub fn terminal_safe(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let shown = |s: &str| sanitize(s, false);
    let schema = batch.schema();
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        let name = shown(field.name());
        let strings = |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
        let text = match column.data_type() {
            DataType::Dictionary(_, values) => strings(values),
            t => strings(t),
        };
        if text {
            let text = arrow::compute::cast(column, &DataType::Utf8)?;
            let text: StringArray = text.as_string::<i32>().iter().map(|v| v.map(shown)).collect();
            fields.push(Field::new(name, DataType::Utf8, field.is_nullable()));
            columns.push(Arc::new(text));
        } else {
            fields.push(field.as_ref().clone().with_name(name));
            columns.push(column.clone());
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

/// How a text table is laid out.
#[derive(Debug, Clone, Copy)]
pub struct TableLayout {
    /// The widest a cell may be (0: no limit).
    pub max_cell_width: usize,
    /// The widest the table may be, when known (a terminal's width).
    pub max_table_width: Option<usize>,
    /// BLOB cells as their bytes in hex rather than `<blob 53 KB image/jpeg>`.
    pub blob_bytes: bool,
}

impl TableLayout {
    /// Whether the output is a terminal (only a terminal's width is known).
    pub fn for_terminal(&self) -> bool {
        self.max_table_width.is_some()
    }
}

/// The narrowest a column is squeezed to when the table is wider than the terminal.
const MIN_COLUMN_WIDTH: usize = 6;

/// Renders batches as one bordered text table.
pub fn render_table(schema: &SchemaRef, batches: &[RecordBatch], layout: TableLayout) -> Result<String, ArrowError> {
    let mut rows: Vec<Vec<String>> = Vec::new();
    for batch in batches {
        rows.extend(table_cells(batch, layout)?);
    }
    Ok(render_rows(schema, &rows, layout))
}

/// The cells of `batch`'s rows, already cut to the layout's cell width, for
/// [`render_rows`]: a table that holds these rather than its batches holds no BLOB payload
/// or long string whole (cutting a cell again to a narrower column cuts it as cutting the
/// whole value would).
pub fn table_cells(batch: &RecordBatch, layout: TableLayout) -> Result<Vec<Vec<String>>, ArrowError> {
    let columns = batch
        .columns()
        .iter()
        .zip(batch.schema().fields().iter())
        .map(|(c, f)| column_cells(c, f, layout.blob_bytes))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((0..batch.num_rows())
        .map(|r| columns.iter().map(|c| truncate(&c[r], layout.max_cell_width)).collect())
        .collect())
}

/// Lays out rows of [`table_cells`] under `schema`'s column names (see [`render_table`]).
pub fn render_rows(schema: &SchemaRef, rows: &[Vec<String>], layout: TableLayout) -> String {
    let headers: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let n = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| display_width(&truncate(h, 0))).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(display_width(&truncate(c, layout.max_cell_width)));
        }
    }
    if layout.max_cell_width > 0 {
        for w in widths.iter_mut() {
            *w = (*w).min(layout.max_cell_width.max(1));
        }
    }
    // squeeze the widest columns until the table fits the terminal, where squeezing can
    // make it fit; else it prints in column groups of readable widths
    let total = |w: &[usize]| w.iter().map(|x| x + 3).sum::<usize>() + 1;
    let squeezed: Vec<usize> = widths.iter().map(|w| (*w).min(MIN_COLUMN_WIDTH)).collect();
    if let Some(max) = layout.max_table_width
        && total(&squeezed) > max
    {
        // one column alone never runs past the terminal
        let widest = max.saturating_sub(4).max(MIN_COLUMN_WIDTH);
        for w in widths.iter_mut() {
            *w = (*w).min(widest);
        }
    } else if let Some(max) = layout.max_table_width {
        while total(&widths) > max {
            let Some((i, &w)) = widths.iter().enumerate().max_by_key(|(_, w)| **w) else {
                break;
            };
            if w <= MIN_COLUMN_WIDTH {
                break;
            }
            widths[i] = w - 1;
        }
    }
    let groups = column_groups(&widths, layout.max_table_width.unwrap_or(usize::MAX));
    let mut out = String::new();
    for (g, group) in groups.iter().enumerate() {
        if groups.len() > 1 {
            if g > 0 {
                out.push('\n');
            }
            let _ = writeln!(out, "columns {}-{} of {n}:", group.start + 1, group.end);
        }
        render_group(&mut out, &headers, rows, &widths, group.clone());
    }
    out
}

/// Splits the columns, in order, into runs whose bordered table fits `max` characters
/// (a column wider than that alone gets a run of its own): a table too wide for the
/// terminal even with every column squeezed is printed as several narrower ones, one after
/// another, rather than as lines the terminal wraps into noise.
fn column_groups(widths: &[usize], max: usize) -> Vec<std::ops::Range<usize>> {
    let mut groups = Vec::new();
    let mut start = 0;
    let mut used = 1;
    for (i, w) in widths.iter().enumerate() {
        if i > start && used + w + 3 > max {
            groups.push(start..i);
            start = i;
            used = 1;
        }
        used += w + 3;
    }
    if start < widths.len() || groups.is_empty() {
        groups.push(start..widths.len());
    }
    groups
}

/// Writes the columns `group` of the table as one bordered text table.
fn render_group(
    out: &mut String,
    headers: &[String],
    rows: &[Vec<String>],
    widths: &[usize],
    group: std::ops::Range<usize>,
) {
    let border = {
        let mut s = String::from("+");
        for w in &widths[group.clone()] {
            s.push_str(&"-".repeat(w + 2));
            s.push('+');
        }
        s
    };
    let line = |cells: &[String]| {
        let mut s = String::from("|");
        for i in group.clone() {
            let w = widths[i];
            let cell = truncate(cells.get(i).map_or("", String::as_str), w);
            let pad = w.saturating_sub(display_width(&cell));
            let _ = write!(s, " {cell}{} |", " ".repeat(pad));
        }
        s
    };
    let _ = writeln!(out, "{border}");
    let _ = writeln!(out, "{}", line(headers));
    let _ = writeln!(out, "{border}");
    for row in rows {
        let _ = writeln!(out, "{}", line(row));
    }
    let _ = writeln!(out, "{border}");
}

/// A batch as CSV writes it: flattened ([`flatten_for_csv`]), and, when the output is a
/// terminal, with no control characters in its names or cells ([`terminal_safe`]). Rows or
/// none: a header alone is made safe too.
pub fn csv_ready(batch: &RecordBatch, layout: TableLayout) -> Result<RecordBatch, ArrowError> {
    let flat = flatten_for_csv(batch, layout.blob_bytes)?;
    if layout.for_terminal() {
        terminal_safe(&flat)
    } else {
        Ok(flat)
    }
}

/// Replaces the nested columns (VECTORs, lists, structs) that CSV cannot hold by their
/// text form, and BLOBs by their description (their bytes in hex when `blob_bytes`).
pub fn flatten_for_csv(batch: &RecordBatch, blob_bytes: bool) -> Result<RecordBatch, ArrowError> {
    // a null cell is CSV's empty cell; a null inside a nested value is written as the table
    // writes it, or it would read as an empty string
    let options = FormatOptions::default().with_null("NULL");
    let schema = batch.schema();
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        // a BLOB cell is its description, not megabytes of hex, unless hex is asked for
        if lake_api::types::LogicalType::of(field) == lake_api::types::LogicalType::Blob
            && let Some(cells) = blob_cells(column.as_ref(), blob_bytes)
        {
            fields.push(Field::new(field.name(), DataType::Utf8, true));
            columns.push(Arc::new(StringArray::from(cells)));
            continue;
        }
        if column.data_type().is_nested() {
            let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
            let text: StringArray = (0..column.len())
                .map(|i| column.is_valid(i).then(|| formatter.value(i).to_string()))
                .collect();
            fields.push(Field::new(field.name(), DataType::Utf8, true));
            columns.push(Arc::new(text));
        } else {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float32Array, Int64Array};
    use lake_api::types::{blob_field, vector_field};

    #[test]
    fn blobs_show_size_and_sniffed_type() {
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
        jpeg.resize(53 * 1024, 0);
        assert_eq!(blob_cell(&jpeg), "<blob 53 KB image/jpeg>");
        assert_eq!(blob_cell(b"\x89PNG\r\n\x1a\nxxxx"), "<blob 12 B image/png>");
        assert_eq!(blob_cell(b"hello"), "<blob 5 B application/octet-stream>");
        assert_eq!(human_bytes(1536 * 1024), "1.5 MB");
    }

    #[test]
    fn sizes_round_into_the_next_unit() {
        // regression: the unit was chosen before rounding ("1024 KB", "10.0 KB")
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024), "1.0 KB");
        assert_eq!(human_bytes(10_199), "10 KB");
        assert_eq!(human_bytes(10_179), "9.9 KB");
        assert_eq!(human_bytes(1_048_064), "1.0 MB");
        assert_eq!(human_bytes(1_048_575), "1.0 MB");
        assert_eq!(human_bytes(1024 * 1024 * 1024 - 1), "1.0 GB");
        assert_eq!(human_bytes(u64::MAX), "16777216 TB");
    }

    #[test]
    fn vectors_are_shortened_and_named() -> Result<(), ArrowError> {
        let field = vector_field("embedding", DataType::Float32, 768, true);
        assert_eq!(field_type_name(&field), "VECTOR<FLOAT, 768>");
        assert_eq!(field_type_name(&blob_field("image", true)), "BLOB");
        let values = Float32Array::from_iter_values((0..768).map(|i| i as f32 / 4.0));
        let list = FixedSizeListArray::try_new(
            Arc::new(Field::new("item", DataType::Float32, false)),
            768,
            Arc::new(values),
            None,
        )?;
        let cells = column_cells(&(Arc::new(list) as ArrayRef), &field, false)?;
        assert_eq!(cells, vec!["[0.0, 0.25, 0.5, … 768 dims]"]);
        // a sliced (limited) vector column starts at its slice's offset
        let small = FixedSizeListArray::try_new(
            Arc::new(Field::new("item", DataType::Float32, false)),
            2,
            Arc::new(Float32Array::from(vec![1.0, 2.0, 3.0, 4.0])),
            None,
        )?;
        let small_field = vector_field("v", DataType::Float32, 2, true);
        let cells = column_cells(&(Arc::new(small.slice(1, 1)) as ArrayRef), &small_field, false)?;
        assert_eq!(cells, vec!["[3.0, 4.0]"]);
        Ok(())
    }

    #[test]
    fn control_characters_do_not_reach_the_terminal() {
        // regression: only line breaks and tabs were flattened; an ANSI escape in a cell
        // or a column name went to the terminal as is
        assert_eq!(truncate("\u{1b}[31mred\u{7}\r\n", 0), "\u{FFFD}[31mred\u{FFFD}  ");
        assert_eq!(truncate("a\u{1b}bcdef", 4), "a\u{FFFD}b…");
        assert_eq!(truncate("x\u{202E}y\u{2066}", 0), "x\u{FFFD}y\u{FFFD}");
    }

    #[test]
    fn wide_characters_keep_the_borders_straight() -> Result<(), ArrowError> {
        use unicode_width::UnicodeWidthStr;
        // regression: widths counted characters, so CJK and emoji cells (two columns
        // each) pushed their borders out of line
        let names = StringArray::from(vec!["日本語", "a", "😀x", "ok"]);
        let batch = RecordBatch::try_from_iter([("名前", Arc::new(names) as ArrayRef)])?;
        for max_cell_width in [0, 4, 5] {
            let layout = TableLayout {
                max_cell_width,
                max_table_width: None,
                blob_bytes: false,
            };
            let out = render_table(&batch.schema(), std::slice::from_ref(&batch), layout)?;
            let widths: Vec<usize> = out.lines().map(UnicodeWidthStr::width).collect();
            assert!(widths.windows(2).all(|w| w[0] == w[1]), "{widths:?}\n{out}");
        }
        // a cut never splits a wide character across the limit
        assert_eq!(truncate("日本語", 4), "日…");
        assert_eq!(truncate("日本語", 6), "日本語");
        assert_eq!(truncate("日本語", 5), "日本…");
        // a width that depends on the next character (an emoji presentation selector)
        let hearts = "\u{2764}\u{FE0F}".repeat(3);
        assert!(display_width(&truncate(&hearts, 4)) <= 4, "{}", truncate(&hearts, 4));
        Ok(())
    }

    #[test]
    fn csv_tells_a_null_inside_a_list_from_an_empty_string() -> Result<(), ArrowError> {
        // regression: both were written as nothing (`[a, , ]`)
        let lists = arrow::array::ListArray::from_iter_primitive::<arrow::datatypes::Int32Type, _, _>(vec![
            Some(vec![Some(1), None]),
            None,
        ]);
        let strings = {
            let mut b = arrow::array::ListBuilder::new(arrow::array::StringBuilder::new());
            b.values().append_value("a");
            b.values().append_null();
            b.values().append_value("");
            b.append(true);
            b.append(false);
            b.finish()
        };
        let batch = RecordBatch::try_from_iter([("n", Arc::new(lists) as ArrayRef), ("s", Arc::new(strings) as _)])?;
        let flat = flatten_for_csv(&batch, false)?;
        assert_eq!(flat.column(0).as_string::<i32>().value(0), "[1, NULL]");
        assert_eq!(flat.column(1).as_string::<i32>().value(0), "[a, NULL, ]");
        // a null list is an empty cell, as any null in CSV
        assert!(flat.column(0).is_null(1) && flat.column(1).is_null(1));
        Ok(())
    }

    #[test]
    fn a_csv_header_alone_is_made_safe_for_a_terminal() -> Result<(), ArrowError> {
        // regression: a scan with no rows wrote its CSV header unfiltered
        let empty = RecordBatch::new_empty(Arc::new(Schema::new(vec![Field::new(
            "x\u{1b}]0;title\u{7}",
            DataType::Utf8,
            true,
        )])));
        let terminal = TableLayout {
            max_cell_width: 0,
            max_table_width: Some(80),
            blob_bytes: false,
        };
        assert_eq!(
            csv_ready(&empty, terminal)?.schema().field(0).name(),
            "x\u{FFFD}]0;title\u{FFFD}"
        );
        let file = TableLayout {
            max_table_width: None,
            ..terminal
        };
        assert_eq!(
            csv_ready(&empty, file)?.schema().field(0).name(),
            "x\u{1b}]0;title\u{7}"
        );
        Ok(())
    }

    #[test]
    fn csv_for_a_terminal_runs_no_escape_sequence() -> Result<(), ArrowError> {
        // regression: CSV wrote the data's bytes to the terminal as they were, so a cell
        // could clear the screen, retitle the window or write the clipboard
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("id", DataType::Int64, false),
                Field::new("na\u{1b}]0;me", DataType::Utf8, true),
            ])),
            vec![
                Arc::new(Int64Array::from(vec![1, 2])),
                Arc::new(StringArray::from(vec![
                    Some("\u{1b}[2Jline\r\nnext\tcol\u{202E}"),
                    None,
                ])),
            ],
        )?;
        let safe = terminal_safe(&batch)?;
        assert_eq!(safe.schema().field(1).name(), "na\u{FFFD}]0;me");
        let text = safe.column(1).as_string::<i32>();
        assert_eq!(text.value(0), "\u{FFFD}[2Jline\u{FFFD}\nnext\tcol\u{FFFD}");
        assert!(text.is_null(1));
        assert_eq!(safe.column(0), batch.column(0));
        let dictionary: arrow::array::DictionaryArray<arrow::datatypes::Int32Type> =
            vec!["a\u{7}", "a\u{7}"].into_iter().collect();
        let encoded = RecordBatch::try_from_iter([("d", Arc::new(dictionary) as ArrayRef)])?;
        assert_eq!(
            terminal_safe(&encoded)?.column(0).as_string::<i32>().value(1),
            "a\u{FFFD}"
        );
        Ok(())
    }

    #[test]
    fn tables_truncate_long_cells() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("text", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1])),
                Arc::new(StringArray::from(vec!["x".repeat(100)])),
            ],
        )
        .unwrap();
        let text = render_table(
            &schema,
            &[batch],
            TableLayout {
                max_cell_width: 10,
                max_table_width: None,
                blob_bytes: false,
            },
        )
        .unwrap();
        assert!(text.contains("| xxxxxxxxx… |"), "{text}");
    }

    #[test]
    fn cells_cut_when_held_lay_out_as_the_whole_values_do() -> Result<(), ArrowError> {
        // the scanner holds cut cells, not batches: cutting again, to a column squeezed
        // narrower, must give what cutting the whole value gives
        let pieces = ["a", "bc", "漢", "字", "😀", "\n", "\u{7}", " ", "é", "x"];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let values: Vec<String> = (0..60)
            .map(|_| (0..next(40)).map(|_| pieces[next(pieces.len())]).collect())
            .collect();
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Utf8, false),
            Field::new("b", DataType::Utf8, false),
            Field::new("c", DataType::Utf8, false),
        ]));
        let column =
            |k: usize| Arc::new(StringArray::from_iter_values(values.iter().skip(k).step_by(3).take(20))) as ArrayRef;
        let batch = RecordBatch::try_new(schema.clone(), vec![column(0), column(1), column(2)])?;
        let whole: Vec<Vec<String>> = {
            let columns = (0..3)
                .map(|c| column_cells(batch.column(c), batch.schema().field(c), false))
                .collect::<Result<Vec<_>, _>>()?;
            (0..batch.num_rows())
                .map(|r| columns.iter().map(|c| c[r].clone()).collect())
                .collect()
        };
        for max_cell_width in [0, 1, 2, 3, 7, 12, 40] {
            for max_table_width in [None, Some(20), Some(31), Some(60), Some(200)] {
                let layout = TableLayout {
                    max_cell_width,
                    max_table_width,
                    blob_bytes: false,
                };
                assert_eq!(
                    render_rows(&schema, &table_cells(&batch, layout)?, layout),
                    render_rows(&schema, &whole, layout),
                    "{layout:?}"
                );
            }
        }
        Ok(())
    }

    #[test]
    fn tables_wider_than_the_terminal_print_in_column_groups() -> Result<(), ArrowError> {
        let fields: Vec<Field> = (0..30)
            .map(|i| Field::new(format!("column_{i}"), DataType::Int64, false))
            .collect();
        let schema = Arc::new(Schema::new(fields));
        let columns: Vec<ArrayRef> = (0..30)
            .map(|i| Arc::new(Int64Array::from(vec![i as i64 * 1_000_000, 7])) as ArrayRef)
            .collect();
        let batch = RecordBatch::try_new(schema.clone(), columns)?;
        let text = render_table(
            &schema,
            &[batch],
            TableLayout {
                max_cell_width: 40,
                max_table_width: Some(80),
                blob_bytes: false,
            },
        )?;
        assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
        for i in 0..30 {
            assert!(text.contains(&format!("column_{i}")), "column {i} is missing:\n{text}");
        }
        assert!(text.contains("columns 1-"), "{text}");
        assert!(text.contains(" of 30:"), "{text}");
        // every group holds both rows
        assert_eq!(text.matches("| 7 ").count(), 30, "{text}");
        Ok(())
    }

    #[test]
    fn column_groups_cover_every_column_once() {
        assert_eq!(
            column_groups(&[5, 5, 5], 100),
            std::iter::once(0..3).collect::<Vec<_>>()
        );
        assert_eq!(column_groups(&[10, 10, 10], 27), [0..2, 2..3]);
        // a column wider than the terminal stands alone
        assert_eq!(column_groups(&[200, 3], 50), [0..1, 1..2]);
        assert_eq!(column_groups(&[], 50), std::iter::once(0..0).collect::<Vec<_>>());
    }
}
