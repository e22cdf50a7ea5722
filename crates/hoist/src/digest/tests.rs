//! Tests of digest parsing, hashing against known vectors, and the verifying reader/writer.

use std::io::{self, Read, Write};

use super::*;

const EMPTY_SHA256: &str =
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const ABC_SHA256: &str = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const ABC_SHA512: &str = "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";
const EMPTY_SHA512: &str = "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";

fn d(s: &str) -> Digest {
    Digest::parse(s).unwrap()
}

#[test]
fn sha256_of_empty_input_matches_known_vector() {
    assert_eq!(Digest::sha256_of(b"").as_str(), EMPTY_SHA256);
}

#[test]
fn sha256_of_abc_matches_fips_vector() {
    assert_eq!(Digest::sha256_of(b"abc").as_str(), ABC_SHA256);
}

#[test]
fn sha512_of_abc_matches_fips_vector() {
    assert_eq!(Digest::sha512_of(b"abc").as_str(), ABC_SHA512);
}

#[test]
fn sha512_of_empty_input_matches_known_vector() {
    assert_eq!(Digest::sha512_of(b"").as_str(), EMPTY_SHA512);
}

#[test]
fn sha256_of_a_million_a_matches_fips_vector_when_fed_in_pieces() {
    let mut hasher = Hasher::new(Algorithm::Sha256);
    let chunk = [b'a'; 1000];
    for _ in 0..1000 {
        hasher.update(&chunk);
    }
    assert_eq!(hasher.bytes_hashed(), 1_000_000);
    assert_eq!(
        hasher.finish().hex(),
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
    );
}

