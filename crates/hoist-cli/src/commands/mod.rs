//! The subcommands, one file each (the registry commands share `registry`, `completion` and
//! `man` share `generate`); each takes its parsed arguments and the loaded configuration and
//! returns `Result<(), CliError>` (printing is theirs, through `crate::output`; failure
//! reporting is `failure`'s).

pub mod copy;
pub mod export;
pub mod generate;
pub mod history;
pub mod images;
pub mod inspect;
pub mod load;
pub mod login;
pub mod logout;
pub mod prune;
pub mod pull;
pub mod push;
pub mod referrers;
pub mod registry;
pub mod rmi;
pub mod save;
pub mod session;
pub mod sync;
pub mod tag;
pub mod trust;

use hoist::credentials::{convert_to_hostname, is_docker_hub};
use serde::Serialize;

use crate::failure::CliError;

/// The registry a `login`/`logout` argument names, as `host[:port]`: docker's default
/// (`docker.io`) when absent; a URL such as `https://myreg:5000/v2/` reduced to its host, as
/// docker's `ConvertToHostname` does; every name of Docker Hub spelled `docker.io`.
pub fn registry_host(argument: Option<&str>) -> Result<String, CliError> {
    let Some(argument) = argument else {
        return Ok("docker.io".to_string());
    };
    let host = convert_to_hostname(argument.trim());
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(CliError::Usage(format!(
            "invalid registry address {argument:?}: expected HOST[:PORT]"
        )));
    }
    if is_docker_hub(host) {
        return Ok("docker.io".to_string());
    }
    Ok(host.to_string())
}

/// `value` as JSON indented with four spaces, as docker's `json.MarshalIndent(v, "", "    ")`.
pub fn to_json_pretty<T: Serialize>(value: &T) -> String {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    // Serialising plain data (strings, numbers, JSON values) into a Vec cannot fail.
    if value.serialize(&mut serializer).is_err() {
        return "[]".to_owned();
    }
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_argument_means_docker_hub() {
        assert_eq!(registry_host(None).unwrap(), "docker.io");
    }

    #[test]
    fn urls_are_reduced_to_their_host() {
        assert_eq!(
            registry_host(Some("https://myreg:5000/v2/")).unwrap(),
            "myreg:5000"
        );
        assert_eq!(
            registry_host(Some("127.0.0.1:5000")).unwrap(),
            "127.0.0.1:5000"
        );
    }

    #[test]
    fn docker_hub_aliases_become_docker_io() {
        assert_eq!(registry_host(Some("index.docker.io")).unwrap(), "docker.io");
        assert_eq!(
            registry_host(Some("https://index.docker.io/v1/")).unwrap(),
            "docker.io"
        );
    }

    #[test]
    fn empty_host_is_refused_with_the_argument_quoted() {
        let err = registry_host(Some("https://")).unwrap_err();
        assert!(err.to_string().contains("\"https://\""), "{err}");
    }
}
