//! RocketMQ's SQL92 property filter (`expressionType=SQL92`), compiled
//! once per subscription and evaluated against a stored message's
//! properties.
//!
//! Grammar (RocketMQ's `SelectorParser`, with its 5.x string functions):
//!
//! ```text
//! expr       := or
//! or         := and ("OR" and)*
//! and        := not ("AND" not)*
//! not        := "NOT" not | predicate
//! predicate  := "(" expr ")"
//!             | ident ("=" | "<>" | "!=" | ">" | ">=" | "<" | "<=") literal
//!             | ident ["NOT"] "BETWEEN" number "AND" number
//!             | ident ["NOT"] "IN" "(" string ("," string)* ")"
//!             | ident "IS" ["NOT"] "NULL"
//!             | ident ("CONTAINS" | "STARTSWITH" | "ENDSWITH") string
//!             | "TRUE" | "FALSE"
//! literal    := string | number | "TRUE" | "FALSE"
//! ```
//!
//! Keywords are case-insensitive; identifiers are property names (`TAGS`
//! is the message's tags), strings are single-quoted (`''` escapes a
//! quote). Evaluation is three-valued as in SQL: a comparison with a
//! missing property, or a numeric comparison with a value that is not a
//! number, is unknown, and a message matches only when the whole
//! expression is true. Inputs are bounded: [`SQL_BYTES_MAX`] of text,
//! [`SQL_DEPTH_MAX`] of nesting, [`SQL_IN_LIST_MAX`] values in an `IN`.

/// Longest expression accepted.
pub const SQL_BYTES_MAX: usize = 4_096;
/// Deepest nesting of parentheses and `NOT`s.
pub const SQL_DEPTH_MAX: usize = 64;
/// Most values in one `IN` list.
pub const SQL_IN_LIST_MAX: usize = 1_024;
/// Most compiled filters a shard keeps (the cache is emptied when full).
pub const SQL_FILTERS_CACHED_MAX: usize = 1_024;

/// The compiled filter for `text`, from the shard's cache.
pub fn compiled(shard: &crate::shard::Shard, text: &str) -> Result<std::rc::Rc<SqlFilter>, String> {
    if let Some(f) = shard.sql_filters.borrow().get(text) {
        return Ok(f.clone());
    }
    let f = std::rc::Rc::new(SqlFilter::parse(text)?);
    let mut cache = shard.sql_filters.borrow_mut();
    if cache.len() >= SQL_FILTERS_CACHED_MAX {
        cache.clear();
    }
    cache.insert(text.to_string(), f.clone());
    Ok(f)
}

#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Str(String),
    Num(f64),
    Bool(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StrFn {
    Contains,
    StartsWith,
    EndsWith,
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare(String, Cmp, Literal),
    Between(String, f64, f64, bool),
    In(String, Vec<String>, bool),
    IsNull(String, bool),
    Str(String, StrFn, String),
    Const(bool),
}

/// A compiled filter.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlFilter {
    expr: Expr,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Num(f64),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
}

fn lex(text: &str) -> Result<Vec<Token>, String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'(' => {
                out.push(Token::LParen);
                i += 1;
            }
            b')' => {
                out.push(Token::RParen);
                i += 1;
            }
            b',' => {
                out.push(Token::Comma);
                i += 1;
            }
            b'=' => {
                out.push(Token::Op("="));
                i += 1;
            }
            b'<' | b'>' | b'!' => {
                let two = b.get(i + 1).copied();
                let op = match (c, two) {
                    (b'<', Some(b'>')) => "<>",
                    (b'!', Some(b'=')) => "<>",
                    (b'<', Some(b'=')) => "<=",
                    (b'>', Some(b'=')) => ">=",
                    (b'<', _) => "<",
                    (b'>', _) => ">",
                    _ => return Err(format!("unexpected '!' at {i}")),
                };
                i += if op.len() == 2 { 2 } else { 1 };
                out.push(Token::Op(op));
            }
            b'\'' => {
                let (s, next) = lex_string(text, i)?;
                i = next;
                out.push(Token::Str(s));
            }
            b'0'..=b'9' | b'-' | b'.' => {
                let (n, next) = lex_number(text, i)?;
                i = next;
                out.push(Token::Num(n));
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b'.')) {
                    i += 1;
                }
                out.push(Token::Ident(text[start..i].to_string()));
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or('?');
                return Err(format!("unexpected character {ch:?} at {i}"));
            }
        }
    }
    Ok(out)
}

