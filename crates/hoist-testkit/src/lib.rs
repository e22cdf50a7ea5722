//! Test support for hoist: real `docker-registry` processes on loopback, a token server, TLS
//! certificate authorities, small HTTP servers that misbehave on purpose, and image builders.
