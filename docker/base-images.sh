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
readonly CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
readonly LOCAL_CA_DIR=/usr/local/share/ca-certificates
readonly APT_ETC=${FAAS_APT_ETC:-/etc/apt}
readonly OS_RELEASE=${FAAS_OS_RELEASE:-/etc/os-release}
readonly BASE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# debootstrap and chroot live in sbin, which a non-login root shell may lack.
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin

usage() {
    cat <<'EOF'
Usage: docker/base-images.sh [--runtime python|node] [options]

Makes sure a usable Docker base image exists for each function runtime
(python and node; both unless --runtime is given) and prints, on stdout,
exactly one line per runtime:

    FAAS_PYTHON_BASE_IMAGE=<image>
    FAAS_NODE_BASE_IMAGE=<image>

so a caller can do:

    eval "$(docker/base-images.sh | sed 's/^/export /')"

All logging goes to stderr.  For each runtime:

  1. The wanted image is $FAAS_PYTHON_BASE_IMAGE / $FAAS_NODE_BASE_IMAGE,
     or the official python:3.12-slim / node:20-slim.  If it exists locally
     it is used.
  2. Otherwise `docker pull` is tried (60 s timeout).
  3. Otherwise a local image built by this script is used:
     faas-local/python-base:<suite> / faas-local/node-base:<suite>, where
     <suite> is VERSION_CODENAME from /etc/os-release.  It is reused when it
     carries the label org.faas-gateway.base.recipe matching the current
     recipe (package list, script version, suite, architecture, host CA
     bundle); otherwise it is (re)built with
       debootstrap --variant=minbase --include=<packages> <suite> <dir> <mirror>
       tar -C <dir> -c . | docker import --change ... - <tag>
     Python image: Debian's python3 (+ pip, python-is-python3), with the
     EXTERNALLY-MANAGED marker removed.  Node image: Debian's nodejs, plus
     npm installed with apt-get inside the new root (debootstrap cannot
     resolve its virtual-package dependencies).
     Both carry the host's CA bundle (including the certificates under
     /usr/local/share/ca-certificates) at /etc/ssl/certs/ca-certificates.crt
     and point SSL_CERT_FILE / PIP_CERT / REQUESTS_CA_BUNDLE /
     NODE_EXTRA_CA_CERTS at it, so TLS works behind an intercepting proxy.

The Debian mirror is the first URI in the host's apt sources
(/etc/apt/sources.list, /etc/apt/sources.list.d/*.list, one-line format, and
/etc/apt/sources.list.d/*.sources, deb822 format) whose suites include the
codename itself and whose components include main.  Building needs root
(debootstrap; it is installed with apt-get if missing).

Options:
  --runtime python|node  only handle this runtime (may be repeated)
  --no-pull              do not try `docker pull`
  --rebuild              rebuild the local image even if it is up to date
  -v, --verbose          stream debootstrap output to stderr
  -h, --help             show this help

Environment:
  FAAS_PYTHON_BASE_IMAGE, FAAS_NODE_BASE_IMAGE   wanted images (see above)
  FAAS_DEBIAN_MIRROR     use this mirror URI instead of the host's apt sources
  FAAS_LOCAL_IMAGE_PREFIX  repository prefix of the locally built images
                         (default faas-local; e.g. to keep tests apart)
  XDG_CACHE_HOME         cache root (default ~/.cache); the lock file and the
                         debootstrap .deb cache live in $XDG_CACHE_HOME/faas-gateway
  FAAS_BASE_LOCK_TIMEOUT seconds to wait for a concurrent run (default 1800)

Exit status is non-zero, with a message on stderr, if an image cannot be
produced for a requested runtime; nothing is printed on stdout then.
EOF
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
    esac
}

runtime_default_image() {
    case $1 in
    python) echo python:3.12-slim ;;
    node) echo node:20-slim ;;
    esac
}

# Packages given to debootstrap --include.
runtime_packages() {
    case $1 in
    python) echo ca-certificates python3 python3-pip python-is-python3 ;;
    node) echo ca-certificates nodejs ;;
    esac
}

# Packages then installed with apt-get inside the new root: debootstrap's own
# resolver does not follow virtual packages (Provides:), which npm's
# dependency tree in Debian uses (node-npm-normalize-package-bin etc.).
runtime_apt_packages() {
    case $1 in
    python) ;;
    node) echo npm ;;
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
    node)
        printf '%s\n' "NODE_EXTRA_CA_CERTS=$CA_BUNDLE"
        ;;
    esac
}

runtime_cmd() {
    case $1 in
    python) echo '["python3"]' ;;
    node) echo '["node"]' ;;
    esac
}

local_tag() { echo "$LOCAL_REPO_PREFIX/$1-base:$SUITE"; }

# ------------------------------------------------------------- host facts --

os_release_field() {
    local key=$1 line value
    [[ -r $OS_RELEASE ]] || return 0
    while IFS= read -r line || [[ -n $line ]]; do
        if [[ $line == "$key="* ]]; then
            value=${line#*=}
            value=${value#[\"\']}
            value=${value%[\"\']}
            printf '%s\n' "$value"
            return 0
        fi
    done <"$OS_RELEASE"
}

# Print candidate URIs ("URI" lines) for suite $1 from one-line sources files.
oneline_sources_uris() {
    local suite=$1
    shift
    awk -v want="$suite" '
        { sub(/#.*/, "") }
        $1 == "deb" {
            i = 2
            if ($2 ~ /^\[/) {            # [ option=value ... ]
                while (i <= NF && $i !~ /\]$/) i++
                i++
            }
            if (i + 1 > NF || $(i + 1) != want) next
            for (c = i + 2; c <= NF; c++) if ($c == "main") { print $i; next }
        }' "$@"
}

