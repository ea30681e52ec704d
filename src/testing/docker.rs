//! Whether the tests that need a real Docker daemon can run: they skip, loudly, without one,
//! except under `tests/run.sh` (which makes sure a daemon runs) and in CI, where its absence
//! is a failure.

use std::process::Command;

/// Whether a test that needs Docker must fail rather than skip without it.
pub fn docker_required() -> bool {
    std::env::var_os("CI").is_some() || std::env::var_os("FAAS_TESTS_NEED_DOCKER").is_some()
}

/// Whether a Docker daemon answers `docker info`.
///
/// # Panics
/// When none does and [`docker_required`].
pub fn docker_available() -> bool {
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            !docker_required(),
            "tests/run.sh and CI need a Docker daemon and `docker info` fails"
        );
        eprintln!("SKIPPED: no Docker daemon answers `docker info`; this test needs one");
    }
    ok
}