#[test]
fn parse_accepts_sha256_and_exposes_parts() {
    let digest = d(ABC_SHA256);
    assert_eq!(digest.algorithm(), Algorithm::Sha256);
    assert_eq!(
        digest.hex(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(digest.as_str(), ABC_SHA256);
    assert_eq!(digest.to_string(), ABC_SHA256);
}

#[test]
fn parse_accepts_sha512() {
    let digest = d(ABC_SHA512);
    assert_eq!(digest.algorithm(), Algorithm::Sha512);
    assert_eq!(digest.hex().len(), 128);
}

#[test]
fn from_str_is_parse() {
    let digest: Digest = ABC_SHA256.parse().unwrap();
    assert_eq!(digest, d(ABC_SHA256));
}

#[test]
fn algorithm_displays_its_name() {
    assert_eq!(Algorithm::Sha256.to_string(), "sha256");
    assert_eq!(Algorithm::Sha512.to_string(), "sha512");
}

#[test]
fn digests_order_by_their_string() {
    let mut digests = [d(ABC_SHA256), d(EMPTY_SHA256)];
    digests.sort();
    assert_eq!(digests[0].as_str(), ABC_SHA256);
}

/// Each malformed digest with a fragment the error message must contain.
const MALFORMED: &[(&str, &str)] = &[
    ("", "missing ':'"),
    ("sha256", "missing ':'"),
    (":abc", "empty algorithm"),
    ("sha256:", "empty hex"),
    ("sha256:abc", "needs 64 hex characters, found 3"),
    (
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855aa",
        "found 66",
    ),
    (
        "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "sha512 needs 128 hex characters, found 64",
    ),
    (
        "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
        "'E' is not lowercase hex",
    ),
    (
        "sha256:g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "'g' is not lowercase hex",
    ),
    (
        "SHA256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "algorithm must be lowercase",
    ),
    ("sha256+:abcd", "algorithm must be lowercase"),
];

#[test]
fn malformed_digests_are_refused_with_a_message_quoting_the_input_and_the_defect() {
    for (input, fragment) in MALFORMED {
        let err = Digest::parse(input).expect_err(input);
        assert!(
            matches!(err, DigestError::Malformed { .. }),
            "{input}: {err:?}"
        );
        let message = err.to_string();
        assert!(message.contains(&format!("{input:?}")), "{message}");
        assert!(message.contains(fragment), "{input}: {message}");
    }
}

#[test]
fn unknown_but_well_formed_algorithm_is_unsupported() {
    let input = "sha384:abcdef";
    let err = Digest::parse(input).unwrap_err();
    assert_eq!(
        err,
        DigestError::UnsupportedAlgorithm {
            input: input.to_owned(),
            algorithm: "sha384".to_owned(),
        }
    );
    assert!(err.to_string().contains("\"sha384:abcdef\""));
}

#[test]
fn multi_part_algorithm_name_is_unsupported_not_malformed() {
    let err = Digest::parse("sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564").unwrap_err();
    assert!(
        matches!(err, DigestError::UnsupportedAlgorithm { .. }),
        "{err:?}"
    );
}

#[test]
fn serde_round_trips_as_a_plain_string() {
    let digest = d(ABC_SHA256);
    let json = serde_json::to_string(&digest).unwrap();
    assert_eq!(json, format!("\"{ABC_SHA256}\""));
    let back: Digest = serde_json::from_str(&json).unwrap();
    assert_eq!(back, digest);
}

#[test]
fn serde_refuses_an_invalid_digest_string() {
    let err = serde_json::from_str::<Digest>("\"sha256:abc\"").unwrap_err();
    assert!(err.to_string().contains("needs 64 hex characters"), "{err}");
}

#[test]
fn verifying_writer_returns_inner_when_content_matches() {
    let mut writer = VerifyingWriter::new(Vec::new(), d(ABC_SHA256));
    writer.write_all(b"ab").unwrap();
    writer.write_all(b"c").unwrap();
    assert_eq!(writer.bytes_written(), 3);
    assert_eq!(writer.finish().unwrap(), b"abc");
}

#[test]
fn verifying_writer_reports_mismatch_with_both_digests() {
    let mut writer = VerifyingWriter::new(Vec::new(), d(ABC_SHA256));
    writer.write_all(b"abd").unwrap();
    let err = writer.finish().unwrap_err();
    assert_eq!(
        err,
        DigestError::Mismatch {
            expected: d(ABC_SHA256),
            actual: Digest::sha256_of(b"abd"),
        }
    );
    assert!(err.to_string().contains(ABC_SHA256));
}

#[test]
fn verifying_writer_verifies_sha512() {
    let mut writer = VerifyingWriter::new(Vec::new(), d(ABC_SHA512));
    writer.write_all(b"abc").unwrap();
    assert!(writer.finish().is_ok());
}

#[test]
fn verifying_writer_resumed_from_a_partial_hash_verifies_the_whole() {
    let mut hasher = Hasher::new(Algorithm::Sha256);
    hasher.update(b"a");
    let mut writer = VerifyingWriter::resume(Vec::new(), d(ABC_SHA256), hasher);
    writer.write_all(b"bc").unwrap();
    assert_eq!(writer.bytes_written(), 3);
    assert_eq!(writer.finish().unwrap(), b"bc");
}

/// A writer that accepts at most one byte per call.
struct OneByteWriter(Vec<u8>);

impl Write for OneByteWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match buf.first() {
            Some(b) => {
                self.0.push(*b);
                Ok(1)
            }
            None => Ok(0),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn verifying_writer_hashes_only_what_a_short_write_accepted() {
    let mut writer = VerifyingWriter::new(OneByteWriter(Vec::new()), d(ABC_SHA256));
    assert_eq!(writer.write(b"abc").unwrap(), 1);
    writer.write_all(b"bc").unwrap();
    assert_eq!(writer.finish().unwrap().0, b"abc");
}

#[test]
fn verifying_reader_passes_matching_content_through() {
    let mut reader = VerifyingReader::new(&b"abc"[..], d(ABC_SHA256));
    let mut out = Vec::new();
    reader.read_to_end(&mut out).unwrap();
    assert_eq!(out, b"abc");
    assert!(reader.is_verified());
}

#[test]
fn verifying_reader_fails_at_eof_with_invalid_data_wrapping_mismatch() {
    let mut reader = VerifyingReader::new(&b"abd"[..], d(ABC_SHA256));
    let mut out = Vec::new();
    let err = reader.read_to_end(&mut out).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    let inner = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<DigestError>())
        .unwrap();
    assert!(matches!(inner, DigestError::Mismatch { .. }), "{inner:?}");
    assert!(!reader.is_verified());
}

#[test]
fn verifying_reader_repeats_the_mismatch_on_later_reads() {
    let mut reader = VerifyingReader::new(&b"abd"[..], d(ABC_SHA256));
    let mut out = Vec::new();
    assert!(reader.read_to_end(&mut out).is_err());
    let mut buf = [0u8; 8];
    assert_eq!(
        reader.read(&mut buf).unwrap_err().kind(),
        io::ErrorKind::InvalidData
    );
}

#[test]
fn verifying_reader_fails_on_truncated_content() {
    let mut reader = VerifyingReader::new(&b"ab"[..], d(ABC_SHA256));
    assert!(io::copy(&mut reader, &mut io::sink()).is_err());
}

#[test]
fn verifying_reader_treats_an_empty_buffer_as_no_eof() {
    let mut reader = VerifyingReader::new(&b"abc"[..], d(ABC_SHA256));
    assert_eq!(reader.read(&mut []).unwrap(), 0);
    assert!(!reader.is_verified());
    let mut out = Vec::new();
    reader.read_to_end(&mut out).unwrap();
    assert_eq!(out, b"abc");
}