# Same for deb822 (.sources) files.
deb822_sources_uris() {
    local suite=$1
    shift
    awk -v want="$suite" '
        function flush(   n, k, u) {
            if ((" " types " ") ~ / deb / && enabled != "no" &&
                index(" " suites " ", " " want " ") &&
                index(" " comps " ", " main ")) {
                n = split(uris, u, " ")
                for (k = 1; k <= n; k++) print u[k]
            }
            types = uris = suites = comps = enabled = cur = ""
        }
        function norm(s) { gsub(/[ \t]+/, " ", s); sub(/^ /, "", s); sub(/ $/, "", s); return s }
        FNR == 1 { flush() }
        /^#/ { next }
        /^[ \t]*$/ { flush(); next }
        /^[ \t]/ {                        # continuation line
            v = norm($0)
            if (cur == "types") types = types " " v
            else if (cur == "uris") uris = uris " " v
            else if (cur == "suites") suites = suites " " v
            else if (cur == "components") comps = comps " " v
            next
        }
        {
            p = index($0, ":")
            if (!p) next
            cur = tolower(substr($0, 1, p - 1))
            v = norm(substr($0, p + 1))
            if (cur == "types") types = v
            else if (cur == "uris") uris = v
            else if (cur == "suites") suites = v
            else if (cur == "components") comps = v
            else if (cur == "enabled") enabled = tolower(v)
        }
        END { flush() }' "$@"
}

