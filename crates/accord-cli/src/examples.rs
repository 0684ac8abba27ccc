//! The example protocols and request, built into the binary so `accord dev init` and
//! `accord demo` work outside the repository.

/// (file name, text) of every example protocol in `deploy/protocols/`.
pub const PROTOCOLS: &[(&str, &str)] = &[
    (
        "sandwell-partnership.toml",
        include_str!("../../../deploy/protocols/sandwell-partnership.toml"),
    ),
    (
        "banes-guidance.toml",
        include_str!("../../../deploy/protocols/banes-guidance.toml"),
    ),
    (
        "prevent-channel.toml",
        include_str!("../../../deploy/protocols/prevent-channel.toml"),
    ),
];

/// The protocol `accord dev init` and `accord demo` use unless told otherwise.
pub const DEFAULT_PROTOCOL: &str = "sandwell-partnership.toml";

/// An example request file, accepted by `accord request submit --file`.
pub const REQUEST: &str = include_str!("../examples/request.toml");

/// An example response file, accepted by `accord response submit --file`.
pub const RESPONSE: &str = include_str!("../examples/response.toml");

/// The example protocol named `name` (with or without `.toml`), if there is one.
pub fn protocol(name: &str) -> Option<(&'static str, &'static str)> {
    let want = name.strip_suffix(".toml").unwrap_or(name);
    PROTOCOLS
        .iter()
        .copied()
        .find(|(file, _)| file.strip_suffix(".toml") == Some(want))
}

/// The names of the example protocols, for messages.
pub fn protocol_names() -> String {
    PROTOCOLS
        .iter()
        .map(|(f, _)| f.trim_end_matches(".toml"))
        .collect::<Vec<_>>()
        .join(", ")
}
