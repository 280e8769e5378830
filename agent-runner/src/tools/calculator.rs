//! The `calculator` builtin: arithmetic evaluated by a small recursive-descent parser, never by
//! handing the text to an interpreter.
//!
//! Grammar (usual precedence; `^` binds tighter than unary minus and is right-associative, so
//! `-2^2` is -4 and `2^3^2` is 512):
//!
//! ```text
//! expr    := term (("+" | "-") term)*
//! term    := unary (("*" | "/" | "%") unary)*
//! unary   := ("-" | "+") unary | power
//! power   := primary ("^" unary)?
//! primary := number | "(" expr ")" | name | name "(" expr ("," expr)* ")"
//! ```

use serde_json::{Value, json};

/// Longest expression accepted, in bytes: a guard against abuse, far above real arithmetic.
pub(crate) const MAX_EXPRESSION_LEN: usize = 1_000;
/// Deepest nesting accepted (parentheses, unary signs, powers); keeps recursion bounded.
pub(crate) const MAX_DEPTH: usize = 64;

/// The JSON Schema of the calculator's arguments.
pub(crate) fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "expression": {
                "type": "string",
                "description": "Arithmetic expression, e.g. \"(1250 * 0.2) + 3^2\". Operators: + - * / % ^ and \
                                parentheses; functions: sqrt, abs, round, floor, ceil, min, max; constants: pi, e."
            }
        },
        "required": ["expression"],
        "additionalProperties": false
    })
}

/// Why an expression was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum CalcError {
    /// The text is not a valid expression.
    #[error("at position {position}: {message}")]
    Syntax {
        /// What is wrong.
        message: String,
        /// 1-based character position.
        position: usize,
    },
    /// The expression is valid but has no finite value.
    #[error("{0}")]
    Math(String),
    /// The expression is too long or too deeply nested.
    #[error("{0}")]
    TooComplex(String),
}

/// Evaluates `expression`, returning the value formatted for a reader.
pub(crate) fn evaluate(expression: &str) -> Result<String, CalcError> {
    let value = evaluate_number(expression)?;
    Ok(format_number(value))
}

/// Evaluates `expression` to a finite number.
pub(crate) fn evaluate_number(expression: &str) -> Result<f64, CalcError> {
    if expression.len() > MAX_EXPRESSION_LEN {
        return Err(CalcError::TooComplex(format!(
            "expression is {} bytes long; the limit is {MAX_EXPRESSION_LEN}",
            expression.len()
        )));
    }
    let tokens = tokenize(expression)?;
    let mut parser = Parser { tokens, pos: 0, depth: 0, end: expression.chars().count() + 1 };
    if parser.tokens.is_empty() {
        return Err(CalcError::Syntax { message: "empty expression".into(), position: 1 });
    }
    let value = parser.expr()?;
    if let Some(token) = parser.tokens.get(parser.pos) {
        return Err(CalcError::Syntax {
            message: format!("unexpected {}", token.kind.describe()),
            position: token.position,
        });
    }
    finite(value)
}

fn finite(value: f64) -> Result<f64, CalcError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(CalcError::Math("the result is too large to represent".into()))
    }
}

/// Integers exactly representable in an f64 print without a fraction; other values are rounded to
/// 12 significant digits so that binary floating-point noise (0.1 + 0.2) does not reach the model,
/// and very large or small ones use exponent notation rather than pretend to more digits.
fn format_number(value: f64) -> String {
    /// 2^53: above it, not every integer has an f64.
    const EXACT_INTEGER_LIMIT: f64 = 9_007_199_254_740_992.0;
    if value == 0.0 {
        return "0".into();
    }
    if value.fract() == 0.0 && value.abs() <= EXACT_INTEGER_LIMIT {
        return format!("{value:.0}");
    }
    let rounded: f64 = format!("{value:.11e}").parse().unwrap_or(value);
    if rounded.abs() >= 1e15 || rounded.abs() < 1e-6 { format!("{rounded:e}") } else { format!("{rounded}") }
}

#[derive(Debug, Clone, PartialEq)]
enum TokenKind {
    Number(f64),
    Name(String),
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Caret,
    LParen,
    RParen,
    Comma,
}