# If apt has already downloaded the Release file of URI/suite, print its Origin.
apt_list_origin() {
    local uri=$1 suite=$2 name f
    name=${uri#*://}
    name=${name%/}
    name="${name//\//_}_dists_${suite}_"
    for f in /var/lib/apt/lists/"$name"InRelease /var/lib/apt/lists/"$name"Release; do
        if [[ -r $f ]]; then
            sed -n 's/^Origin:[[:space:]]*//p' "$f" | head -n1
            return 0
        fi
    done
}

# The mirror serving the main suite, from the host's apt configuration.
find_debian_mirror() {
    local suite=$1 distro=$2 files=() parts=() f uri origin candidates=()
    if [[ -n ${FAAS_DEBIAN_MIRROR:-} ]]; then
        printf '%s\n' "${FAAS_DEBIAN_MIRROR%/}"
        return 0
    fi
    # apt's reading order: sources.list, then sources.list.d/*.{list,sources}
    # sorted by name (other file names there, e.g. *.disabled, are ignored).
    [[ -r $APT_ETC/sources.list ]] && files+=("$APT_ETC/sources.list")
    if [[ -d $APT_ETC/sources.list.d ]]; then
        mapfile -t parts < <(find "$APT_ETC/sources.list.d" -mindepth 1 -maxdepth 1 \
            \( -name '*.list' -o -name '*.sources' \) \( -type f -o -type l \) | LC_ALL=C sort)
        files+=("${parts[@]}")
    fi
    for f in "${files[@]}"; do
        [[ -r $f ]] || continue
        case $f in
        *.sources) mapfile -t -O "${#candidates[@]}" candidates < <(deb822_sources_uris "$suite" "$f") ;;
        *) mapfile -t -O "${#candidates[@]}" candidates < <(oneline_sources_uris "$suite" "$f") ;;
        esac
    done
    for uri in "${candidates[@]}"; do
        case $uri in
        http://* | https://* | file:/*) ;;
        *) continue ;;
        esac
        uri=${uri%/}
        # Skip a third-party repository that happens to use the codename.
        origin=$(apt_list_origin "$uri" "$suite")
        if [[ -n $origin && -n $distro && ${origin,,} != "${distro,,}" ]]; then
            log "skipping $uri: its $suite Release has Origin '$origin', not '$distro'"
            continue
        fi
        printf '%s\n' "$uri"
        return 0
    done
}

