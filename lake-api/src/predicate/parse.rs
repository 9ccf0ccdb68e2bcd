//! A recursive-descent parser for the SQL-like filter text of the CLI's `--filter`.

use super::{CompareOp, Literal, Predicate};
use crate::error::{Error, Result};

/// How deeply parentheses and `NOT`s may nest before the text is refused.
const MAX_DEPTH: usize = 256;

/// The most AND and OR operators one filter may have. Each adds a level to the tree
/// (`a OR b OR c` is `(a OR b) OR c`), so with [`MAX_DEPTH`] of nesting a parsed filter
/// stays inside [`MAX_PREDICATE_DEPTH`](super::MAX_PREDICATE_DEPTH). Long lists of values
/// belong in `IN (...)`, which is one level whatever its length.
const MAX_OPERATORS: usize = 512;

/// Keywords that cannot be used as bare column names (quote them instead).
const KEYWORDS: &[&str] = &["AND", "OR", "NOT", "IS", "NULL", "IN", "LIKE", "TRUE", "FALSE"];

/// Parses filter text such as `id > 5 AND name LIKE 'ab%'` into a [`Predicate`].
///
/// `AND` binds tighter than `OR`, `NOT` tighter than both; comparisons may put the
/// literal first (`5 < id` is `id > 5`). `LIKE` takes only prefix patterns (`'abc%'`)
/// without `%`, `_` or `\` in the prefix; `starts_with(column, '...')` takes any prefix.
///
/// Grammar, loosest binding first (keywords are case-insensitive):
///
/// ```text
/// or         := and ( OR and )*
/// and        := not ( AND not )*
/// not        := NOT not | primary
/// primary    := '(' or ')'
///             | starts_with '(' column ',' string ')'
///             | column cmp value | value cmp column
///             | column IS [NOT] NULL
///             | column [NOT] IN '(' [ value ( ',' value )* ] ')'
///             | column [NOT] LIKE 'prefix%'
/// cmp        := '=' | '==' | '!=' | '<>' | '<' | '<=' | '>' | '>='
/// column     := bare identifier | "double quoted" | `backticked`
/// value      := integer | float | 'string' | X'hex' | TRUE | FALSE | NULL
///             | [-]NaN | [-]Infinity
/// ```
///
/// Inside quotes, a doubled quote stands for one: `'it''s'`, `"a ""b"""`.
///
/// Errors: `ErrorKind::InvalidArgument` naming the byte position and what was
/// expected there, e.g. `expected a value after '>' at position 4, found end of input`.
pub fn parse(text: &str) -> Result<Predicate> {
    let tokens = lex(text)?;
    let mut parser = Parser {
        text,
        tokens,
        eof: Token {
            tok: Tok::Eof,
            start: text.len(),
            end: text.len(),
        },
        next: 0,
        depth: 0,
        operators: 0,
    };
    if parser.peek().tok == Tok::Eof {
        return Err(parser.expected("expected a filter"));
    }
    let predicate = parser.or_expr()?;
    if parser.peek().tok != Tok::Eof {
        return Err(parser.expected("expected AND, OR or the end of the filter"));
    }
    Ok(predicate)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A bare identifier or keyword.
    Word(String),
    /// A double-quoted or backticked identifier.
    Quoted(String),
    /// An unsigned integer, as written.
    Int(String),
    /// An unsigned float, as written.
    Float(String),
    /// A single-quoted string, unescaped.
    Str(String),
    /// `X'..'`, decoded.
    Hex(Vec<u8>),
    Op(CompareOp),
    LParen,
    RParen,
    Comma,
    Minus,
    Eof,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// Byte offsets of the token in the text.
    start: usize,
    end: usize,
}

fn lex_error(message: String) -> Error {
    Error::invalid(message)
}