impl TokenKind {
    fn describe(&self) -> String {
        match self {
            Self::Number(n) => format!("number {n}"),
            Self::Name(name) => format!("name '{name}'"),
            Self::Plus => "'+'".into(),
            Self::Minus => "'-'".into(),
            Self::Star => "'*'".into(),
            Self::Slash => "'/'".into(),
            Self::Percent => "'%'".into(),
            Self::Caret => "'^'".into(),
            Self::LParen => "'('".into(),
            Self::RParen => "')'".into(),
            Self::Comma => "','".into(),
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    kind: TokenKind,
    /// 1-based character position, for error messages.
    position: usize,
}

fn tokenize(text: &str) -> Result<Vec<Token>, CalcError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let position = i + 1;
        let single = match c {
            '+' => Some(TokenKind::Plus),
            '-' | '−' => Some(TokenKind::Minus),
            '*' | '×' => Some(TokenKind::Star),
            '/' | '÷' => Some(TokenKind::Slash),
            '%' => Some(TokenKind::Percent),
            '^' => Some(TokenKind::Caret),
            '(' => Some(TokenKind::LParen),
            ')' => Some(TokenKind::RParen),
            ',' => Some(TokenKind::Comma),
            _ => None,
        };
        if let Some(kind) = single {
            // `**` is a common spelling of power; accept it rather than make the model retry.
            if kind == TokenKind::Star && chars.get(i + 1) == Some(&'*') {
                tokens.push(Token { kind: TokenKind::Caret, position });
                i += 2;
            } else {
                tokens.push(Token { kind, position });
                i += 1;
            }
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            let start = i;
            let mut text = String::new();
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.' || chars[i] == '_') {
                if chars[i] != '_' {
                    text.push(chars[i]);
                }
                i += 1;
            }
            // Scientific notation: an `e` directly followed by digits (optionally signed).
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let signed = matches!(chars.get(i + 1), Some('+' | '-'));
                let digit_at = if signed { i + 2 } else { i + 1 };
                if chars.get(digit_at).is_some_and(char::is_ascii_digit) {
                    text.push('e');
                    if signed {
                        text.push(chars[i + 1]);
                    }
                    i = digit_at;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        text.push(chars[i]);
                        i += 1;
                    }
                }
            }
            let value: f64 = text.parse().map_err(|_| CalcError::Syntax {
                message: format!("'{text}' is not a number"),
                position: start + 1,
            })?;
            tokens.push(Token { kind: TokenKind::Number(value), position: start + 1 });
        } else if c.is_ascii_alphabetic() {
            let start = i;
            let mut name = String::new();
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                name.push(chars[i].to_ascii_lowercase());
                i += 1;
            }
            tokens.push(Token { kind: TokenKind::Name(name), position: start + 1 });
        } else {
            return Err(CalcError::Syntax { message: format!("unexpected character '{c}'"), position });
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    /// Position reported for "unexpected end".
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&TokenKind> {
        self.tokens.get(self.pos).map(|t| &t.kind)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        if token.is_some() {
            self.pos += 1;
        }
        token
    }

    fn position(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.end, |t| t.position)
    }

    fn error(&self, message: impl Into<String>) -> CalcError {
        CalcError::Syntax { message: message.into(), position: self.position() }
    }

    fn unexpected(&self, expected: &str) -> CalcError {
        match self.peek() {
            Some(kind) => self.error(format!("expected {expected} but found {}", kind.describe())),
            None => self.error(format!("expected {expected} but the expression ended")),
        }
    }

    /// Every recursive rule passes through here, so nesting is bounded wherever it comes from.
    fn descend(&mut self) -> Result<(), CalcError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(CalcError::TooComplex(format!(
                "expression is nested more than {MAX_DEPTH} levels deep"
            )));
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<f64, CalcError> {
        self.descend()?;
        let mut value = self.term()?;
        loop {
            match self.peek() {
                Some(TokenKind::Plus) => {
                    self.pos += 1;
                    value += self.term()?;
                }
                Some(TokenKind::Minus) => {
                    self.pos += 1;
                    value -= self.term()?;
                }
                _ => break,
            }
        }
        self.depth -= 1;
        finite(value)
    }

    fn term(&mut self) -> Result<f64, CalcError> {
        let mut value = self.unary()?;
        loop {
            match self.peek() {
                Some(TokenKind::Star) => {
                    self.pos += 1;
                    value *= self.unary()?;
                }
                Some(TokenKind::Slash) => {
                    self.pos += 1;
                    let divisor = self.unary()?;
                    if divisor == 0.0 {
                        return Err(CalcError::Math("division by zero".into()));
                    }
                    value /= divisor;
                }
                Some(TokenKind::Percent) => {
                    self.pos += 1;
                    let divisor = self.unary()?;
                    if divisor == 0.0 {
                        return Err(CalcError::Math("modulo by zero".into()));
                    }
                    value %= divisor;
                }
                _ => break,
            }
            value = finite(value)?;
        }
        Ok(value)
    }

    fn unary(&mut self) -> Result<f64, CalcError> {
        self.descend()?;
        let value = match self.peek() {
            Some(TokenKind::Minus) => {
                self.pos += 1;
                -self.unary()?
            }
            Some(TokenKind::Plus) => {
                self.pos += 1;
                self.unary()?
            }
            _ => self.power()?,
        };
        self.depth -= 1;
        Ok(value)
    }

    fn power(&mut self) -> Result<f64, CalcError> {
        let base = self.primary()?;
        if self.peek() != Some(&TokenKind::Caret) {
            return Ok(base);
        }
        self.pos += 1;
        // The exponent is a `unary`, which recurses into `power` again: right-associativity.
        let exponent = self.unary()?;
        if base == 0.0 && exponent < 0.0 {
            return Err(CalcError::Math("division by zero (zero to a negative power)".into()));
        }
        let value = base.powf(exponent);
        if value.is_nan() {
            return Err(CalcError::Math(format!(
                "{} ^ {} has no real value",
                format_number(base),
                format_number(exponent)
            )));
        }
        finite(value)
    }

    fn primary(&mut self) -> Result<f64, CalcError> {
        let Some(token) = self.next() else {
            return Err(self.unexpected("a number, '(' or a function"));
        };
        match token.kind {
            TokenKind::Number(n) => Ok(n),
            TokenKind::LParen => {
                let value = self.expr()?;
                if self.peek() == Some(&TokenKind::RParen) {
                    self.pos += 1;
                    Ok(value)
                } else {
                    Err(self.unexpected(&format!("')' closing the '(' at position {}", token.position)))
                }
            }
            TokenKind::Name(name) => {
                if self.peek() == Some(&TokenKind::LParen) {
                    self.pos += 1;
                    let args = self.arguments(&name, token.position)?;
                    apply_function(&name, &args, token.position)
                } else {
                    match name.as_str() {
                        "pi" => Ok(std::f64::consts::PI),
                        "e" => Ok(std::f64::consts::E),
                        _ => Err(CalcError::Syntax {
                            message: format!("unknown name '{name}' (constants: pi, e)"),
                            position: token.position,
                        }),
                    }
                }
            }
            other => {
                self.pos -= 1;
                Err(self
                    .error(format!("expected a number, '(' or a function but found {}", other.describe())))
            }
        }
    }

    /// Arguments after `name(`, up to and including the closing `)`.
    fn arguments(&mut self, name: &str, position: usize) -> Result<Vec<f64>, CalcError> {
        let mut args = Vec::new();
        if self.peek() == Some(&TokenKind::RParen) {
            self.pos += 1;
            return Ok(args);
        }
        loop {
            args.push(self.expr()?);
            match self.peek() {
                Some(TokenKind::Comma) => self.pos += 1,
                Some(TokenKind::RParen) => {
                    self.pos += 1;
                    return Ok(args);
                }
                _ => {
                    return Err(
                        self.unexpected(&format!("',' or ')' closing {name}( at position {position}"))
                    );
                }
            }
        }
    }
}