# The host's CA bundle plus the local CAs, each certificate once.
host_ca_bundle() {
    local extra=()
    if [[ -d $LOCAL_CA_DIR ]]; then
        mapfile -t extra < <(find "$LOCAL_CA_DIR" -type f -name '*.crt' | LC_ALL=C sort)
    fi
    local inputs=()
    [[ -r $CA_BUNDLE ]] && inputs+=("$CA_BUNDLE")
    inputs+=("${extra[@]}")
    ((${#inputs[@]})) || return 0
    # Dedupe PEM blocks; the host bundle usually contains the local CAs already.
    awk '
        /-----BEGIN CERTIFICATE-----/ { inblk = 1; blk = ""; key = "" }
        inblk { blk = blk $0 "\n"; if ($0 !~ /-----/) key = key $0 }
        /-----END CERTIFICATE-----/ && inblk {
            inblk = 0
            if (!(key in seen)) { seen[key] = 1; printf "%s", blk }
        }' "${inputs[@]}"
}

# --------------------------------------------------------------- docker --

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

image_label() {
    docker image inspect -f "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true
}

recipe_hash() {
    local runtime=$1
    {
        echo "script-version=$SCRIPT_VERSION"
        echo "runtime=$runtime"
        echo "suite=$SUITE"
        echo "arch=$ARCH"
        echo "packages=$(runtime_packages "$runtime")"
        echo "apt-packages=$(runtime_apt_packages "$runtime")"
        echo "ca-bundle=$(printf '%s' "$CA_DATA" | sha256sum | cut -d' ' -f1)"
    } | sha256sum | cut -d' ' -f1
}

local_image_current() {
    local tag=$1 hash=$2
    image_exists "$tag" && [[ $(image_label "$tag" "$LABEL_PREFIX.recipe") == "$hash" ]]
}

# ---------------------------------------------------------------- build --

BUILD_TMP=
LOCK_HELD=

unmount_under() {
    local dir=$1 m
    [[ -n $dir && -d $dir ]] || return 0
    # Deepest first; debootstrap may leave /proc, /sys (or /dev) mounted on failure.
    awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | LC_ALL=C sort -r |
        while IFS= read -r m; do umount -l "$m" 2>/dev/null || true; done
}

cleanup() {
    if [[ -n $BUILD_TMP && -d $BUILD_TMP ]]; then
        unmount_under "$BUILD_TMP"
        rm -rf --one-file-system "$BUILD_TMP" || log "warning: could not remove $BUILD_TMP"
    fi
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT
trap 'log terminated; exit 143' TERM

acquire_lock() {
    [[ -z $LOCK_HELD ]] || return 0
    mkdir -p "$CACHE_DIR" || die "cannot create cache dir $CACHE_DIR"
    local lock=$CACHE_DIR/base-images.lock
    exec 9>"$lock" || die "cannot open lock file $lock"
    if ! flock -n 9; then
        log "another run is building base images; waiting for $lock (up to ${LOCK_WAIT_SECONDS}s)"
        flock -w "$LOCK_WAIT_SECONDS" 9 || die "timed out waiting for $lock"
    fi
    LOCK_HELD=1
}

ensure_debootstrap() {
    command -v debootstrap >/dev/null 2>&1 && return 0
    [[ $EUID -eq 0 ]] || die "debootstrap is not installed and we are not root to install it"
    command -v apt-get >/dev/null 2>&1 || die "debootstrap is not installed and apt-get is not available"
    log "installing debootstrap with apt-get"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >&2; then
        DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >&2 ||
            die "could not install debootstrap with apt-get"
    fi
    command -v debootstrap >/dev/null 2>&1 || die "debootstrap still not found after installing it"
}

# Put the host's CA bundle (it trusts this machine's TLS-intercepting proxy)
# into the root, and the host's local CAs where update-ca-certificates finds
# them, so a later ca-certificates run in a derived image keeps them.
install_ca_bundle() {
    local root=$1
    if [[ -d $LOCAL_CA_DIR ]]; then
        mkdir -p "$root$LOCAL_CA_DIR"
        cp -a "$LOCAL_CA_DIR"/. "$root$LOCAL_CA_DIR"/
        # Hash links for tools that use the certs directory.
        chroot "$root" update-ca-certificates >/dev/null 2>&1 ||
            log "warning: update-ca-certificates failed inside the image (the bundle is still copied)"
    fi
    if [[ -n $CA_DATA ]]; then
        mkdir -p "$root/etc/ssl/certs"
        printf '%s' "$CA_DATA" >"$root$CA_BUNDLE"
        chmod 0644 "$root$CA_BUNDLE"
    fi
}

# apt-get install inside the debootstrapped root, reusing cached .debs.
chroot_apt_install() {
    local root=$1 log_file=$2
    shift 2
    local archives=$CACHE_DIR/apt-archives/$SUITE-$ARCH rc=0
    mkdir -p "$archives" "$root/var/cache/apt/archives/partial" "$root/proc"
    find "$archives" -maxdepth 1 -name '*.deb' -exec cp -t "$root/var/cache/apt/archives/" {} +
    mount -t proc proc "$root/proc" || die "cannot mount /proc in $root"
    local run=(chroot "$root" /usr/bin/env -i "PATH=$BASE_PATH" LANG=C.UTF-8
        DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true)
    {
        "${run[@]}" apt-get -q update &&
            "${run[@]}" apt-get -q install -y --no-install-recommends "$@"
    } >>"$log_file" 2>&1 || rc=$?
    umount "$root/proc" || umount -l "$root/proc" || true
    if ((rc)); then
        tail -n 25 "$log_file" >&2 || true
        die "apt-get install $* inside the new root failed (full log: $log_file)"
    fi
    find "$root/var/cache/apt/archives" -maxdepth 1 -name '*.deb' -exec cp -n -t "$archives/" {} +
}

# Shrink the rootfs and make it behave like an official slim image.
finish_rootfs() {
    local runtime=$1 root=$2 f
    # apt/dpkg state and caches that only matter on the build host.
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
        "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/archives/partial/* \
        "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old \
        "$root"/var/log/* "$root"/tmp/* "$root"/var/tmp/* "$root"/debootstrap
    mkdir -p "$root"/var/lib/apt/lists/partial
    # Docs (keeping the copyright notices), man pages, info, locales.
    if [[ -d $root/usr/share/doc ]]; then
        find "$root/usr/share/doc" -depth ! -type d ! -name copyright -delete
        find "$root/usr/share/doc" -depth -mindepth 1 -type d -empty -delete
    fi
    rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
        "$root"/usr/share/lintian "$root"/usr/share/linda
    # Keep them out of images derived from this one too (as debian:*-slim does).
    mkdir -p "$root"/etc/dpkg/dpkg.cfg.d "$root"/etc/apt/apt.conf.d
    cat >"$root"/etc/dpkg/dpkg.cfg.d/faas-slim <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
    cat >"$root"/etc/apt/apt.conf.d/docker-clean <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    # Host identity that debootstrap copied in; docker provides its own at run time.
    : >"$root"/etc/resolv.conf
    : >"$root"/etc/hostname
    printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root"/etc/hosts
    install_ca_bundle "$root"

    if [[ $runtime == python ]]; then
        # Let pip install system-wide, as it does in the official image.
        for f in "$root"/usr/lib/python3*/EXTERNALLY-MANAGED; do
            [[ -e $f ]] && rm -f "$f"
        done
        [[ -x $root/usr/bin/python3 ]] || die "python3 missing from the built rootfs"
    else
        [[ -x $root/usr/bin/node || -x $root/usr/bin/nodejs ]] || die "node missing from the built rootfs"
        if [[ ! -e $root/usr/bin/node && -x $root/usr/bin/nodejs ]]; then
            ln -s nodejs "$root/usr/bin/node"
        fi
    fi
    # Device nodes made by debootstrap; docker mounts its own /dev.
    rm -rf "${root:?}"/dev/*
}

build_local_image() {
    local runtime=$1 tag=$2 hash=$3 mirror pkgs apt_pkgs log_file root start old_id
    [[ $EUID -eq 0 ]] || die "building $tag needs root (debootstrap); run as root, or make \$$(runtime_env_var "$runtime") point to an existing image"
    ensure_debootstrap
    mirror=$(find_debian_mirror "$SUITE" "$DISTRO")
    [[ -n $mirror ]] || die "no apt source for suite '$SUITE' (component main) found in $APT_ETC/sources.list or $APT_ETC/sources.list.d/; cannot choose a mirror for debootstrap (set FAAS_DEBIAN_MIRROR to override)"
    pkgs=$(runtime_packages "$runtime")
    pkgs=${pkgs// /,}
    apt_pkgs=$(runtime_apt_packages "$runtime")

    mkdir -p "$CACHE_DIR/debootstrap/$SUITE-$ARCH" "$CACHE_DIR/logs"
    if [[ -z $BUILD_TMP ]]; then
        BUILD_TMP=$(mktemp -d "${TMPDIR:-/tmp}/faas-base-images.XXXXXX")
    fi
    root=$BUILD_TMP/$runtime-rootfs
    log_file=$CACHE_DIR/logs/debootstrap-$runtime.log
    start=$SECONDS
    log "building $tag: debootstrap $SUITE from $mirror with $pkgs (log: $log_file)"
    local dbs=(debootstrap --variant=minbase --include="$pkgs"
        --cache-dir="$CACHE_DIR/debootstrap/$SUITE-$ARCH" --arch="$ARCH"
        "$SUITE" "$root" "$mirror")
    local ok=1
    if [[ -n $VERBOSE ]]; then
        "${dbs[@]}" 2>&1 | tee "$log_file" >&2 || ok=
    else
        "${dbs[@]}" >"$log_file" 2>&1 || ok=
    fi
    if [[ -z $ok ]]; then
        tail -n 25 "$log_file" >&2 || true
        [[ -r $root/debootstrap/debootstrap.log ]] && tail -n 25 "$root/debootstrap/debootstrap.log" >&2
        die "debootstrap failed for $tag (full log: $log_file)"
    fi
    unmount_under "$root"
    log "debootstrap done in $((SECONDS - start))s"
    if [[ -n $apt_pkgs ]]; then
        # The CA bundle first, in case the mirror is https behind the proxy.
        install_ca_bundle "$root"
        log "installing $apt_pkgs with apt-get inside the new root"
        local apt_list
        read -r -a apt_list <<<"$apt_pkgs"
        chroot_apt_install "$root" "$log_file" "${apt_list[@]}"
        log "apt-get done after $((SECONDS - start))s"
    fi
    log "finishing the rootfs"
    finish_rootfs "$runtime" "$root"

    local changes=(--change "ENV PATH=$BASE_PATH LANG=C.UTF-8 SSL_CERT_FILE=$CA_BUNDLE")
    local e
    while IFS= read -r e; do
        changes+=(--change "ENV $e")
    done < <(runtime_env "$runtime")
    changes+=(
        --change "CMD $(runtime_cmd "$runtime")"
        --change "LABEL $LABEL_PREFIX.recipe=$hash"
        --change "LABEL $LABEL_PREFIX.runtime=$runtime"
        --change "LABEL $LABEL_PREFIX.suite=$SUITE"
        --change "LABEL $LABEL_PREFIX.script-version=$SCRIPT_VERSION"
        --change "LABEL $LABEL_PREFIX.packages=$pkgs${apt_pkgs:+,${apt_pkgs// /,}}"
    )
    old_id=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
    log "importing $tag"
    tar --numeric-owner -C "$root" -c . |
        docker import "${changes[@]}" - "$tag" >/dev/null ||
        die "docker import of $tag failed"
    # Drop the rootfs now so a second build in the same run needs less disk.
    rm -rf --one-file-system "$root"
    if [[ -n $old_id && $old_id != "$(docker image inspect -f '{{.Id}}' "$tag")" ]]; then
        docker image rm "$old_id" >/dev/null 2>&1 || true
    fi
    log "built $tag in $((SECONDS - start))s ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
}

# Set RESOLVED to the image to use for a runtime.  (Not a $(...) function:
# the build state and the EXIT trap must live in the main shell.)
resolve_runtime() {
    local runtime=$1 var wanted tag hash
    RESOLVED=
    var=$(runtime_env_var "$runtime")
    wanted=${!var:-$(runtime_default_image "$runtime")}
    tag=$(local_tag "$runtime")

    if [[ $wanted != "$tag" ]]; then
        if image_exists "$wanted"; then
            log "$runtime: using local image $wanted"
            RESOLVED=$wanted
            return 0
        fi
        if [[ -z $NO_PULL ]]; then
            log "$runtime: $wanted not found locally; trying docker pull"
            if timeout "$PULL_TIMEOUT_SECONDS" docker pull "$wanted" >&2 && image_exists "$wanted"; then
                log "$runtime: pulled $wanted"
                RESOLVED=$wanted
                return 0
            fi
        fi
        log "$runtime: $wanted is not available; falling back to the locally built $tag"
    fi

    hash=$(recipe_hash "$runtime")
    if [[ -z $REBUILD ]] && local_image_current "$tag" "$hash"; then
        log "$runtime: reusing $tag (recipe ${hash:0:12})"
        RESOLVED=$tag
        return 0
    fi
    acquire_lock
    # Someone may have built it while we waited for the lock.
    if [[ -z $REBUILD ]] && local_image_current "$tag" "$hash"; then
        log "$runtime: reusing $tag, built by a concurrent run (recipe ${hash:0:12})"
    else
        if [[ -n $REBUILD ]]; then
            log "$runtime: --rebuild given; rebuilding $tag"
        elif image_exists "$tag"; then
            log "$runtime: $tag exists but its recipe label differs; rebuilding"
        fi
        build_local_image "$runtime" "$tag" "$hash"
    fi
    local_image_current "$tag" "$hash" || die "$tag is missing or lacks its recipe label after the build"
    RESOLVED=$tag
}

main() {
    local runtimes=() r
    NO_PULL=
    REBUILD=
    VERBOSE=
    while (($#)); do
        case $1 in
        --runtime)
            (($# >= 2)) || die "--runtime needs an argument (python or node)"
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
    ((${#runtimes[@]})) || runtimes=(python node)
    for r in "${runtimes[@]}"; do
        case $r in
        python | node) ;;
        *) die "unknown runtime '$r' (expected python or node)" ;;
        esac
    done

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

    local lines=()
    for r in "${runtimes[@]}"; do
        resolve_runtime "$r"
        [[ -n $RESOLVED ]] || die "no image for runtime $r"
        lines+=("$(runtime_env_var "$r")=$RESOLVED")
    done
    printf '%s\n' "${lines[@]}" >&3
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    main "$@"
fi
