//! What a trust policy reads from files and registries: `policy.json` (containers-policy.json(5),
//! every requirement and identity type, `keyData` PEM inside), a sigstore signature's payload
//! (the JSON a `.sig` layer holds) and a public key PEM. The first byte picks the parser, the
//! rest is the input.
#![no_main]

use std::path::Path;

use hoist::trust::keys::public_key;
use hoist::trust::sigstore::Payload;
use hoist::trust::Policy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    match selector % 3 {
        0 => {
            if let Ok(text) = std::str::from_utf8(body) {
                let _ = Policy::parse(Path::new("policy.json"), text);
            }
        }
        1 => {
            let _ = Payload::parse(body);
        }
        _ => {
            let _ = public_key(body, "key.pub");
        }
    }
});
