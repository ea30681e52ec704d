#!/usr/bin/env bash
# Make sure usable base images exist for the faas-gateway function runtimes
# and tell the caller which ones to use.  See usage() below (or --help).
set -euo pipefail

# Bump whenever the build recipe below changes in a way that should produce a
# different image: the version is part of the recipe hash stored in the label.
readonly SCRIPT_VERSION=1
readonly LABEL_PREFIX=org.faas-gateway.base
readonly LOCAL_REPO_PREFIX=${FAAS_LOCAL_IMAGE_PREFIX:-faas-local}
readonly LOCK_WAIT_SECONDS=${FAAS_BASE_LOCK_TIMEOUT:-1800}
readonly PULL_TIMEOUT_SECONDS=60
# Local images of older recipes are removed once this old (see remove_stale).
readonly STALE_DAYS=7
# How often a long build step reports that it is still at the same stage.
readonly HEARTBEAT_SECONDS=${FAAS_BASE_HEARTBEAT_S:-20}
readonly CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
readonly LOCAL_CA_DIR=/usr/local/share/ca-certificates
readonly APT_ETC=${FAAS_APT_ETC:-/etc/apt}
readonly OS_RELEASE=${FAAS_OS_RELEASE:-/etc/os-release}
readonly BASE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# debootstrap and chroot live in sbin, which a non-login root shell may lack.
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin

usage() {
    cat <<'USAGE'
Usage: docker/base-images.sh [--runtime python|node|node-deps] [options]

Makes sure a usable Docker base image exists for each function runtime and
prints, on stdout, exactly one line per runtime:

    FAAS_PYTHON_BASE_IMAGE=<image>
    FAAS_NODE_BASE_IMAGE=<image>
    FAAS_NODE_DEPS_BASE_IMAGE=<image>

so a caller can do:

    eval "$(docker/base-images.sh | sed 's/^/export /')"

All logging goes to stderr.  Runtimes:

  python     base of Python functions
  node       base of Node functions whose package.json declares no dependencies
             (the usual case): node only, no npm
  node-deps  base of Node functions whose package.json declares dependencies:
             node and npm

Without --runtime, python and node are made sure of (in parallel) and the
node-deps line names the image the gateway will want for npm, WITHOUT
building it (npm is only needed by functions with dependencies, and the
local npm image takes minutes to build): `--runtime node-deps` builds it.
./start.sh starts that in the background after the first start.

For each runtime:

  1. The wanted image is $FAAS_PYTHON_BASE_IMAGE / $FAAS_NODE_BASE_IMAGE /
     $FAAS_NODE_DEPS_BASE_IMAGE, or the official python:3.12-slim /
     node:20-slim; node-deps defaults to the image resolved for node, unless
     that is the locally built one (it has no npm).  If it exists locally
     it is used.
  2. Otherwise `docker pull` is tried (60 s timeout).
  3. Otherwise a local image built by this script is used:
     faas-local/<runtime>-base:<suite>-<recipe>, where <suite> is
     VERSION_CODENAME from /etc/os-release and <recipe> the start of the hash
     of the recipe (package list, script version, suite, architecture, host CA
     bundle; the whole hash is in the label org.faas-gateway.base.recipe).  It
     is reused when it exists; otherwise it is built (and the runtime's images
     of other recipes built over 7 days ago are removed):
       python, node:
         debootstrap --variant=minbase --include=<packages> <suite> <dir> <mirror>
         tar -C <dir> -c . | docker import --change ... - <tag>
       with Debian's python3 (+ pip, python-is-python3; the EXTERNALLY-MANAGED
       marker removed) or Debian's nodejs.  The two are built in parallel.
       node-deps: the root filesystem of the local node image, plus npm
       installed with apt-get inside it (debootstrap cannot resolve npm's
       virtual-package dependencies), imported the same way.
     All carry the host's CA bundle (including the certificates under
     /usr/local/share/ca-certificates) at /etc/ssl/certs/ca-certificates.crt
     and point SSL_CERT_FILE / PIP_CERT / REQUESTS_CA_BUNDLE /
     NODE_EXTRA_CA_CERTS at it, so TLS works behind an intercepting proxy.

