//! AMF0 (Action Message Format 0): the encoding of RTMP command and data messages. Decoding is
//! bounded: nesting depth is capped and every length is checked against the remaining input, so a
//! hostile message cannot make us recurse or allocate beyond what it carried.

use std::fmt;

/// Deepest nesting of objects/arrays accepted.
pub const MAX_DEPTH: usize = 32;
/// Most values one decoder produces: a value costs far more memory decoded than encoded (a 1-byte
/// null becomes a whole `Value`), so the count is bounded, not just the input size.
pub const MAX_VALUES: usize = 16_384;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Boolean(bool),
    String(String),
    /// Object or ECMA array: ordered key/value pairs.
    Object(Vec<(String, Value)>),
    Null,
    Undefined,
    StrictArray(Vec<Value>),
    Date(f64),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// A property of an object value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(props) => props.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Amf0Error {
    Truncated,
    TooDeep,
    TooManyValues,
    UnknownMarker(u8),
    InvalidUtf8,
}

impl fmt::Display for Amf0Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Amf0Error::Truncated => write!(f, "AMF0 value runs past the end of the message"),
            Amf0Error::TooDeep => write!(f, "AMF0 nesting deeper than {MAX_DEPTH}"),
            Amf0Error::TooManyValues => {
                write!(f, "more than {MAX_VALUES} AMF0 values in one message")
            }
            Amf0Error::UnknownMarker(m) => write!(f, "unsupported AMF0 type marker 0x{m:02x}"),
            Amf0Error::InvalidUtf8 => write!(f, "AMF0 string is not UTF-8"),
        }
    }
}

/// A cursor over AMF0 bytes.
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    values: usize,
}

