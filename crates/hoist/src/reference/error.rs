//! Errors of the `reference` module: one variant per reason a reference can be refused.
//!
//! docker's `reference` package reports most failures as a bare "invalid reference format";
//! hoist names the part at fault and what is allowed instead. Every message quotes the input
//! as given (Rust `{:?}` quoting, so control characters stay visible). The docker error each
//! variant refines is named in its doc.

use crate::digest::DigestError;

/// Why a string is not a valid reference, repository name or tag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The input is empty (docker's `ErrNameEmpty`).
    #[error(
        "invalid reference \"\": a reference needs at least a repository name, \
         e.g. \"ubuntu\" or \"registry.example.com/team/app:1.0\""
    )]
    Empty,

    /// The input is 64 lowercase hex characters, which docker reserves for image IDs.
    #[error(
        "invalid repository name {input:?}: cannot specify 64-byte hexadecimal strings \
         (that is an image ID, not a repository name)"
    )]
    HexRepositoryName {
        /// The input.
        input: String,
    },

    /// The repository path has uppercase letters (docker's `ErrNameContainsUppercase`).
    #[error("invalid reference {input:?}: repository name {name:?} must be lowercase")]
    Uppercase {
        /// The input.
        input: String,
        /// The repository path as given.
        name: String,
    },

    /// A domain is followed by `/` and nothing else.
    #[error("invalid reference {input:?}: no repository path after the domain {domain:?}")]
    MissingPath {
        /// The input.
        input: String,
        /// The domain.
        domain: String,
    },

    /// The domain has a character outside letters, digits, `-`, `.` and `:port`.
    #[error(
        "invalid reference {input:?}: domain {domain:?} contains {found:?}; a domain is \
         letters, digits and '-' in '.'-separated parts, optionally followed by ':PORT'"
    )]
    InvalidDomainCharacter {
        /// The input.
        input: String,
        /// The domain part of the input (up to the first `/`).
        domain: String,
        /// The first offending character.
        found: char,
    },

    /// The domain has an empty `.`-separated part.
    #[error(
        "invalid reference {input:?}: domain {domain:?} has an empty part \
         (a leading, trailing or doubled '.')"
    )]
    EmptyDomainComponent {
        /// The input.
        input: String,
        /// The domain.
        domain: String,
    },

    /// A `.`-separated part of the domain starts or ends with `-`.
    #[error(
        "invalid reference {input:?}: domain part {component:?} of {domain:?} must not \
         start or end with '-'"
    )]
    DomainComponentHyphen {
        /// The input.
        input: String,
        /// The domain.
        domain: String,
        /// The offending part.
        component: String,
    },

    /// A bracketed domain is not an IPv6 address of the accepted form.
    #[error(
        "invalid reference {input:?}: {domain:?} is not a bracketed IPv6 address with an \
         optional ':PORT'; only hex digits and ':' are allowed between '[' and ']' \
         (no zone, no embedded IPv4)"
    )]
    InvalidIpv6 {
        /// The input.
        input: String,
        /// The domain.
        domain: String,
    },

    /// The port after the domain's `:` is empty or not decimal digits.
    #[error(
        "invalid reference {input:?}: port {port:?} of domain {domain:?} must be decimal digits"
    )]
    InvalidPort {
        /// The input.
        input: String,
        /// The domain.
        domain: String,
        /// The text after the `:`.
        port: String,
    },

    /// The path has an empty `/`-separated component.
    #[error(
        "invalid reference {input:?}: empty path component (a leading, trailing or doubled '/')"
    )]
    EmptyPathComponent {
        /// The input.
        input: String,
    },

    /// A path component has a character other than `a-z`, `0-9`, `.`, `_` and `-`.
    #[error(
        "invalid reference {input:?}: path component {component:?} contains {found:?}; \
         only a-z, 0-9 and the separators '.', '_', '__' and '-' are allowed"
    )]
    InvalidPathCharacter {
        /// The input.
        input: String,
        /// The offending component.
        component: String,
        /// The first offending character.
        found: char,
    },

    /// A path component starts or ends with a separator.
    #[error(
        "invalid reference {input:?}: path component {component:?} must start and end with \
         a lowercase letter or digit"
    )]
    PathComponentEdge {
        /// The input.
        input: String,
        /// The offending component.
        component: String,
    },

    /// A path component joins two alphanumeric runs with a separator the grammar refuses.
    #[error(
        "invalid reference {input:?}: separator {separator:?} in path component \
         {component:?} is not allowed; between letters and digits use one '.', one or two \
         '_', or any number of '-'"
    )]
    InvalidPathSeparator {
        /// The input.
        input: String,
        /// The offending component.
        component: String,
        /// The offending run of separator characters.
        separator: String,
    },

    /// The full repository name is longer than 255 characters (docker's `ErrNameTooLong`).
    #[error(
        "invalid reference {input:?}: repository name {name:?} is {length} characters long; \
         at most 255 are allowed"
    )]
    NameTooLong {
        /// The input.
        input: String,
        /// The normalised name (`domain/path`) that is too long.
        name: String,
        /// Its length.
        length: usize,
    },

    /// A `:` is not followed by a tag.
    #[error("invalid reference {input:?}: ':' must be followed by a tag")]
    EmptyTag {
        /// The input.
        input: String,
    },

    /// The tag is longer than 128 characters.
    #[error(
        "invalid tag {tag:?}{}: it is {length} characters long; at most 128 are allowed",
        in_reference(.input, .tag)
    )]
    TagTooLong {
        /// The input.
        input: String,
        /// The tag.
        tag: String,
        /// Its length.
        length: usize,
    },

    /// The tag starts with `.` or `-` (docker's `ErrTagInvalidFormat`).
    #[error(
        "invalid tag {tag:?}{}: it must not start with {found:?}; a tag starts with a \
         letter, digit or '_'",
        in_reference(.input, .tag)
    )]
    InvalidTagStart {
        /// The input.
        input: String,
        /// The tag.
        tag: String,
        /// Its first character.
        found: char,
    },

    /// The tag has a character other than ASCII letters, digits, `_`, `.` and `-`.
    #[error(
        "invalid tag {tag:?}{}: it contains {found:?}; tags allow only letters, digits, \
         '_', '.' and '-'",
        in_reference(.input, .tag)
    )]
    InvalidTagCharacter {
        /// The input.
        input: String,
        /// The tag.
        tag: String,
        /// The first offending character.
        found: char,
    },

    /// An `@` is not followed by a digest.
    #[error(
        "invalid reference {input:?}: '@' must be followed by a digest such as \
         \"sha256:<64 hex digits>\""
    )]
    EmptyDigest {
        /// The input.
        input: String,
    },

    /// The digest after `@` is not valid.
    #[error("invalid reference {input:?}: {source}")]
    InvalidDigest {
        /// The input.
        input: String,
        /// What is wrong with the digest.
        #[source]
        source: DigestError,
    },

    /// A repository name was expected, but the input has a tag.
    #[error(
        "invalid repository name {input:?}: it has a tag ({tag:?}), but only a name is \
         allowed here"
    )]
    UnexpectedTag {
        /// The input.
        input: String,
        /// The tag found.
        tag: String,
    },

    /// A repository name was expected, but the input has a digest.
    #[error("invalid repository name {input:?}: it has a digest, but only a name is allowed here")]
    UnexpectedDigest {
        /// The input.
        input: String,
    },

    /// The repository is a reserved name (docker's `ValidateRepoName` refusing `scratch`).
    #[error(
        "{name:?} is a reserved name: it stands for an empty base image and cannot be \
         pulled or pushed"
    )]
    ReservedName {
        /// The familiar name that is reserved.
        name: String,
    },
}

/// `" in reference \"INPUT\""` when the tag came from a larger input, nothing when the tag was
/// parsed on its own.
fn in_reference(input: &str, tag: &str) -> String {
    if input == tag {
        String::new()
    } else {
        format!(" in reference {input:?}")
    }
}