The Debian mirror is the first URI in the host's apt sources
(/etc/apt/sources.list, /etc/apt/sources.list.d/*.list, one-line format, and
/etc/apt/sources.list.d/*.sources, deb822 format) whose suites include the
codename itself and whose components include main.  Building needs root
(debootstrap; it is installed with apt-get if missing).  Downloaded .debs are
kept in the cache below, so a rebuild downloads only what changed.

Options:
  --runtime python|node|node-deps  only handle this runtime (may be repeated)
  --no-pull              do not try `docker pull`
  --rebuild              rebuild the local images of the runtimes asked for,
                         even if they are up to date
  -v, --verbose          stream debootstrap / apt-get output to stderr
  -h, --help             show this help

Environment:
  FAAS_PYTHON_BASE_IMAGE, FAAS_NODE_BASE_IMAGE, FAAS_NODE_DEPS_BASE_IMAGE
                         wanted images (see above)
  FAAS_DEBIAN_MIRROR     use this mirror URI instead of the host's apt sources
  FAAS_LOCAL_IMAGE_PREFIX  repository prefix of the locally built images
                         (default faas-local; e.g. to keep tests apart)
  XDG_CACHE_HOME         cache root (default ~/.cache); the lock files, the
                         build logs and the .deb caches live in
                         $XDG_CACHE_HOME/faas-gateway
  FAAS_BASE_LOCK_TIMEOUT seconds to wait for a concurrent run building the
                         same image (default 1800)
  FAAS_BASE_HEARTBEAT_S  seconds between progress lines of a build stage
                         that goes on (default 20)

Exit status is non-zero, with a message on stderr, if an image cannot be
produced for a requested runtime; nothing is printed on stdout then.
USAGE
}

# stdout is reserved for the result lines: keep it on fd 3 and send
# everything else (including docker's own chatter) to stderr.
exec 3>&1 1>&2

log() { printf 'base-images: %s\n' "$*" >&2; }
die() {
    printf 'base-images: error: %s\n' "$*" >&2
    exit 1
}

# ---------------------------------------------------------------- runtimes --

runtime_env_var() {
    case $1 in
    python) echo FAAS_PYTHON_BASE_IMAGE ;;
    node) echo FAAS_NODE_BASE_IMAGE ;;
    node-deps) echo FAAS_NODE_DEPS_BASE_IMAGE ;;
    esac
}

runtime_default_image() {
    case $1 in
    python) echo python:3.12-slim ;;
    node) echo node:20-slim ;;
    esac
}

# The local image a runtime's rootfs starts from (none: debootstrap).
runtime_parent() {
    case $1 in
    node-deps) echo node ;;
    esac
}

# Packages given to debootstrap --include.
runtime_packages() {
    case $1 in
    python) echo ca-certificates python3 python3-pip python-is-python3 ;;
    node) echo ca-certificates nodejs ;;
    esac
}

# Packages then installed with apt-get inside the root: debootstrap's own
# resolver does not follow virtual packages (Provides:), which npm's
# dependency tree in Debian uses (node-npm-normalize-package-bin etc.).
runtime_apt_packages() {
    case $1 in
    node-deps) echo npm ;;
    esac
}

# ENV lines (one NAME=value per line) specific to a runtime.
runtime_env() {
    case $1 in
    python)
        printf '%s\n' \
            "PIP_CERT=$CA_BUNDLE" \
            "REQUESTS_CA_BUNDLE=$CA_BUNDLE" \
            PIP_DISABLE_PIP_VERSION_CHECK=1 \
            PIP_ROOT_USER_ACTION=ignore
        ;;
    node | node-deps)
        printf '%s\n' "NODE_EXTRA_CA_CERTS=$CA_BUNDLE"
        ;;
    esac
}

runtime_cmd() {
    case $1 in
    python) echo '["python3"]' ;;
    node | node-deps) echo '["node"]' ;;
    esac
}

# The local image of a runtime: faas-local/<runtime>-base:<suite>-<recipe>. The recipe in
# the tag lets checkouts with different recipes share one Docker daemon without rebuilding
# each other's images, and makes function images (whose tags hash their base's name) follow
# a rebuilt base.
local_tag() { echo "$(local_repo "$1"):$SUITE-${RECIPE[$1]:0:12}"; }
local_repo() { echo "$LOCAL_REPO_PREFIX/$1-base"; }
# Whether IMAGE names a local image of the runtime (any recipe, or none: older tags).
is_local_name() { [[ $2 == "$(local_repo "$1"):"* ]]; }

# The host facts and the root filesystem steps live beside this script.
BASE_IMAGES_LIB=$(dirname "${BASH_SOURCE[0]}")/lib
# shellcheck source=docker/lib/base-host.sh
. "$BASE_IMAGES_LIB/base-host.sh"
# shellcheck source=docker/lib/base-rootfs.sh
. "$BASE_IMAGES_LIB/base-rootfs.sh"

# --------------------------------------------------------------- docker --

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

image_label() {
    docker image inspect -f "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true
}

recipe_hash() {
    local runtime=$1 parent
    parent=$(runtime_parent "$runtime")
    {
        echo "script-version=$SCRIPT_VERSION"
        echo "runtime=$runtime"
        echo "suite=$SUITE"
        echo "arch=$ARCH"
        echo "packages=$(runtime_packages "$runtime")"
        echo "apt-packages=$(runtime_apt_packages "$runtime")"
        echo "ca-bundle=$(printf '%s' "$CA_DATA" | sha256sum | cut -d' ' -f1)"
        # A derived image follows its parent's recipe.
        if [[ -n $parent ]]; then
            echo "parent=$(recipe_hash "$parent")"
        fi
    } | sha256sum | cut -d' ' -f1
}

local_image_current() {
    local tag=$1 hash=$2
    image_exists "$tag" && [[ $(image_label "$tag" "$LABEL_PREFIX.recipe") == "$hash" ]]
}

build_local_image() {
    local runtime=$1 tag=$2 hash=$3 mirror parent apt_pkgs log_file root pkgs
    [[ $EUID -eq 0 ]] || die "building $tag needs root (debootstrap); run as root, or make \$$(runtime_env_var "$runtime") point to an existing image"
    mirror=$(find_debian_mirror "$SUITE" "$DISTRO")
    [[ -n $mirror ]] || die "no apt source for suite '$SUITE' (component main) found in $APT_ETC/sources.list or $APT_ETC/sources.list.d/; cannot choose a mirror for debootstrap (set FAAS_DEBIAN_MIRROR to override)"
    parent=$(runtime_parent "$runtime")
    apt_pkgs=$(runtime_apt_packages "$runtime")
    mkdir -p "$CACHE_DIR/logs"
    BUILD_TMP=$(mktemp -d "${TMPDIR:-/tmp}/faas-base-images.XXXXXX")
    root=$BUILD_TMP/rootfs
    log_file=$CACHE_DIR/logs/build-$runtime.log
    : >"$log_file"
    BUILD_START=$SECONDS
    log "$runtime: building $tag"
    if [[ -n $parent ]]; then
        log "$runtime: starting from the root filesystem of $(local_tag "$parent")"
        export_rootfs "$(local_tag "$parent")" "$root"
        pkgs=$(runtime_packages "$parent")
    else
        ensure_debootstrap
        bootstrap_rootfs "$runtime" "$root" "$mirror" "$log_file"
        pkgs=$(runtime_packages "$runtime")
    fi
    if [[ -n $apt_pkgs ]]; then
        # The CA bundle first, in case the mirror is https behind the proxy.
        install_ca_bundle "$root"
        local apt_list
        read -r -a apt_list <<<"$apt_pkgs"
        chroot_apt_install "$runtime" "$root" "$mirror" "$log_file" "${apt_list[@]}"
        pkgs+=" $apt_pkgs"
    fi
    log "$runtime: finishing the root filesystem ($((SECONDS - BUILD_START))s)"
    finish_rootfs "$runtime" "$root"
    import_rootfs "$runtime" "$root" "$tag" "$hash" "${pkgs// /,}"
    cleanup_build
    BUILD_TMP=
    log "$runtime: built $tag in $((SECONDS - BUILD_START))s ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
}

# remove_stale RUNTIME TAG: the runtime's other local images (older recipes, or
# the tag without a recipe of earlier versions of this script) built more than
# STALE_DAYS ago are removed in the background. Younger ones stay: another
# checkout of the project may be using them.
remove_stale() {
    local runtime=$1 keep=$2 ref created now
    now=$(date +%s)
    docker images --format '{{.Repository}}:{{.Tag}}' "$(local_repo "$runtime")" 2>/dev/null |
        while IFS= read -r ref; do
            [[ $ref != "$keep" && $ref != *:"<none>" ]] || continue
            created=$(docker image inspect -f '{{.Created}}' "$ref" 2>/dev/null) || continue
            created=$(date -d "$created" +%s 2>/dev/null) || continue
            if ((now - created > STALE_DAYS * 86400)); then
                log "$runtime: removing $ref (another recipe, built over $STALE_DAYS days ago)"
                detached docker image rm "$ref"
            fi
        done
}

# ------------------------------------------------------------ resolving --

wants_rebuild() { [[ " $REBUILD_FOR " == *" $1 "* ]]; }

# Set RESOLVED to the local image of a runtime, built unless it is current.
# (Not a $(...) function: the build state and the EXIT trap live in the worker.)
ensure_local_image() {
    local runtime=$1 tag hash
    tag=$(local_tag "$runtime")
    hash=${RECIPE[$runtime]}
    RESOLVED=
    if ! wants_rebuild "$runtime" && local_image_current "$tag" "$hash"; then
        log "$runtime: reusing $tag (recipe ${hash:0:12})"
        RESOLVED=$tag
        return 0
    fi
    lock "$runtime"
    # Someone may have built it while we waited for the lock; or it may exist under
    # another name (earlier versions of this script tagged it without the recipe).
    local same
    same=$(docker images -q --filter "label=$LABEL_PREFIX.recipe=$hash" \
        --filter "reference=$(local_repo "$runtime")" 2>/dev/null | head -n 1)
    if ! wants_rebuild "$runtime" && local_image_current "$tag" "$hash"; then
        log "$runtime: reusing $tag, built by a concurrent run (recipe ${hash:0:12})"
    elif ! wants_rebuild "$runtime" && [[ -n $same ]] && docker tag "$same" "$tag"; then
        log "$runtime: reusing image ${same:0:12} of the same recipe as $tag"
    else
        if wants_rebuild "$runtime"; then
            log "$runtime: --rebuild given; rebuilding $tag"
        elif image_exists "$tag"; then
            log "$runtime: $tag exists but its recipe label differs; rebuilding"
        fi
        build_local_image "$runtime" "$tag" "$hash"
        remove_stale "$runtime" "$tag"
    fi
    unlock
    local_image_current "$tag" "$hash" || die "$tag is missing or lacks its recipe label after the build"
    RESOLVED=$tag
}

# available RUNTIME IMAGE: whether IMAGE exists locally, pulling it if allowed.
available() {
    local runtime=$1 image=$2
    if image_exists "$image"; then
        log "$runtime: using local image $image"
        return 0
    fi
    local why="not found locally; --no-pull given"
    if [[ -z $NO_PULL ]]; then
        log "$runtime: $image not found locally; trying docker pull (up to ${PULL_TIMEOUT_SECONDS}s)"
        if why=$(timeout "$PULL_TIMEOUT_SECONDS" docker pull -q "$image" 2>&1) && image_exists "$image"; then
            log "$runtime: pulled $image"
            return 0
        fi
        why=$(printf '%s' "$why" | tail -n 1)
        why="docker pull: ${why:-no answer within ${PULL_TIMEOUT_SECONDS}s}"
    fi
    log "$runtime: $image is not available ($why); using the locally built $(local_tag "$runtime")"
    return 1
}

# Set RESOLVED to the image to use for python or node.
resolve_runtime() {
    local runtime=$1 var wanted
    var=$(runtime_env_var "$runtime")
    wanted=${!var:-$(runtime_default_image "$runtime")}
    if ! is_local_name "$runtime" "$wanted" && available "$runtime" "$wanted"; then
        RESOLVED=$wanted
        return 0
    fi
    ensure_local_image "$runtime"
}

# The npm image wanted when node resolved to $1: $FAAS_NODE_DEPS_BASE_IMAGE, else
# that same image (the official node images have npm), unless it is the local
# node image, which has none. A local name stands for the current local image.
wanted_node_deps() {
    local wanted=${FAAS_NODE_DEPS_BASE_IMAGE:-}
    if [[ -z $wanted ]] && ! is_local_name node "$1"; then
        wanted=$1
    elif [[ -z $wanted ]] || is_local_name node-deps "$wanted"; then
        wanted=$(local_tag node-deps)
    fi
    echo "$wanted"
}

# Set RESOLVED to the npm image, node having resolved to $1. Unless $2 is set
# (node-deps was asked for), it is only named, never pulled or built.
resolve_node_deps() {
    local node=$1 build=$2 wanted tag
    wanted=$(wanted_node_deps "$node")
    tag=$(local_tag node-deps)
    if [[ -z $build ]]; then
        RESOLVED=$wanted
        if [[ $wanted != "$tag" ]]; then
            log "node-deps: $wanted (npm, for Node functions whose package.json declares dependencies)"
        elif local_image_current "$tag" "${RECIPE[node-deps]}"; then
            log "node-deps: $tag is up to date"
        else
            log "node-deps: $tag (npm, for Node functions whose package.json declares dependencies) is not built yet; docker/base-images.sh --runtime node-deps builds it in a few minutes"
        fi
        return 0
    fi
    if [[ $wanted != "$tag" ]] && available node-deps "$wanted"; then
        RESOLVED=$wanted
        return 0
    fi
    # The local npm image is made from the local node image.
    if [[ $node != "$(local_tag node)" ]]; then
        ensure_local_image node
    fi
    ensure_local_image node-deps
}

# A worker: resolves RUNTIMES in order into $RESULTS/<runtime>. Runs in a
# subshell of its own, so python and node build at the same time.
run_worker() {
    trap worker_exit EXIT
    trap 'exit 143' TERM
    local r node=
    for r in "$@"; do
        RESOLVED=
        case $r in
        node-deps)
            if [[ -z $node ]]; then
                resolve_runtime node
                node=$RESOLVED
            fi
            resolve_node_deps "$node" "$BUILD_NODE_DEPS"
            ;;
        node)
            resolve_runtime node
            node=$RESOLVED
            ;;
        *) resolve_runtime "$r" ;;
        esac
        [[ -n $RESOLVED ]] || die "no image for runtime $r"
        printf '%s\n' "$RESOLVED" >"$RESULTS/$r"
    done
}

# ------------------------------------------------------------------ main --

RESULTS=
WORKERS=()

main_exit() {
    if [[ -n $RESULTS && -d $RESULTS ]]; then
        rm -rf "$RESULTS"
    fi
}

# Ctrl-C / TERM: stop the workers (each stops its build and removes its files).
on_signal() {
    local pid
    trap - INT TERM
    log "interrupted; stopping the builds"
    for pid in "${WORKERS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${WORKERS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    exit "$1"
}

main() {
    local runtimes=() r
    NO_PULL=
    REBUILD=
    VERBOSE=
    while (($#)); do
        case $1 in
        --runtime)
            (($# >= 2)) || die "--runtime needs an argument (python, node or node-deps)"
            runtimes+=("$2")
            shift 2
            ;;
        --runtime=*)
            runtimes+=("${1#*=}")
            shift
            ;;
        --no-pull) NO_PULL=1 && shift ;;
        --rebuild) REBUILD=1 && shift ;;
        -v | --verbose) VERBOSE=1 && shift ;;
        -h | --help)
            usage >&3
            exit 0
            ;;
        *) die "unknown argument '$1' (see --help)" ;;
        esac
    done
    BUILD_NODE_DEPS=
    if ((${#runtimes[@]})); then
        for r in "${runtimes[@]}"; do
            case $r in
            python | node) ;;
            node-deps) BUILD_NODE_DEPS=1 ;;
            *) die "unknown runtime '$r' (expected python, node or node-deps)" ;;
            esac
        done
        REBUILD_FOR=${REBUILD:+${runtimes[*]}}
    else
        runtimes=(python node node-deps)
        REBUILD_FOR=${REBUILD:+python node}
    fi

    command -v docker >/dev/null 2>&1 || die "docker CLI not found"
    docker info >/dev/null 2>&1 || die "cannot talk to the Docker engine (is it running, and may we use it?)"

    SUITE=$(os_release_field VERSION_CODENAME)
    [[ -n $SUITE ]] || die "VERSION_CODENAME not found in $OS_RELEASE; cannot tell which suite to build"
    DISTRO=$(os_release_field NAME)
    DISTRO=${DISTRO%% *} # "Debian GNU/Linux" -> Debian, as in Release Origin
    ARCH=$(dpkg --print-architecture 2>/dev/null || true)
    [[ -n $ARCH ]] || die "cannot determine the Debian architecture (dpkg --print-architecture)"
    CACHE_DIR=${XDG_CACHE_HOME:-${HOME:?HOME is not set}/.cache}/faas-gateway
    CA_DATA=$(host_ca_bundle)
    if [[ -n $CA_DATA ]]; then
        CA_DATA+=$'\n'
    else
        log "warning: no host CA bundle at $CA_BUNDLE; images will have Debian's CAs only"
    fi
    declare -gA RECIPE=()
    for r in python node node-deps; do
        RECIPE[$r]=$(recipe_hash "$r")
    done

    # python in one worker, node and node-deps (made from node) in another.
    local python_group=() node_group=() failed=() start=$SECONDS
    for r in "${runtimes[@]}"; do
        case $r in
        python) [[ " ${python_group[*]} " == *" python "* ]] || python_group+=(python) ;;
        *) [[ " ${node_group[*]} " == *" $r "* ]] || node_group+=("$r") ;;
        esac
    done
    RESULTS=$(mktemp -d "${TMPDIR:-/tmp}/faas-base-images-results.XXXXXX")
    trap main_exit EXIT
    trap 'on_signal 130' INT
    trap 'on_signal 143' TERM
    local names=()
    if ((${#python_group[@]})); then
        run_worker "${python_group[@]}" &
        WORKERS+=($!)
        names+=("${python_group[*]}")
    fi
    if ((${#node_group[@]})); then
        run_worker "${node_group[@]}" &
        WORKERS+=($!)
        names+=("${node_group[*]}")
    fi
    local i
    for i in "${!WORKERS[@]}"; do
        wait "${WORKERS[$i]}" || failed+=("${names[$i]}")
    done
    ((${#failed[@]} == 0)) || die "no base image for: ${failed[*]} (see the messages above)"

    local lines=()
    for r in "${runtimes[@]}"; do
        [[ -s $RESULTS/$r ]] || die "no image for runtime $r"
        lines+=("$(runtime_env_var "$r")=$(<"$RESULTS/$r")")
    done
    if ((SECONDS - start > 5)); then
        log "done in $((SECONDS - start))s"
    fi
    printf '%s\n' "${lines[@]}" >&3
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    main "$@"
fi