fn lex(text: &str) -> Result<Vec<Token>> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let c = bytes[i];
        let tok = match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'(' => {
                i += 1;
                Tok::LParen
            }
            b')' => {
                i += 1;
                Tok::RParen
            }
            b',' => {
                i += 1;
                Tok::Comma
            }
            b'-' => {
                i += 1;
                Tok::Minus
            }
            b'=' => {
                i += if bytes.get(i + 1) == Some(&b'=') { 2 } else { 1 };
                Tok::Op(CompareOp::Eq)
            }
            b'!' => {
                if bytes.get(i + 1) != Some(&b'=') {
                    return Err(lex_error(format!("expected '=' after '!' at position {}", i + 1)));
                }
                i += 2;
                Tok::Op(CompareOp::NotEq)
            }
            b'<' => match bytes.get(i + 1) {
                Some(b'=') => {
                    i += 2;
                    Tok::Op(CompareOp::LtEq)
                }
                Some(b'>') => {
                    i += 2;
                    Tok::Op(CompareOp::NotEq)
                }
                _ => {
                    i += 1;
                    Tok::Op(CompareOp::Lt)
                }
            },
            b'>' => {
                if bytes.get(i + 1) == Some(&b'=') {
                    i += 2;
                    Tok::Op(CompareOp::GtEq)
                } else {
                    i += 1;
                    Tok::Op(CompareOp::Gt)
                }
            }
            b'\'' => {
                let (s, end) = quoted(text, i, '\'', "string")?;
                i = end;
                Tok::Str(s)
            }
            b'"' => {
                let (s, end) = quoted(text, i, '"', "quoted identifier")?;
                i = end;
                Tok::Quoted(s)
            }
            b'`' => {
                let (s, end) = quoted(text, i, '`', "quoted identifier")?;
                i = end;
                Tok::Quoted(s)
            }
            b'x' | b'X' if bytes.get(i + 1) == Some(&b'\'') => {
                let (s, end) = quoted(text, i + 1, '\'', "binary literal")?;
                let decoded = decode_hex(&s, i)?;
                i = end;
                Tok::Hex(decoded)
            }
            b'0'..=b'9' | b'.' => {
                let (tok, end) = number(text, i)?;
                i = end;
                tok
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                Tok::Word(text[start..i].to_owned())
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or('?');
                return Err(lex_error(format!("unexpected character '{ch}' at position {i}")));
            }
        };
        tokens.push(Token { tok, start, end: i });
    }
    Ok(tokens)
}

/// Reads text quoted by `quote` starting at byte `start` (the opening quote), where a
/// doubled quote stands for one. Returns the content and the byte after the closing quote.
fn quoted(text: &str, start: usize, quote: char, what: &str) -> Result<(String, usize)> {
    let mut out = String::new();
    let mut chars = text[start + 1..].char_indices().peekable();
    while let Some((off, c)) = chars.next() {
        if c == quote {
            if chars.peek().is_some_and(|&(_, n)| n == quote) {
                out.push(quote);
                chars.next();
            } else {
                return Ok((out, start + 1 + off + c.len_utf8()));
            }
        } else {
            out.push(c);
        }
    }
    Err(lex_error(format!(
        "unterminated {what} starting at position {start}: expected a closing {quote}"
    )))
}

fn decode_hex(digits: &str, start: usize) -> Result<Vec<u8>> {
    if let Some((off, c)) = digits.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(lex_error(format!(
            "expected a hex digit in the binary literal at position {}, found '{c}'",
            start + 2 + off
        )));
    }
    if !digits.len().is_multiple_of(2) {
        return Err(lex_error(format!(
            "expected an even number of hex digits in the binary literal at position {start}"
        )));
    }
    let digit = |b: u8| match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    };
    Ok(digits
        .as_bytes()
        .chunks_exact(2)
        .map(|pair| match pair {
            [high, low] => (digit(*high) << 4) | digit(*low),
            _ => 0,
        })
        .collect())
}

