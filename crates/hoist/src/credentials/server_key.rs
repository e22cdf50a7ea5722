//! The keys credentials are filed under: docker's server-address normalisation.
//!
//! docker's CLI files Docker Hub credentials under the historical index address
//! `https://index.docker.io/v1/` (`registry.IndexServer`) and every other registry under its
//! `host[:port]`. Older tools (and older docker versions) wrote keys such as `https://myreg:5000`
//! or `http://myreg:5000/v2/`, so a lookup also accepts any key whose host part, as docker's
//! `ConvertToHostname` computes it, is the registry's.
//!
//! Docker Hub is known by several names (`docker.io`, `index.docker.io`,
//! `registry-1.docker.io`); all of them map to the one index key, and a lookup for any of them
//! also matches a key written with any of these names (podman files Hub credentials as
//! `docker.io`).

/// The key docker's CLI uses for Docker Hub credentials (`registry.IndexServer`).
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// The host names that all mean Docker Hub.
const DOCKER_HUB_HOSTS: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// docker's `ConvertToHostname`: strips an `http://` or `https://` scheme and anything from the
/// first `/` on, leaving `host[:port]`.
///
/// ```
/// use hoist::credentials::convert_to_hostname;
/// assert_eq!(convert_to_hostname("https://myreg:5000/v2/"), "myreg:5000");
/// assert_eq!(convert_to_hostname("myreg:5000"), "myreg:5000");
/// ```
pub fn convert_to_hostname(address: &str) -> &str {
    let stripped = address
        .strip_prefix("http://")
        .or_else(|| address.strip_prefix("https://"))
        .unwrap_or(address);
    match stripped.split_once('/') {
        Some((host, _)) => host,
        None => stripped,
    }
}

/// Whether `host` (already without scheme and path) is one of Docker Hub's names.
pub fn is_docker_hub(host: &str) -> bool {
    DOCKER_HUB_HOSTS
        .iter()
        .any(|hub| host.eq_ignore_ascii_case(hub))
}

/// The key under which docker files credentials for `domain` (a registry domain as in a
/// reference, or anything a user may type: `docker.io`, `myreg:5000`, `https://myreg:5000/v2/`).
///
/// ```
/// use hoist::credentials::server_key;
/// assert_eq!(server_key("docker.io"), "https://index.docker.io/v1/");
/// assert_eq!(server_key("http://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
/// ```
pub fn server_key(domain: &str) -> String {
    if domain == DOCKER_HUB_KEY {
        return DOCKER_HUB_KEY.to_string();
    }
    let host = convert_to_hostname(domain);
    if is_docker_hub(host) {
        DOCKER_HUB_KEY.to_string()
    } else {
        host.to_string()
    }
}

/// Whether a key found in a credential file (or a helper's list) names the registry whose
/// normalised key is `wanted` (the result of [`server_key`]).
pub fn key_matches(stored: &str, wanted: &str) -> bool {
    if stored == wanted {
        return true;
    }
    let stored_host = convert_to_hostname(stored);
    if wanted == DOCKER_HUB_KEY {
        is_docker_hub(stored_host)
    } else {
        stored_host == wanted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn convert_to_hostname_strips_scheme_and_path() {
        assert_eq!(convert_to_hostname("http://myreg/v2/"), "myreg");
        assert_eq!(convert_to_hostname("https://myreg:5000"), "myreg:5000");
        assert_eq!(convert_to_hostname("myreg:5000/some/path"), "myreg:5000");
        assert_eq!(convert_to_hostname("myreg"), "myreg");
    }

    #[test]
    fn every_docker_hub_name_maps_to_the_index_key() {
        for name in [
            "docker.io",
            "index.docker.io",
            "registry-1.docker.io",
            "https://index.docker.io/v1/",
            "https://registry-1.docker.io/v2/",
        ] {
            assert_eq!(server_key(name), DOCKER_HUB_KEY, "{name}");
        }
    }

    #[test]
    fn other_hosts_are_filed_as_host_and_port() {
        assert_eq!(server_key("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(server_key("https://ghcr.io"), "ghcr.io");
        assert_eq!(server_key("http://localhost:5000/v2/"), "localhost:5000");
    }

    #[test]
    fn legacy_keys_with_scheme_and_path_match_the_host() {
        assert!(key_matches("https://myreg:5000", "myreg:5000"));
        assert!(key_matches("http://myreg:5000/v2/", "myreg:5000"));
        assert!(key_matches("myreg:5000", "myreg:5000"));
    }

    #[test]
    fn keys_of_other_hosts_or_ports_do_not_match() {
        assert!(!key_matches("myreg:5001", "myreg:5000"));
        assert!(!key_matches("https://myreg", "myreg:5000"));
        assert!(!key_matches("other.example", "myreg"));
    }

    #[test]
    fn podman_style_docker_io_key_matches_docker_hub() {
        assert!(key_matches("docker.io", DOCKER_HUB_KEY));
        assert!(key_matches("registry-1.docker.io", DOCKER_HUB_KEY));
        assert!(!key_matches("quay.io", DOCKER_HUB_KEY));
    }
}