/// The string literal whose opening quote is at `i`, `''` standing for
/// one quote; with the index past its closing quote.
fn lex_string(text: &str, mut i: usize) -> Result<(String, usize), String> {
    let b = text.as_bytes();
    let mut s = String::new();
    i += 1;
    loop {
        let start = i;
        while i < b.len() && b[i] != b'\'' {
            i += 1;
        }
        if i >= b.len() {
            return Err("unterminated string".into());
        }
        s.push_str(&text[start..i]);
        if b.get(i + 1) == Some(&b'\'') {
            s.push('\'');
            i += 2;
        } else {
            i += 1;
            break;
        }
    }
    Ok((s, i))
}

/// The number starting at `i`; with the index past it.
fn lex_number(text: &str, mut i: usize) -> Result<(f64, usize), String> {
    let b = text.as_bytes();
    let start = i;
    i += 1;
    while i < b.len() && matches!(b[i], b'0'..=b'9' | b'.' | b'e' | b'E') {
        i += 1;
    }
    // A trailing L (Java long literal) is allowed.
    let digits = &text[start..i];
    if i < b.len() && matches!(b[i], b'l' | b'L') {
        i += 1;
    }
    let n: f64 = digits
        .parse()
        .map_err(|_| format!("bad number {digits:?}"))?;
    if !n.is_finite() {
        return Err(format!("number {digits:?} out of range"));
    }
    Ok((n, i))
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Ident(w)) if w.eq_ignore_ascii_case(word))
    }

    fn eat_keyword(&mut self, word: &str) -> bool {
        let yes = self.keyword(word);
        if yes {
            self.at += 1;
        }
        yes
    }

    fn expect_keyword(&mut self, word: &str) -> Result<(), String> {
        if self.eat_keyword(word) {
            Ok(())
        } else {
            Err(format!("expected {word} at token {}", self.at))
        }
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn deeper(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > SQL_DEPTH_MAX {
            return Err(format!("nested deeper than {SQL_DEPTH_MAX}"));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.eat_keyword("OR") {
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.not()?;
        while self.eat_keyword("AND") {
            let right = self.not()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, String> {
        if self.eat_keyword("NOT") {
            self.deeper()?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.predicate()
    }

    fn string(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Token::Str(s)) => Ok(s),
            other => Err(format!("expected a string, found {other:?}")),
        }
    }

    fn number(&mut self) -> Result<f64, String> {
        match self.next() {
            Some(Token::Num(n)) => Ok(n),
            other => Err(format!("expected a number, found {other:?}")),
        }
    }

    fn predicate(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Token::LParen) => {
                self.deeper()?;
                let inner = self.or()?;
                self.depth -= 1;
                match self.next() {
                    Some(Token::RParen) => Ok(inner),
                    other => Err(format!("expected ')', found {other:?}")),
                }
            }
            Some(Token::Ident(w)) if w.eq_ignore_ascii_case("TRUE") => Ok(Expr::Const(true)),
            Some(Token::Ident(w)) if w.eq_ignore_ascii_case("FALSE") => Ok(Expr::Const(false)),
            Some(Token::Ident(name)) => self.after_ident(name),
            other => Err(format!("expected a predicate, found {other:?}")),
        }
    }

    fn after_ident(&mut self, name: String) -> Result<Expr, String> {
        if let Some(Token::Op(op)) = self.peek().cloned() {
            self.at += 1;
            let cmp = match op {
                "=" => Cmp::Eq,
                "<>" => Cmp::Ne,
                ">" => Cmp::Gt,
                ">=" => Cmp::Ge,
                "<" => Cmp::Lt,
                _ => Cmp::Le,
            };
            let literal = match self.next() {
                Some(Token::Str(s)) => Literal::Str(s),
                Some(Token::Num(n)) => Literal::Num(n),
                Some(Token::Ident(w)) if w.eq_ignore_ascii_case("TRUE") => Literal::Bool(true),
                Some(Token::Ident(w)) if w.eq_ignore_ascii_case("FALSE") => Literal::Bool(false),
                other => return Err(format!("expected a value after {op}, found {other:?}")),
            };
            if !matches!(literal, Literal::Num(_)) && !matches!(cmp, Cmp::Eq | Cmp::Ne) {
                return Err(format!("{op} needs a number"));
            }
            return Ok(Expr::Compare(name, cmp, literal));
        }
        if self.eat_keyword("IS") {
            let negated = self.eat_keyword("NOT");
            self.expect_keyword("NULL")?;
            return Ok(Expr::IsNull(name, negated));
        }
        for (word, f) in [
            ("CONTAINS", StrFn::Contains),
            ("STARTSWITH", StrFn::StartsWith),
            ("ENDSWITH", StrFn::EndsWith),
        ] {
            if self.eat_keyword(word) {
                return Ok(Expr::Str(name, f, self.string()?));
            }
        }
        let negated = self.eat_keyword("NOT");
        if self.eat_keyword("BETWEEN") {
            let low = self.number()?;
            self.expect_keyword("AND")?;
            let high = self.number()?;
            return Ok(Expr::Between(name, low, high, negated));
        }
        if self.eat_keyword("IN") {
            match self.next() {
                Some(Token::LParen) => {}
                other => return Err(format!("expected '(' after IN, found {other:?}")),
            }
            let mut values = vec![self.string()?];
            loop {
                match self.next() {
                    Some(Token::Comma) => {
                        if values.len() >= SQL_IN_LIST_MAX {
                            return Err(format!("more than {SQL_IN_LIST_MAX} values in IN"));
                        }
                        values.push(self.string()?);
                    }
                    Some(Token::RParen) => break,
                    other => return Err(format!("expected ',' or ')' in IN, found {other:?}")),
                }
            }
            return Ok(Expr::In(name, values, negated));
        }
        Err(format!("expected an operator after {name}"))
    }
}

impl SqlFilter {
    /// Compiles an expression, or says why not (the text of
    /// `SUBSCRIPTION_PARSE_FAILED`).
    pub fn parse(text: &str) -> Result<SqlFilter, String> {
        if text.len() > SQL_BYTES_MAX {
            return Err(format!(
                "SQL92 expression longer than {SQL_BYTES_MAX} bytes"
            ));
        }
        let tokens = lex(text)?;
        if tokens.is_empty() {
            return Err("empty SQL92 expression".into());
        }
        let mut p = Parser {
            tokens,
            at: 0,
            depth: 0,
        };
        let expr = p.or()?;
        if p.at != p.tokens.len() {
            return Err(format!(
                "unexpected {:?} after the expression",
                p.tokens[p.at]
            ));
        }
        Ok(SqlFilter { expr })
    }

    /// Whether a message with these properties matches (`get` looks a
    /// property up by name).
    pub fn matches<'a>(&self, get: &dyn Fn(&str) -> Option<&'a str>) -> bool {
        eval(&self.expr, get) == Some(true)
    }
}

