# shellcheck shell=bash
# Building a root filesystem and importing it as a Docker image, for docker/base-images.sh:
# debootstrap (two stages, the .deb cache shared safely between concurrent builds), apt-get
# inside a root, the slim-image finish, docker import; and the progress lines of long steps.
# Sourced by docker/base-images.sh, which provides log, die, the runtime_* functions and
# the settings (CACHE_DIR, SUITE, ARCH, CA_DATA, VERBOSE, ...); sourcing defines functions
# and empty state variables only.

# ------------------------------------------------------------- progress --

# "<stage>|<what>" for a build log: the stage debootstrap or apt-get has
# reached and how far it got, e.g. "unpack|unpacking packages (40 of 131)".
log_progress() {
    [[ -r $1 ]] || return 0
    awk '
        function at(s, t) { stage = s; what = t }
        function of(n, total) { return total ? " (" n " of " total ")" : " (" n ")" }
        /^I: Retrieving (InRelease|Release|Packages)/ { at("index", "reading the package index"); next }
        /^I: (Resolving dependencies|Checking component)/ { at("resolve", "resolving dependencies"); next }
        /^I: Retrieving / { got++; at("fetch", "downloading packages (" got ")"); next }
        /^I: Validating / && NF >= 4 {
            total++
            at("fetch", got ? "downloading packages (" got ")" : "checking cached packages (" total ")")
            next
        }
        /^I: Extracting / { ext++; at("extract", "extracting packages" of(ext, total)); next }
        /^I: Installing core packages/ { at("core", "installing core packages"); next }
        /^I: Unpacking (required packages|the base system)/ { at("unpack", "unpacking packages" of(unp, total)); next }
        /^I: Unpacking / { unp++; at("unpack", "unpacking packages" of(unp, total)); next }
        /^I: Configuring (required packages|the base system)/ { at("configure", "configuring packages" of(cfg, total)); next }
        /^I: Configuring / { cfg++; at("configure", "configuring packages" of(cfg, total)); next }
        /^I: Base system installed/ { at("done", "base system installed"); next }
        /^Reading package lists/ { at("index", "reading the package index"); next }
        / newly installed, / { total = $3; next }
        /^Get:[0-9]+ / && !total { at("index", "reading the package index"); next }
        /^Get:[0-9]+ / { get++; at("download", "downloading packages" of(get, total)); next }
        /^Unpacking / { unp++; at("unpack", "unpacking packages" of(unp, total)); next }
        /^Setting up / { cfg++; at("configure", "configuring packages" of(cfg, total)); next }
        END { if (stage != "") print stage "|" what }' "$1"
}

# Sends TERM to a process and its descendants, deepest first.
kill_tree() {
    local child
    for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        kill_tree "$child"
    done
    kill -TERM "$1" 2>/dev/null || true
}

# detached COMMAND...: runs COMMAND in the background, silent, without our stdout
# (a caller's $(...) would wait for it) or a lock, and does not wait for it.
detached() {
    (
        exec 3>&-
        if [[ -n $LOCK_FD ]]; then exec {LOCK_FD}>&-; fi
        exec "$@"
    ) >/dev/null 2>&1 &
}

# run_step RUNTIME LOG COMMAND...: runs COMMAND with its output appended to LOG,
# saying on stderr which stage it is at (again every HEARTBEAT_SECONDS while a
# stage goes on); returns COMMAND's exit status.
CHILD_PID=
run_step() {
    local runtime=$1 log_file=$2 last_stage='' last_at=$SECONDS line stage rc=0
    shift 2
    if [[ -n $VERBOSE ]]; then
        "$@" 2>&1 | tee -a "$log_file" >&2 || rc=$?
        return "$rc"
    fi
    "$@" >>"$log_file" 2>&1 &
    CHILD_PID=$!
    while kill -0 "$CHILD_PID" 2>/dev/null; do
        sleep 1
        line=$(log_progress "$log_file")
        stage=${line%%|*}
        if [[ -n $stage && ($stage != "$last_stage" || $((SECONDS - last_at)) -ge $HEARTBEAT_SECONDS) ]]; then
            log "$runtime: ${line#*|} ($((SECONDS - BUILD_START))s)"
            last_stage=$stage
            last_at=$SECONDS
        fi
    done
    wait "$CHILD_PID" || rc=$?
    CHILD_PID=
    return "$rc"
}

