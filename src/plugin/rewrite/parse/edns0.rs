//! Reading `rewrite edns0 …` rules, with CoreDNS's wording (`newEdns0Rule`,
//! `newEdns0UnsetRule`, `newEdns0LocalRule`, `newEdns0VariableRule`, `newEdns0SubnetRule`).
use super::super::edns0::{Action, Edns0, Kind, Var};
use super::super::rule::{Mode, Rule};

/// Go's `strconv.ParseUint(s, 0, bits)`: decimal, `0x`, `0o`, `0b` or a leading `0` (octal).
pub(super) fn parse_uint(s: &str, bits: u32) -> Result<u64, String> {
    let err = |what: &str| format!("strconv.ParseUint: parsing {s:?}: {what}");
    let lower = s.to_ascii_lowercase();
    let (digits, radix) = if let Some(r) = lower.strip_prefix("0x") {
        (r, 16)
    } else if let Some(r) = lower.strip_prefix("0o") {
        (r, 8)
    } else if let Some(r) = lower.strip_prefix("0b") {
        (r, 2)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (&lower[1..], 8)
    } else {
        (lower.as_str(), 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(err("invalid syntax"));
    }
    let v = u64::from_str_radix(digits, radix).map_err(|_| err("value out of range"))?;
    if bits < 64 && v >= 1u64 << bits {
        return Err(err("value out of range"));
    }
    Ok(v)
}

/// Go's `hex.DecodeString`, with its errors.
fn hex_decode(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let bad = |c: u8| {
        format!(
            "encoding/hex: invalid byte: U+{:04X} {:?}",
            c,
            char::from(c)
        )
    };
    let val = |c: u8| {
        char::from(c)
            .to_digit(16)
            .map(|v| v as u8)
            .ok_or_else(|| bad(c))
    };
    let mut out = Vec::with_capacity(b.len() / 2);
    for pair in b.chunks(2) {
        match pair {
            [hi, lo] => {
                let h = val(*hi)?;
                out.push((h << 4) | val(*lo)?);
            }
            [last] => {
                val(*last)?;
                return Err("encoding/hex: odd length hex string".into());
            }
            _ => {}
        }
    }
    Ok(out)
}

/// CoreDNS's `newEdns0Rule`: `edns0 local|nsid|subnet set|replace|append|unset …`.
pub(super) fn edns0_rule(mode: Mode, args: &[&str]) -> Result<Rule, String> {
    if args.len() < 2 {
        return Err("too few arguments for an EDNS0 rule".into());
    }
    let kind = args[0].to_ascii_lowercase();
    let action = match args[1].to_ascii_lowercase().as_str() {
        "append" => Action::Append,
        "replace" => Action::Replace,
        "set" => Action::Set,
        "unset" => return unset_rule(mode, &kind, args),
        other => return Err(format!("invalid action: {other:?}")),
    };
    let mut args = args;
    let revert = args.last() == Some(&"revert");
    if revert {
        args = &args[..args.len() - 1];
    }
    let kind = match kind.as_str() {
        "local" => {
            if args.len() != 4 {
                return Err("EDNS0 local rules require three or four args".into());
            }
            local(args[2], args[3])?
        }
        "nsid" => {
            if args.len() != 2 {
                return Err("EDNS0 NSID rules can accept no more than one arg".into());
            }
            Kind::Nsid
        }
        "subnet" => {
            if args.len() != 4 {
                return Err("EDNS0 subnet rules require three or four args".into());
            }
            subnet(args[2], args[3])?
        }
        _ => return Err(format!("invalid rule type {kind:?}")),
    };
    Ok(Rule::Edns0(
        mode,
        Edns0 {
            action,
            kind,
            revert,
        },
    ))
}

/// CoreDNS's `newEdns0UnsetRule`.
fn unset_rule(mode: Mode, kind: &str, args: &[&str]) -> Result<Rule, String> {
    let kind = match kind {
        "local" if args.len() != 3 => {
            return Err("local unset action requires exactly two arguments".into())
        }
        "local" => Kind::Local(parse_uint(args[2], 16)? as u16, Vec::new()),
        "nsid" if args.len() != 2 => {
            return Err("nsid unset action requires exactly one argument".into())
        }
        "nsid" => Kind::Nsid,
        "subnet" if args.len() != 2 => {
            return Err("subnet unset action requires exactly one argument".into())
        }
        "subnet" => Kind::Subnet(0, 0),
        _ => return Err(format!("invalid rule type {kind:?}")),
    };
    Ok(Rule::Edns0(
        mode,
        Edns0 {
            action: Action::Unset,
            kind,
            revert: false,
        },
    ))
}

/// `local CODE DATA`: DATA in hex after `0x`, else its bytes; `{VARIABLE}` is filled per query.
fn local(code: &str, data: &str) -> Result<Kind, String> {
    if data.starts_with('{') && data.ends_with('}') {
        let code = parse_uint(code, 16)? as u16;
        let var = match data {
            "{qname}" => Var::QName,
            "{qtype}" => Var::QType,
            "{client_ip}" => Var::ClientIp,
            "{client_port}" => Var::ClientPort,
            "{protocol}" => Var::Protocol,
            "{server_ip}" => Var::ServerIp,
            "{server_port}" => Var::ServerPort,
            _ => {
                // metadata's `IsLabel`: `namespace/label`, neither empty.
                let inner = &data[1..data.len() - 1];
                match inner.find('/') {
                    Some(p) if p > 0 && p + 1 < inner.len() => Var::Label,
                    _ => return Err(format!("unsupported variable name {data:?}")),
                }
            }
        };
        return Ok(Kind::Variable(code, var));
    }
    let code = parse_uint(code, 16)? as u16;
    let bytes = match data.strip_prefix("0x") {
        Some(h) => hex_decode(h)?,
        None => data.as_bytes().to_vec(),
    };
    Ok(Kind::Local(code, bytes))
}

/// `subnet V4BITS V6BITS`.
fn subnet(v4: &str, v6: &str) -> Result<Kind, String> {
    let v4 = parse_uint(v4, 16)?;
    if v4 > 32 {
        return Err(format!("invalid IPv4 bit mask length {v4}"));
    }
    let v6 = parse_uint(v6, 16)?;
    if v6 > 128 {
        return Err(format!("invalid IPv6 bit mask length {v6}"));
    }
    Ok(Kind::Subnet(v4 as u8, v6 as u8))
}
