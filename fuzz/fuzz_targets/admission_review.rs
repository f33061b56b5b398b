//! AdmissionReview decoding and image extraction on arbitrary bodies: a
//! named error or a verdict-ready pod, never a panic; the images judged are
//! distinct, and each is one the pod spec names; on CREATE every container's
//! image is judged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scangate::admission::images::extract;
use scangate::admission::review::{parse, Operation};

fuzz_target!(|data: &[u8]| {
    let Ok(request) = parse(data) else { return };
    for review_workloads in [true, false] {
        if let Ok(Some(pod)) = extract(&request, review_workloads) {
            for (i, image) in pod.images.iter().enumerate() {
                assert!(
                    pod.containers.iter().any(|c| &c.image == image),
                    "{image:?} is not in the spec"
                );
                assert!(!pod.images[..i].contains(image), "{image:?} twice");
            }
            // On UPDATE the images the old object ran are not judged again.
            let judges_all = request.operation == Operation::Create || request.old_object.is_none();
            for container in pod.containers.iter().filter(|_| judges_all) {
                assert!(
                    pod.images.contains(&container.image),
                    "{container:?} not judged"
                );
            }
        }
    }
});
