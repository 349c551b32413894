//! `--trusted-cidrs`: which calls came from the project's own egress.

use polars::prelude::*;

/// `df` with `trusted_source` set: its `source_ip` is in one of `trusted`. Ingest stores the
/// column false; parsing every source IP is only worth it when ranges are given.
pub fn mark(df: &DataFrame, trusted: &[ipnet::IpNet]) -> PolarsResult<DataFrame> {
    let mut out = df.clone();
    let ips = df.column("source_ip")?.str()?;
    let flags: BooleanChunked = ips
        .iter()
        .map(|ip| {
            Some(
                ip.and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
                    .is_some_and(|ip| trusted.iter().any(|n| n.contains(&ip))),
            )
        })
        .collect();
    out.with_column(flags.with_name("trusted_source".into()).into_column())?;
    Ok(out)
}
