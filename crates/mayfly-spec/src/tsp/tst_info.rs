//! TSTInfo (RFC 3161 §2.4.2): what the TSA asserts, and its DER GeneralizedTime.

use super::{
    DigestAlgorithm, TAG_BOOLEAN, TAG_CONTEXT_0, TAG_CONTEXT_1, TAG_GENERALIZED_TIME, TAG_INTEGER,
    TspError, TstInfo, algorithm, end, invalid,
};
use crate::der::{self, children, read_single};
use time::{Date, Month, PrimitiveDateTime, Time};

pub(super) fn tst_info(bytes: &[u8]) -> Result<TstInfo, TspError> {
    let mut parts = children(read_single(
        bytes,
        der::TAG_SEQUENCE,
        "TSTInfo is not a SEQUENCE",
    )?);
    if parts
        .expect(TAG_INTEGER, "missing TSTInfo version")?
        .content
        != [1]
    {
        return Err(invalid("TSTInfo version is not 1"));
    }
    let policy = parts
        .expect(der::TAG_OID, "missing policy")?
        .content
        .to_vec();
    let imprint = parts.expect(der::TAG_SEQUENCE, "missing messageImprint")?;
    let mut mi = children(imprint.content);
    let imprint_algorithm = DigestAlgorithm::from_oid(algorithm(
        mi.expect(der::TAG_SEQUENCE, "missing hashAlgorithm")?,
    )?)?;
    let hashed_message = mi
        .expect(der::TAG_OCTET_STRING, "missing hashedMessage")?
        .content
        .to_vec();
    end(&mut mi, "messageImprint")?;
    let serial = parts
        .expect(TAG_INTEGER, "missing serialNumber")?
        .content
        .to_vec();
    let (gen_time, gen_time_fraction) = generalized_time(
        parts
            .expect(TAG_GENERALIZED_TIME, "missing genTime")?
            .content,
    )?;
    let mut nonce = None;
    let mut last = 0u8;
    for field in parts {
        let field = field?;
        // Optional fields in their schema order, each at most once.
        let rank = match field.tag {
            der::TAG_SEQUENCE => 1, // accuracy
            TAG_BOOLEAN => 2,       // ordering
            TAG_INTEGER => 3,       // nonce
            TAG_CONTEXT_0 => 4,     // tsa
            TAG_CONTEXT_1 => 5,     // extensions
            _ => return Err(invalid("unexpected field in TSTInfo")),
        };
        if rank <= last {
            return Err(invalid("TSTInfo fields out of order or repeated"));
        }
        last = rank;
        if rank == 3 {
            nonce = Some(field.content.to_vec());
        }
    }
    Ok(TstInfo {
        policy,
        imprint_algorithm,
        hashed_message,
        serial,
        gen_time,
        gen_time_fraction,
        nonce,
    })
}

/// DER GeneralizedTime (X.690 §11.7): `YYYYMMDDHHMMSS`, an optional fraction without trailing
/// zeros, `Z`. Returns Unix seconds (rounded down) and whether a fraction was present.
pub(super) fn generalized_time(text: &[u8]) -> Result<(i64, bool), TspError> {
    let bad = || invalid("genTime is not a DER GeneralizedTime");
    let body = text.strip_suffix(b"Z").ok_or_else(bad)?;
    let (whole, fraction) = match body.iter().position(|&b| b == b'.') {
        Some(dot) => (&body[..dot], Some(&body[dot + 1..])),
        None => (body, None),
    };
    if let Some(f) = fraction
        && (f.is_empty() || f.last() == Some(&b'0') || !f.iter().all(u8::is_ascii_digit))
    {
        return Err(bad());
    }
    if whole.len() != 14 || !whole.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let num = |range: std::ops::Range<usize>| -> u32 {
        whole[range]
            .iter()
            .fold(0, |acc, d| acc * 10 + u32::from(d - b'0'))
    };
    let month = Month::try_from(u8::try_from(num(4..6)).map_err(|_| bad())?).map_err(|_| bad())?;
    let date = Date::from_calendar_date(
        i32::try_from(num(0..4)).map_err(|_| bad())?,
        month,
        u8::try_from(num(6..8)).map_err(|_| bad())?,
    )
    .map_err(|_| bad())?;
    let clock = Time::from_hms(
        u8::try_from(num(8..10)).map_err(|_| bad())?,
        u8::try_from(num(10..12)).map_err(|_| bad())?,
        u8::try_from(num(12..14)).map_err(|_| bad())?,
    )
    .map_err(|_| bad())?;
    Ok((
        PrimitiveDateTime::new(date, clock)
            .assume_utc()
            .unix_timestamp(),
        fraction.is_some(),
    ))
}