impl<'a> Decoder<'a> {
    pub fn new(buf: &'a [u8]) -> Decoder<'a> {
        Decoder {
            buf,
            pos: 0,
            values: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Amf0Error> {
        let end = self.pos.checked_add(n).ok_or(Amf0Error::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(Amf0Error::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, Amf0Error> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<usize, Amf0Error> {
        let b = self.take(2)?;
        Ok(usize::from(u16::from_be_bytes([b[0], b[1]])))
    }

    fn u32(&mut self) -> Result<usize, Amf0Error> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    fn f64(&mut self) -> Result<f64, Amf0Error> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_be_bytes(a))
    }

    fn string_of(&mut self, len: usize) -> Result<String, Amf0Error> {
        let b = self.take(len)?;
        std::str::from_utf8(b)
            .map(str::to_string)
            .map_err(|_| Amf0Error::InvalidUtf8)
    }

    /// Decodes the next value.
    pub fn value(&mut self) -> Result<Value, Amf0Error> {
        self.value_at(0)
    }

    /// Decodes every remaining value.
    pub fn all(&mut self) -> Result<Vec<Value>, Amf0Error> {
        let mut out = Vec::new();
        while !self.is_empty() {
            out.push(self.value()?);
        }
        Ok(out)
    }

    fn props(&mut self, depth: usize) -> Result<Vec<(String, Value)>, Amf0Error> {
        let mut props = Vec::new();
        loop {
            let len = self.u16()?;
            if len == 0 {
                // An empty key followed by the object-end marker closes the object.
                if self.buf.get(self.pos) == Some(&0x09) {
                    self.pos += 1;
                    return Ok(props);
                }
                if self.is_empty() {
                    return Err(Amf0Error::Truncated);
                }
            }
            let key = self.string_of(len)?;
            let v = self.value_at(depth + 1)?;
            props.push((key, v));
        }
    }

    fn value_at(&mut self, depth: usize) -> Result<Value, Amf0Error> {
        if depth > MAX_DEPTH {
            return Err(Amf0Error::TooDeep);
        }
        self.values += 1;
        if self.values > MAX_VALUES {
            return Err(Amf0Error::TooManyValues);
        }
        let marker = self.u8()?;
        Ok(match marker {
            0x00 => Value::Number(self.f64()?),
            0x01 => Value::Boolean(self.u8()? != 0),
            0x02 => {
                let len = self.u16()?;
                Value::String(self.string_of(len)?)
            }
            0x03 => Value::Object(self.props(depth)?),
            0x05 => Value::Null,
            0x06 => Value::Undefined,
            0x08 => {
                let _count = self.u32()?;
                Value::Object(self.props(depth)?)
            }
            0x0A => {
                let count = self.u32()?;
                // Each element takes at least one byte: a count beyond the input is a lie.
                if count > self.buf.len() - self.pos {
                    return Err(Amf0Error::Truncated);
                }
                let mut items = Vec::with_capacity(count.min(64));
                for _ in 0..count {
                    items.push(self.value_at(depth + 1)?);
                }
                Value::StrictArray(items)
            }
            0x0B => {
                let ms = self.f64()?;
                self.take(2)?;
                Value::Date(ms)
            }
            0x0C => {
                let len = self.u32()?;
                Value::String(self.string_of(len)?)
            }
            0x0D => Value::Undefined,
            0x10 => {
                let len = self.u16()?;
                self.take(len)?;
                Value::Object(self.props(depth)?)
            }
            other => return Err(Amf0Error::UnknownMarker(other)),
        })
    }

    /// Bytes not yet decoded.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos.min(self.buf.len())..]
    }
}

/// Encodes values into a buffer.
pub fn encode(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Number(n) => {
            out.push(0x00);
            out.extend_from_slice(&n.to_be_bytes());
        }
        Value::Boolean(b) => {
            out.push(0x01);
            out.push(u8::from(*b));
        }
        Value::String(s) => {
            if let Ok(len) = u16::try_from(s.len()) {
                out.push(0x02);
                out.extend_from_slice(&len.to_be_bytes());
            } else {
                out.push(0x0C);
                out.extend_from_slice(&(s.len() as u32).to_be_bytes());
            }
            out.extend_from_slice(s.as_bytes());
        }
        Value::Object(props) => {
            out.push(0x03);
            for (k, v) in props {
                let k = &k.as_bytes()[..k.len().min(u16::MAX as usize)];
                out.extend_from_slice(&(k.len() as u16).to_be_bytes());
                out.extend_from_slice(k);
                encode(out, v);
            }
            out.extend_from_slice(&[0, 0, 0x09]);
        }
        Value::Null => out.push(0x05),
        Value::Undefined => out.push(0x06),
        Value::StrictArray(items) => {
            out.push(0x0A);
            out.extend_from_slice(&(items.len() as u32).to_be_bytes());
            for i in items {
                encode(out, i);
            }
        }
        Value::Date(ms) => {
            out.push(0x0B);
            out.extend_from_slice(&ms.to_be_bytes());
            out.extend_from_slice(&[0, 0]);
        }
    }
}

/// Shorthand for an object value from string keys.
pub fn object(props: &[(&str, Value)]) -> Value {
    Value::Object(
        props
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

pub fn string(s: &str) -> Value {
    Value::String(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let v = vec![
            string("connect"),
            Value::Number(1.0),
            object(&[
                ("app", string("live")),
                ("n", Value::Null),
                ("b", Value::Boolean(true)),
            ]),
            Value::StrictArray(vec![Value::Number(2.0), Value::Undefined]),
        ];
        let mut out = Vec::new();
        for x in &v {
            encode(&mut out, x);
        }
        assert_eq!(Decoder::new(&out).all().expect("decode"), v);
    }

    #[test]
    fn hostile_inputs_are_errors_not_panics() {
        // A million nested objects: refused by depth, not by the stack.
        let mut deep = vec![0x03u8];
        for _ in 0..1_000_000 {
            deep.extend_from_slice(&[0x00, 0x01, b'a', 0x03]);
        }
        assert_eq!(Decoder::new(&deep).value(), Err(Amf0Error::TooDeep));
        // A string longer than the message.
        assert_eq!(
            Decoder::new(&[0x02, 0xFF, 0xFF, b'a']).value(),
            Err(Amf0Error::Truncated)
        );
        assert_eq!(
            Decoder::new(&[0x0C, 0xFF, 0xFF, 0xFF, 0xFF]).value(),
            Err(Amf0Error::Truncated)
        );
        // A strict array claiming 4 billion items.
        assert_eq!(
            Decoder::new(&[0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x05]).value(),
            Err(Amf0Error::Truncated)
        );
        assert_eq!(
            Decoder::new(&[0x42]).value(),
            Err(Amf0Error::UnknownMarker(0x42))
        );
        // A strict array of a million nulls: refused by the value budget.
        let mut many = vec![0x0A, 0x00, 0x0F, 0x42, 0x40];
        many.extend(std::iter::repeat_n(0x05u8, 1_000_000));
        assert_eq!(Decoder::new(&many).value(), Err(Amf0Error::TooManyValues));
        assert_eq!(
            Decoder::new(&[0x03, 0x00]).value(),
            Err(Amf0Error::Truncated)
        );
        assert_eq!(Decoder::new(&[]).value(), Err(Amf0Error::Truncated));
    }
}
