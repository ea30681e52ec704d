//! Labels that mark what the gateway owns (SPEC section 5).

/// Present on every container, image and object the gateway creates.
pub const MANAGED_BY_LABEL: &str = "faas.managed-by";
/// Value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY_VALUE: &str = "faas-gateway";
/// The callback's path.
pub const CALLBACK_LABEL: &str = "faas.callback";
/// The revision an instance serves.
pub const REVISION_LABEL: &str = "faas.revision";
/// Which gateway owns an instance (`--gateway-id`), so gateways can share a daemon.
pub const GATEWAY_LABEL: &str = "faas.gateway";
/// `service` or `job`: what a container is for.
pub const ROLE_LABEL: &str = "faas.role";
/// The namespace owning the callback (SPEC 10).
pub const NAMESPACE_LABEL: &str = "faas.namespace";