# ---------------------------------------------------------------- build --

BUILD_TMP=
BUILD_START=$SECONDS
DEB_WORK=

unmount_under() {
    local dir=$1 m
    [[ -n $dir && -d $dir ]] || return 0
    # Deepest first; debootstrap may leave /proc, /sys (or /dev) mounted on failure.
    awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | LC_ALL=C sort -r |
        while IFS= read -r m; do umount -l "$m" 2>/dev/null || true; done
}

cleanup_build() {
    if [[ -n $BUILD_TMP && -d $BUILD_TMP ]]; then
        unmount_under "$BUILD_TMP"
        rm -rf --one-file-system "$BUILD_TMP" || log "warning: could not remove $BUILD_TMP"
    fi
    if [[ -n $DEB_WORK && -d $DEB_WORK ]]; then
        rm -rf "$DEB_WORK" || true
    fi
}

# EXIT trap of a worker: stop the step it runs, then remove its files.
worker_exit() {
    if [[ -n $CHILD_PID ]]; then
        kill_tree "$CHILD_PID"
        wait "$CHILD_PID" 2>/dev/null || true
    fi
    cleanup_build
}

# lock RUNTIME: hold the build lock of one runtime (fd in LOCK_FD) until unlock.
# One lock per runtime, so that python and node build at the same time, and two
# runs never build the same image at once.
LOCK_FD=
lock() {
    local file=$CACHE_DIR/base-images-$1.lock
    mkdir -p "$CACHE_DIR" || die "cannot create cache dir $CACHE_DIR"
    exec {LOCK_FD}>"$file" || die "cannot open lock file $file"
    if ! flock -n "$LOCK_FD"; then
        log "$1: another run is building this image; waiting for $file (up to ${LOCK_WAIT_SECONDS}s)"
        flock -w "$LOCK_WAIT_SECONDS" "$LOCK_FD" || die "timed out waiting for $file"
    fi
}
unlock() {
    [[ -n $LOCK_FD ]] || return 0
    exec {LOCK_FD}>&-
    LOCK_FD=
}

ensure_debootstrap() {
    command -v debootstrap >/dev/null 2>&1 && return 0
    [[ $EUID -eq 0 ]] || die "debootstrap is not installed and we are not root to install it"
    command -v apt-get >/dev/null 2>&1 || die "debootstrap is not installed and apt-get is not available"
    # Runtimes build in parallel: one of them installs it while the others wait, and apt-get
    # itself waits for a dpkg lock another apt-get holds rather than failing at once.
    local fd apt=(apt-get -q -o DPkg::Lock::Timeout=300) apt_log=$CACHE_DIR/logs/apt-debootstrap.log
    mkdir -p "$CACHE_DIR/logs"
    exec {fd}>"$CACHE_DIR/debootstrap-install.lock"
    flock "$fd"
    if ! command -v debootstrap >/dev/null 2>&1; then
        log "installing debootstrap with apt-get (log: $apt_log)"
        if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y debootstrap >>"$apt_log" 2>&1; then
            DEBIAN_FRONTEND=noninteractive "${apt[@]}" update >>"$apt_log" 2>&1 || true
            if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y debootstrap >>"$apt_log" 2>&1; then
                tail -n 20 "$apt_log" >&2
                die "could not install debootstrap with apt-get"
            fi
        fi
    fi
    exec {fd}>&-
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

# publish_debs FROM POOL: add FROM's .debs that POOL lacks to POOL, each under
# its final name at once (a temporary name, then a rename), so a concurrent
# build never reads half a file.
publish_debs() {
    local from=$1 pool=$2 f name
    for f in "$from"/*.deb; do
        [[ -f $f ]] || continue
        name=${f##*/}
        [[ -e $pool/$name ]] && continue
        if ! { cp "$f" "$pool/.$name.$BASHPID" && mv -f "$pool/.$name.$BASHPID" "$pool/$name"; } 2>/dev/null; then
            rm -f "$pool/.$name.$BASHPID"
        fi
    done
}

