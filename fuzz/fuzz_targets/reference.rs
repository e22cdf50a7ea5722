//! Every parser of a name a user or a registry hands hoist: references (`Reference::parse`,
//! docker's `ParseNormalizedNamed`, and the `docker://` form), repositories, tags, digests,
//! platforms and `hoist copy` locations. Any input must give a value or an error, never a panic;
//! a parsed reference must print to a string that parses back to the same reference.
#![no_main]

use hoist::copy::ImageLocation;
use hoist::digest::Digest;
use hoist::media::Platform;
use hoist::reference::{Reference, Repository, Tag};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(reference) = Reference::parse(s) {
        let again = Reference::parse(&reference.to_string());
        assert_eq!(
            again.ok().as_ref(),
            Some(&reference),
            "{s:?} does not round-trip"
        );
    }
    let _ = Reference::parse_docker_ref(s);
    let _ = Repository::parse(s);
    let _ = Tag::parse(s);
    let _ = Digest::parse(s);
    let _ = Platform::parse(s);
    let _ = ImageLocation::parse(s);
});