/// Lexes an unsigned number starting at byte `start`: `12`, `1.5`, `.5`, `2e3`, `1.5E-3`.
fn number(text: &str, start: usize) -> Result<(Tok, usize)> {
    let bytes = text.as_bytes();
    let digits = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut i = digits(start);
    let mut float = false;
    if bytes.get(i) == Some(&b'.') {
        float = true;
        i = digits(i + 1);
    }
    if i == start + 1 && bytes.get(start) == Some(&b'.') {
        return Err(lex_error(format!(
            "expected a digit after '.' at position {}",
            start + 1
        )));
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(bytes.get(i + 1), Some(b'+' | b'-')));
        if bytes.get(i + 1 + sign).is_some_and(u8::is_ascii_digit) {
            float = true;
            i = digits(i + 1 + sign);
        }
    }
    if let Some(&c) = bytes.get(i)
        && (c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
    {
        return Err(lex_error(format!(
            "unexpected character '{}' in the number at position {i}",
            char::from(c)
        )));
    }
    let s = text[start..i].to_owned();
    Ok((if float { Tok::Float(s) } else { Tok::Int(s) }, i))
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    /// Returned by `peek` once every token is consumed.
    eof: Token,
    next: usize,
    depth: usize,
    /// AND and OR operators read so far.
    operators: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        self.tokens.get(self.next).unwrap_or(&self.eof)
    }

    fn peek2(&self) -> &Tok {
        self.tokens.get(self.next + 1).map_or(&Tok::Eof, |t| &t.tok)
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        self.next = (self.next + 1).min(self.tokens.len());
        t
    }

    fn is_keyword(&self, kw: &str) -> bool {
        matches!(&self.peek().tok, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    fn eat_keyword(&mut self, kw: &str) -> bool {
        let found = self.is_keyword(kw);
        if found {
            self.bump();
        }
        found
    }

    /// An error at the next token: `{expected} at position N, found X`.
    fn expected(&self, expected: &str) -> Error {
        let (pos, found) = self.found();
        Error::invalid(format!("{expected} at position {pos}, found {found}"))
    }

    /// The position of the next token and how to quote it in a message.
    fn found(&self) -> (usize, String) {
        let t = self.peek();
        let found = if t.tok == Tok::Eof {
            "end of input".to_owned()
        } else {
            let s = &self.text[t.start..t.end];
            if s.chars().count() > 30 {
                format!("'{}...'", s.chars().take(30).collect::<String>())
            } else {
                format!("'{s}'")
            }
        };
        (t.start, found)
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Error::invalid(format!(
                "filter nests parentheses or NOT deeper than {MAX_DEPTH} at position {}",
                self.peek().start
            )));
        }
        Ok(())
    }

    /// Eats the AND/OR keyword `kw` if it comes next, counting it against
    /// [`MAX_OPERATORS`].
    fn eat_operator(&mut self, kw: &str) -> Result<bool> {
        let at = self.peek().start;
        if !self.eat_keyword(kw) {
            return Ok(false);
        }
        self.operators += 1;
        if self.operators > MAX_OPERATORS {
            return Err(Error::invalid(format!(
                "filter has more than {MAX_OPERATORS} AND/OR operators (at position {at}); \
                 use IN (...) for long lists of values"
            )));
        }
        Ok(true)
    }

    fn or_expr(&mut self) -> Result<Predicate> {
        let mut left = self.and_expr()?;
        while self.eat_operator("OR")? {
            left = left.or(self.and_expr()?);
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Predicate> {
        let mut left = self.not_expr()?;
        while self.eat_operator("AND")? {
            left = left.and(self.not_expr()?);
        }
        Ok(left)
    }

    fn not_expr(&mut self) -> Result<Predicate> {
        if self.eat_keyword("NOT") {
            self.enter()?;
            let inner = self.not_expr()?;
            self.depth -= 1;
            return Ok(inner.negate());
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Predicate> {
        match &self.peek().tok {
            Tok::LParen => {
                let open = self.bump().start;
                self.enter()?;
                let inner = self.or_expr()?;
                if self.peek().tok != Tok::RParen {
                    let (pos, found) = self.found();
                    return Err(Error::invalid(format!(
                        "expected ')' at position {pos} to close the '(' at position {open}, \
                         found {found}"
                    )));
                }
                self.bump();
                self.depth -= 1;
                Ok(inner)
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("starts_with") && *self.peek2() == Tok::LParen => {
                self.starts_with_call()
            }
            Tok::Int(_) | Tok::Float(_) | Tok::Str(_) | Tok::Hex(_) | Tok::Minus => self.reversed_comparison(),
            Tok::Word(w) if ["TRUE", "FALSE", "NULL"].iter().any(|k| k.eq_ignore_ascii_case(w)) => {
                self.reversed_comparison()
            }
            _ => {
                let column = self.column("expected a column name, '(' or NOT")?;
                self.column_predicate(column)
            }
        }
    }

    /// A column name, or an error `{expected} at position N, found X`.
    fn column(&mut self, expected: &str) -> Result<String> {
        match &self.peek().tok {
            Tok::Quoted(name) => {
                let name = name.clone();
                self.bump();
                Ok(name)
            }
            Tok::Word(w) if !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(w)) => {
                let name = w.clone();
                self.bump();
                Ok(name)
            }
            _ => Err(self.expected(expected)),
        }
    }

    /// `starts_with(column, 'prefix')`.
    fn starts_with_call(&mut self) -> Result<Predicate> {
        self.bump();
        self.bump();
        let column = self.column("expected a column name as the first argument of starts_with")?;
        if self.peek().tok != Tok::Comma {
            return Err(self.expected("expected ',' after the column of starts_with"));
        }
        self.bump();
        let Tok::Str(prefix) = self.peek().tok.clone() else {
            return Err(self.expected("expected a quoted prefix as the second argument of starts_with"));
        };
        self.bump();
        if self.peek().tok != Tok::RParen {
            return Err(self.expected("expected ')' after the arguments of starts_with"));
        }
        self.bump();
        Ok(Predicate::StartsWith { column, prefix })
    }

    /// `literal op column`, turned around into `column op' literal`.
    fn reversed_comparison(&mut self) -> Result<Predicate> {
        let value = self.value("expected a value")?;
        let Tok::Op(op) = self.peek().tok else {
            return Err(self.expected(&format!("expected a comparison operator after the value {value}")));
        };
        let op_text = self.op_text();
        self.bump();
        let column = self.column(&format!("expected a column name after '{op_text}'"))?;
        Ok(Predicate::Compare {
            column,
            op: op.flip(),
            value,
        })
    }

    fn op_text(&self) -> String {
        let t = self.peek();
        self.text[t.start..t.end].to_owned()
    }

    /// What follows a column: a comparison, `IS [NOT] NULL`, `[NOT] IN (...)` or
    /// `[NOT] LIKE 'prefix%'`.
    fn column_predicate(&mut self, column: String) -> Result<Predicate> {
        if let Tok::Op(op) = self.peek().tok {
            let op_text = self.op_text();
            self.bump();
            let value = self.value(&format!("expected a value after '{op_text}'"))?;
            return Ok(Predicate::Compare { column, op, value });
        }
        if self.eat_keyword("IS") {
            let negated = self.eat_keyword("NOT");
            if !self.eat_keyword("NULL") {
                let after = if negated { "IS NOT" } else { "IS" };
                return Err(self.expected(&format!("expected NULL after {after}")));
            }
            return Ok(if negated {
                Predicate::IsNotNull(column)
            } else {
                Predicate::IsNull(column)
            });
        }
        let negated = self.eat_keyword("NOT");
        if self.eat_keyword("IN") {
            let values = self.in_list()?;
            return Ok(Predicate::In {
                column,
                values,
                negated,
            });
        }
        if self.is_keyword("LIKE") {
            let like = self.bump();
            let Tok::Str(pattern) = self.peek().tok.clone() else {
                return Err(self.expected("expected a quoted pattern after LIKE"));
            };
            let prefix = match pattern.strip_suffix('%') {
                // a backslash too: SQL reads it as LIKE's escape, which this parser has not
                Some(prefix) if !prefix.contains(['%', '_', '\\']) => prefix.to_owned(),
                _ => {
                    return Err(Error::invalid(format!(
                        "only prefix patterns like 'abc%' are supported by LIKE (at position {}), \
                         found '{}' at position {}; use starts_with(column, '...') to match \
                         a literal '%', '_' or '\\'",
                        like.start,
                        pattern.replace('\'', "''"),
                        self.peek().start
                    )));
                }
            };
            self.bump();
            let p = Predicate::StartsWith { column, prefix };
            return Ok(if negated { p.negate() } else { p });
        }
        Err(self.expected(if negated {
            "expected IN or LIKE after NOT"
        } else {
            "expected a comparison operator, IS, IN or LIKE after the column name"
        }))
    }

    /// `( value, ... )` after IN.
    fn in_list(&mut self) -> Result<Vec<Literal>> {
        if self.peek().tok != Tok::LParen {
            return Err(self.expected("expected '(' after IN"));
        }
        self.bump();
        let mut values = Vec::new();
        if self.peek().tok == Tok::RParen {
            self.bump();
            return Ok(values);
        }
        loop {
            values.push(self.value("expected a value in the IN list")?);
            match self.peek().tok {
                Tok::Comma => {
                    self.bump();
                }
                Tok::RParen => {
                    self.bump();
                    return Ok(values);
                }
                _ => return Err(self.expected("expected ',' or ')' in the IN list")),
            }
        }
    }

    /// A literal, or an error `{expected} at position N, found X`.
    fn value(&mut self, expected: &str) -> Result<Literal> {
        let token = self.peek().clone();
        let value = match &token.tok {
            Tok::Int(s) => int(s, token.start)?,
            Tok::Float(s) => float(s, token.start)?,
            Tok::Str(s) => Literal::String(s.clone()),
            Tok::Hex(b) => Literal::Binary(b.clone()),
            Tok::Minus => {
                self.bump();
                let next = self.peek().clone();
                let value = match &next.tok {
                    Tok::Int(s) => int(&format!("-{s}"), token.start)?,
                    Tok::Float(s) => float(&format!("-{s}"), token.start)?,
                    Tok::Word(w) if w.eq_ignore_ascii_case("inf") || w.eq_ignore_ascii_case("infinity") => {
                        Literal::Float(f64::NEG_INFINITY)
                    }
                    // the sign of a NaN orders it: below every number, where NaN is above
                    Tok::Word(w) if w.eq_ignore_ascii_case("nan") => Literal::Float(-f64::NAN),
                    _ => return Err(self.expected("expected a number after '-'")),
                };
                self.bump();
                return Ok(value);
            }
            Tok::Word(w) => match w.to_ascii_uppercase().as_str() {
                "TRUE" => Literal::Boolean(true),
                "FALSE" => Literal::Boolean(false),
                "NULL" => Literal::Null,
                "NAN" => Literal::Float(f64::NAN),
                "INF" | "INFINITY" => Literal::Float(f64::INFINITY),
                _ => return Err(self.expected(expected)),
            },
            _ => return Err(self.expected(expected)),
        };
        self.bump();
        Ok(value)
    }
}

fn int(text: &str, pos: usize) -> Result<Literal> {
    text.parse::<i64>()
        .map(Literal::Int)
        .map_err(|_| Error::invalid(format!("integer {text} at position {pos} does not fit in 64 bits")))
}

fn float(text: &str, pos: usize) -> Result<Literal> {
    text.parse::<f64>()
        .map(Literal::Float)
        .map_err(|_| Error::invalid(format!("invalid number {text} at position {pos}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::predicate::col;

    fn ok(text: &str) -> Predicate {
        match parse(text) {
            Ok(p) => p,
            Err(e) => panic!("parsing {text:?}: {e}"),
        }
    }

    fn err(text: &str) -> Error {
        match parse(text) {
            Ok(p) => panic!("parsing {text:?} should fail, got {p:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn parses_the_table() {
        let cases: Vec<(&str, Predicate)> = vec![
            ("id = 5", col("id").eq(5)),
            ("id == 5", col("id").eq(5)),
            ("id != 5", col("id").not_eq(5)),
            ("id <> 5", col("id").not_eq(5)),
            ("id<5", col("id").lt(5)),
            ("id <= -5", col("id").lt_eq(-5)),
            ("id > 1.5", col("id").gt(1.5)),
            ("id >= -2e3", col("id").gt_eq(-2000.0)),
            ("id >= .5", col("id").gt_eq(0.5)),
            ("id = 1E+2", col("id").eq(100.0)),
            ("x = -9223372036854775808", col("x").eq(i64::MIN)),
            ("x = - 3", col("x").eq(-3)),
            ("s = 'abc'", col("s").eq("abc")),
            ("s = 'it''s'", col("s").eq("it's")),
            ("s = ''", col("s").eq("")),
            ("s = 'ünï ✓'", col("s").eq("ünï ✓")),
            ("b = TRUE", col("b").eq(true)),
            ("b = false", col("b").eq(false)),
            ("b = NULL", col("b").eq(Literal::Null)),
            ("f = -Infinity", col("f").eq(f64::NEG_INFINITY)),
            ("f < inf", col("f").lt(f64::INFINITY)),
            ("bin = X'0aFF'", col("bin").eq(vec![0x0a_u8, 0xff])),
            ("bin = x''", col("bin").eq(Vec::<u8>::new())),
            ("a IS NULL", col("a").is_null()),
            ("a is not null", col("a").is_not_null()),
            ("a IN (1, 2, 3)", col("a").in_list([1, 2, 3])),
            ("a in ('x')", col("a").in_list(["x"])),
            (
                "a NOT IN (1, NULL)",
                col("a").not_in_list([Literal::Int(1), Literal::Null]),
            ),
            ("a IN ()", col("a").in_list(Vec::<Literal>::new())),
            ("name LIKE 'ab%'", col("name").starts_with("ab")),
            ("name like '%'", col("name").starts_with("")),
            ("name NOT LIKE 'ab%'", col("name").starts_with("ab").negate()),
            ("starts_with(name, 'a%_')", col("name").starts_with("a%_")),
            ("STARTS_WITH(\"my col\", 'x')", col("my col").starts_with("x")),
            ("starts_with = 1", col("starts_with").eq(1)),
            ("5 < id", col("id").gt(5)),
            ("5 <= id", col("id").gt_eq(5)),
            ("-1.5 > id", col("id").lt(-1.5)),
            ("'x' = s", col("s").eq("x")),
            ("NULL != s", col("s").not_eq(Literal::Null)),
            ("\"weird col\" = 1", col("weird col").eq(1)),
            ("\"a\"\"b\" = 1", col("a\"b").eq(1)),
            ("`back tick` = 1", col("back tick").eq(1)),
            ("`a``b` = 1", col("a`b").eq(1)),
            ("\"select\" = 1", col("select").eq(1)),
            ("\"AND\" = 1", col("AND").eq(1)),
            ("_x9 = 1", col("_x9").eq(1)),
            ("NOT a = 1", col("a").eq(1).negate()),
            ("not not a = 1", col("a").eq(1).negate().negate()),
            ("NOT a IN (1)", col("a").in_list([1]).negate()),
            ("  a = 1  ", col("a").eq(1)),
        ];
        for (text, expected) in cases {
            assert_eq!(ok(text), expected, "{text}");
        }
    }

    #[test]
    fn precedence_and_parentheses() {
        let (a, b, c) = (col("a").eq(1), col("b").eq(2), col("c").eq(3));
        assert_eq!(ok("a = 1 OR b = 2 AND c = 3"), a.clone().or(b.clone().and(c.clone())));
        assert_eq!(ok("a = 1 AND b = 2 OR c = 3"), a.clone().and(b.clone()).or(c.clone()));
        assert_eq!(ok("(a = 1 OR b = 2) AND c = 3"), a.clone().or(b.clone()).and(c.clone()));
        assert_eq!(ok("a = 1 AND b = 2 AND c = 3"), a.clone().and(b.clone()).and(c.clone()));
        assert_eq!(
            ok("a = 1 AND (b = 2 AND c = 3)"),
            a.clone().and(b.clone().and(c.clone()))
        );
        assert_eq!(ok("NOT a = 1 AND b = 2"), a.clone().negate().and(b.clone()));
        assert_eq!(ok("NOT (a = 1 OR b = 2)"), a.clone().or(b.clone()).negate());
        assert_eq!(ok("((a = 1))"), a.clone());
        assert_eq!(ok("a=1 or b=2 Or c=3"), a.or(b).or(c));
    }

    #[test]
    fn errors_name_the_position_and_what_was_expected() {
        let cases = [
            ("id >", "expected a value after '>' at position 4, found end of input"),
            ("price >= AND", "expected a value after '>=' at position 9, found 'AND'"),
            ("id = 'unterminated", "unterminated string starting at position 5"),
            (
                "(a = 1",
                "expected ')' at position 6 to close the '(' at position 0, found end of input",
            ),
            ("a LIKE '%x'", "only prefix patterns like 'abc%' are supported by LIKE"),
            ("a LIKE 'a_b%'", "found 'a_b%' at position 7"),
            ("a LIKE 'abc'", "only prefix patterns"),
            // SQL reads a backslash in a pattern as an escape ('dir\%' is `dir%`), never
            // as the prefix `dir\`: refused rather than read either way
            ("a LIKE 'dir\\%'", "found 'dir\\%'"),
            ("a LIKE 'C:\\\\%'", "a literal '%', '_' or '\\'"),
            ("", "expected a filter at position 0, found end of input"),
            (
                "a = 1 b = 2",
                "expected AND, OR or the end of the filter at position 6, found 'b'",
            ),
            (
                "a",
                "expected a comparison operator, IS, IN or LIKE after the column name at position 1",
            ),
            ("= 1", "expected a column name, '(' or NOT at position 0, found '='"),
            (
                "AND = 1",
                "expected a column name, '(' or NOT at position 0, found 'AND'",
            ),
            ("a IS 1", "expected NULL after IS at position 5, found '1'"),
            ("a IS NOT", "expected NULL after IS NOT at position 8"),
            ("a NOT = 1", "expected IN or LIKE after NOT at position 6"),
            ("a IN 1", "expected '(' after IN at position 5"),
            (
                "a IN (1 2)",
                "expected ',' or ')' in the IN list at position 8, found '2'",
            ),
            ("a IN (1,)", "expected a value in the IN list at position 8, found ')'"),
            ("a = b", "expected a value after '=' at position 4, found 'b'"),
            ("5 < 6", "expected a column name after '<' at position 4, found '6'"),
            ("5 a", "expected a comparison operator after the value 5 at position 2"),
            ("a = 99999999999999999999", "does not fit in 64 bits"),
            ("a = 12abc", "unexpected character 'a' in the number at position 6"),
            ("a = X'abc'", "even number of hex digits"),
            (
                "a = X'zz'",
                "expected a hex digit in the binary literal at position 6, found 'z'",
            ),
            ("a ! 1", "expected '=' after '!' at position 3"),
            ("a = 1 ; drop", "unexpected character ';' at position 6"),
            ("\"a = 1", "unterminated quoted identifier starting at position 0"),
            ("a = -'x'", "expected a number after '-' at position 5"),
            (
                "starts_with(a 'x')",
                "expected ',' after the column of starts_with at position 14",
            ),
            ("starts_with(a, 1)", "expected a quoted prefix"),
            ("a = 1 AND", "at position 9, found end of input"),
        ];
        for (text, message) in cases {
            let e = err(text);
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{text}");
            assert!(
                e.message().contains(message),
                "{text:?}: {:?} does not contain {message:?}",
                e.message()
            );
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = format!("{}a = 1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert_eq!(err(&deep).kind(), ErrorKind::InvalidArgument);
        let nots = format!("{}a = 1", "NOT ".repeat(10_000));
        assert_eq!(err(&nots).kind(), ErrorKind::InvalidArgument);
        let fine = format!("{}a = 1{}", "(".repeat(100), ")".repeat(100));
        assert_eq!(ok(&fine), col("a").eq(1));
    }

    #[test]
    fn long_and_or_chains_are_refused_past_the_operator_cap() {
        // each operator is a level of the tree: an uncapped chain of terms overflowed the
        // stack of whatever walked the tree (evaluation, validation, dropping)
        let chain = |n: usize| format!("a = 1{}", " OR a = 1 AND b = 2".repeat(n));
        let e = err(&chain(300));
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.message().contains("more than 512 AND/OR operators"), "{e}");
        let e = err(&chain(200_000));
        assert!(e.message().contains("more than 512 AND/OR operators"), "{e}");
        let p = ok(&chain(256));
        assert!(p.depth() <= crate::predicate::MAX_PREDICATE_DEPTH);
    }

    #[test]
    fn display_round_trips() {
        let predicates = vec![
            col("id").gt(5),
            col("id").lt_eq(i64::MIN),
            col("id").not_eq(i64::MAX),
            col("x").eq(1.0),
            col("x").eq(-0.5),
            col("x").eq(1e-300),
            col("x").eq(f64::MAX),
            col("x").eq(f64::INFINITY),
            col("x").eq(f64::NEG_INFINITY),
            col("x").eq(0.1 + 0.2),
            col("s").eq("it's a 'quote'"),
            col("s").eq(""),
            col("s").eq("line\nbreak\t✓"),
            col("b").eq(true),
            col("b").not_eq(false),
            col("n").eq(Literal::Null),
            col("bin").eq(vec![0u8, 1, 0xab, 0xff]),
            col("bin").eq(Vec::<u8>::new()),
            col("weird col").eq(1),
            col("a\"b`c").gt(1),
            col("").is_null(),
            col("1abc").is_not_null(),
            col("in").eq(1),
            col("Null").eq(1),
            col("NaN").eq(1),
            col("starts_with").starts_with("x"),
            col("select").eq(1),
            col("a").in_list([Literal::Int(1), Literal::Null, Literal::String("x".into())]),
            col("a").not_in_list([1.5, -2.0]),
            col("a").in_list(Vec::<Literal>::new()),
            col("a").starts_with("ab"),
            col("a").starts_with("it's"),
            col("a").starts_with("100%"),
            col("a").starts_with("a_b"),
            col("a").starts_with("back\\slash"),
            col("a").starts_with(""),
            col("a").eq(1).and(col("b").eq(2)).and(col("c").eq(3)),
            col("a").eq(1).and(col("b").eq(2).and(col("c").eq(3))),
            col("a").eq(1).or(col("b").eq(2)).or(col("c").eq(3)),
            col("a").eq(1).or(col("b").eq(2).or(col("c").eq(3))),
            col("a").eq(1).or(col("b").eq(2)).and(col("c").eq(3)),
            col("a").eq(1).and(col("b").eq(2)).or(col("c").eq(3)),
            col("a").eq(1).negate(),
            col("a").eq(1).negate().negate(),
            col("a").eq(1).and(col("b").eq(2)).negate(),
            col("a").eq(1).or(col("b").eq(2)).negate().and(col("c").is_null()),
            col("a").in_list([1]).negate(),
            col("a").not_in_list([1]).negate(),
            col("a").starts_with("x").negate().or(col("b").is_null().negate()),
        ];
        for p in predicates {
            let text = p.to_string();
            let back = parse(&text);
            assert_eq!(back.as_ref().ok(), Some(&p), "{text}: {back:?}");
        }
    }

    #[test]
    fn nan_reads_back_as_nan_of_the_same_sign() {
        // regression: a negative NaN (below every number) printed as NaN (above them)
        for nan in [f64::NAN, -f64::NAN] {
            let p = col("x").eq(nan);
            match parse(&p.to_string()) {
                Ok(Predicate::Compare {
                    value: Literal::Float(v),
                    ..
                }) => assert!(v.is_nan() && v.is_sign_negative() == nan.is_sign_negative(), "{p}: {v}"),
                other => panic!("{other:?}"),
            }
        }
    }
}
