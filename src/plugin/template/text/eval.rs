//! Running a parsed template: the values of its fields, Go's builtins (`index`, `len`,
//! `parseInt`, `.Meta`) and Go's printing of each kind of value.
use std::borrow::Cow;
use std::fmt::Write as _;

use super::ast::{parse_radix, Arg, Cmd, Data, Field, Func};

pub(super) enum Val<'d> {
    S(Cow<'d, str>),
    I(i64),
    U(u64),
    List(&'d [String]),
    Map,
    NoValue,
}

impl Val<'_> {
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Val::S(_) => "string",
            Val::I(_) => "int",
            Val::U(_) => "uint64",
            Val::List(_) => "[]string",
            Val::Map => "map[string]string",
            Val::NoValue => "<no value>",
        }
    }
}

pub(super) fn print(v: &Val<'_>, d: &Data<'_>, out: &mut String) {
    match v {
        Val::S(s) => out.push_str(s),
        Val::I(n) => {
            let _ = write!(out, "{n}");
        }
        Val::U(n) => {
            let _ = write!(out, "{n}");
        }
        Val::List(l) => {
            let _ = write!(out, "[{}]", l.join(" "));
        }
        Val::Map => out.push_str(&d.group_map()),
        Val::NoValue => out.push_str("<no value>"),
    }
}

pub(super) fn pipeline<'d>(cmds: &[Cmd], d: &'d Data<'_>) -> Result<Val<'d>, String> {
    let mut prev: Option<Val<'d>> = None;
    for c in cmds {
        prev = Some(match c {
            Cmd::Arg(a) => value(a, d),
            Cmd::Call(f, args) => {
                let mut vals: Vec<Val<'d>> = args.iter().map(|a| value(a, d)).collect();
                vals.extend(prev.take());
                call(*f, vals, d)?
            }
        });
    }
    prev.ok_or_else(|| "empty pipeline".into())
}

pub(super) fn value<'d>(a: &Arg, d: &'d Data<'_>) -> Val<'d> {
    let s = |x: &'d str| Val::S(Cow::Borrowed(x));
    match a {
        Arg::Str(x) => Val::S(Cow::Owned(x.clone())),
        Arg::Int(n) => Val::I(*n),
        Arg::Field(f) => match f {
            Field::Zone => s(d.zone),
            Field::Name => s(d.name),
            Field::Regex => s(d.regex),
            Field::Class => s(d.class),
            Field::Type => s(&d.qtype),
            Field::Remote => s(&d.remote),
            Field::Match => Val::List(&d.matches),
            Field::Group => Val::Map,
            Field::GroupKey(k) => d.group(k).map_or(Val::NoValue, s),
            Field::QName => s(&d.question.0),
            Field::QType => Val::U(u64::from(d.question.1)),
            Field::QClass => Val::U(u64::from(d.question.2)),
        },
    }
}

pub(super) fn call<'d>(f: Func, args: Vec<Val<'d>>, d: &'d Data<'_>) -> Result<Val<'d>, String> {
    let mut it = args.into_iter();
    match f {
        // The metadata plugin is not in kdns: CoreDNS's `.Meta` then gives "".
        Func::Meta => Ok(Val::S(Cow::Borrowed(""))),
        Func::Len => match it.next() {
            Some(Val::S(s)) => Ok(Val::I(s.len() as i64)),
            Some(Val::List(l)) => Ok(Val::I(l.len() as i64)),
            Some(Val::Map) => Ok(Val::I(d.group_len() as i64)),
            Some(v) => Err(format!("error calling len: len of type {}", v.kind())),
            None => Err("wrong number of args for len".into()),
        },
        Func::Index => {
            let mut item = it.next().ok_or("wrong number of args for index")?;
            for i in it {
                item = index(item, &i, d)?;
            }
            Ok(item)
        }
        Func::ParseInt => {
            let (s, base, bits) = (it.next(), it.next(), it.next());
            let (Some(Val::S(s)), Some(Val::I(base)), Some(Val::I(bits))) = (s, base, bits) else {
                return Err("wrong type for value; parseInt wants (string, int, int)".into());
            };
            parse_uint(&s, base, bits).map(Val::U).map_err(|e| {
                format!("error calling parseInt: strconv.ParseUint: parsing {s:?}: {e}")
            })
        }
    }
}

pub(super) fn index<'d>(item: Val<'d>, i: &Val<'_>, d: &'d Data<'_>) -> Result<Val<'d>, String> {
    match (item, i) {
        (Val::List(l), Val::I(n)) => usize::try_from(*n)
            .ok()
            .and_then(|n| l.get(n))
            .map(|s| Val::S(Cow::Borrowed(s.as_str())))
            .ok_or_else(|| format!("error calling index: index out of range: {n}")),
        // A missing key gives the zero value.
        (Val::Map, Val::S(k)) => Ok(Val::S(Cow::Borrowed(d.group(k).unwrap_or("")))),
        (v, _) => Err(format!(
            "error calling index: can't index item of type {}",
            v.kind()
        )),
    }
}

pub(super) fn parse_uint(s: &str, base: i64, bits: i64) -> Result<u64, &'static str> {
    let base = u32::try_from(base).map_err(|_| "invalid base")?;
    if base == 1 || base > 36 {
        return Err("invalid base");
    }
    let bits = match bits {
        0 => 64,
        1..=64 => bits as u32,
        _ => return Err("invalid bit size"),
    };
    let v = parse_radix(s, base).ok_or("invalid syntax")?;
    if bits < 64 && v >> bits != 0 {
        return Err("value out of range");
    }
    Ok(v)
}