# debootstrap RUNTIME ROOT MIRROR LOG: a minbase root with the runtime's packages.
# debootstrap's --cache-dir is not safe for two runs at once (each may find the
# other's half-downloaded .deb), so each build works on its own copy of the
# shared cache (hard links) and adds its downloads to the cache when done.
# The first stage downloads and unpacks; the second, which installs, runs with
# dpkg's unsafe-io (no fsync per file: the root is thrown away on failure).
bootstrap_rootfs() {
    local runtime=$1 root=$2 mirror=$3 log_file=$4 pkgs pool
    pkgs=$(runtime_packages "$runtime")
    pkgs=${pkgs// /,}
    pool=$CACHE_DIR/debootstrap/$SUITE-$ARCH
    mkdir -p "$pool"
    DEB_WORK=$(mktemp -d "$CACHE_DIR/debootstrap/.work-$runtime.XXXXXX")
    find "$pool" -maxdepth 1 -name '*.deb' -exec cp -l -t "$DEB_WORK" {} + 2>/dev/null ||
        find "$pool" -maxdepth 1 -name '*.deb' -exec cp -t "$DEB_WORK" {} +
    log "$runtime: debootstrap $SUITE from $mirror with $pkgs (log: $log_file)"
    if ! run_step "$runtime" "$log_file" debootstrap --foreign --variant=minbase --include="$pkgs" \
        --cache-dir="$DEB_WORK" --arch="$ARCH" "$SUITE" "$root" "$mirror"; then
        build_failed "$log_file" "$root" "debootstrap of $runtime failed"
    fi
    publish_debs "$DEB_WORK" "$pool"
    rm -rf "$DEB_WORK"
    DEB_WORK=
    mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
    echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/faas-build-unsafe-io"
    if ! run_step "$runtime" "$log_file" chroot "$root" /debootstrap/debootstrap --second-stage; then
        build_failed "$log_file" "$root" "debootstrap (second stage) of $runtime failed"
    fi
    unmount_under "$root"
}

build_failed() {
    local log_file=$1 root=$2
    tail -n 25 "$log_file" >&2 || true
    if [[ -r $root/debootstrap/debootstrap.log ]]; then
        tail -n 25 "$root/debootstrap/debootstrap.log" >&2 || true
    fi
    die "$3 (full log: $log_file)"
}

# export_rootfs TAG ROOT: the root filesystem of local image TAG, unpacked in ROOT,
# with the device nodes apt and dpkg need.
export_rootfs() {
    local tag=$1 root=$2 cid dev
    cid=$(docker create "$tag") || die "cannot create a container of $tag"
    mkdir -p "$root"
    if ! docker export "$cid" | tar -x --numeric-owner -C "$root"; then
        docker rm -f "$cid" >/dev/null 2>&1 || true
        die "cannot export the root filesystem of $tag"
    fi
    docker rm -f "$cid" >/dev/null 2>&1 || true
    rm -f "$root/.dockerenv"
    rm -rf "${root:?}"/dev/*
    mkdir -p "$root/dev"
    for dev in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
        IFS=: read -r name major minor <<<"$dev"
        mknod -m 666 "$root/dev/$name" c "$major" "$minor" || die "cannot create /dev/$name in $root"
    done
}

# apt-get install inside ROOT from MIRROR, reusing cached .debs.
chroot_apt_install() {
    local runtime=$1 root=$2 mirror=$3 log_file=$4
    shift 4
    local archives=$CACHE_DIR/apt-archives/$SUITE-$ARCH rc=0 clean=$root/etc/apt/apt.conf.d/docker-clean
    mkdir -p "$archives" "$root/var/cache/apt/archives/partial" "$root/var/lib/apt/lists/partial" "$root/proc"
    find "$archives" -maxdepth 1 -name '*.deb' -exec cp -t "$root/var/cache/apt/archives/" {} +
    # The mirror chosen now, name resolution for apt, and .debs kept (docker-clean
    # deletes them after each install; finish_rootfs puts it back).
    printf 'deb %s %s main\n' "$mirror" "$SUITE" >"$root/etc/apt/sources.list"
    rm -f "$root/etc/resolv.conf"
    cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
    rm -f "$clean"
    mount -t proc proc "$root/proc" || die "cannot mount /proc in $root"
    local run=(chroot "$root" /usr/bin/env -i "PATH=$BASE_PATH" LANG=C.UTF-8
        DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true)
    log "$runtime: apt-get install $* inside the new root (log: $log_file)"
    run_step "$runtime" "$log_file" "${run[@]}" apt-get -q update || rc=$?
    if ((rc == 0)); then
        run_step "$runtime" "$log_file" "${run[@]}" apt-get -q install -y --no-install-recommends \
            -o Dpkg::Options::=--force-unsafe-io "$@" || rc=$?
    fi
    umount "$root/proc" || umount -l "$root/proc" || true
    if ((rc)); then
        tail -n 25 "$log_file" >&2 || true
        die "apt-get install $* inside the new root failed (full log: $log_file)"
    fi
    publish_debs "$root/var/cache/apt/archives" "$archives"
}

# Shrink the rootfs and make it behave like an official slim image.
finish_rootfs() {
    local runtime=$1 root=$2 f
    # apt/dpkg state and caches that only matter on the build host.
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
        "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/archives/partial/* \
        "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old \
        "$root"/var/log/* "$root"/tmp/* "$root"/var/tmp/* "$root"/debootstrap \
        "$root"/etc/dpkg/dpkg.cfg.d/faas-build-unsafe-io
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
    cat >"$root"/etc/dpkg/dpkg.cfg.d/faas-slim <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
CFG
    cat >"$root"/etc/apt/apt.conf.d/docker-clean <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
    # Host identity that debootstrap copied in; docker provides its own at run time.
    rm -f "$root"/etc/resolv.conf "$root"/etc/hostname
    : >"$root"/etc/resolv.conf
    : >"$root"/etc/hostname
    printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root"/etc/hosts
    install_ca_bundle "$root"

    case $runtime in
    python)
        # Let pip install system-wide, as it does in the official image.
        for f in "$root"/usr/lib/python3*/EXTERNALLY-MANAGED; do
            [[ -e $f ]] && rm -f "$f"
        done
        [[ -x $root/usr/bin/python3 ]] || die "python3 missing from the built rootfs"
        ;;
    node | node-deps)
        [[ -x $root/usr/bin/node || -x $root/usr/bin/nodejs ]] || die "node missing from the built rootfs"
        if [[ ! -e $root/usr/bin/node && -x $root/usr/bin/nodejs ]]; then
            ln -s nodejs "$root/usr/bin/node"
        fi
        if [[ $runtime == node-deps ]]; then
            [[ -x $root/usr/bin/npm ]] || die "npm missing from the built rootfs"
        fi
        ;;
    esac
    # Device nodes made by debootstrap; docker mounts its own /dev.
    rm -rf "${root:?}"/dev/*
}

import_rootfs() {
    local runtime=$1 root=$2 tag=$3 hash=$4 pkgs=$5 old_id e
    local changes=(--change "ENV PATH=$BASE_PATH LANG=C.UTF-8 SSL_CERT_FILE=$CA_BUNDLE")
    while IFS= read -r e; do
        changes+=(--change "ENV $e")
    done < <(runtime_env "$runtime")
    changes+=(
        --change "CMD $(runtime_cmd "$runtime")"
        --change "LABEL $LABEL_PREFIX.recipe=$hash"
        --change "LABEL $LABEL_PREFIX.runtime=$runtime"
        --change "LABEL $LABEL_PREFIX.suite=$SUITE"
        --change "LABEL $LABEL_PREFIX.script-version=$SCRIPT_VERSION"
        --change "LABEL $LABEL_PREFIX.packages=$pkgs"
    )
    old_id=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
    log "$runtime: importing $tag ($((SECONDS - BUILD_START))s)"
    tar --numeric-owner -C "$root" -c . |
        docker import "${changes[@]}" - "$tag" >/dev/null ||
        die "docker import of $tag failed"
    if [[ -n $old_id && $old_id != "$(docker image inspect -f '{{.Id}}' "$tag")" ]]; then
        # Deleting tens of thousands of files can take a minute: not worth waiting for.
        detached docker image rm "$old_id"
    fi
}
