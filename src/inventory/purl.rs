//! Package URLs (github.com/package-url/purl-spec): type, namespace, name,
//! version and qualifiers, percent-encoded where the spec asks.

/// Percent-encodes a purl component (everything but unreserved characters).
pub fn encode(component: &str) -> String {
    let mut out = String::with_capacity(component.len());
    for b in component.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `pkg:TYPE/[NAMESPACE/]NAME@VERSION[?k=v&…]`.
pub fn purl(
    kind: &str,
    namespace: Option<&str>,
    name: &str,
    version: &str,
    qualifiers: &[(&str, &str)],
) -> String {
    let mut out = format!("pkg:{kind}/");
    if let Some(ns) = namespace {
        let parts: Vec<String> = ns.split('/').map(encode).collect();
        out.push_str(&parts.join("/"));
        out.push('/');
    }
    out.push_str(&encode(name));
    out.push('@');
    out.push_str(&encode(version));
    let qualifiers: Vec<String> = qualifiers
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    if !qualifiers.is_empty() {
        out.push('?');
        out.push_str(&qualifiers.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn components_are_encoded() {
        assert_eq!(
            super::purl(
                "deb",
                Some("debian"),
                "libc6",
                "2.36-9+deb12u4",
                &[("arch", "amd64")]
            ),
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64"
        );
        assert_eq!(
            super::purl("golang", Some("golang.org/x"), "net", "v0.1.0", &[]),
            "pkg:golang/golang.org/x/net@v0.1.0"
        );
    }
}
