//! Auth outcomes through the `metrics` facade (feature `metrics`).

/// The metric of the layer's outcomes.
pub(crate) const VERIFICATIONS: &str = "authz_verifications_total";

/// Counts an auth outcome through the `metrics` facade (feature `metrics`):
/// `authz_verifications_total{route, outcome}` at the layer (`accepted`, `anonymous`, or the
/// rejection code), `authz_denials_total{route, reason}` at guards.
#[cfg(feature = "metrics")]
pub(crate) fn count(
    name: &'static str,
    label: &'static str,
    route: Option<&axum::extract::MatchedPath>,
    value: &'static str,
) {
    let route = route.map_or_else(|| "(unmatched)".to_owned(), |path| path.as_str().to_owned());
    metrics::counter!(name, "route" => route, label => value).increment(1);
}

#[cfg(not(feature = "metrics"))]
#[inline(always)]
pub(crate) fn count(
    _: &'static str,
    _: &'static str,
    _: Option<&axum::extract::MatchedPath>,
    _: &'static str,
) {
}
