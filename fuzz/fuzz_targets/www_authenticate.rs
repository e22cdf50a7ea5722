//! What a registry or its token server answers about authentication and errors:
//! `WWW-Authenticate` challenges (RFC 7235), token responses, distribution's `errors` bodies and
//! the tag list's `Link` header.
#![no_main]

use hoist::registry::auth::challenge::parse_header;
use hoist::registry::auth::token::parse_token_response;
use hoist::registry::errcode::decode_errors;
use hoist::registry::tags::parse_next_link;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_token_response("https://auth.example/token", data);
    let _ = decode_errors(401, data);
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_header(s);
    let _ = parse_next_link(s);
});
