//! The rules of a deploy body as data: the patterns its strings match, the range and default
//! of each number, the limits on files. The parser (`spec.rs`) enforces these values and the
//! OpenAPI document states them, so the two cannot drift apart.

/// Every field of a deploy body; any other is refused.
pub const FIELDS: [&str; 18] = [
    "path",
    "runtime",
    "code",
    "files",
    "handler",
    "backend",
    "mode",
    "env",
    "memory_mb",
    "cpu",
    "timeout_ms",
    "concurrency",
    "min_instances",
    "max_instances",
    "idle_timeout_s",
    "keep_paused_s",
    "namespace",
    "action",
];

/// A DNS label: a callback's path and a namespace's name, usable unchanged in Docker and
/// Kubernetes names.
pub const DNS_LABEL: &str = r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$";

/// `module.function`: the last segment is the function, the rest the module.
pub const HANDLER: &str = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$";

/// The handler a deploy that names none gets.
pub const DEFAULT_HANDLER: &str = "handler.handle";

/// The module a deploy's `code` becomes (`handler.py`, `handler.js`).
pub const CODE_MODULE: &str = "handler";

/// An environment variable's name.
pub const ENV_NAME: &str = r"^[A-Za-z_][A-Za-z0-9_]*$";

/// Environment variables the gateway sets itself; a deploy may not name them.
pub const RESERVED_ENV_PREFIX: &str = "FAAS_";

/// Most files a deploy may carry.
pub const MAX_FILES: usize = 64;

/// A deployed file's relative path: `/`-separated segments, none of them empty, `.` or `..`,
/// no `\` or NUL; the parser's rule (`check_file_name`) as a pattern, written without
/// look-arounds, which test generators cannot invert.
pub const FILE_NAME: &str = r"^(?:[^/\\\x00.][^/\\\x00]*|\.[^/\\\x00.][^/\\\x00]*|\.\.[^/\\\x00]+)(?:/(?:[^/\\\x00.][^/\\\x00]*|\.[^/\\\x00.][^/\\\x00]*|\.\.[^/\\\x00]+))*$";

/// Longest relative path of a deployed file, in characters.
pub const MAX_FILE_NAME_CHARS: usize = 255;

/// An integer setting: its inclusive range and the value it takes when absent (`None`: it
/// depends on other fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntRule {
    pub field: &'static str,
    pub min: u64,
    pub max: u64,
    pub default: Option<u64>,
}

/// A number setting: its inclusive range and the value it takes when absent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NumberRule {
    pub field: &'static str,
    pub min: f64,
    pub max: f64,
    pub default: f64,
}

/// The instance's memory limit, in MB.
pub const MEMORY_MB: IntRule = IntRule {
    field: "memory_mb",
    min: 16,
    max: 16_384,
    default: Some(256),
};

/// CPU cores of an instance.
pub const CPU: NumberRule = NumberRule {
    field: "cpu",
    min: 0.05,
    max: 16.0,
    default: 1.0,
};

/// How long one call may take, in ms.
pub const TIMEOUT_MS: IntRule = IntRule {
    field: "timeout_ms",
    min: 1,
    max: 900_000,
    default: Some(30_000),
};

/// Calls in flight per instance; the default is the runtime's.
pub const CONCURRENCY: IntRule = IntRule {
    field: "concurrency",
    min: 1,
    max: 1000,
    default: None,
};

/// Instances kept running when idle; also at most `max_instances`.
pub const MIN_INSTANCES: IntRule = IntRule {
    field: "min_instances",
    min: 0,
    max: 100,
    default: Some(0),
};

/// Most instances at once.
pub const MAX_INSTANCES: IntRule = IntRule {
    field: "max_instances",
    min: 1,
    max: 100,
    default: Some(4),
};

/// How long an instance above `min_instances` may idle before it is stopped, in seconds.
pub const IDLE_TIMEOUT_S: IntRule = IntRule {
    field: "idle_timeout_s",
    min: 1,
    max: 86_400,
    default: Some(300),
};

/// How long an idled-out instance stays paused before it is stopped, in seconds.
pub const KEEP_PAUSED_S: IntRule = IntRule {
    field: "keep_paused_s",
    min: 0,
    max: 86_400,
    default: Some(600),
};

/// Every integer setting, in the order of the API.
pub const INT_RULES: [IntRule; 7] = [
    MEMORY_MB,
    TIMEOUT_MS,
    CONCURRENCY,
    MIN_INSTANCES,
    MAX_INSTANCES,
    IDLE_TIMEOUT_S,
    KEEP_PAUSED_S,
];