fn number(v: &str) -> Option<f64> {
    v.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// Three-valued: None is SQL's unknown.
fn eval<'a>(e: &Expr, get: &dyn Fn(&str) -> Option<&'a str>) -> Option<bool> {
    match e {
        Expr::Const(b) => Some(*b),
        Expr::Not(inner) => eval(inner, get).map(|b| !b),
        Expr::And(a, b) => match (eval(a, get), eval(b, get)) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        Expr::Or(a, b) => match (eval(a, get), eval(b, get)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        Expr::IsNull(name, negated) => Some(get(name).is_none() != *negated),
        Expr::Compare(name, cmp, literal) => {
            let v = get(name)?;
            match literal {
                Literal::Num(n) => {
                    let x = number(v)?;
                    Some(match cmp {
                        Cmp::Eq => x == *n,
                        Cmp::Ne => x != *n,
                        Cmp::Gt => x > *n,
                        Cmp::Ge => x >= *n,
                        Cmp::Lt => x < *n,
                        Cmp::Le => x <= *n,
                    })
                }
                Literal::Str(s) => Some((v == s) == (*cmp == Cmp::Eq)),
                Literal::Bool(b) => {
                    let x = v.parse::<bool>().ok()?;
                    Some((x == *b) == (*cmp == Cmp::Eq))
                }
            }
        }
        Expr::Between(name, low, high, negated) => {
            let x = number(get(name)?)?;
            Some((*low <= x && x <= *high) != *negated)
        }
        Expr::In(name, values, negated) => {
            let v = get(name)?;
            Some(values.iter().any(|s| s == v) != *negated)
        }
        Expr::Str(name, f, s) => {
            let v = get(name)?;
            Some(match f {
                StrFn::Contains => v.contains(s.as_str()),
                StrFn::StartsWith => v.starts_with(s.as_str()),
                StrFn::EndsWith => v.ends_with(s.as_str()),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn matches(sql: &str, props: &[(&str, &str)]) -> bool {
        let f = SqlFilter::parse(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        f.matches(&|name: &str| props.iter().find(|(k, _)| *k == name).map(|(_, v)| *v))
    }

    #[test]
    fn rocketmqs_operators() {
        let p = [("a", "3"), ("TAGS", "TagA"), ("s", "x'y"), ("b", "true")];
        for (sql, want) in [
            ("a = 3", true),
            ("a <> 3", false),
            ("a != 4", true),
            ("a > 2 AND a >= 3 AND a < 4 AND a <= 3", true),
            ("a BETWEEN 1 AND 3", true),
            ("a NOT BETWEEN 1 AND 3", false),
            ("TAGS IN ('TagA', 'TagB')", true),
            ("TAGS NOT IN ('TagA')", false),
            ("TAGS = 'TagA' OR missing = 1", true),
            ("missing = 1", false),
            ("NOT (missing = 1)", false),
            ("missing IS NULL AND a IS NOT NULL", true),
            ("s = 'x''y'", true),
            ("b = TRUE", true),
            (
                "TAGS STARTSWITH 'Tag' AND TAGS ENDSWITH 'A' AND TAGS CONTAINS 'ag'",
                true,
            ),
            ("(a = 1 OR a = 3) and not a = 2", true),
            ("TAGS > 1", false),
            ("TRUE", true),
        ] {
            assert_eq!(matches(sql, &p), want, "{sql}");
        }
    }

    #[test]
    fn bad_expressions_say_why() {
        for sql in [
            "",
            "a =",
            "a = 'x",
            "a > 'x'",
            "(a = 1",
            "a = 1 b",
            "a IN ()",
            "a BETWEEN 1",
            "a # 1",
            "a IS 1",
        ] {
            assert!(SqlFilter::parse(sql).is_err(), "{sql:?} parsed");
        }
        let deep = format!("{}a = 1{}", "(".repeat(100), ")".repeat(100));
        assert!(SqlFilter::parse(&deep).unwrap_err().contains("nested"));
        let nots = format!("{}a = 1", "NOT ".repeat(100));
        assert!(SqlFilter::parse(&nots).is_err());
        assert!(SqlFilter::parse(&"a = 1 OR ".repeat(1_000)).is_err());
    }

    proptest! {
        /// Any text is compiled or refused, never a panic; whatever
        /// compiles evaluates.
        #[test]
        fn parser_never_panics(text in "[ a-zA-Z0-9_()',=<>!.-]{0,200}") {
            if let Ok(f) = SqlFilter::parse(&text) {
                let _ = f.matches(&|_| Some("1"));
            }
        }
    }
}