fn apply_function(name: &str, args: &[f64], position: usize) -> Result<f64, CalcError> {
    let arity = |n: usize| -> Result<(), CalcError> {
        if args.len() == n {
            Ok(())
        } else {
            Err(CalcError::Syntax {
                message: format!(
                    "{name} takes {n} argument{}, got {}",
                    if n == 1 { "" } else { "s" },
                    args.len()
                ),
                position,
            })
        }
    };
    let value = match name {
        "sqrt" => {
            arity(1)?;
            if args[0] < 0.0 {
                return Err(CalcError::Math(format!(
                    "sqrt of a negative number ({}) has no real value",
                    format_number(args[0])
                )));
            }
            args[0].sqrt()
        }
        "abs" => {
            arity(1)?;
            args[0].abs()
        }
        "round" => {
            arity(1)?;
            args[0].round()
        }
        "floor" => {
            arity(1)?;
            args[0].floor()
        }
        "ceil" => {
            arity(1)?;
            args[0].ceil()
        }
        "min" | "max" => {
            let Some(first) = args.first() else {
                return Err(CalcError::Syntax {
                    message: format!("{name} needs at least one argument"),
                    position,
                });
            };
            let pick = if name == "min" { f64::min } else { f64::max };
            args[1..].iter().fold(*first, |acc, x| pick(acc, *x))
        }
        _ => {
            return Err(CalcError::Syntax {
                message: format!(
                    "unknown function '{name}' (functions: sqrt, abs, round, floor, ceil, min, max)"
                ),
                position,
            });
        }
    };
    finite(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(text: &str) -> f64 {
        evaluate_number(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn err(text: &str) -> String {
        evaluate(text).expect_err(text).to_string()
    }

    #[test]
    fn precedence_is_the_usual_one() {
        assert_eq!(eval("2 + 3 * 4"), 14.0);
        assert_eq!(eval("(2 + 3) * 4"), 20.0);
        assert_eq!(eval("10 - 4 - 3"), 3.0, "left-associative minus");
        assert_eq!(eval("100 / 10 / 5"), 2.0, "left-associative division");
        assert_eq!(eval("7 % 3 + 1"), 2.0);
        assert_eq!(eval("2 * 3 ^ 2"), 18.0, "power before multiplication");
    }

    #[test]
    fn power_is_right_associative_and_binds_tighter_than_unary_minus() {
        assert_eq!(eval("2 ^ 3 ^ 2"), 512.0);
        assert_eq!(eval("-2 ^ 2"), -4.0);
        assert_eq!(eval("(-2) ^ 2"), 4.0);
        assert_eq!(eval("2 ^ -1"), 0.5);
        assert_eq!(eval("2 ** 10"), 1024.0);
    }

    #[test]
    fn unary_signs_decimals_and_exponents() {
        assert_eq!(eval("--3"), 3.0);
        assert_eq!(eval("-(4 - 6)"), 2.0);
        assert_eq!(eval("+1.5 * .5"), 0.75);
        assert_eq!(eval("1.5e3 + 2E-1"), 1500.2);
        assert_eq!(eval("1_000 * 2"), 2000.0);
    }

    #[test]
    fn functions_and_constants() {
        assert_eq!(eval("sqrt(16) + abs(-2)"), 6.0);
        assert_eq!(eval("round(2.5) + floor(1.9) + ceil(1.1)"), 6.0);
        assert_eq!(eval("max(1, 7, 3) - min(4, -2)"), 9.0);
        assert_eq!(eval("SQRT(4)"), 2.0, "names are case-insensitive");
        assert!((eval("2 * pi") - std::f64::consts::TAU).abs() < 1e-12);
    }

    #[test]
    fn results_are_formatted_for_people() {
        assert_eq!(evaluate("0.1 + 0.2").expect("sum"), "0.3");
        assert_eq!(evaluate("10 / 4").expect("quotient"), "2.5");
        assert_eq!(evaluate("6 * 7").expect("product"), "42");
        assert_eq!(evaluate("-0").expect("zero"), "0");
        assert_eq!(evaluate("1 / 3").expect("third"), "0.333333333333");
        assert_eq!(evaluate("2 ^ 53").expect("exact"), "9007199254740992");
        assert_eq!(evaluate("2 ^ 60").expect("large"), "1.15292150461e18");
        assert_eq!(evaluate("1 / 2 ^ 30").expect("small"), "9.31322574615e-10");
    }

    #[test]
    fn division_and_modulo_by_zero_are_errors() {
        assert_eq!(err("1 / 0"), "division by zero");
        assert_eq!(err("1 / (2 - 2)"), "division by zero");
        assert_eq!(err("5 % 0"), "modulo by zero");
        assert!(err("0 ^ -1").contains("division by zero"));
    }

    #[test]
    fn values_without_a_real_result_are_errors() {
        assert!(err("sqrt(-1)").contains("no real value"));
        assert!(err("(-8) ^ 0.5").contains("no real value"));
        assert!(err("10 ^ 400").contains("too large"));
        assert!(err("1e308 * 10").contains("too large"));
    }

    #[test]
    fn garbage_is_refused_with_a_position() {
        assert_eq!(err("2 + $"), "at position 5: unexpected character '$'");
        assert_eq!(err(""), "at position 1: empty expression");
        assert_eq!(
            err("2 +"),
            "at position 4: expected a number, '(' or a function but the expression ended"
        );
        assert_eq!(err("2 3"), "at position 3: unexpected number 3");
        assert_eq!(
            err("(1 + 2"),
            "at position 7: expected ')' closing the '(' at position 1 but the expression ended"
        );
        assert!(err("1 + 2)").contains("unexpected ')'"));
        assert!(err("2 * * 3").contains("found '*'"));
        assert!(err("foo(1)").contains("unknown function 'foo'"));
        assert!(err("x + 1").contains("unknown name 'x'"));
        assert!(err("sqrt(1, 2)").contains("sqrt takes 1 argument, got 2"));
        assert!(err("max()").contains("max needs at least one argument"));
        assert!(err("1..2").contains("not a number"));
        assert!(err("import os").contains("unknown name 'import'"));
    }

    #[test]
    fn abuse_is_bounded() {
        let long = "1+".repeat(600) + "1";
        assert!(err(&long).contains("the limit is 1000"), "{}", err(&long));
        let deep = "(".repeat(100) + "1" + &")".repeat(100);
        assert!(err(&deep).contains("nested more than 64 levels"));
        let minus = "-".repeat(200) + "1";
        assert!(err(&minus).contains("nested more than 64 levels"));
        let powers = "2^".repeat(300) + "1";
        assert!(err(&powers).contains("nested more than 64 levels"));
        // Moderate nesting is fine.
        let ok = "(".repeat(30) + "1" + &")".repeat(30);
        assert_eq!(eval(&ok), 1.0);
    }
}
