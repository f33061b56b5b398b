//! A bbolt file (Trivy's database) from arbitrary bytes: open it, verify
//! the whole file, iterate every bucket and look up every key found
//! (descending the tree as a query does) and one that is not there. Any
//! result is fine as long as it is a value or a named error: never a
//! panic, a hang, or an allocation beyond the input. When the file
//! verifies, lookup must also agree with iteration on every key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scangate::vulndb::trivy::bbolt::{Bucket, MAX_BUCKET_NESTING, Tree, Value};

fn walk(bucket: Bucket<'_>, nesting: u32, verified: bool) {
    // The reader refuses deeper nesting itself; this only bounds the
    // harness's own recursion if it did not.
    assert!(nesting <= MAX_BUCKET_NESTING + 1, "nesting limit not enforced");
    for entry in bucket.iter() {
        let Ok((key, value)) = entry else { return };
        let found = bucket.entry(key);
        if !verified {
            let _ = found;
        } else {
            // A key iteration found must be found by lookup, the same way.
            match (found, value) {
                (Ok(Some(Value::Data(a))), Value::Data(b)) => assert_eq!(a, b),
                (Ok(Some(Value::Bucket(a))), Value::Bucket(b)) => {
                    assert_eq!(a.sequence(), b.sequence())
                }
                (other, _) => panic!("iterated key looked up as {other:?}"),
            }
        }
        let mut beside = key.to_vec();
        beside.push(0);
        let _ = bucket.entry(&beside);
        // Unverified, two buckets may share pages, and a recursive walk of
        // every path could take exponential time: go only as deep as a
        // Trivy query does (source, package).
        if let Value::Bucket(child) = value
            && (verified || nesting < 2)
        {
            walk(child, nesting + 1, verified);
        }
    }
    let _ = bucket.get(b"");
}

fuzz_target!(|data: &[u8]| {
    let Ok(tree) = Tree::from_bytes(data) else { return };
    let verified = tree.verify().is_ok();
    walk(tree.root(), 0, verified);
});
